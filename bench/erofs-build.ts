// layerscope build vs the C tools from the same large tree, same run:
//  - plain EROFS against mkfs.erofs;
//  - compressed EROFS (`-z lz4hc`, `-z lz4`) against Debian's mkfs.erofs with the same -z, with the
//    time ratio (ours / mkfs, goal <= 1.0) and the image size ratio (ours / mkfs, goal <= 1.02);
//  - composefs against C mkcomposefs when MKCOMPOSEFS=path names one (else the row says skipped).
// The tree is the generated 50k-file, 1.1 GB one (bench/util makeBigTree), or EROFS_BENCH_TREE=dir
// (for example a scratch copy of /usr/share + /usr/bin). Each row gives wall-clock and CPU-time
// (user + sys) ratios ours / reference, and both peak RSS figures (MB, ours / reference). Runs per
// row: BENCH_RUNS (default 3 for plain and composefs, 1 for compressed; the median is shown).
// Images are written to bench/out.
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_OUT, CLI, load, makeBigTree, median, sh } from './util.ts';
import { erofsCompressThreads } from '../src/cli/compress-pool.ts';

export interface BuildRow {
  name: string; layerscopeMs: number | null; referenceMs: number | null; timeRatio: number | null;
  /** ours / reference in CPU seconds (user + sys): on a shared machine wall time also measures the other processes */
  cpuRatio: number | null;
  /** peak resident set, MB (GNU time %M), ours / reference: -z holds the compressed data until it is written */
  rssMB?: string;
  sizeRatio: number | null; MBps: number | null; note: string;
}

/** apparent bytes of the regular files under `dir` (du -sb --apparent-size) */
function treeBytes(dir: string): number {
  const r = sh('du', ['-sb', '--apparent-size', dir]);
  return Number(r.stdout.split('\t')[0]);
}

/**
 * time `ours` and `ref` alternately `runs` times (wall and CPU, through /usr/bin/time); both write
 * to their own file, removed first. Medians.
 */
function timed(runs: number, ours: { out: string; cmd: string; args: string[] }, ref: { out: string; cmd: string; args: string[] }): { a: number; b: number; cpuA: number; cpuB: number; rss: string } {
  const a: number[] = [], b: number[] = [], ca: number[] = [], cb: number[] = [], ra: number[] = [], rb: number[] = [];
  const cpuFile = join(BENCH_OUT, 'build-cpu.txt');
  for (let i = 0; i < runs; i++) {
    for (const [x, into, cpu, rss] of [[ours, a, ca, ra], [ref, b, cb, rb]] as const) {
      // recursive: an output may be a directory (composefs --digest-store)
      rmSync(x.out, { force: true, recursive: true });
      const r = sh('/usr/bin/time', ['-f', '%U %S %M', '-o', cpuFile, x.cmd, ...x.args]);
      if (r.status !== 0) throw new Error(`${x.cmd} ${x.args.join(' ')} failed: ${r.stderr}`);
      into.push(r.ms);
      const [u, sys, kb] = readFileSync(cpuFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      cpu.push((u! + sys!) * 1000);
      rss.push(kb! / 1024);
    }
  }
  return { a: median(a), b: median(b), cpuA: median(ca), cpuB: median(cb), rss: `${median(ra).toFixed(0)} / ${median(rb).toFixed(0)}` };
}

export async function runErofsBuildBench(runs = Number(process.env.BENCH_RUNS ?? 3)): Promise<BuildRow[]> {
  const tree = process.env.EROFS_BENCH_TREE ?? makeBigTree(join(BENCH_OUT, 'tree-50k'), 50_000, 1100 << 20, 2);
  const total = treeBytes(tree) / 1e6;
  const what = `${(total / 1000).toFixed(2)} GB tree ${tree}`;
  const rows: BuildRow[] = [];
  const ours = join(BENCH_OUT, 'build-ours.erofs');
  const ref = join(BENCH_OUT, 'build-mkfs.erofs');
  const size = (f: string) => statSync(f).size;
  const fsck = (f: string) => {
    const check = sh('fsck.erofs', [f]);
    return check.status === 0 ? 'fsck.erofs accepts our image' : `fsck.erofs REJECTS our image: ${check.stderr.trim()}`;
  };

  // BENCH_BUILD_ROWS=erofs,erofs-z,composefs picks row groups (default all): the composefs rows alone
  // take a minute where the compressed ones take many
  const only = process.env.BENCH_BUILD_ROWS?.split(',');
  const want = (g: string) => !only || only.includes(g);
  // plain
  if (want('erofs')) {
    const t = timed(runs, { out: ours, cmd: process.execPath, args: [CLI, 'build', '--format', 'erofs', '-T', '0', tree, ours] }, { out: ref, cmd: 'mkfs.erofs', args: ['--quiet', '-T0', ref, tree] });
    rows.push({
      name: `build erofs (plain), ${what}: ours ${(size(ours) / 1e6).toFixed(0)} MB, mkfs ${(size(ref) / 1e6).toFixed(0)} MB`,
      layerscopeMs: Math.round(t.a), referenceMs: Math.round(t.b), timeRatio: +(t.a / t.b).toFixed(3), cpuRatio: +(t.cpuA / t.cpuB).toFixed(3), rssMB: t.rss, sizeRatio: +(size(ours) / size(ref)).toFixed(4), MBps: +(total / (t.a / 1000)).toFixed(1),
      note: `time ratio = layerscope / mkfs.erofs 1.5; ${fsck(ours)}`,
    });
  }
  // compressed, as mkfs.erofs -z: one-block pclusters, compact indexes (both tools' defaults)
  const zRuns = Number(process.env.BENCH_RUNS ?? 1);
  // compress threads: the CLI's default (src/cli/compress-pool.ts), or each of BENCH_Z_THREADS=0,2
  // (passed as LAYERSCOPE_COMPRESS_THREADS); mkfs.erofs 1.5 compresses on one thread
  const zThreads = process.env.BENCH_Z_THREADS ? process.env.BENCH_Z_THREADS.split(',').map(Number) : [erofsCompressThreads()];
  for (const z of want('erofs-z') ? ['lz4hc', 'lz4'] : []) {
    for (const n of zThreads) {
      const t = timed(zRuns, { out: ours, cmd: 'env', args: [`LAYERSCOPE_COMPRESS_THREADS=${n}`, process.execPath, CLI, 'build', '--format', 'erofs', '-T', '0', '-z', z, tree, ours] }, { out: ref, cmd: 'mkfs.erofs', args: ['--quiet', '-T0', `-z${z}`, ref, tree] });
      rows.push({
        name: `build erofs -z ${z}, ${n} compress threads, ${what}: ours ${(size(ours) / 1e6).toFixed(1)} MB, mkfs ${(size(ref) / 1e6).toFixed(1)} MB`,
        layerscopeMs: Math.round(t.a), referenceMs: Math.round(t.b), timeRatio: +(t.a / t.b).toFixed(3), cpuRatio: +(t.cpuA / t.cpuB).toFixed(3), rssMB: t.rss, sizeRatio: +(size(ours) / size(ref)).toFixed(4), MBps: +(total / (t.a / 1000)).toFixed(1),
        note: `wall ratio ${(t.a / t.b).toFixed(3)}, CPU ratio ${(t.cpuA / t.cpuB).toFixed(3)} with ${n} compress threads (${load()}); goal: time ratio <= 1.0, size ratio <= 1.02 (mkfs.erofs 1.5 -z${z}); ${fsck(ours)}`,
      });
    }
  }
  // composefs against C mkcomposefs
  const cfs = join(BENCH_OUT, 'build-ours.cfs');
  const cfsRef = join(BENCH_OUT, 'build-mkcomposefs.cfs');
  const mk = process.env.MKCOMPOSEFS;
  if (mk && want('composefs')) {
    // mkcomposefs 1.0.8 gives each name of a hardlinked file an inode of its own (nlink 1) when it reads
    // a directory; ours keeps the shared inode by default: `--hardlinks split` builds the same image
    const split = ['--hardlinks', 'split'];
    const t = timed(runs, { out: cfs, cmd: process.execPath, args: [CLI, 'build', '--format', 'composefs', ...split, tree, cfs] }, { out: cfsRef, cmd: mk, args: [tree, cfsRef] });
    const same = sh('cmp', ['-s', cfs, cfsRef]).status === 0;
    rows.push({
      name: `build composefs (fs-verity of every file), ${what}`,
      layerscopeMs: Math.round(t.a), referenceMs: Math.round(t.b), timeRatio: +(t.a / t.b).toFixed(3), cpuRatio: +(t.cpuA / t.cpuB).toFixed(3), rssMB: t.rss, sizeRatio: +(size(cfs) / size(cfsRef)).toFixed(4), MBps: +(total / (t.a / 1000)).toFixed(1),
      note: `time ratio = layerscope / ${mk}; images ${same ? 'byte-identical' : 'DIFFER'} (${load()})`,
    });
    // the same with the object store filled (every file over 64 bytes copied, as mkcomposefs
    // --digest-store does with copy_file_range): `out` is the store, emptied before each run
    const store = join(BENCH_OUT, 'build-ours-objects'), storeRef = join(BENCH_OUT, 'build-mkcomposefs-objects');
    const s = timed(runs, { out: store, cmd: process.execPath, args: [CLI, 'build', '--format', 'composefs', ...split, '--digest-store', store, tree, cfs] }, { out: storeRef, cmd: mk, args: [`--digest-store=${storeRef}`, tree, cfsRef] });
    const sameStore = sh('diff', ['-rq', store, storeRef]).status === 0;
    for (const d of [store, storeRef]) rmSync(d, { recursive: true, force: true });
    rows.push({
      name: `build composefs --digest-store, ${what}`,
      layerscopeMs: Math.round(s.a), referenceMs: Math.round(s.b), timeRatio: +(s.a / s.b).toFixed(3), cpuRatio: +(s.cpuA / s.cpuB).toFixed(3), rssMB: s.rss, sizeRatio: +(size(cfs) / size(cfsRef)).toFixed(4), MBps: +(total / (s.a / 1000)).toFixed(1),
      note: `time ratio = layerscope / ${mk} --digest-store; object stores ${sameStore ? 'identical' : 'DIFFER'}`,
    });
  } else if (want('composefs')) {
    rows.push({ name: 'build composefs vs mkcomposefs', layerscopeMs: null, referenceMs: null, timeRatio: null, cpuRatio: null, sizeRatio: null, MBps: null, note: 'skipped: set MKCOMPOSEFS=/path/to/mkcomposefs' });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) console.table(await runErofsBuildBench());
