/**
 * Codec throughput in Node and in Debian Chromium, same cases (bench/browser/cases.ts) on the same
 * bytes. Run alone: `node --import tsx bench/codecs.ts` (add `--node-only` to skip Chromium,
 * `--zstd-only` for the zstd decode rows alone);
 * `npm run bench` calls runCodecBench().
 *
 * Inputs are made fresh in a temp dir: 8 MiB of a tar of /usr/bin (binaries), its raw LZ4 blocks
 * from `lz4 -1 -B6` (1 MiB blocks), `zstd -3` and `gzip -6`. The page is bundled with Vite into
 * bench/out/, served from 127.0.0.1 by a throwaway node:http server and driven by playwright-core.
 *
 * zstd decode also gets its own Node rows (zstdRows): our decoder, fzstd and the `zstd -d` CLI on
 * the same `zstd -3` frame (with its content checksum, which ours verifies and fzstd skips), and on
 * a `--no-check` frame of the same corpus; then ours again into one reused output buffer, as the EROFS
 * and RAFS readers decode (zstdDecodeInto), where a fresh 8 MiB output per call is not paid.
 *
 * zstd encode (zstdEncodeRows): our encoder (zstd-encode.ts, timed in Node and Chromium) and the `zstd` CLI
 * at levels 1, 3 and 9 on the same 8 MiB corpus, each row with its output size against the CLI's at
 * the same level (both without a checksum). Every frame of ours is decoded back before it is timed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decompress as fzstdDecompress } from 'fzstd';
import { zstdDecompress } from '../src/lib/codec/zstd.ts';
import { zstdDecodeInto } from '../src/lib/codec/zstd-decode.ts';
import { zstdCompress } from '../src/lib/codec/zstd-encode.ts';
import { deflateSync as fflateDeflate, gunzipSync as fflateGunzip } from 'fflate';
import { gunzipSync as zlibGunzip, inflateRawSync as zlibInflateRaw } from 'node:zlib';
import { gunzipMembers } from '../src/lib/codec/inflate.ts';
import { INFLATE_CASES, measure, runCases, ZSTD_ENCODE_LEVELS, zstdEncodeCase, type BenchInputs, type CaseResult } from './browser/cases.ts';
import { median } from './util.ts';

export interface Row {
  codec: string;
  /** MB/s (1e6 bytes/s), null when not measured */
  nodeMBps: number | null;
  chromiumMBps: number | null;
}

const HERE = import.meta.dirname;
const BROWSER_DIR = join(HERE, 'browser');
// its own folder: the build empties it, and bench/out holds other benches' large cached inputs
const OUT_DIR = join(HERE, 'out', 'codecs-page');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CORPUS_SIZE = 8 << 20;

interface Lz4Block { offset: number; length: number; size: number }

/** Cut the compressed blocks out of an LZ4 frame (block-independent, as `lz4 -BI` writes). */
function lz4FrameBlocks(frame: Uint8Array): Lz4Block[] {
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (dv.getUint32(0, true) !== 0x184d2204) throw new Error('lz4 frame: bad magic');
  const flg = frame[4]!;
  const blockMax = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20][(frame[5]! >> 4) & 7]!;
  if (!(flg & 0x20)) throw new Error('lz4 frame: blocks are linked; make them with -BI');
  let p = 7 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0);
  const blocks: Lz4Block[] = [];
  let decoded = 0;
  for (;;) {
    const word = dv.getUint32(p, true);
    p += 4;
    if (word === 0) break;
    const length = word & 0x7fffffff;
    const size = Math.min(blockMax, CORPUS_SIZE - decoded);
    if (!(word & 0x80000000)) blocks.push({ offset: p, length, size }); // stored blocks are not lz4
    decoded += size;
    p += length + (flg & 0x10 ? 4 : 0);
  }
  return blocks;
}

/** Make the inputs in `dir` (also the files the page fetches) and load them. */
function makeInputs(dir: string): BenchInputs {
  const corpus = join(dir, 'corpus.bin');
  execFileSync('sh', ['-c', `tar -cf - /usr/bin /usr/lib/x86_64-linux-gnu /usr/lib 2>/dev/null | head -c ${CORPUS_SIZE} > '${corpus}'`]);
  const bytes = new Uint8Array(readFileSync(corpus));
  if (bytes.length !== CORPUS_SIZE) throw new Error(`corpus is ${bytes.length} bytes, wanted ${CORPUS_SIZE}`);
  const frame = new Uint8Array(execFileSync('lz4', ['-q', '-1', '-B6', '-BI', '--no-frame-crc', '-c', corpus], { maxBuffer: 64 << 20 }));
  const index = lz4FrameBlocks(frame);
  const lz4Blob = new Uint8Array(index.reduce((s, b) => s + b.length, 0));
  let o = 0;
  const relocated = index.map((b) => {
    lz4Blob.set(frame.subarray(b.offset, b.offset + b.length), o);
    o += b.length;
    return { offset: o - b.length, length: b.length, size: b.size };
  });
  writeFileSync(join(dir, 'corpus.lz4blocks'), lz4Blob);
  writeFileSync(join(dir, 'lz4blocks.json'), JSON.stringify(relocated));
  const zstd = new Uint8Array(execFileSync('zstd', ['-3', '-q', '-c', corpus], { maxBuffer: 64 << 20 }));
  writeFileSync(join(dir, 'corpus.zst'), zstd);
  const gzip = new Uint8Array(execFileSync('gzip', ['-6', '-n', '-c', corpus], { maxBuffer: 64 << 20 }));
  writeFileSync(join(dir, 'corpus.gz'), gzip);
  return {
    corpus: bytes, zstd, gzip,
    lz4Blocks: relocated.map((b) => ({ src: lz4Blob.subarray(b.offset, b.offset + b.length), size: b.size })),
  };
}

/** `zstd -d` of `file` (decoding to `size` bytes), in MB/s of output: 16 copies per run, so the
 * process start is spread over 128 MiB; the median of 5 runs. */
function zstdCliMBps(file: string, size: number): number {
  const copies = 16;
  const args = ['-d', '-q', '-c', ...Array.from({ length: copies }, () => file)];
  const ms: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    execFileSync('zstd', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    ms.push(performance.now() - t0);
  }
  return (copies * size) / (median(ms) / 1000) / 1e6;
}

/** `zstd -d` of `file` in MB of output per CPU-second (user + sys of 3 runs of 16 copies, /usr/bin/time) */
function zstdCliCpuMBps(file: string, size: number): number {
  const t = spawnSync('/usr/bin/time', ['-f', '%U %S', 'sh', '-c', `for i in 1 2 3; do zstd -d -q -c ${Array.from({ length: 16 }, () => `'${file}'`).join(' ')} > /dev/null; done`], { encoding: 'utf8' });
  const [u, sys] = (t.stderr.trim().split('\n').pop() ?? '').split(' ').map(Number);
  return (3 * 16 * size) / ((u ?? NaN) + (sys ?? NaN)) / 1e6;
}

/**
 * MB of output per CPU-second of this process for each decoder, in interleaved rounds (ours, fzstd,
 * ours, ...) so both see the same machine load: the median of 7 rounds of 3 calls each.
 */
function cpuMBps(fns: (() => unknown)[], size: number): number[] {
  const rates: number[][] = fns.map(() => []);
  for (const f of fns) f();
  for (let r = 0; r < 7; r++) {
    fns.forEach((f, i) => {
      const c0 = process.cpuUsage();
      for (let k = 0; k < 3; k++) f();
      const c = process.cpuUsage(c0);
      rates[i]!.push((3 * size) / ((c.user + c.system) / 1e6) / 1e6);
    });
  }
  return rates.map(median);
}

/**
 * zstd decode in Chromium: ours (zstdDecompress) and fzstd on the checked and the `--no-check` frame,
 * bundled by esbuild into a blank page (so this needs no page of its own). Wall MB/s from
 * performance.now() in the page, and MB per CPU-second of the renderer processes (utime + stime
 * from /proc, 10 ms ticks: each window decodes 12 x 8 MiB), medians of 5 interleaved rounds.
 */
async function zstdChromium(inputs: BenchInputs, noCheck: Uint8Array, log: (s: string) => void): Promise<{ wall: number[]; cpu: number[] } | null> {
  if (!existsSync(CHROMIUM)) return null;
  const { build } = await import('esbuild');
  const repo = resolve(HERE, '..');
  const bundled = await build({
    stdin: {
      // the page's code lives here, not in page.evaluate callbacks: tsx would wrap their inner
      // functions in a helper the page does not have
      contents: `import { zstdDecompress } from './src/lib/codec/zstd.ts'; import { zstdDecodeInto } from './src/lib/codec/zstd-decode.ts'; import { decompress } from 'fzstd';
        let frames: Uint8Array[] = [], size = 0, out = new Uint8Array(0);
        const get = async (p: string) => new Uint8Array(await (await fetch(p)).arrayBuffer());
        (globalThis as any).Z = {
          async load(): Promise<boolean> {
            const corpus = await get('/corpus');
            frames = [await get('/c.zst'), await get('/n.zst')];
            size = corpus.length;
            out = new Uint8Array(size);
            const same = (a: Uint8Array) => a.length === size && a.every((x, i) => x === corpus[i]);
            return frames.every((f) => same(zstdDecompress(f, size)) && same(decompress(f)));
          },
          /** case c: 0 ours / 1 fzstd on the checked frame, 2 / 3 on the --no-check frame, +4 into one reused output (ours); ms of n calls */
          run(c: number, n: number): number {
            const f = frames[(c >> 1) & 1]!;
            const t0 = performance.now();
            if (c & 4) for (let k = 0; k < n; k++) if (c & 1) decompress(f, out); else zstdDecodeInto(f, out);
            else for (let k = 0; k < n; k++) if (c & 1) decompress(f); else zstdDecompress(f, size);
            return performance.now() - t0;
          },
        };`,
      resolveDir: repo, loader: 'ts', sourcefile: 'zstd-bench-page.ts',
    },
    bundle: true, format: 'esm', platform: 'browser', minify: true, write: false, logLevel: 'silent',
  });
  const script = bundled.outputFiles[0]!.text;
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    const files: Record<string, Uint8Array> = { '/c.zst': inputs.zstd, '/n.zst': noCheck, '/corpus': inputs.corpus };
    await page.route('http://zstd.bench/**', (r) => {
      const path = new URL(r.request().url()).pathname;
      return r.fulfill(path === '/' ? { body: '<!doctype html><title>zstd</title>', contentType: 'text/html' } : { body: Buffer.from(files[path]!), contentType: 'application/octet-stream' });
    });
    await page.goto('http://zstd.bench/');
    await page.addScriptTag({ type: 'module', content: script });
    await page.waitForFunction(() => 'Z' in globalThis);
    const ok = await page.evaluate(() => (globalThis as unknown as { Z: { load(): Promise<boolean> } }).Z.load());
    if (!ok) throw new Error('bench: zstd decoders in Chromium disagree with the corpus');
    // the renderers of this browser: its processes of type renderer, found from this process down
    /** the fields of /proc/PID/stat after the command name (state is [0], ppid [1], utime [11]) */
    const stat = (pid: string) => {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return st.slice(st.lastIndexOf(')') + 2).split(' ');
    };
    const renderers = readdirSync('/proc').filter((d) => {
      if (!/^\d+$/.test(d)) return false;
      try {
        if (!readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('--type=renderer')) return false;
        for (let p = d, k = 0; k < 6 && p !== '0'; k++) if ((p = stat(p)[1]!) === String(process.pid)) return true;
      } catch {
        // the process ended
      }
      return false;
    });
    const cpuSeconds = () => renderers.reduce((t, d) => t + (Number(stat(d)[11]) + Number(stat(d)[12])) / 100, 0);
    // cases: [ours checked, fzstd checked, ours --no-check, fzstd --no-check, ours checked into one reused output, ours --no-check into it]
    const CASES = [0, 1, 2, 3, 4, 6];
    const calls = 12, wall: number[][] = CASES.map(() => []), cpu: number[][] = CASES.map(() => []);
    for (let r = 0; r < 6; r++) {
      for (const [i, c] of CASES.entries()) {
        const c0 = cpuSeconds();
        const ms = await page.evaluate(([c, n]) => (globalThis as unknown as { Z: { run(c: number, n: number): number } }).Z.run(c, n), [c, r === 0 ? 2 : calls] as const);
        if (r === 0) continue; // warm-up round
        const bytes = calls * inputs.corpus.length;
        wall[i]!.push(bytes / (ms / 1000) / 1e6);
        cpu[i]!.push(bytes / (cpuSeconds() - c0) / 1e6);
      }
    }
    log(`Chromium renderer CPU time (${renderers.length} processes)`);
    return { wall: wall.map(median), cpu: cpu.map(median) };
  } finally {
    await browser.close();
  }
}

/**
 * zstd decode, same frames, same run: ours (zstdDecompress, checksum verified), fzstd (`decompress`,
 * no checksum check) and the CLI, then a `--no-check` frame for ours and fzstd; in Node and (unless
 * chromium is false) in Chromium. Wall MB/s in the table; MB per CPU-second logged beside them, as
 * wall time on a shared machine mostly measures the other processes.
 */
async function zstdRows(dir: string, inputs: BenchInputs, chromium: boolean, log: (s: string) => void): Promise<Row[]> {
  const size = inputs.corpus.length;
  const noCheck = new Uint8Array(execFileSync('zstd', ['-3', '-q', '--no-check', '-c', join(dir, 'corpus.bin')], { maxBuffer: 64 << 20 }));
  writeFileSync(join(dir, 'corpus-nocheck.zst'), noCheck);
  const same = (a: Uint8Array) => Buffer.from(a).equals(Buffer.from(inputs.corpus));
  for (const f of [inputs.zstd, noCheck]) {
    if (!same(zstdDecompress(f, size)) || !same(fzstdDecompress(f))) throw new Error('bench: zstd decoders disagree with the corpus');
  }
  const wall = [
    await measure(() => zstdDecompress(inputs.zstd, size), size),
    await measure(() => fzstdDecompress(inputs.zstd), size),
    await measure(() => zstdDecompress(noCheck, size), size),
    await measure(() => fzstdDecompress(noCheck), size),
  ];
  // ours again into one output buffer, as the EROFS and RAFS readers call it (zstdDecodeInto): a fresh
  // 8 MiB output per call costs ~4 of ~28 ms here. fzstd stays on its allocating call: given an output
  // buffer (decompress(dat, buf)) it ran at 10 MB per CPU-s against 167 here (Node 20, same frame)
  const out = new Uint8Array(size);
  for (const f of [inputs.zstd, noCheck]) {
    if (zstdDecodeInto(f, out) !== size || !same(out)) throw new Error('bench: our zstd decoder disagrees with the corpus (into a buffer)');
    out.fill(0);
  }
  wall.push(await measure(() => zstdDecodeInto(inputs.zstd, out), size), await measure(() => zstdDecodeInto(noCheck, out), size));
  const cpu = cpuMBps([
    () => zstdDecompress(inputs.zstd, size), () => fzstdDecompress(inputs.zstd), () => zstdDecompress(noCheck, size), () => fzstdDecompress(noCheck),
    () => zstdDecodeInto(inputs.zstd, out), () => zstdDecodeInto(noCheck, out),
  ], size);
  const cliWall = [zstdCliMBps(join(dir, 'corpus.zst'), size), zstdCliMBps(join(dir, 'corpus-nocheck.zst'), size)];
  const cliCpu = [zstdCliCpuMBps(join(dir, 'corpus.zst'), size), zstdCliCpuMBps(join(dir, 'corpus-nocheck.zst'), size)];
  const ch = chromium ? await zstdChromium(inputs, noCheck, (s) => log(`[chromium] ${s}`)) : null;
  const f = (x: number) => x.toFixed(0);
  const names = ['zstd -3 decode: ours (zstd-decode.ts)', 'zstd -3 decode: fzstd', 'zstd -3 --no-check decode: ours', 'zstd -3 --no-check decode: fzstd',
    'zstd -3 decode into a reused buffer: ours', 'zstd -3 --no-check decode into a reused buffer: ours'];
  const rows: Row[] = [];
  names.forEach((codec, i) => {
    log(`${codec}: Node ${f(wall[i]!)} MB/s, ${f(cpu[i]!)} per CPU-s${ch ? `; Chromium ${f(ch.wall[i]!)} MB/s, ${f(ch.cpu[i]!)} per CPU-s` : ''}`);
    rows.push({ codec, nodeMBps: wall[i]!, chromiumMBps: ch?.wall[i] ?? null });
    if (i === 1 || i === 3) {
      const cli = i >> 1;
      const name = `zstd -3 ${cli ? '--no-check ' : ''}decode: zstd -d (CLI)`;
      log(`${name}: ${f(cliWall[cli]!)} MB/s, ${f(cliCpu[cli]!)} per CPU-s`);
      rows.push({ codec: name, nodeMBps: cliWall[cli]!, chromiumMBps: null });
    }
  });
  const ratio = (a: number[], i: number) => (a[i]! / a[i + 1]!).toFixed(2);
  log(`zstd decode: ours / fzstd, Node CPU time ${ratio(cpu, 0)}x (checked frame), ${ratio(cpu, 2)}x (--no-check)` +
    (ch ? `; Chromium CPU time ${ratio(ch.cpu, 0)}x, ${ratio(ch.cpu, 2)}x` : ''));
  const vs = (a: number[], i: number, j: number) => (a[i]! / a[j]!).toFixed(2);
  log(`zstd decode into a reused buffer: ours / fzstd (allocating), Node CPU time ${vs(cpu, 4, 1)}x (checked frame), ${vs(cpu, 5, 3)}x (--no-check)` +
    (ch ? `; Chromium CPU time ${vs(ch.cpu, 4, 1)}x, ${vs(ch.cpu, 5, 3)}x` : ''));
  return rows;
}

/** `zstd -L` of `file`, median MB/s of input over 5 runs (its output discarded), and its output size */
function zstdCliEncode(file: string, level: number, size: number): { mbps: number; bytes: number; cpuMBps: number } {
  const args = [`-${level}`, '-q', '--no-check', '-c', file];
  const bytes = execFileSync('zstd', args, { maxBuffer: 64 << 20 }).length;
  const ms: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    execFileSync('zstd', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    ms.push(performance.now() - t0);
  }
  // CPU seconds too (user + sys of 3 runs, from /usr/bin/time): on a shared machine wall time
  // mostly measures the other processes
  const t = spawnSync('/usr/bin/time', ['-f', '%U %S', 'sh', '-c', `for i in 1 2 3; do zstd ${args.join(' ')} > /dev/null; done`], { encoding: 'utf8' });
  const [u, sys] = (t.stderr.trim().split('\n').pop() ?? '').split(' ').map(Number);
  return { mbps: size / (median(ms) / 1000) / 1e6, bytes, cpuMBps: (3 * size) / ((u ?? NaN) + (sys ?? NaN)) / 1e6 };
}

/** ours in MB of input per CPU-second of this process (3 calls; 1 at level 9) */
function oursCpuMBps(data: Uint8Array, level: number): number {
  const runs = level >= 9 ? 1 : 3;
  const c0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) zstdCompress(data, { level });
  const c = process.cpuUsage(c0);
  return (runs * data.length) / ((c.user + c.system) / 1e6) / 1e6;
}

/**
 * zstd encode, same corpus, same run: ours (timed by runCases in Node and in Chromium) against the
 * CLI at levels 1, 3 and 9, with output sizes.
 */
async function zstdEncodeRows(dir: string, inputs: BenchInputs, node: CaseResult[], chrome: CaseResult[], log: (s: string) => void): Promise<Row[]> {
  const corpus = inputs.corpus, size = corpus.length;
  const rows: Row[] = [];
  for (const level of ZSTD_ENCODE_LEVELS) {
    const ours = zstdCompress(corpus, { level });
    if (!Buffer.from(zstdDecompress(ours, size)).equals(Buffer.from(corpus)) || !Buffer.from(fzstdDecompress(ours)).equals(Buffer.from(corpus))) {
      throw new Error(`bench: our zstd level ${level} frame does not decode to the corpus`);
    }
    const cli = zstdCliEncode(join(dir, 'corpus.bin'), level, size);
    const mbps = node.find((c) => c.codec === zstdEncodeCase(level))?.mbps ?? await measure(() => zstdCompress(corpus, { level }), size, level >= 9 ? 1 : 3, 250);
    const inChrome = chrome.find((c) => c.codec === zstdEncodeCase(level))?.mbps ?? null;
    const ratio = ours.length / cli.bytes;
    const a = `zstd -${level} encode: ours, ${ours.length} bytes = ${ratio.toFixed(3)}x zstd's`;
    const b = `zstd -${level} encode: zstd CLI, ${cli.bytes} bytes (${(size / cli.bytes).toFixed(2)}:1)`;
    const cpu = oursCpuMBps(corpus, level);
    log(`${a}: ${mbps.toFixed(1)} MB/s (Chromium ${inChrome?.toFixed(1) ?? '-'}); ${b}: ${cli.mbps.toFixed(1)} MB/s; speed ours / CLI = ${(mbps / cli.mbps).toFixed(3)}; per CPU-second: ours ${cpu.toFixed(1)} MB, CLI ${cli.cpuMBps.toFixed(1)} MB (${(cpu / cli.cpuMBps).toFixed(3)})`);
    rows.push({ codec: a, nodeMBps: mbps, chromiumMBps: inChrome }, { codec: b, nodeMBps: cli.mbps, chromiumMBps: null });
  }
  return rows;
}

/**
 * Inflate in Node, same `gzip -6` file, same run: ours (codec/inflate.ts gunzipMembers, which runs
 * inflate-fast.ts when no probes are asked for), fflate's gunzipSync and node:zlib (C zlib); then
 * node:zlib beside the inflate-fast/fflate cases of cases.ts (Node and Chromium).
 */
async function inflateRows(inputs: BenchInputs, node: CaseResult[], chrome: CaseResult[], log: (s: string) => void): Promise<Row[]> {
  const size = inputs.corpus.length;
  if (!Buffer.from(gunzipMembers(inputs.gzip, { maxOutput: size }).output).equals(Buffer.from(inputs.corpus))) throw new Error('bench: our inflate disagrees with the corpus');
  const rows: Row[] = [];
  const row = (codec: string, mbps: number) => {
    log(`${codec}: ${mbps.toFixed(1)} MB/s`);
    rows.push({ codec, nodeMBps: mbps, chromiumMBps: null });
  };
  row('gzip -6 inflate: ours (inflate.ts)', await measure(() => gunzipMembers(inputs.gzip, { maxOutput: size }), size));
  row('gzip -6 inflate: fflate', await measure(() => fflateGunzip(inputs.gzip), size));
  row('gzip -6 inflate: node:zlib', await measure(() => zlibGunzip(inputs.gzip), size));
  log(`inflate: ours / fflate = ${(rows[0]!.nodeMBps! / rows[1]!.nodeMBps!).toFixed(2)}x, ours / zlib = ${(rows[0]!.nodeMBps! / rows[2]!.nodeMBps!).toFixed(2)}x`);
  // node:zlib beside inflate-fast.ts's cases (timed by runCases in Node and Chromium): the same
  // gzip body, and the 4 KiB streams cases.ts makes with fflate
  const body = inputs.gzip.subarray(10, inputs.gzip.length - 8);
  row(`deflate decode (gzip -6 body, 8 MiB, node:zlib inflateRawSync)`, await measure(() => zlibInflateRaw(body), size));
  const small: Uint8Array[] = [];
  for (let o = 0; o < 2 << 20; o += 4096) small.push(fflateDeflate(inputs.corpus.subarray(o, o + 4096), { level: 9 }));
  row(`deflate decode (512 streams of 4 KiB, node:zlib inflateRawSync)`, await measure(() => { for (const z of small) zlibInflateRaw(z); }, 2 << 20));
  const rate = (rs: CaseResult[], c: string) => rs.find((r) => r.codec === c)?.mbps ?? NaN;
  for (const [name, rs] of [['Node', node], ['Chromium', chrome]] as const) {
    if (rs.length) log(`inflate-fast / fflate (${name}): 8 MiB stream ${(rate(rs, INFLATE_CASES.oursBig) / rate(rs, INFLATE_CASES.fflateBig)).toFixed(2)}x, 4 KiB streams ${(rate(rs, INFLATE_CASES.oursSmall) / rate(rs, INFLATE_CASES.fflateSmall)).toFixed(2)}x`);
  }
  return rows;
}

const MIME: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.css': 'text/css' };

/** Static files: the built page from OUT_DIR, bench inputs under /data/ from `dataDir`. 127.0.0.1 only. */
function serve(dataDir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [root, rel] = path.startsWith('/data/') ? [dataDir, path.slice(6)] : [OUT_DIR, path === '/' ? 'index.html' : path.slice(1)];
    const file = normalize(join(root, rel));
    if (!file.startsWith(root + sep) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

async function runInChromium(dataDir: string, log: (s: string) => void): Promise<CaseResult[]> {
  const { build } = await import('vite');
  await build({
    root: BROWSER_DIR, base: './', configFile: false, logLevel: 'warn',
    build: { outDir: OUT_DIR, emptyOutDir: true, target: 'es2022' },
  });
  const { chromium } = await import('playwright-core');
  const server = await serve(dataDir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => log(`[chromium] ${m.text()}`));
    page.on('pageerror', (e) => log(`[chromium] page error: ${e.message}`));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/index.html`);
    await page.waitForFunction(() => typeof (globalThis as { runBench?: unknown }).runBench === 'function');
    return await page.evaluate(async () => {
      const results = await (globalThis as unknown as { runBench(): Promise<CaseResult[]> }).runBench();
      for (const r of results) console.log(`${r.codec}: ${r.mbps.toFixed(1)} MB/s`);
      return results;
    });
  } finally {
    await browser.close();
    await new Promise((ok) => server.close(ok));
  }
}

export async function runCodecBench(opts: { chromium?: boolean; log?: (s: string) => void } = {}): Promise<Row[]> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const dir = mkdtempSync(join(tmpdir(), 'ls-codec-bench-'));
  try {
    const inputs = makeInputs(dir);
    log('codec bench: Node');
    const node = await runCases(inputs, (s) => log(`[node] ${s}`));
    let chrome: CaseResult[] = [];
    if (opts.chromium !== false) {
      if (existsSync(CHROMIUM)) {
        log('codec bench: Chromium');
        chrome = await runInChromium(dir, log);
      } else {
        log(`codec bench: no Chromium at ${CHROMIUM}, browser column left empty`);
      }
    }
    const zstd = await zstdRows(dir, inputs, opts.chromium !== false, (s) => log(`[zstd] ${s}`));
    const zstdEncode = await zstdEncodeRows(dir, inputs, node, chrome, (s) => log(`[node] ${s}`));
    const inflate = await inflateRows(inputs, node, chrome, (s) => log(`[node] ${s}`));
    return [
      ...node.filter((r) => !ZSTD_ENCODE_LEVELS.some((l) => r.codec === zstdEncodeCase(l))).map((r) => ({ codec: r.codec, nodeMBps: r.mbps, chromiumMBps: chrome.find((c) => c.codec === r.codec)?.mbps ?? null })),
      ...zstd,
      ...zstdEncode,
      ...inflate,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatCodecTable(rows: Row[]): string {
  const f = (x: number | null) => (x === null ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const w = Math.max(5, ...rows.map((r) => r.codec.length));
  const lines = [`${'codec'.padEnd(w)}  ${'Node MB/s'.padStart(10)}  ${'Chromium MB/s'.padStart(14)}`, '-'.repeat(w + 28)];
  for (const r of rows) lines.push(`${r.codec.padEnd(w)}  ${f(r.nodeMBps).padStart(10)}  ${f(r.chromiumMBps).padStart(14)}`);
  return lines.join('\n');
}

/** only the zstd decode rows (`--zstd-only`): the same inputs, none of the other codecs */
async function runZstdDecodeBench(chromium: boolean): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ls-codec-bench-'));
  try {
    return await zstdRows(dir, makeInputs(dir), chromium, (s) => console.error(`[zstd] ${s}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const chromium = !process.argv.includes('--node-only');
  const rows = process.argv.includes('--zstd-only') ? await runZstdDecodeBench(chromium) : await runCodecBench({ chromium });
  console.log(formatCodecTable(rows));
}
