// layerscope extract vs fsck.erofs --extract on the same large image, same run, into tmpfs
// (/dev/shm) and into a directory on disk (/var/tmp): the disk figures are the ones users see.
//
// Uncompressed and LZ4HC images by Debian's mkfs.erofs 1.5, checked against Debian's fsck.erofs.
// LZMA, DEFLATE and zstd images by the mkfs.erofs MKFS_EROFS names (the images the extract-kernel
// bench makes, default options), checked against the fsck.erofs FSCK_EROFS names: Debian's 1.5
// reads neither LZMA nor DEFLATE nor zstd, so those rows need an fsck.erofs 1.6 or later built
// outside this repository, and say so when skipped. EXTRACT_ROWS=lzma,zstd runs only the rows
// whose label holds one of those words; BENCH_RUNS sets the runs per row (default 3, medians).
// EXTRACT_TREE=/usr/share makes the images from that directory instead of the generated 20k-file tree
// (the disk figure was taken on /usr/share); its images are named after the directory.
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { newerMkfs } from './erofs-extract-kernel.ts';
import { BENCH_OUT, CLI, SCRATCH, load, makeBigTree, median, sh, shCpu } from './util.ts';

export interface Row {
  name: string;
  layerscopeMs: number | null;
  referenceMs: number | null;
  ratio: number | null;
  /** CPU time (user + sys, all threads) of layerscope and of fsck.erofs */
  layerscopeCpuMs?: number;
  referenceCpuMs?: number;
  note: string;
}

const UUID = '11111111-2222-3333-4444-555555555555';

/** FSCK_EROFS when it names an fsck.erofs that decodes `algs`: its version, or why it cannot be used */
function newerFsck(algs: string[]): { path: string; version: string } | { skip: string } {
  const path = process.env.FSCK_EROFS;
  const want = `set FSCK_EROFS=/path/to/fsck.erofs (fsck.erofs ≥1.6 with ${algs.join(', ')}; Debian's 1.5 reads none of them)`;
  if (!path) return { skip: `skipped: ${want}` };
  if (!existsSync(path)) return { skip: `skipped: FSCK_EROFS=${path} does not exist; ${want}` };
  const v = sh(path, ['--version']);
  const text = `${v.stdout}${v.stderr}`;
  const line = text.split('\n').find((l) => l.includes('available decompressors')) ?? '';
  const missing = algs.filter((a) => !new RegExp(`\\b${a}\\b`).test(line));
  if (missing.length) return { skip: `skipped: ${path} lists no ${missing.join(', ')} decompressor (${line.trim() || 'no "available decompressors" line'}); ${want}` };
  const first = text.trim().split('\n')[0]!;
  return { path, version: /\d+\.\d+(\.\d+)?/.exec(first)?.[0] ?? first };
}

interface Spec { label: string; img: string; make: () => { status: number; stderr: string }; fsck: string; fsckName: string }

export async function runErofsExtractBench(runs = Number(process.env.BENCH_RUNS ?? 3)): Promise<Row[]> {
  const given = process.env.EXTRACT_TREE;
  const tree = given ?? makeBigTree(join(BENCH_OUT, 'tree-20k'), 20_000, 520 << 20);
  // images of a given tree are kept apart from the generated tree's (they are made once and reused)
  const tag = given ? `-${given.replace(/[^0-9A-Za-z]+/g, '_')}` : '';
  const files = given ? `${sh('find', [given]).stdout.split('\n').filter(Boolean).length} entries of ${given}` : '20k files';
  const rows: Row[] = [];
  const specs: Spec[] = [];
  for (const [label, opts] of [['uncompressed', []], ['lz4hc', ['-zlz4hc']]] as const) {
    const img = join(BENCH_OUT, `big-${label}${tag}.erofs`);
    specs.push({ label, img, make: () => sh('mkfs.erofs', ['-T0', '-U', UUID, ...opts, img, tree]), fsck: 'fsck.erofs', fsckName: 'fsck.erofs' });
  }
  const algs = ['lzma', 'deflate', 'zstd'];
  const mk = newerMkfs();
  const fk = newerFsck(algs);
  if ('skip' in mk || 'skip' in fk) {
    const why = [mk, fk].flatMap((x) => ('skip' in x ? [x.skip] : [])).join('; ');
    for (const alg of algs) rows.push({ name: `extract ${alg} (mkfs.erofs ≥1.6) vs fsck.erofs ≥1.6`, layerscopeMs: null, referenceMs: null, ratio: null, note: why });
  } else {
    // the image the extract-kernel bench makes (same name, same options)
    const ver = mk.version.replace(/[^0-9A-Za-z.]+/g, '_');
    for (const alg of algs) {
      const img = join(BENCH_OUT, `big-${alg}-mkfs-${ver}${tag}.erofs`);
      specs.push({ label: `${alg} (mkfs.erofs ${mk.version})`, img, make: () => sh(mk.path, ['--quiet', '-T0', '-U', UUID, `-z${alg}`, img, tree]), fsck: fk.path, fsckName: `fsck.erofs ${fk.version}` });
    }
  }
  const only = process.env.EXTRACT_ROWS?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const { label, img, make, fsck, fsckName } of specs) {
    if (only && !only.some((w) => label.includes(w))) continue;
    if (!existsSync(img)) {
      const r = make();
      if (r.status !== 0) throw new Error(`building ${img} failed: ${r.stderr}`);
    }
    for (const [where, base] of [['tmpfs', SCRATCH], ['disk', '/var/tmp']] as const) {
      // the default (one thread per core, up to 4) and one thread, so both figures are in each run
      const variants = [['', [] as string[]], [' --threads 1', ['--threads', '1']]] as const;
      const ours: number[][] = variants.map(() => []);
      const oursCpu: number[][] = variants.map(() => []);
      const ref: number[] = [];
      const refCpu: number[] = [];
      const loads: string[] = [];
      const ourDirs = variants.map((_, k) => join(base, `ls-bench-x-ours${k}`));
      const b = join(base, 'ls-bench-x-fsck');
      // on disk, the dirty pages one run leaves are written back during the next one (a quiet run:
      // fsck.erofs took 2.0 s after ours and 13.0 s right after a sync of ours' 555 MB): so each run
      // starts after a sync and its time includes the sync of what it wrote
      const onDisk = where === 'disk';
      const settle = (): void => {
        if (onDisk) sh('sync', []);
      };
      const flushMs = (): number => {
        if (!onDisk) return 0;
        const t0 = performance.now();
        sh('sync', []);
        return performance.now() - t0;
      };
      for (let i = 0; i < runs; i++) {
        for (const [k, [, extra]] of variants.entries()) {
          const a = ourDirs[k]!;
          rmSync(a, { recursive: true, force: true });
          settle();
          const r1 = shCpu(process.execPath, [CLI, 'extract', '--no-xattrs', ...extra, img, a]);
          if (r1.status !== 0) throw new Error(`layerscope extract failed: ${r1.stderr}${r1.stdout}`);
          ours[k]!.push(r1.ms + flushMs());
          oursCpu[k]!.push(r1.cpuMs);
        }
        rmSync(b, { recursive: true, force: true });
        settle();
        const r2 = shCpu(fsck, [`--extract=${b}`, img]);
        if (r2.status !== 0) throw new Error(`${fsckName} failed: ${r2.stderr}`);
        ref.push(r2.ms + flushMs());
        refCpu.push(r2.cpuMs);
        loads.push(load().replace('load ', ''));
      }
      // the trees must be the same, or the times mean nothing
      for (const a of ourDirs) {
        const same = sh('diff', ['-r', '-q', '--no-dereference', a, b]);
        if (same.status !== 0) throw new Error(`layerscope and ${fsckName} extracted different trees:\n${same.stdout.slice(0, 2000)}`);
        rmSync(a, { recursive: true, force: true });
      }
      rmSync(b, { recursive: true, force: true });
      const f = median(ref);
      for (const [k, [label2]] of variants.entries()) {
        const l = median(ours[k]!);
        rows.push({
          name: `extract${label2} ${label} → ${where} (${(statSync(img).size / 1e6).toFixed(0)} MB image, ${files})`,
          layerscopeMs: Math.round(l), referenceMs: Math.round(f), ratio: +(f / l).toFixed(3),
          layerscopeCpuMs: Math.round(median(oursCpu[k]!)), referenceCpuMs: Math.round(median(refCpu)),
          note: `ratio = ${fsckName} time / layerscope time (>1: we are faster); both extract into ${base}${onDisk ? ' (sync before each run, and its own sync timed after it)' : ''}; medians of ${runs}; trees compared with diff -r; 1-min load ${loads.join('/')}`,
        });
      }
    }
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await runErofsExtractBench());
}
