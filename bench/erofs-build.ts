// layerscope build vs mkfs.erofs from the same large tree, same run; composefs build throughput in Node.
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_OUT, CLI, makeBigTree, median, sh } from './util.ts';

export interface BuildRow { name: string; layerscopeMs: number; referenceMs: number | null; ratio: number | null; MBps: number; note: string }

export async function runErofsBuildBench(runs = 3): Promise<BuildRow[]> {
  const bytes = 1100 << 20;
  const tree = makeBigTree(join(BENCH_OUT, 'tree-50k'), 50_000, bytes, 2);
  const rows: BuildRow[] = [];
  const ours = join(BENCH_OUT, 'build-ours.erofs');
  const ref = join(BENCH_OUT, 'build-mkfs.erofs');
  const cfs = join(BENCH_OUT, 'build-ours.cfs');
  const a: number[] = [], b: number[] = [], c: number[] = [];
  for (let i = 0; i < runs; i++) {
    rmSync(ours, { force: true });
    rmSync(ref, { force: true });
    rmSync(cfs, { force: true });
    const r1 = sh(process.execPath, [CLI, 'build', '--format', 'erofs', '-T', '0', tree, ours]);
    if (r1.status !== 0) throw new Error(`layerscope build failed: ${r1.stderr}`);
    a.push(r1.ms);
    const r2 = sh('mkfs.erofs', ['--quiet', '-T0', ref, tree]);
    if (r2.status !== 0) throw new Error(`mkfs.erofs failed: ${r2.stderr}`);
    b.push(r2.ms);
    const r3 = sh(process.execPath, [CLI, 'build', '--format', 'composefs', tree, cfs]);
    if (r3.status !== 0) throw new Error(`layerscope build composefs failed: ${r3.stderr}`);
    c.push(r3.ms);
  }
  const check = sh('fsck.erofs', [ours]);
  const note = check.status === 0 ? 'fsck.erofs accepts our image' : `fsck.erofs REJECTS our image: ${check.stderr}`;
  const l = median(a), m = median(b), k = median(c);
  const total = bytes / 1e6;
  rows.push({ name: `build erofs, 50k files ${(total / 1000).toFixed(1)} GB (ours ${(statSync(ours).size / 1e6).toFixed(0)} MB, mkfs ${(statSync(ref).size / 1e6).toFixed(0)} MB)`, layerscopeMs: l, referenceMs: m, ratio: m / l, MBps: total / (l / 1000), note: `ratio = mkfs.erofs time / layerscope time; ${note}` });
  rows.push({ name: 'build composefs (fs-verity of every file, Node)', layerscopeMs: k, referenceMs: null, ratio: null, MBps: total / (k / 1000), note: 'no mkcomposefs on this machine; throughput includes hashing all content' });
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) console.table(await runErofsBuildBench());
