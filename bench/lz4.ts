/**
 * LZ4 block compression: Layerscope's lz4CompressBlock vs the Debian `lz4 -1` CLI on the same
 * 10 MiB corpora, cut in 1 MiB and 64 KiB independent blocks. Run alone:
 * `node --import tsx bench/lz4.ts [--runs=N]`; `npm run bench` can call runLz4Bench().
 *
 * Corpora (made once in bench/out/lz4/): `bin` = the first 10 MiB of a tar of /usr/bin and
 * /usr/lib/x86_64-linux-gnu, `text` = the first 10 MiB of a tar of the *.py files under /usr/lib.
 *
 * The CLI is measured two ways: `lz4 -b1 -B#` (its in-memory benchmark: compression only, no I/O)
 * and the wall time of `lz4 -1 -B# -c file > /dev/null` (process start and file I/O included).
 * Ours is in-process compression only. The VM is small and shared, so runs are interleaved and
 * the best of each is kept; compare ratios, not absolute MB/s.
 *
 * Correctness first: every block ours writes goes, in one frame per configuration, through
 * `lz4 -d` and must give the corpus back byte for byte, or the bench fails.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { lz4CompressBlock, lz4CompressDestSize } from '../src/lib/codec/lz4-compress.ts';
import { lz4Decompress } from '../src/lib/codec/lz4.ts';
import { xxh32 } from '../src/lib/codec/xxh32.ts';

export interface Lz4BenchRow {
  corpus: string;
  block: string;
  /** ours, MB/s (1e6 bytes/s), best of the runs */
  oursMBps: number;
  /** input bytes / output bytes, incompressible blocks counted stored */
  oursRatio: number;
  /** `lz4 -b1` compression speed (no I/O) and ratio */
  cliMBps: number;
  cliRatio: number;
  /** `lz4 -1 -c file >/dev/null`, wall clock incl. process start and I/O */
  cliWallMBps: number;
  /** cliMBps / oursMBps: how many times faster liblz4 is (goal: <= 2) */
  slowdown: number;
}

export interface Lz4DestSizeRow {
  corpus: string;
  /** ours, cutting the whole corpus into 4 KiB outputs as EROFS pclusters do */
  oursMBps: number;
  /** input bytes / output bytes */
  oursRatio: number;
  /** LZ4_compress_destSize through python3 ctypes on the same cuts, null without python3 */
  liblz4Ratio: number | null;
}

const OUT = resolve(import.meta.dirname, 'out', 'lz4');
const CORPUS_BYTES = 10 << 20;
const BLOCKS = [[1 << 20, 6, '1 MiB'], [64 << 10, 4, '64 KiB']] as const;

function corpus(name: 'bin' | 'text'): string {
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, `${name}.tar`);
  if (existsSync(file) && statSync(file).size === CORPUS_BYTES) return file;
  const list = name === 'bin'
    ? 'tar -cf - /usr/bin /usr/lib/x86_64-linux-gnu 2>/dev/null'
    : "find /usr/lib -name '*.py' -print0 2>/dev/null | sort -z | tar -cf - --null -T - 2>/dev/null";
  const r = spawnSync('sh', ['-c', `${list} | head -c ${CORPUS_BYTES} > '${file}'`]);
  if (r.status !== 0 || statSync(file).size !== CORPUS_BYTES) throw new Error(`could not make the ${name} corpus (${statSync(file).size} bytes)`);
  return file;
}

/** one compression pass over the corpus; returns ms and total output bytes */
function oursOnce(data: Uint8Array, blockSize: number): { ms: number; out: number } {
  const t0 = performance.now();
  let out = 0;
  for (let o = 0; o < data.length; o += blockSize) {
    const chunk = data.subarray(o, o + blockSize);
    const b = lz4CompressBlock(chunk);
    out += b ? b.length : chunk.length;
  }
  return { ms: performance.now() - t0, out };
}

/** An LZ4 frame (independent blocks, no checksums): each block compressed, or stored when null. */
function frameOf(data: Uint8Array, blockSize: number, bd: number): Uint8Array {
  const flg = 0x60;
  const parts: Uint8Array[] = [Uint8Array.of(0x04, 0x22, 0x4d, 0x18, flg, bd << 4, (xxh32(Uint8Array.of(flg, bd << 4)) >>> 8) & 0xff)];
  for (let o = 0; o < data.length; o += blockSize) {
    const chunk = data.subarray(o, o + blockSize);
    const b = lz4CompressBlock(chunk);
    if (b) {
      const back = lz4Decompress(b, chunk.length);
      if (Buffer.compare(back, chunk) !== 0) throw new Error(`block at ${o} does not round-trip through lz4Decompress`);
    }
    const size = new Uint8Array(4);
    new DataView(size.buffer).setUint32(0, b ? b.length : (chunk.length | 0x80000000) >>> 0, true);
    parts.push(size, b ?? chunk);
  }
  parts.push(new Uint8Array(4));
  return Buffer.concat(parts);
}

function checkWithLz4Cli(data: Uint8Array, blockSize: number, bd: number): void {
  const r = spawnSync('lz4', ['-d', '-c', '-q'], { input: frameOf(data, blockSize, bd), maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`lz4 -d rejected our blocks: ${r.stderr}`);
  if (Buffer.compare(r.stdout, data) !== 0) throw new Error('lz4 -d decoded our blocks to different bytes');
}

/** `lz4 -b1 -B<bd> -i<n> file`: last "N -> M (ratio), X MB/s" line */
function cliBench(file: string, bd: number, iterations: number): { mbps: number; ratio: number } {
  const r = spawnSync('lz4', ['-b1', `-B${bd}`, `-i${iterations}`, file], { encoding: 'utf8' });
  const text = `${r.stdout}${r.stderr}`;
  const all = [...text.matchAll(/->\s+(\d+)\s+\(\s*([\d.]+)\),\s*([\d.]+) MB\/s/g)];
  const last = all[all.length - 1];
  if (r.status !== 0 || !last) throw new Error(`lz4 -b failed: ${text.slice(-300)}`);
  return { ratio: Number(last[2]), mbps: Number(last[3]) };
}

function cliWall(file: string, bd: number): number {
  const t0 = performance.now();
  const r = spawnSync('lz4', ['-1', `-B${bd}`, '-BI', '-c', '-q', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`lz4 -1 failed: ${r.stderr}`);
  return ms;
}

function destSizeCuts(data: Uint8Array, capacity: number): { cuts: number[]; out: number } {
  const cuts: number[] = [];
  let out = 0;
  for (let o = 0; o < data.length;) {
    const r = lz4CompressDestSize(data.subarray(o), capacity);
    if (r.consumed === 0) throw new Error('destSize made no progress');
    cuts.push(r.consumed);
    out += r.compressed.length;
    o += r.consumed;
  }
  return { cuts, out };
}

/** LZ4_compress_destSize (liblz4 via python3 ctypes) walking the same data; null if unavailable */
function liblz4DestSizeRatio(file: string, capacity: number): number | null {
  const py = `
import ctypes, sys
lib = ctypes.CDLL('liblz4.so.1')
data = open(sys.argv[1], 'rb').read()
cap = int(sys.argv[2])
buf = ctypes.create_string_buffer(data, len(data))
base = ctypes.addressof(buf)
dst = ctypes.create_string_buffer(cap)
o = 0
out = 0
while o < len(data):
    n = ctypes.c_int(min(len(data) - o, 256 * cap + 64))
    out += lib.LZ4_compress_destSize(ctypes.c_void_p(base + o), dst, ctypes.byref(n), cap)
    if n.value <= 0: sys.exit(1)
    o += n.value
print(len(data) / out)
`;
  const r = spawnSync('python3', ['-c', py, file, String(capacity)], { encoding: 'utf8' });
  return r.status === 0 ? round(Number(r.stdout.trim()), 3) : null;
}

export async function runLz4Bench(opts: { runs?: number } = {}): Promise<{ blocks: Lz4BenchRow[]; destSize: Lz4DestSizeRow[] }> {
  const runs = opts.runs ?? 5;
  const blocks: Lz4BenchRow[] = [];
  const destSize: Lz4DestSizeRow[] = [];
  for (const name of ['bin', 'text'] as const) {
    const file = corpus(name);
    const data = new Uint8Array(readFileSync(file));
    for (const [blockSize, bd, label] of BLOCKS) {
      checkWithLz4Cli(data, blockSize, bd);
      for (let i = 0; i < 2; i++) oursOnce(data, blockSize); // warm-up
      let best = Infinity, out = 0, cliBest = { mbps: 0, ratio: 0 }, wallBest = Infinity;
      for (let i = 0; i < runs; i++) {
        const o = oursOnce(data, blockSize);
        best = Math.min(best, o.ms);
        out = o.out;
        const c = cliBench(file, bd, 1);
        if (c.mbps > cliBest.mbps) cliBest = c;
        wallBest = Math.min(wallBest, cliWall(file, bd));
      }
      const oursMBps = data.length / 1e3 / best;
      blocks.push({
        corpus: name,
        block: label,
        oursMBps: round(oursMBps),
        oursRatio: round(data.length / out, 3),
        cliMBps: cliBest.mbps,
        cliRatio: cliBest.ratio,
        cliWallMBps: round(data.length / 1e3 / wallBest),
        slowdown: round(cliBest.mbps / oursMBps, 2),
      });
    }
    // EROFS-style: 4 KiB outputs, each taking as much input as fits
    destSizeCuts(data, 4096); // warm-up
    let best = Infinity, out = 0;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      out = destSizeCuts(data, 4096).out;
      best = Math.min(best, performance.now() - t0);
    }
    destSize.push({ corpus: name, oursMBps: round(data.length / 1e3 / best), oursRatio: round(data.length / out, 3), liblz4Ratio: liblz4DestSizeRatio(file, 4096) });
  }
  return { blocks, destSize };
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const runsArg = process.argv.find((a) => a.startsWith('--runs='));
  const r = await runLz4Bench({ runs: runsArg ? Number(runsArg.slice(7)) : undefined });
  console.log(`LZ4 block compression, ours (lz4CompressBlock) vs lz4 -1; slowdown = CLI MB/s / ours (load average ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
  console.table(r.blocks);
  console.log('lz4CompressDestSize with 4 KiB outputs over the whole corpus (EROFS pclusters)');
  console.table(r.destSize);
}
