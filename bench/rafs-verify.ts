/**
 * Full-image verification of Nydus images (`layerscope check`: metadata, blob meta, and every
 * chunk read, decrypted, decompressed and its digest compared), MB/s of uncompressed file data, for
 * RAFS v6 images built by the CLI from one generated tree: lz4_block, none/sha256, gzip, zstd (the
 * nydus-image 2.4 default), zstd with batch chunks (`--batch-size`), AES-128-XTS encrypted zstd
 * (`--encrypt`), and ZRAN (`--type targz-ref` over a gzip tar of the same tree).
 *
 * Reference: nydus-image (its `check`) is not packaged here, so no Nydus tool runs. What runs
 * instead, in the same process run and on the same bytes, is the C floor of the same work: the
 * tree's content compressed once by `zstd -3` (lz4_block images: `lz4 -1`) and decoded by `zstd -d`
 * (`lz4 -d`), piped to `b3sum --num-threads 1` (or `sha256sum`); for ZRAN and gzip images `gzip -dc`
 * of a gzip -6 tar of the tree piped to the hash. It decodes
 * one stream instead of per-chunk frames and does no decryption (no CLI tool does AES-XTS here), so
 * it is a bound to compare against, not the same job.
 * Run alone: `node --import tsx bench/rafs-verify.ts [--mb=300]`; `npm run bench -- rafs-verify`.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_OUT, CLI, makeBigTree, median, sh } from './util.ts';

export interface VerifyRow { name: string; ms: number; MBps: number; refMBps: number | null; reference: string; note: string }

interface Case { name: string; args: string[]; digester: 'blake3' | 'sha256'; zran?: boolean }

const CASES: Case[] = [
  { name: 'lz4_block/blake3', args: ['--compressor', 'lz4_block', '--digester', 'blake3'], digester: 'blake3' },
  { name: 'none/sha256', args: ['--compressor', 'none', '--digester', 'sha256'], digester: 'sha256' },
  { name: 'gzip/blake3', args: ['--compressor', 'gzip', '--digester', 'blake3'], digester: 'blake3' },
  { name: 'zstd/blake3', args: ['--compressor', 'zstd', '--digester', 'blake3'], digester: 'blake3' },
  // files under 64 KiB (half the batch) go into 128 KiB batches: most of the tree's small files
  { name: 'zstd/blake3 batch 128K', args: ['--compressor', 'zstd', '--digester', 'blake3', '--batch-size', '0x20000'], digester: 'blake3' },
  { name: 'zstd/blake3 encrypted', args: ['--compressor', 'zstd', '--digester', 'blake3', '--encrypt'], digester: 'blake3' },
  { name: 'ZRAN (targz-ref)/blake3', args: ['--type', 'targz-ref', '--digester', 'blake3'], digester: 'blake3', zran: true },
];

/** every regular file's bytes, concatenated (the uncompressed data the images hold) */
function concatTree(dir: string, out: string): number {
  const parts: Buffer[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && !e.name.startsWith('.made-')) parts.push(readFileSync(p));
    }
  };
  walk(dir);
  const all = Buffer.concat(parts);
  writeFileSync(out, all);
  return all.length;
}

const has = (tool: string): boolean => sh('sh', ['-c', `command -v ${tool}`]).status === 0;

export async function runRafsVerifyBench(opts: { mb?: number; runs?: number; cases?: string[] } = {}): Promise<VerifyRow[]> {
  const runs = opts.runs ?? 3;
  const mb = opts.mb ?? 300;
  const bytes = mb << 20;
  const tree = makeBigTree(join(BENCH_OUT, `tree-5k${mb === 300 ? '' : `-${mb}`}`), 5_000, bytes, 3);
  const content = join(BENCH_OUT, `verify-${mb}-content.bin`);
  const contentBytes = existsSync(content) ? statSync(content).size : concatTree(tree, content);
  const layer = join(BENCH_OUT, `verify-${mb}-layer.tar.gz`);
  const rows: VerifyRow[] = [];
  const hashCmd = (dig: 'blake3' | 'sha256') => (dig === 'blake3' ? (has('b3sum') ? 'b3sum --num-threads 1' : null) : 'sha256sum');
  const cases = CASES.filter((c) => !opts.cases || opts.cases.some((n) => c.name.startsWith(n)));
  // the reference's inputs: one zstd -3 stream of the content, one gzip layer (also the ZRAN source)
  const zst = `${content}.zst`;
  if (!existsSync(zst) && has('zstd')) sh('zstd', ['-q', '-3', '-f', content, '-o', zst]);
  const lz4 = `${content}.lz4`;
  if (!existsSync(lz4) && has('lz4')) sh('lz4', ['-q', '-1', '-f', content, lz4]);
  if (cases.some((c) => c.zran || c.name.startsWith('gzip')) && !existsSync(layer)) {
    const r = sh('sh', ['-c', `tar -C '${tree}' --sort=name --exclude='.made-*' -cf - . | gzip -6 > '${layer}'`]);
    if (r.status !== 0) throw new Error(`tar | gzip failed: ${r.stderr}`);
  }
  for (const c of cases) {
    const tag = c.name.replace(/[^a-z0-9]+/gi, '-');
    const boot = join(BENCH_OUT, `verify-${mb}-${tag}.boot`);
    const blobs = join(BENCH_OUT, `verify-${mb}-${tag}-blobs`);
    if (!existsSync(boot)) {
      const b = sh(process.execPath, [CLI, 'build', '--format', 'rafs-v6', c.zran ? layer : tree, boot, '--blob-dir', blobs, ...c.args]);
      if (b.status !== 0) throw new Error(`${c.name}: build failed: ${b.stderr}`);
    }
    const checkArgs = [CLI, 'check', boot, '--blob-dir', blobs, ...(c.zran ? ['--blob', layer] : [])];
    const t: number[] = [];
    let line = '';
    for (let i = 0; i < runs; i++) {
      const r = sh(process.execPath, checkArgs);
      if (r.status !== 0) throw new Error(`${c.name}: check failed: ${r.stdout}${r.stderr}`);
      line = r.stdout.split('\n')[0] ?? '';
      t.push(r.ms);
    }
    const ms = median(t);
    // reference: decode + hash of the same content by C tools (see the header)
    const hash = hashCmd(c.digester);
    let refMBps: number | null = null;
    let reference = 'none (no zstd/b3sum here)';
    // the same codec as the chunks: gzip chunks against the gzip layer, lz4_block against an lz4 frame stream
    const decode = c.zran || c.name.startsWith('gzip') ? `gzip -dc '${layer}'` : c.name.startsWith('none') ? `cat '${content}'`
      : c.name.startsWith('lz4') ? (existsSync(lz4) ? `lz4 -dc '${lz4}'` : null) : existsSync(zst) ? `zstd -dc '${zst}'` : null;
    if (hash && decode) {
      const rt: number[] = [];
      for (let i = 0; i < runs; i++) {
        const r = sh('sh', ['-c', `${decode} | ${hash} > /dev/null`]);
        if (r.status !== 0) throw new Error(`reference failed: ${r.stderr}`);
        rt.push(r.ms);
      }
      refMBps = +(contentBytes / 1e6 / (median(rt) / 1000)).toFixed(1);
      const what = decode.startsWith('gzip') ? '-dc (tar.gz of the tree, gzip -6)' : decode.startsWith('cat') ? 'content' : decode.startsWith('lz4') ? '-dc (one lz4 -1 stream)' : '-dc (one zstd -3 stream)';
      reference = `${decode.split(' ')[0]} ${what} | ${hash}`;
    }
    rows.push({
      name: `check rafs-v6 ${c.name}`, ms: Math.round(ms), MBps: +(contentBytes / 1e6 / (ms / 1000)).toFixed(1), refMBps, reference,
      note: `${(statSync(boot).size / 1e3).toFixed(0)} KB bootstrap; "${line.replace(/^OK: /, '')}"`,
    });
  }
  console.log(`RAFS check, Node ${process.version}: ${(contentBytes / 1e6).toFixed(0)} MB of content, 5k files; whole CLI runs (start-up included), median of ${runs}. No Nydus tool here: the reference is C zstd/gzip decode + b3sum/sha256sum of the same content (a bound, not the same job)`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const mb = process.argv.find((a) => a.startsWith('--mb='))?.slice(5);
  const only = process.argv.find((a) => a.startsWith('--cases='))?.slice(8);
  console.table(await runRafsVerifyBench({ ...(mb ? { mb: Number(mb) } : {}), ...(only ? { cases: only.split(',') } : {}) }));
}
