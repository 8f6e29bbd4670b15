// layerscope extract vs fsck.erofs --extract on the same large image, same run, into tmpfs
// (/dev/shm) and into a directory on disk (/var/tmp): the disk figures are the ones users see.
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_OUT, CLI, SCRATCH, makeBigTree, median, sh } from './util.ts';

export interface Row { name: string; layerscopeMs: number; referenceMs: number; ratio: number; note: string }

export async function runErofsExtractBench(runs = 3): Promise<Row[]> {
  const tree = makeBigTree(join(BENCH_OUT, 'tree-20k'), 20_000, 520 << 20);
  const rows: Row[] = [];
  for (const [label, opts] of [['uncompressed', []], ['lz4hc', ['-zlz4hc']]] as const) {
    const img = join(BENCH_OUT, `big-${label}.erofs`);
    if (!existsSync(img)) {
      const r = sh('mkfs.erofs', ['-T0', '-U', '11111111-2222-3333-4444-555555555555', ...opts, img, tree]);
      if (r.status !== 0) throw new Error(`mkfs.erofs failed: ${r.stderr}`);
    }
    for (const [where, base] of [['tmpfs', SCRATCH], ['disk', '/var/tmp']] as const) {
      // the default (one thread per core, up to 4) and one thread, so both figures are in each run
      const variants = [['', [] as string[]], [' --threads 1', ['--threads', '1']]] as const;
      const ours: number[][] = variants.map(() => []);
      const ref: number[] = [];
      const ourDirs = variants.map((_, k) => join(base, `ls-bench-x-ours${k}`));
      const b = join(base, 'ls-bench-x-fsck');
      for (let i = 0; i < runs; i++) {
        for (const [k, [, extra]] of variants.entries()) {
          const a = ourDirs[k]!;
          rmSync(a, { recursive: true, force: true });
          const r1 = sh(process.execPath, [CLI, 'extract', '--no-xattrs', ...extra, img, a]);
          if (r1.status !== 0) throw new Error(`layerscope extract failed: ${r1.stderr}${r1.stdout}`);
          ours[k]!.push(r1.ms);
        }
        rmSync(b, { recursive: true, force: true });
        const r2 = sh('fsck.erofs', [`--extract=${b}`, img]);
        if (r2.status !== 0) throw new Error(`fsck.erofs failed: ${r2.stderr}`);
        ref.push(r2.ms);
      }
      // the trees must be the same, or the times mean nothing
      for (const a of ourDirs) {
        const same = sh('diff', ['-r', '-q', '--no-dereference', a, b]);
        if (same.status !== 0) throw new Error(`layerscope and fsck.erofs extracted different trees:\n${same.stdout.slice(0, 2000)}`);
        rmSync(a, { recursive: true, force: true });
      }
      rmSync(b, { recursive: true, force: true });
      const f = median(ref);
      for (const [k, [label2]] of variants.entries()) {
        const l = median(ours[k]!);
        rows.push({ name: `extract${label2} ${label} → ${where} (${(statSync(img).size / 1e6).toFixed(0)} MB image, 20k files)`, layerscopeMs: l, referenceMs: f, ratio: f / l, note: `ratio = fsck.erofs time / layerscope time (>1: we are faster); both extract into ${base}; trees compared with diff -r` });
      }
    }
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await runErofsExtractBench()) console.log(r);
}
