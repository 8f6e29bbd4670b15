// layerscope extract vs fsck.erofs --extract on the same large image, same run.
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
    const ours: number[] = [];
    const ref: number[] = [];
    for (let i = 0; i < runs; i++) {
      const a = join(SCRATCH, 'ls-bench-x-ours');
      const b = join(SCRATCH, 'ls-bench-x-fsck');
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
      const r1 = sh(process.execPath, [CLI, 'extract', '--no-xattrs', img, a]);
      if (r1.status !== 0) throw new Error(`layerscope extract failed: ${r1.stderr}${r1.stdout}`);
      ours.push(r1.ms);
      const r2 = sh('fsck.erofs', [`--extract=${b}`, img]);
      if (r2.status !== 0) throw new Error(`fsck.erofs failed: ${r2.stderr}`);
      ref.push(r2.ms);
    }
    const l = median(ours), f = median(ref);
    rmSync(join(SCRATCH, 'ls-bench-x-ours'), { recursive: true, force: true });
    rmSync(join(SCRATCH, 'ls-bench-x-fsck'), { recursive: true, force: true });
    rows.push({ name: `extract ${label} (${(statSync(img).size / 1e6).toFixed(0)} MB image, 20k files)`, layerscopeMs: l, referenceMs: f, ratio: f / l, note: `ratio = fsck.erofs time / layerscope time (>1: we are faster); both extract into ${SCRATCH}` });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await runErofsExtractBench()) console.log(r);
}
