// Full-image verification of a Nydus image (every chunk read, decompressed and its digest checked).
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_OUT, CLI, makeBigTree, median, sh } from './util.ts';

export interface VerifyRow { name: string; ms: number; MBps: number; note: string }

export async function runRafsVerifyBench(runs = 3): Promise<VerifyRow[]> {
  const bytes = 300 << 20;
  const tree = makeBigTree(join(BENCH_OUT, 'tree-5k'), 5_000, bytes, 3);
  const rows: VerifyRow[] = [];
  for (const [comp, dig] of [['lz4_block', 'blake3'], ['none', 'sha256'], ['gzip', 'blake3']] as const) {
    const boot = join(BENCH_OUT, `verify-${comp}-${dig}.boot`);
    const blobs = join(BENCH_OUT, `verify-${comp}-${dig}-blobs`);
    if (!existsSync(boot)) {
      const b = sh(process.execPath, [CLI, 'build', '--format', 'rafs-v6', tree, boot, '--blob-dir', blobs, '--compressor', comp, '--digester', dig]);
      if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
    }
    const t: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = sh(process.execPath, [CLI, 'check', boot, '--blob-dir', blobs]);
      if (r.status !== 0) throw new Error(`check failed: ${r.stdout}${r.stderr}`);
      t.push(r.ms);
    }
    const ms = median(t);
    rows.push({ name: `check rafs-v6 ${comp}/${dig}, 5k files`, ms, MBps: bytes / 1e6 / (ms / 1000), note: `${(statSync(boot).size / 1e3).toFixed(0)} KB bootstrap; MB/s of uncompressed file data verified (nydus-image is not packaged here: no reference run)` });
  }
  // ZRAN (--type targz-ref): every chunk inflated from its checkpoint in the .tar.gz and checked;
  // reference in the same run: GNU tar extracting the same layer
  const layer = join(BENCH_OUT, 'verify-zran.tar.gz');
  const zboot = join(BENCH_OUT, 'verify-zran.boot');
  const zblobs = join(BENCH_OUT, 'verify-zran-blobs');
  if (!existsSync(zboot)) {
    if (sh('tar', ['-czf', layer, '-C', tree, '.']).status !== 0) throw new Error('tar -czf failed');
    mkdirSync(zblobs, { recursive: true });
    const b = sh(process.execPath, [CLI, 'build', '--format', 'rafs-v6', '--type', 'targz-ref', layer, zboot, '--blob-dir', zblobs]);
    if (b.status !== 0) throw new Error(`targz-ref build failed: ${b.stderr}`);
  }
  const zt: number[] = [];
  const xt: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = sh(process.execPath, [CLI, 'check', zboot, '--blob-dir', zblobs, '--blob', layer]);
    if (r.status !== 0) throw new Error(`check failed: ${r.stdout}${r.stderr}`);
    zt.push(r.ms);
    const x = join(BENCH_OUT, 'verify-zran-x');
    rmSync(x, { recursive: true, force: true });
    mkdirSync(x);
    xt.push(sh('tar', ['-xzf', layer, '-C', x]).ms);
  }
  const zms = median(zt);
  const xms = median(xt);
  rows.push({ name: 'check rafs-v6 ZRAN (targz-ref), 5k files', ms: zms, MBps: bytes / 1e6 / (zms / 1000), note: `${(statSync(layer).size / 1e6).toFixed(0)} MB .tar.gz layer; same run: tar -xzf ${(bytes / 1e6 / (xms / 1000)).toFixed(0)} MB/s (${xms.toFixed(0)} ms)` });
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) console.table(await runRafsVerifyBench());
