/**
 * Build throughput of the page: a generated tree (default ~400 MB, 2000 files) is dropped for real
 * (CDP Input.dispatchDragEvent) on the Build view of the production page in Chromium, and built
 * there by the builder worker as composefs (fs-verity hashing of every file dominates), EROFS
 * (plain, 1 MiB chunks, -z lz4hc on 0 and 2 compression workers) and Nydus RAFS v6 per compressor;
 * the same builds then run in Node on the same tree (treeFromDirectory, counting sinks; -z rows on 0
 * and 2 NodeCompressPool threads). MB/s = content bytes / build time, median of `runs`. The page
 * builds into in-memory Blobs (download mode). Before the builds, read probes (three interleaved
 * rounds: the dropped files through Blob.stream() on the builder, on 1 nested worker, on 2 at once)
 * and every figure with Chromium's CPU time, its 4 busiest threads and the load average.
 *
 * Run alone: `node --import tsx bench/build-browser.ts [--mb=400] [--runs=2] [--quick] [--cases=PREFIX,…]
 * [--chromium-only]` (BENCH_SPLIT_PROBES_ONLY=1: of the probes only the rounds above);
 * `npm run bench` may call runBuildBrowserBench().
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { BENCH_OUT, makeBigTree, median } from './util.ts';
import { useNativeSha256 } from '../src/lib/codec/sha256.ts';
import { treeFromDirectory } from '../src/lib/fs/sources/node.ts';
import type { SourceTree } from '../src/lib/fs/tree.ts';
import { buildComposefs } from '../src/lib/composefs/writer.ts';
import { buildErofs } from '../src/lib/erofs/writer.ts';
import { buildRafs } from '../src/lib/rafs/builder/build.ts';
import type { Sink } from '../src/lib/erofs/writer-output.ts';
import type { Page } from 'playwright-core';
import { childrenCpuSeconds, workerProfiler } from './oci-convert.ts';
import { loadavg } from 'node:os';
import { NodeCompressPool } from '../src/cli/compress-pool.ts';

const load = (): string => `load ${loadavg()[0]!.toFixed(1)}`;

const ROOT = resolve(import.meta.dirname, '..');
const DIST = join(BENCH_OUT, 'build-browser-dist');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface BuildBenchCase {
  name: string;
  format: 'composefs' | 'erofs' | 'rafs';
  erofsChunk?: string;
  /** EROFS -z (default level): files compressed on `compressWorkers` workers (page) / threads (Node), 0 = the build's own */
  erofsCompression?: 'lz4hc';
  compressWorkers?: number;
  rafsCompressor?: 'none' | 'lz4_block' | 'zstd' | 'gzip';
  rafsDigester?: 'blake3' | 'sha256';
  /** composefs: the backing objects zipped into a Blob too (the page's default object output) */
  objectsZip?: boolean;
}

export interface BuildBenchRow {
  case: string;
  contentMB: number;
  chromiumMBps: number | null;
  nodeMBps: number | null;
  /** chromium / node */
  ratio: number | null;
  /** content MB per CPU-second (Chromium: all its processes; Node: this process), medians: the shared machine's load moves wall times */
  chromiumMBperCpuS: number | null;
  nodeMBperCpuS: number | null;
  outputMB: number | null;
}

const CASES: BuildBenchCase[] = [
  { name: 'composefs (fs-verity)', format: 'composefs' },
  { name: 'composefs + objects zip', format: 'composefs', objectsZip: true },
  { name: 'erofs plain', format: 'erofs' },
  { name: 'erofs chunk 1M (sha256 dedupe)', format: 'erofs', erofsChunk: '1M' },
  { name: 'erofs -z lz4hc, 0 compress workers', format: 'erofs', erofsCompression: 'lz4hc', compressWorkers: 0 },
  { name: 'erofs -z lz4hc, 2 compress workers', format: 'erofs', erofsCompression: 'lz4hc', compressWorkers: 2 },
  { name: 'rafs v6 none blake3', format: 'rafs', rafsCompressor: 'none', rafsDigester: 'blake3' },
  { name: 'rafs v6 lz4_block blake3', format: 'rafs', rafsCompressor: 'lz4_block', rafsDigester: 'blake3' },
  { name: 'rafs v6 lz4_block sha256', format: 'rafs', rafsCompressor: 'lz4_block', rafsDigester: 'sha256' },
  { name: 'rafs v6 zstd blake3', format: 'rafs', rafsCompressor: 'zstd', rafsDigester: 'blake3' },
  { name: 'rafs v6 gzip blake3', format: 'rafs', rafsCompressor: 'gzip', rafsDigester: 'blake3' },
];

const MIME: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml' };

function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(dir, path === '/' ? 'index.html' : path.slice(1)));
    if (!file.startsWith(dir + sep) || !existsSync(file) || statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

/**
 * The harness every Chromium bench uses: the production page (vite build into bench/out), served
 * on 127.0.0.1, opened at `hash` in Debian's Chromium by Playwright; `fn` drives it.
 */
export async function withBenchPage<T>(hash: string, log: (s: string) => void, fn: (page: Page) => Promise<T>, opts: { minify?: boolean } = {}): Promise<T> {
  const { build } = await import('vite');
  // minify false: a CPU profile of the page names our functions
  await build({ root: ROOT, logLevel: 'warn', build: { outDir: DIST, emptyOutDir: true, sourcemap: false, ...(opts.minify === false ? { minify: false } : {}) } });
  const { chromium } = await import('playwright-core');
  const server = await serve(DIST);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => log(`[chromium] page error: ${e.message}`));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/${hash}`);
    return await fn(page);
  } finally {
    await browser.close();
    await new Promise((ok) => server.close(ok));
  }
}

/**
 * CPU seconds of every thread of this process's descendants (Chromium), by pid/tid, named
 * `process type:thread name`: with one reader the busiest thread bounds the read rate on an idle
 * machine (bytes / its CPU-s), whatever the load while measuring.
 */
function chromiumThreads(): Map<string, { name: string; cpu: number }> {
  const stat = (path: string): { comm: string; f: string[] } | null => {
    try {
      const st = readFileSync(path, 'utf8');
      // fields after "(comm)": state ppid … utime(14) stime(15), 1-based over the whole line
      return { comm: st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')), f: st.slice(st.lastIndexOf(')') + 2).split(' ') };
    } catch {
      return null; // gone since readdir
    }
  };
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) if (/^\d+$/.test(d)) parent.set(Number(d), Number(stat(`/proc/${d}/stat`)?.f[1] ?? 0));
  const out = new Map<string, { name: string; cpu: number }>();
  for (const pid of parent.keys()) {
    let p = parent.get(pid);
    while (p !== undefined && p > 1 && p !== process.pid) p = parent.get(p);
    if (p !== process.pid) continue;
    let type = 'browser';
    try {
      type = /--type=([a-z-]+)/.exec(readFileSync(`/proc/${pid}/cmdline`, 'latin1'))?.[1] ?? 'browser';
    } catch {
      continue;
    }
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const t = stat(`/proc/${pid}/task/${tid}/stat`);
      if (t) out.set(`${pid}/${tid}`, { name: `${type}:${t.comm}`, cpu: (Number(t.f[11]) + Number(t.f[12])) / 100 });
    }
  }
  return out;
}

/** the `n` threads that used the most CPU between two chromiumThreads() snapshots */
function busiestThreads(before: Map<string, { name: string; cpu: number }>, after: Map<string, { name: string; cpu: number }>, n = 4): string {
  return [...after].map(([k, t]) => ({ name: t.name, cpu: t.cpu - (before.get(k)?.cpu ?? 0) })).sort((a, b) => b.cpu - a.cpu).slice(0, n).map((t) => `${t.name} ${t.cpu.toFixed(2)}`).join(', ');
}

/** A real drop of files or folders from disk at (x, y) (CDP Input.dispatchDragEvent, as e2e/helpers/drop.ts). */
export async function dropFiles(page: Page, files: string[], at: { x: number; y: number }): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  const data = { items: [], files, dragOperationsMask: 1 };
  for (const type of ['dragEnter', 'dragOver', 'drop'] as const) await cdp.send('Input.dispatchDragEvent', { type, ...at, data });
  await cdp.detach();
}

async function inChromium(tree: string, cases: BuildBenchCase[], runs: number, log: (s: string) => void, profile?: string): Promise<Map<string, { ms: number; bytes: number; out: number; cpuS: number }>> {
  const out = new Map<string, { ms: number; bytes: number; out: number; cpuS: number }>();
  await withBenchPage('#build', log, async (page) => {
    const prof = profile ? await workerProfiler(page, log, 'builder') : null;
    const drop = page.getByTestId('build-drop');
    await drop.waitFor();
    const box = (await drop.boundingBox())!;
    await dropFiles(page, [tree], { x: box.x + box.width / 2, y: box.y + box.height / 2 });
    await page.getByTestId('source-summary').waitFor({ timeout: 120_000 });
    log(`[chromium] source: ${await page.getByTestId('source-summary').textContent()}`);
    // where the time goes: reading the dropped files alone, then reading + WebCrypto SHA-256 per 4 KiB
    const w = page.workers().find((x) => x.url().includes('builder'));
    if (w) {
      // reads of the dropped files on 1 and 2 nested workers at once (each its own files) against the builder's own Blob.stream() read, interleaved rounds
      for (let round = 0; round < 3; round++) {
        for (const n of [0, 1, 2]) {
          const cpu0 = childrenCpuSeconds();
          const th0 = chromiumThreads();
          const r = n === 0
            ? await w.evaluate(() => (globalThis as unknown as { layerscopeBuilderProbe(id: number, p: number): Promise<{ bytes: number; ms: number }> }).layerscopeBuilderProbe(1, 0))
            : await w.evaluate((k) => (globalThis as unknown as { layerscopeBuilderProbeWorkers(id: number, n: number): Promise<{ bytes: number; ms: number }> }).layerscopeBuilderProbeWorkers(1, k), n);
          const cpu = childrenCpuSeconds() - cpu0;
          const busiest = busiestThreads(th0, chromiumThreads());
          log(`[chromium] read probe round ${round + 1}: Blob.stream() ${n ? `on ${n} nested worker${n > 1 ? 's at once' : ''}` : 'on the builder worker'}: ${(r.bytes / 1e6 / (r.ms / 1000)).toFixed(0)} MB/s, ${(r.bytes / 1e6 / cpu).toFixed(0)} MB/CPU-s (${(r.bytes / 1e6).toFixed(0)} MB, ${cpu.toFixed(2)} CPU-s, ${load()}); busiest threads (CPU-s): ${busiest}`);
        }
      }
      // BENCH_SPLIT_PROBES_ONLY=1: only the rounds above (the other probes were measured before, commit aeacee9)
      for (const [piece, hash, conc] of process.env.BENCH_SPLIT_PROBES_ONLY ? [] : [[0, false, 1], [16 << 20, false, 1], [4 << 20, false, 1], [1 << 20, false, 1], [4 << 20, false, 4], [1 << 20, 'webcrypto', 1], [1 << 20, 'webcrypto', 4], [4 << 20, 'js', 1]] as const) {
        const cpu0 = childrenCpuSeconds();
        const r = await w.evaluate(([p, h, c]) => (globalThis as unknown as { layerscopeBuilderProbe(id: number, p: number, h: boolean | string, c: number): Promise<{ bytes: number; ms: number }> }).layerscopeBuilderProbe(1, p, h, c), [piece, hash, conc] as const);
        const cpu = childrenCpuSeconds() - cpu0;
        log(`[chromium] probe: read ${piece ? `${piece >> 20} MiB pieces` : 'Blob.stream()'}${hash ? ` + ${hash} sha256/4K` : ''}, ${conc} at once: ${(r.bytes / 1e6 / (r.ms / 1000)).toFixed(0)} MB/s, ${(r.bytes / 1e6 / cpu).toFixed(0)} MB/CPU-s`);
      }
    }
    // rounds of every case in turn (not every run of one case, then the next): on the shared VM
    // the order alone moved a case's figures by a third
    const seen = new Map<string, { times: number[]; cpus: number[]; bytes: number; size: number }>();
    for (let r = 0; r < runs; r++) {
      for (const c of cases) {
        await page.getByTestId(`format-${c.format}`).click();
        if (c.format === 'composefs') await page.getByTestId('objects-output').selectOption(c.objectsZip ? 'zip' : 'none');
        if (c.format === 'erofs') {
          await page.getByTestId('erofs-compression').selectOption(c.erofsCompression ?? 'none');
          if (!c.erofsCompression) await page.getByTestId('erofs-chunk').selectOption({ label: c.erofsChunk ?? 'none (plain files)' });
          // null: the page's own choice (compressWorkerCount)
          await w?.evaluate((n) => (globalThis as unknown as { layerscopeCompressWorkers(n: number | null): void }).layerscopeCompressWorkers(n), c.compressWorkers ?? null);
        }
        if (c.format === 'rafs') {
          await page.getByTestId('rafs-compressor').selectOption(c.rafsCompressor!);
          await page.getByTestId('rafs-digester').selectOption(c.rafsDigester!);
        }
        const m = seen.get(c.name) ?? { times: [], cpus: [], bytes: 0, size: 0 };
        seen.set(c.name, m);
        await prof?.start();
        const cpu0 = childrenCpuSeconds();
        const th0 = chromiumThreads();
        await page.getByTestId('build-button').click();
        const res = page.getByTestId('build-result');
        await res.or(page.getByTestId('error')).waitFor({ timeout: 600_000 });
        if (await page.getByTestId('error').isVisible()) throw new Error(`${c.name}: ${await page.getByTestId('error').textContent()}`);
        m.cpus.push(childrenCpuSeconds() - cpu0);
        const busiest = busiestThreads(th0, chromiumThreads());
        await prof?.stop(`${profile}-${c.name.replace(/[^a-z0-9]+/gi, '_')}-${r}`);
        m.times.push(Number(await res.getAttribute('data-elapsed-ms')));
        m.bytes = Number(await res.getAttribute('data-content-bytes'));
        m.size = Number(await res.getAttribute('data-size'));
        const workers = await page.getByTestId('compress-workers').getAttribute('data-workers').catch(() => null);
        log(`[chromium] ${c.name}: ${(m.bytes / 1e6 / (m.times[m.times.length - 1]! / 1000)).toFixed(1)} MB/s, ${m.cpus[m.cpus.length - 1]!.toFixed(2)} CPU-s${workers !== null && c.erofsCompression ? ` (compressed on ${workers} workers)` : ''}, ${load()}; busiest threads (CPU-s): ${busiest}`);
      }
    }
    for (const [name, m] of seen) out.set(name, { ms: median(m.times), bytes: m.bytes, out: m.size, cpuS: median(m.cpus) });
  }, profile ? { minify: false } : {});
  return out;
}

function countingSink(): Sink & { n: number } {
  const s = { n: 0, write(c: Uint8Array) { s.n += c.length; } };
  return s;
}

/**
 * The Node figures are the CLI's: its native SHA-256 is registered for the run and switched off
 * after (other benches in the same process time the pure-JS and WebCrypto paths).
 */
async function inNode(dir: string, c: BuildBenchCase): Promise<{ ms: number; bytes: number; out: number; cpuS: number }> {
  const { registerNativeSha256 } = await import('../src/cli/native.ts');
  registerNativeSha256();
  try {
    return await inNodeTimed(dir, c);
  } finally {
    useNativeSha256(null);
  }
}

async function inNodeTimed(dir: string, c: BuildBenchCase): Promise<{ ms: number; bytes: number; out: number; cpuS: number }> {
  const tree: SourceTree = await treeFromDirectory(dir);
  let bytes = 0;
  const stack = [tree.root];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.type === 'reg') bytes += n.size;
    for (const k of n.children ?? []) stack.push(k.inode);
  }
  const sink = countingSink();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  if (c.format === 'composefs') await buildComposefs(tree, {}, sink);
  else if (c.format === 'erofs' && c.erofsCompression) {
    const pool = c.compressWorkers ? new NodeCompressPool(c.compressWorkers) : null;
    try {
      await buildErofs(tree, { compression: { algorithm: c.erofsCompression }, compressPool: pool }, sink);
    } finally {
      await pool?.close();
    }
  } else if (c.format === 'erofs') await buildErofs(tree, c.erofsChunk ? { chunkSize: 1 << 20 } : {}, sink);
  else await buildRafs(tree, { compressor: c.rafsCompressor!, digester: c.rafsDigester! }, { bootstrap: countingSink(), blob: sink });
  const cpu = process.cpuUsage(cpu0);
  return { ms: performance.now() - t0, bytes, out: sink.n, cpuS: (cpu.user + cpu.system) / 1e6 };
}

/** `profile`: a CPU profile of the builder worker per Chromium run (bench/oci-convert.ts workerProfiler), PREFIX-<case>-<run>-worker.cpuprofile; a profiled run's figures are not the bench's */
export async function runBuildBrowserBench(opts: { mb?: number; files?: number; runs?: number; cases?: BuildBenchCase[]; log?: (s: string) => void; node?: boolean; profile?: string } = {}): Promise<BuildBenchRow[]> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const mb = opts.mb ?? 400;
  const files = opts.files ?? 2000;
  const runs = opts.runs ?? 2;
  const cases = opts.cases ?? CASES;
  const dir = join(BENCH_OUT, `build-browser-tree-${mb}`);
  log(`making ${files} files, ~${mb} MB in ${dir} (reused when present)`);
  makeBigTree(dir, files, mb * 1e6, 7);
  const chrome = await inChromium(dir, cases, runs, log, opts.profile);
  const rows: BuildBenchRow[] = [];
  for (const c of cases) {
    const node: { ms: number; bytes: number; out: number; cpuS: number }[] = [];
    if (opts.node === false) {
      const ch = chrome.get(c.name)!;
      rows.push({ case: c.name, contentMB: Math.round(ch.bytes / 1e6), chromiumMBps: Math.round(ch.bytes / 1e6 / (ch.ms / 1000)), nodeMBps: null, ratio: null, chromiumMBperCpuS: Math.round(ch.bytes / 1e6 / ch.cpuS), nodeMBperCpuS: null, outputMB: null });
      continue;
    }
    for (let r = 0; r < runs; r++) node.push(await inNode(dir, c));
    const nodeMs = median(node.map((x) => x.ms));
    const n = node[0]!;
    const ch = chrome.get(c.name);
    const chromiumMBps = ch ? ch.bytes / 1e6 / (ch.ms / 1000) : null;
    const nodeMBps = n.bytes / 1e6 / (nodeMs / 1000);
    rows.push({
      case: c.name, contentMB: Math.round(n.bytes / 1e6), chromiumMBps: chromiumMBps === null ? null : Math.round(chromiumMBps), nodeMBps: Math.round(nodeMBps),
      ratio: chromiumMBps === null ? null : Math.round((chromiumMBps / nodeMBps) * 100) / 100, outputMB: Math.round(n.out / 1e6),
      chromiumMBperCpuS: ch ? Math.round(ch.bytes / 1e6 / ch.cpuS) : null, nodeMBperCpuS: Math.round(n.bytes / 1e6 / median(node.map((x) => x.cpuS))),
    });
    log(`[node] ${c.name}: ${nodeMBps.toFixed(1)} MB/s, ${median(node.map((x) => x.cpuS)).toFixed(2)} CPU-s, ${load()}`);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (k: string): string | undefined => process.argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
  const quick = process.argv.includes('--quick');
  const only = arg('cases');
  const rows = await runBuildBrowserBench({
    node: !process.argv.includes('--chromium-only'),
    ...(arg('profile') ? { profile: arg('profile')! } : {}),
    ...(only ? { cases: CASES.filter((c) => only.split(',').some((o) => c.name.startsWith(o))) } : {}),
    mb: Number(arg('mb') ?? (quick ? 100 : 400)), runs: Number(arg('runs') ?? (quick ? 1 : 2)),
    ...(quick && !only ? { cases: CASES.filter((c) => !c.rafsCompressor || c.rafsCompressor === 'lz4_block') } : {}),
  });
  console.table(rows);
}
