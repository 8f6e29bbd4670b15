/**
 * LZ4 block compression: Layerscope's lz4CompressBlock vs the Debian `lz4 -1` CLI on the same
 * 10 MiB corpora, cut in 1 MiB and 64 KiB independent blocks. Run alone:
 * `node --import tsx bench/lz4.ts [--runs=N]`; `npm run bench` can call runLz4Bench().
 *
 * `--destsize` runs the destSize rows only.
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
 *
 * The destSize rows (4 KiB outputs, what EROFS pclusters take) time ours against liblz4's
 * LZ4_compress_destSize itself: a small C driver (bench/out/lz4/destsize, built with `cc` against
 * the system liblz4 when lz4.h is installed) walks the same input the same way. Both are timed in
 * CPU time (user+sys of the process), best of the runs, ours and liblz4's runs interleaved.
 * With LZ4_BENCH_TREE=DIR a further row walks the regular files over 4 KiB of DIR (sorted paths,
 * up to 160 MB) as the EROFS writer's compressFile does with -z lz4: a 1 MiB window from the
 * current position, a pcluster kept only when it saves a block (else 4 KiB go raw), the file's
 * last 4 KiB or less raw, and the file given up once it cannot end up smaller than plain.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { lz4CompressBlock, lz4CompressDestSizeShared } from '../src/lib/codec/lz4-compress.ts';
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
  /** ours, cutting the whole corpus into 4 KiB outputs as EROFS pclusters do; input MB per CPU second */
  oursMBps: number;
  /** input bytes / output bytes */
  oursRatio: number;
  /** LZ4_compress_destSize walking the same input (the C driver), input MB per CPU second; null without cc or lz4.h */
  liblz4MBps: number | null;
  /** liblz4MBps / oursMBps */
  slowdown: number | null;
  /** LZ4_compress_destSize's input/output bytes on the same walk (the C driver, else python3 ctypes for the corpora) */
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

/** EROFS pcluster size of the destSize rows */
const PCLUSTER = 4096;
/** the writer's window: compressFile hands the encoder at most 1 MiB from the current position */
const WINDOW = 1 << 20;

/**
 * Input of a destSize row: `data` is the concatenation of files of `sizes` bytes. `files` false:
 * one stream cut into consecutive outputs (each call given 256 * capacity + 64 bytes at most, all
 * an output can decode to); true: each file walked as compressFile does (see the top of the file).
 */
interface DestSizeInput {
  data: Uint8Array;
  sizes: number[];
  files: boolean;
}

/**
 * One walk with ours; `in` counts the input every call consumed, `out` what it wrote. `check`:
 * every output must decode (lz4Decompress) to exactly the input it consumed, or the bench fails.
 */
function destSizeWalk(w: DestSizeInput, check = false): { in: number; out: number } {
  let inb = 0, outb = 0, off = 0;
  for (const size of w.sizes) {
    let pos = 0, blocks = 0;
    const plain = Math.ceil(size / PCLUSTER);
    while (pos < size) {
      const rem = size - pos;
      if (w.files && rem <= PCLUSTER) break;
      const r = lz4CompressDestSizeShared(w.data.subarray(off + pos, off + pos + Math.min(rem, w.files ? WINDOW : 256 * PCLUSTER + 64)), PCLUSTER);
      if (r.consumed === 0) throw new Error('destSize made no progress');
      if (check && Buffer.compare(lz4Decompress(r.compressed, r.consumed), w.data.subarray(off + pos, off + pos + r.consumed)) !== 0) {
        throw new Error(`destSize output at byte ${off + pos} does not decode to its input`);
      }
      inb += r.consumed;
      outb += r.compressed.length;
      if (!w.files) { pos += r.consumed; continue; }
      const nb = Math.ceil(r.compressed.length / PCLUSTER);
      if (r.consumed <= nb * PCLUSTER) { pos += PCLUSTER; blocks++; } else { pos += r.consumed; blocks += nb; }
      if (blocks >= plain) break;
    }
    off += size;
  }
  return { in: inb, out: outb };
}

/** The C driver: the same walks with liblz4's LZ4_compress_destSize, timed in CPU time. */
const DRIVER_C = String.raw`#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
/* destsize DATA SIZES FILES(0|1) RUNS: prints "best_cpu_seconds in out" (see bench/lz4.ts) */
int main(int argc, char **argv) {
  if (argc != 5) return 2;
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *data = malloc(n + 1);
  if (fread(data, 1, n, f) != (size_t)n) return 1;
  fclose(f);
  long cap = 0, count = 0;
  long *sizes = malloc(sizeof(long) * 1000000);
  FILE *z = fopen(argv[2], "r");
  while (count < 1000000 && fscanf(z, "%ld", &sizes[count]) == 1) count++;
  fclose(z);
  int files = atoi(argv[3]), runs = atoi(argv[4]);
  const int pc = ${PCLUSTER};
  char dst[${PCLUSTER}];
  double best = 1e30;
  long in = 0, out = 0;
  for (int r = 0; r < runs; r++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    long off = 0;
    in = out = 0;
    for (long i = 0; i < count; i++) {
      long size = sizes[i], pos = 0, blocks = 0, plain = (size + pc - 1) / pc;
      while (pos < size) {
        long rem = size - pos;
        if (files && rem <= pc) break;
        long lim = files ? ${WINDOW} : 256L * pc + 64;
        int src = rem < lim ? (int)rem : (int)lim;
        int len = LZ4_compress_destSize(data + off + pos, dst, &src, pc);
        if (src <= 0) return 3;
        in += src;
        out += len;
        if (!files) { pos += src; continue; }
        long nb = (len + pc - 1) / pc;
        if (src <= nb * pc) { pos += pc; blocks++; } else { pos += src; blocks += nb; }
        if (blocks >= plain) break;
      }
      off += size;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (s < best) best = s;
  }
  printf("%.6f %ld %ld\n", best, in, out);
  return 0;
}
`;

/** builds the C driver once; null without cc or lz4.h */
function driver(): string | null {
  const exe = join(OUT, 'destsize');
  const src = join(OUT, 'destsize.c');
  if (existsSync(exe) && existsSync(src) && readFileSync(src, 'utf8') === DRIVER_C) return exe;
  mkdirSync(OUT, { recursive: true });
  writeFileSync(src, DRIVER_C);
  const r = spawnSync('cc', ['-O2', '-o', exe, src, '-llz4'], { encoding: 'utf8' });
  return r.status === 0 ? exe : null;
}

/** one timed run of the C driver over the input in dataFile (its file sizes in sizesFile) */
function driverRun(exe: string, dataFile: string, sizesFile: string, files: boolean): { s: number; in: number; out: number } {
  const r = spawnSync(exe, [dataFile, sizesFile, files ? '1' : '0', '1'], { encoding: 'utf8' });
  const [s, inb, outb] = r.stdout.trim().split(' ').map(Number);
  if (r.status !== 0 || !(s! > 0)) throw new Error(`${exe} failed (${r.status}): ${r.stderr}`);
  return { s: s!, in: inb!, out: outb! };
}

/** the destSize row of one input: ours and the driver interleaved, best CPU time of each */
function destSizeRow(corpus: string, w: DestSizeInput, dataFile: string, runs: number): Lz4DestSizeRow {
  const sizesFile = `${dataFile}.sizes`;
  writeFileSync(sizesFile, w.sizes.join('\n'));
  const exe = driver();
  destSizeWalk(w, true); // check
  destSizeWalk(w); // warm-up (the first run after the checking one was twice as slow)
  let best = Infinity, cBest = Infinity, ours = { in: 0, out: 0 }, lib = { in: 0, out: 0 };
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    ours = destSizeWalk(w);
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1e6);
    if (exe) {
      const d = driverRun(exe, dataFile, sizesFile, w.files);
      cBest = Math.min(cBest, d.s);
      lib = d;
    }
  }
  const oursMBps = ours.in / 1e6 / best;
  const liblz4MBps = exe ? lib.in / 1e6 / cBest : null;
  return {
    corpus,
    oursMBps: round(oursMBps),
    oursRatio: round(ours.in / ours.out, 3),
    liblz4MBps: liblz4MBps === null ? null : round(liblz4MBps),
    slowdown: liblz4MBps === null ? null : round(liblz4MBps / oursMBps, 2),
    liblz4Ratio: exe ? round(lib.in / lib.out, 3) : w.files ? null : liblz4DestSizeRatio(dataFile, PCLUSTER),
  };
}

/**
 * The regular files over 4 KiB under `dir` (sorted paths, no symlinks) as one file + sizes: every
 * k-th of them, k chosen so that about `limit` bytes spread over the whole tree.
 */
function treeInput(dir: string, limit: number): { file: string; w: DestSizeInput } {
  const paths: string[] = [];
  let all = 0;
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size > PCLUSTER) { paths.push(p); all += st.size; }
    }
  };
  walk(dir);
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, 'tree.bin');
  const fd = openSync(file, 'w');
  const sizes: number[] = [];
  let total = 0;
  try {
    const k = Math.max(1, Math.ceil(all / limit));
    for (let i = 0; i < paths.length && total < limit; i += k) {
      const b = readFileSync(paths[i]!);
      writeSync(fd, b);
      sizes.push(b.length);
      total += b.length;
    }
  } finally {
    closeSync(fd);
  }
  return { file, w: { data: new Uint8Array(readFileSync(file)), sizes, files: true } };
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

export async function runLz4Bench(opts: { runs?: number; destSizeOnly?: boolean } = {}): Promise<{ blocks: Lz4BenchRow[]; destSize: Lz4DestSizeRow[] }> {
  const runs = opts.runs ?? 5;
  const blocks: Lz4BenchRow[] = [];
  const destSize: Lz4DestSizeRow[] = [];
  for (const name of ['bin', 'text'] as const) {
    const file = corpus(name);
    const data = new Uint8Array(readFileSync(file));
    for (const [blockSize, bd, label] of opts.destSizeOnly ? [] : BLOCKS) {
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
    destSize.push(destSizeRow(name, { data, sizes: [data.length], files: false }, file, runs));
  }
  const tree = process.env.LZ4_BENCH_TREE;
  if (tree) {
    const t = treeInput(tree, 160e6);
    destSize.push(destSizeRow(`${tree} (${t.w.sizes.length} files, as compressFile)`, t.w, t.file, runs));
  }
  return { blocks, destSize };
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const runsArg = process.argv.find((a) => a.startsWith('--runs='));
  const r = await runLz4Bench({ runs: runsArg ? Number(runsArg.slice(7)) : undefined, destSizeOnly: process.argv.includes('--destsize') });
  if (r.blocks.length) console.log(`LZ4 block compression, ours (lz4CompressBlock) vs lz4 -1; slowdown = CLI MB/s / ours (load average ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
  if (r.blocks.length) console.table(r.blocks);
  console.log('lz4CompressDestSize with 4 KiB outputs (EROFS pclusters) vs liblz4 LZ4_compress_destSize, input MB per CPU second');
  console.table(r.destSize);
}
