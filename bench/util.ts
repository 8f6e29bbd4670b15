import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';

export const BENCH_OUT = resolve(import.meta.dirname, 'out');
/**
 * The CLI as it ships: bin/layerscope.mjs, which runs the sources as one cached esbuild bundle.
 * One run first builds the bundle, so no timed run pays for it; without the bundle the CLI would
 * fall back to tsx (~0.4 s more a run), and the bench refuses to measure that.
 */
export const CLI = (() => {
  const bin = resolve(import.meta.dirname, '../bin/layerscope.mjs');
  spawnSync(process.execPath, [bin, 'help'], { stdio: 'ignore' });
  if (!existsSync(resolve(import.meta.dirname, '../node_modules/.cache/layerscope/cli.mjs'))) throw new Error('bin/layerscope.mjs did not build its bundle (is esbuild installed?)');
  return bin;
})();

/** Where extracted trees go: tmpfs when there is one, so both tools are timed, not the disk's writeback. */
export const SCRATCH = existsSync('/dev/shm') ? '/dev/shm' : BENCH_OUT;

export function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): { ms: number; stdout: string; stderr: string; status: number } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  return { ms, stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

/**
 * `sh` through /usr/bin/time: also the command's CPU milliseconds (user + sys of it and the
 * threads and children it waited for). On a machine other jobs share, CPU time moves far less
 * than wall time from run to run.
 */
export function shCpu(cmd: string, args: string[]): ReturnType<typeof sh> & { cpuMs: number; sysMs: number } {
  const file = join(BENCH_OUT, `cpu-${process.pid}.txt`);
  const r = sh('/usr/bin/time', ['-f', '%U %S', '-o', file, cmd, ...args]);
  const [u, s] = readFileSync(file, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  rmSync(file, { force: true });
  // sysMs: the kernel's share (on disk it is mostly the filesystem's allocators)
  return { ...r, cpuMs: (u! + s!) * 1000, sysMs: s! * 1000 };
}

/** the 1-minute load average, as "load 3.1" (what else ran beside a measurement) */
export function load(): string {
  return `load ${loadavg()[0]!.toFixed(1)}`;
}

/** Run `fn` n times, return the median of the measured milliseconds. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function fresh(dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Deterministic PRNG (xorshift32) so bench inputs are the same every run. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

const WORDS = 'the quick brown fox jumps over lazy dog layer image chunk blob inode erofs nydus composefs block data file system kernel mount read write digest verify tree root user group mode time size offset'.split(' ');

/** Text-like content (compresses about 3x with lz4) mixed with some random runs. */
export function content(rand: () => number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let i = 0;
  while (i < size) {
    if ((rand() & 15) === 0) {
      const n = Math.min(size - i, 64 + (rand() & 255));
      for (let k = 0; k < n; k++) out[i++] = rand() & 255;
    } else {
      const w = WORDS[rand() % WORDS.length]!;
      for (let k = 0; k < w.length && i < size; k++) out[i++] = w.charCodeAt(k);
      if (i < size) out[i++] = (rand() & 7) === 0 ? 10 : 32;
    }
  }
  return out;
}

/**
 * A large tree: `files` files over nested directories, about `totalBytes` in all (a few big files
 * carry most of the bytes, as in real images). Made once and reused (marker file).
 */
export function makeBigTree(dir: string, files: number, totalBytes: number, seed = 1): string {
  const marker = join(dir, `.made-${files}-${totalBytes}-${seed}`);
  if (existsSync(marker)) return dir;
  fresh(dir);
  const rand = prng(seed);
  const big = Math.max(1, Math.floor(files / 200));
  const smallTotal = Math.floor(totalBytes * 0.3);
  const smallAvg = Math.floor(smallTotal / (files - big));
  const bigAvg = Math.floor((totalBytes - smallTotal) / big);
  const made = new Set<string>();
  for (let i = 0; i < files; i++) {
    const d = join(dir, `d${i % 97}`, `s${(i >> 7) % 13}`);
    if (!made.has(d)) {
      mkdirSync(d, { recursive: true });
      made.add(d);
    }
    const size = i % 200 === 0 ? Math.floor(bigAvg * (0.5 + (rand() % 1000) / 1000)) : rand() % (2 * smallAvg);
    writeFileSync(join(d, `f${i}.dat`), content(rand, size));
  }
  writeFileSync(marker, '');
  return dir;
}

/** A throwaway static server on 127.0.0.1 (ephemeral port) for driving a built page in Chromium. */
export async function serveStatic(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const { readFileSync, statSync } = await import('node:fs');
  const { extname, normalize, sep } = await import('node:path');
  const mime: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json', '.wasm': 'application/octet-stream' };
  const server = createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).slice(1) || 'index.html';
    const file = normalize(join(root, rel));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': mime[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((ok) => server.close(() => ok())) };
}
