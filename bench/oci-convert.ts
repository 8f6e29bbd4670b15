/**
 * OCI image → Nydus in Node (issue 17): a 10-layer gzip image of ~500 MB of real files (the first
 * regular files of /usr/lib, in path order, cut into 10 layers of ~50 MB; layer tars by GNU tar,
 * `gzip -1`), converted in this process as `layerscope convert --to nydus` does (loadOci: every
 * blob and diff_id checked, gzip inflated; then one RAFS v6 blob per layer and the merged
 * bootstrap, written to a layout folder on tmpfs), zstd (nydusify's default) and none. Wall
 * seconds and this process's CPU seconds (the machine is shared: CPU is what the code costs).
 * Reference in the same run: `skopeo copy --dest-compress-format zstd` of the same image (inflate
 * every layer and compress it with zstd: the bulk of the same work, by Go with all cores; wall and
 * CPU from /usr/bin/time). nydusify / nydus-image are not installed here.
 * Chromium (the page, in the same run): the image folder is dropped for real on the production
 * page (bench/build-browser.ts withBenchPage), Image view → Convert…, to Nydus with the
 * download output, i.e. the page's converter worker (workers/converter.ts) builds the oci-archive
 * in memory; wall = the Convert click to the result shown, CPU = Chromium's processes (children of
 * this one). Checked: the page's manifest digest equals Node's for the same compressor (the layout
 * is byte-identical: the manifest names every blob by digest); Chromium runs first, so Vite bundles
 * the sources seconds after this process imported them, and a difference while src/ changed in
 * between (a shared work tree) is reported as unchecked rather than as a failure.
 * Run alone: `node --import tsx bench/oci-convert.ts [--mb=500] [--layers=10] [--no-chromium] [--profile=PREFIX]`; `npm run bench -- oci-convert`.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { folderFiles } from '../src/cli/oci.ts';
import { folderLayout } from '../src/cli/oci-layout-out.ts';
import { useNativeSha256 } from '../src/lib/codec/sha256.ts';
import { tempFileSpill } from '../src/lib/fs/sources/node.ts';
import { loadOci } from '../src/lib/oci/index.ts';
import { convertToNydus } from '../src/lib/oci/nydus.ts';
import { BENCH_OUT, SCRATCH, fresh } from './util.ts';
import { dropFiles, withBenchPage } from './build-browser.ts';

export interface OciConvertRow {
  tool: string;
  layers: number;
  /** uncompressed layer tars, MB */
  tarMB: number;
  /** the source image's gzip layers, MB */
  gzipMB: number;
  seconds: number;
  cpuSeconds: number;
  /** uncompressed MB per wall second */
  MBps: number;
  /** MB/s over the skopeo reference's MB/s */
  xSkopeo: number | null;
  /** Chromium rows: MB/s over Node's MB/s for the same compressor */
  xNode: number | null;
  /** Chromium rows: CPU seconds over Node's for the same compressor (wall is the shared machine's load too) */
  cpuXNode: number | null;
  outMB: number;
}

type Compressor = 'zstd' | 'none';

const MB = 1 << 20;
const sha256File = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

/** Regular files of `root` in path order until `budget` bytes (unreadable ones skipped). */
function pickFiles(root: string, budget: number): { path: string; size: number }[] {
  const out: { path: string; size: number }[] = [];
  let left = budget;
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (left <= 0) return;
      const p = join(dir, n);
      const st = (() => { try { return statSync(p, { throwIfNoEntry: false }); } catch { return undefined; } })();
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size > 0 && st.size <= left) {
        try {
          readFileSync(p, { flag: 'r' }).length;
        } catch {
          continue;
        }
        out.push({ path: p, size: st.size });
        left -= st.size;
      }
    }
  };
  walk(root);
  return out;
}

/** The bench image (cached under bench/out by its parameters). */
function makeImage(mb: number, layers: number): { dir: string; tarBytes: number; gzipBytes: number } {
  const dir = join(BENCH_OUT, `oci-convert-${mb}mb-${layers}l`);
  const stamp = join(dir, 'bench.json');
  if (existsSync(stamp)) return JSON.parse(readFileSync(stamp, 'utf8'));
  fresh(dir);
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  const files = pickFiles('/usr/lib', mb * MB);
  const per = Math.ceil(files.reduce((s, f) => s + f.size, 0) / layers);
  const groups: string[][] = [[]];
  let acc = 0;
  for (const f of files) {
    if (acc >= per && groups.length < layers) {
      groups.push([]);
      acc = 0;
    }
    groups[groups.length - 1]!.push(f.path.slice(1));
    acc += f.size;
  }
  const diffIds: string[] = [];
  const descs: object[] = [];
  let tarBytes = 0;
  let gzipBytes = 0;
  for (const [i, g] of groups.entries()) {
    const list = join(dir, `list-${i}`);
    const tar = join(SCRATCH, `oci-convert-layer-${i}.tar`);
    writeFileSync(list, g.join('\n') + '\n');
    const t = spawnSync('tar', ['-C', '/', '--no-recursion', '-cf', tar, '-T', list], { encoding: 'utf8' });
    if (t.status !== 0) throw new Error(`tar: ${t.stderr}`);
    diffIds.push(`sha256:${sha256File(tar)}`);
    tarBytes += statSync(tar).size;
    const gz = join(dir, `layer-${i}.gz`);
    const z = spawnSync('sh', ['-c', `gzip -1 -c "${tar}" > "${gz}"`]);
    if (z.status !== 0) throw new Error('gzip failed');
    rmSync(tar);
    rmSync(list);
    const hex = sha256File(gz);
    const size = statSync(gz).size;
    gzipBytes += size;
    spawnSync('mv', [gz, join(dir, 'blobs/sha256', hex)]);
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${hex}`, size });
  }
  const put = (o: object): { digest: string; size: number } => {
    const b = Buffer.from(JSON.stringify(o));
    const hex = createHash('sha256').update(b).digest('hex');
    writeFileSync(join(dir, 'blobs/sha256', hex), b);
    return { digest: `sha256:${hex}`, size: b.length };
  };
  const config = put({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds }, history: diffIds.map((_, i) => ({ created_by: `bench layer ${i}` })) });
  const manifest = put({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: descs });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }));
  const info = { dir, tarBytes, gzipBytes };
  writeFileSync(stamp, JSON.stringify(info));
  return info;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(join(dir, 'blobs/sha256'))) n += statSync(join(dir, 'blobs/sha256', f)).size;
  return n;
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/**
 * SHA-256 of every source file the conversion is built from (src/, workers/). Seven engineers
 * share this work tree: when the zstd encoder changes between this process loading it and Vite
 * bundling the page, the two outputs differ for that reason alone, and the check says so.
 */
function sourceFingerprint(): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const n of readdirSync(dir).sort()) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(ts|svelte)$/.test(n)) h.update(p).update(readFileSync(p));
    }
  };
  for (const d of ['src', 'workers']) walk(join(import.meta.dirname, '..', d));
  return h.digest('hex');
}
/** the sources as this process imported them (the Node rows run this code) */
const SOURCES_AT_IMPORT = sourceFingerprint();

/** User + system CPU seconds of this process's descendants now running (here: Chromium's processes). */
export function childrenCpuSeconds(): number {
  const tick = 100; // USER_HZ on Linux
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // fields after "(comm)": state ppid … utime(14) stime(15), 1-based over the whole line
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(d), Number(f[1]));
      cpu.set(Number(d), (Number(f[11]) + Number(f[12])) / tick);
    } catch {
      // gone since readdir
    }
  }
  let sum = 0;
  for (const [pid, s] of cpu) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === process.pid) {
        sum += s;
        break;
      }
    }
  }
  return sum;
}

interface PageRun {
  compressor: Compressor;
  seconds: number;
  cpuSeconds: number;
  /** the converter worker's own figure (ConvertResult.ms, shown as "… s") */
  pageSeconds: number;
  manifest: string;
  outBytes: number;
}

export interface PageRuns {
  runs: PageRun[];
  /** src/ or workers/ changed between this process's imports and the page's bundle */
  sourcesChanged: boolean;
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

/**
 * `--profile=PREFIX`: a V8 CPU profile of the converter worker (CDP Profiler, reached through the
 * page's auto-attached worker session) and of the page's main thread, per conversion, written as
 * PREFIX-<compressor>-{worker,page}.cpuprofile (open in Chromium's DevTools), with the top self
 * times printed. Profiling costs time: figures of a profiled run are not the bench's.
 */
export async function workerProfiler(page: import('playwright-core').Page, log: (s: string) => void, workerUrl = 'converter'): Promise<{ start(): Promise<void>; stop(prefix: string): Promise<void> }> {
  const cdp = await page.context().newCDPSession(page);
  let worker: string | null = null;
  let next = 1;
  const waiting = new Map<number, (r: unknown) => void>();
  cdp.on('Target.attachedToTarget', (e: { sessionId: string; targetInfo: { type: string; url: string } }) => {
    if (e.targetInfo.type === 'worker' && e.targetInfo.url.includes(workerUrl)) worker = e.sessionId;
  });
  cdp.on('Target.receivedMessageFromTarget', (e: { sessionId: string; message: string }) => {
    const m = JSON.parse(e.message) as { id?: number; result?: unknown; error?: unknown };
    if (m.id !== undefined && waiting.has(m.id)) {
      waiting.get(m.id)!(m.error ? Promise.reject(new Error(JSON.stringify(m.error))) : m.result);
      waiting.delete(m.id);
    }
  });
  const inWorker = (method: string, params: object = {}): Promise<unknown> => new Promise((ok) => {
    const id = next++;
    waiting.set(id, ok);
    void cdp.send('Target.sendMessageToTarget', { sessionId: worker!, message: JSON.stringify({ id, method, params }) });
  });
  await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
  const top = (p: CpuProfile, what: string): void => {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    const file = new Map<string, number>();
    for (let i = 0; i < p.samples.length; i++) {
      const n = byId.get(p.samples[i]!)!;
      const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
      const f = n.callFrame;
      const k = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\//, '')}:${f.lineNumber + 1}`;
      self.set(k, (self.get(k) ?? 0) + dt);
      const fk = f.url.replace(/^.*\//, '') || f.functionName;
      file.set(fk, (file.get(fk) ?? 0) + dt);
    }
    const total = (p.endTime - p.startTime) / 1000;
    log(`[profile] ${what}: ${(total / 1000).toFixed(1)} s profiled; self ms by function:`);
    for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) log(`  ${v.toFixed(0).padStart(7)}  ${k}`);
    log(`[profile] ${what}: self ms by script:`);
    for (const [k, v] of [...file].sort((a, b) => b[1] - a[1]).slice(0, 12)) log(`  ${v.toFixed(0).padStart(7)}  ${k}`);
  };
  return {
    async start() {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.start');
      // the worker starts at the first Convert click; later runs reuse it
      for (let i = 0; i < 200 && !worker; i++) await new Promise((ok) => setTimeout(ok, 10));
      if (!worker) throw new Error(`profile: no ${workerUrl} worker attached`);
      await inWorker('Profiler.enable');
      await inWorker('Profiler.setSamplingInterval', { interval: 200 });
      await inWorker('Profiler.start');
    },
    async stop(prefix) {
      const w = ((await inWorker('Profiler.stop')) as { profile: CpuProfile }).profile;
      const pg = (await cdp.send('Profiler.stop')).profile as unknown as CpuProfile;
      writeFileSync(`${prefix}-worker.cpuprofile`, JSON.stringify(w));
      writeFileSync(`${prefix}-page.cpuprofile`, JSON.stringify(pg));
      top(w, `${workerUrl} worker`);
      top(pg, 'page main thread');
    },
  };
}

/** The page converts the dropped image folder to Nydus once per compressor (download output). */
async function inChromium(dir: string, compressors: Compressor[], log: (s: string) => void, profile?: string): Promise<PageRuns> {
  let sourcesChanged = sourceFingerprint() !== SOURCES_AT_IMPORT;
  const runs = await withBenchPage('', log, async (page) => {
    sourcesChanged ||= sourceFingerprint() !== SOURCES_AT_IMPORT;
    page.setDefaultTimeout(900_000);
    const prof = profile ? await workerProfiler(page, log) : null;
    await dropFiles(page, [dir], { x: 640, y: 300 });
    await page.getByTestId('tab-image').click();
    await page.getByTestId('oci-convert-toggle').click();
    const runs: PageRun[] = [];
    for (const compressor of compressors) {
      await page.getByTestId('convert-compressor').selectOption(compressor);
      const c0 = childrenCpuSeconds();
      const t0 = performance.now();
      const clicked = page.getByTestId('convert-start').click();
      if (prof) {
        await clicked;
        await prof.start();
      }
      const [download] = await Promise.all([page.waitForEvent('download'), clicked]);
      if (prof) await prof.stop(`${profile}-${compressor}`);
      const res = page.getByTestId('convert-result');
      await res.or(page.getByTestId('convert-error')).waitFor();
      const seconds = (performance.now() - t0) / 1000;
      const cpuSeconds = childrenCpuSeconds() - c0;
      if (await page.getByTestId('convert-error').isVisible()) throw new Error(`page nydus ${compressor}: ${await page.getByTestId('convert-error').textContent()}`);
      const manifest = /sha256:[0-9a-f]{64}/.exec((await page.getByTestId('convert-manifest').textContent()) ?? '')?.[0] ?? '';
      const pageSeconds = Number(/· ([\d.]+) s/.exec((await res.locator('.faint').first().textContent()) ?? '')?.[1]);
      const path = await download.path();
      const outBytes = statSync(path).size;
      await download.delete();
      log(`[chromium] nydus ${compressor}: ${seconds.toFixed(1)} s wall (page: ${pageSeconds} s), ${cpuSeconds.toFixed(1)} s CPU, manifest ${manifest}`);
      runs.push({ compressor, seconds, cpuSeconds, pageSeconds, manifest, outBytes });
    }
    return runs;
  }, profile ? { minify: false } : {});
  return { runs, sourcesChanged };
}

export async function runOciConvertBench(opts: { mb?: number; layers?: number; chromium?: boolean; profile?: string; log?: (s: string) => void } = {}): Promise<OciConvertRow[]> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const layers = opts.layers ?? 10;
  const img = makeImage(opts.mb ?? 500, layers);
  const base = { layers, tarMB: round(img.tarBytes / MB, 1), gzipMB: round(img.gzipBytes / MB, 1), xSkopeo: null, xNode: null, cpuXNode: null };
  const rows: OciConvertRow[] = [];
  const manifests = new Map<Compressor, string>();
  // Chromium first: Vite bundles the sources seconds after this process imported them
  const chrome = opts.chromium === false ? null : await inChromium(img.dir, ['zstd', 'none'], log, opts.profile);
  // the Node rows are the CLI's, with its native SHA-256, for their own run only (imported for the
  // whole process it would relabel the codecs bench's pure-JS rows)
  const { registerNativeSha256 } = await import('../src/cli/native.ts');
  registerNativeSha256();
  try {
    for (const compressor of ['zstd', 'none'] as const) {
      const out = join(SCRATCH, `oci-convert-nydus-${compressor}`);
      rmSync(out, { recursive: true, force: true });
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const loaded = await loadOci(folderFiles(img.dir), { spill: tempFileSpill() });
      const r = await convertToNydus(loaded, await folderLayout(out), { compressor });
      manifests.set(compressor, r.manifest.digest);
      const cpu = process.cpuUsage(c0);
      const s = (performance.now() - t0) / 1000;
      rows.push({ tool: `layerscope nydus ${compressor}`, ...base, seconds: round(s), cpuSeconds: round((cpu.user + cpu.system) / 1e6), MBps: round(img.tarBytes / MB / s, 1), outMB: round(dirBytes(out) / MB, 1) });
      rmSync(out, { recursive: true, force: true });
    }
  } finally {
    useNativeSha256(null);
  }
  const out = join(SCRATCH, 'oci-convert-skopeo-zstd');
  rmSync(out, { recursive: true, force: true });
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', 'skopeo', 'copy', '-q', '--dest-compress-format', 'zstd', `oci:${img.dir}:bench`, `oci:${out}:bench`], { encoding: 'utf8' });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`skopeo: ${r.stderr}`);
  const [u, sy] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  const skopeo: OciConvertRow = { tool: 'skopeo copy → zstd (reference)', ...base, seconds: round(s), cpuSeconds: round(u! + sy!), MBps: round(img.tarBytes / MB / s, 1), outMB: round(dirBytes(out) / MB, 1) };
  rmSync(out, { recursive: true, force: true });
  for (const p of chrome?.runs ?? []) {
    // the page's output must be the CLI's: same manifest digest, hence the same blobs
    const same = p.manifest === manifests.get(p.compressor);
    if (!same && !chrome!.sourcesChanged) throw new Error(`oci-convert: the page's nydus ${p.compressor} manifest ${p.manifest} is not Node's ${manifests.get(p.compressor)}`);
    if (!same) log(`[chromium] nydus ${p.compressor}: manifest not compared: src/ or workers/ changed between this process's imports and the page's bundle`);
    const node = rows.find((r) => r.tool === `layerscope nydus ${p.compressor}`)!;
    const MBps = round(img.tarBytes / MB / p.seconds, 1);
    rows.push({
      tool: `page (Chromium) nydus ${p.compressor}${same ? '' : ' (unchecked: sources changed)'}`, ...base, seconds: round(p.seconds), cpuSeconds: round(p.cpuSeconds),
      MBps, xNode: round(MBps / node.MBps), cpuXNode: round(p.cpuSeconds / node.cpuSeconds), outMB: round(p.outBytes / MB, 1),
    });
  }
  for (const r of rows) r.xSkopeo = round(r.MBps / skopeo.MBps);
  rows.push(skopeo);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const str = (k: string): string | undefined => process.argv.find((x) => x.startsWith(`--${k}=`))?.slice(k.length + 3);
  const arg = (k: string): number | undefined => (str(k) ? Number(str(k)) : undefined);
  const profile = str('profile');
  console.table(await runOciConvertBench({
    ...(arg('mb') ? { mb: arg('mb')! } : {}), ...(arg('layers') ? { layers: arg('layers')! } : {}),
    chromium: !process.argv.includes('--no-chromium'), ...(profile ? { profile } : {}),
  }));
}
