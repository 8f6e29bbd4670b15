/**
 * RAFS build throughput in Node: a RAFS v6 and v5 image of the same tree per compressor (none,
 * lz4_block, zstd (level 3 as nydus-image), gzip) and digester, bootstrap and blob to a
 * counting sink (no disk writes), MB/s of file content, by wall clock and by this process's CPU
 * time (the machine this runs on is shared: CPU MB/s is what the code costs, wall MB/s what one
 * build got). Node's native SHA-256 (the blob id hashes every blob byte) is registered as the CLI
 * registers it; one row runs without it, the path the page takes (pure-JS SHA-256). The zstd
 * encoder's share is estimated as (zstd build - none build) / zstd build, same digester.
 * Input: the first ~64 MiB of regular files of /usr/bin (real binaries), read through
 * treeFromDirectory. `--browser`: the same RAFS v6 cases built by the page in Chromium
 * (bench/build-browser.ts drops a generated tree on the Build view; Node runs the same tree there).
 * Run alone: `node --import tsx bench/rafs-build.ts [--mb=64] [--browser] [--ab=ROUNDS]
 * [--cli=ROUNDS [--dir=DIR] [--compressor=C]]`; `npm run bench -- rafs-build`.
 * `--ab=N`: only v6 zstd/blake3 and lz4_block/blake3, each built on the build's thread and on the
 * CLI's compress pool alternately, N rounds; wall and CPU MB/s side by side (medians), so the pool's
 * gain and its CPU cost come from the same minutes of a shared machine. Through tsx each pool thread
 * compiles its TypeScript first (~0.5 s CPU: 25 MB of zstd took 1.76 s CPU on 2 threads against
 * 0.56 s without); the bundled CLI's threads load a built worker, so for the CLI's cost use
 * `--cli=N` (runRafsCliAb). The pool rows use the CLI's default thread count (rafsCompressThreads,
 * at least 1).
 * No reference tool: nydus-image is not installed here.
 */
import { treeFromDirectory } from '../src/lib/fs/sources/node.ts';
import type { SourceInode, SourceTree } from '../src/lib/fs/tree.ts';
import { buildRafs } from '../src/lib/rafs/builder/build.ts';
import { useNativeSha256 } from '../src/lib/codec/sha256.ts';
import { registerNativeSha256 } from '../src/cli/native.ts';
import { NodeCompressPool, rafsCompressThreads } from '../src/cli/compress-pool.ts';
import { useChunkCompressPool } from '../src/lib/rafs/builder/blob.ts';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RafsBuildOptions } from '../src/lib/rafs/builder/types.ts';

export interface RafsBenchRow {
  format: string;
  compressor: string;
  digester: string;
  contentMB: number;
  /** 'native' (Node's, as the CLI) or 'js' (noble, as the page) for the blob id */
  sha256: string;
  /** compress threads besides this one (0: compressed on the build's thread) */
  threads: number;
  seconds: number;
  MBps: number;
  cpuMBps: number;
  blobMB: number;
  bootstrapKB: number;
}

/** Keep regular files (and their directories) until `budget` bytes of content. */
function trim(tree: SourceTree, budget: number): SourceTree {
  let left = budget;
  const walk = (d: SourceInode): SourceInode => {
    const kids = [];
    for (const c of d.children ?? []) {
      if (c.inode.type === 'dir') kids.push({ ...c, inode: walk(c.inode) });
      else if (c.inode.type !== 'reg') kids.push(c);
      else if (c.inode.size <= left) {
        left -= c.inode.size;
        kids.push(c);
      }
    }
    return { ...d, children: kids };
  };
  return { root: walk(tree.root), notes: tree.notes };
}

function contentBytes(t: SourceTree): number {
  const seen = new Set<SourceInode>();
  let n = 0;
  const walk = (d: SourceInode) => {
    for (const c of d.children ?? []) {
      if (c.inode.type === 'dir') walk(c.inode);
      else if (c.inode.type === 'reg' && !seen.has(c.inode)) {
        seen.add(c.inode);
        n += c.inode.size;
      }
    }
  };
  walk(t.root);
  return n;
}

export async function runRafsBuildBench(opts: { dir?: string; bytes?: number } = {}): Promise<RafsBenchRow[]> {
  const tree = trim(await treeFromDirectory(opts.dir ?? '/usr/bin', { xattrs: false }), opts.bytes ?? 64 << 20);
  const total = contentBytes(tree);
  const rows: RafsBenchRow[] = [];
  const cases: (RafsBuildOptions & { js?: boolean; threads?: number })[] = [];
  for (const digester of ['blake3', 'sha256'] as const) {
    for (const compressor of ['none', 'lz4_block', 'zstd', 'gzip'] as const) {
      if (digester === 'blake3' || compressor !== 'gzip') cases.push({ version: 6, compressor, digester });
    }
  }
  cases.push({ version: 5, compressor: 'none', digester: 'blake3' }, { version: 5, compressor: 'lz4_block', digester: 'blake3' });
  cases.push({ version: 6, compressor: 'none', digester: 'blake3', js: true }, { version: 6, compressor: 'zstd', digester: 'blake3', js: true });
  // the CLI's compress pool (src/cli/compress-pool.ts, LAYERSCOPE_COMPRESS_THREADS): cores - 1 threads, at most 4, and this one
  const threads = Math.max(1, rafsCompressThreads());
  for (const compressor of ['lz4_block', 'zstd'] as const) cases.push({ version: 6, compressor, digester: 'blake3', threads });
  registerNativeSha256();
  useChunkCompressPool(null);
  // warm the page cache and the JIT
  await buildRafs(tree, { compressor: 'lz4_block' }, { bootstrap: { write() {} }, blob: { write() {} } });
  try {
    for (const c of cases) {
      if (c.js) useNativeSha256(null);
      else registerNativeSha256();
      const pool = c.threads ? new NodeCompressPool(c.threads) : null;
      useChunkCompressPool(pool);
      let blob = 0;
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const r = await buildRafs(tree, c, { bootstrap: { write() {} }, blob: { write(b) { blob += b.length; } } });
      const s = (performance.now() - t0) / 1000;
      // every thread of the process (the pool's too)
      const cu = process.cpuUsage(cpu0);
      await pool?.close();
      const cpu = (cu.user + cu.system) / 1e6;
      rows.push({
        format: `rafs-v${c.version}`, compressor: c.compressor!, digester: c.digester!, sha256: c.js ? 'js' : 'native', threads: c.threads ?? 0, contentMB: +(total / 1e6).toFixed(1),
        seconds: +s.toFixed(2), MBps: +(total / 1e6 / s).toFixed(1), cpuMBps: +(total / 1e6 / cpu).toFixed(1), blobMB: +(blob / 1e6).toFixed(1),
        bootstrapKB: +(r.bootstrapSize / 1024).toFixed(0),
      });
    }
  } finally {
    useNativeSha256(null);
    useChunkCompressPool(null);
  }
  console.log(`RAFS build, Node ${process.version}, ${(total / 1e6).toFixed(1)} MB of /usr/bin content, 1 MiB chunks, sinks discard`);
  console.table(rows);
  for (const sha of ['native', 'js']) {
    for (const dig of ['blake3', 'sha256']) {
      const at = (comp: string) => rows.find((r) => r.format === 'rafs-v6' && r.compressor === comp && r.digester === dig && r.sha256 === sha && r.threads === 0);
      const none = at('none');
      const z = at('zstd');
      if (none && z) console.log(`zstd encoder share of the v6 zstd/${dig} build (${sha} SHA-256), (zstd - none) / zstd: ${(100 * (1 - none.seconds / z.seconds)).toFixed(0)}% wall, ${(100 * (1 - z.cpuMBps / none.cpuMBps)).toFixed(0)}% CPU`);
    }
  }
  return rows;
}

/** `--ab`: the pool against the build's own thread, interleaved; medians of `rounds` runs. */
export async function runRafsPoolAb(opts: { dir?: string; bytes?: number; rounds?: number; threads?: number } = {}) {
  const tree = trim(await treeFromDirectory(opts.dir ?? '/usr/bin', { xattrs: false }), opts.bytes ?? 64 << 20);
  const total = contentBytes(tree) / 1e6;
  const threads = opts.threads ?? Math.max(1, rafsCompressThreads());
  registerNativeSha256();
  useChunkCompressPool(null);
  await buildRafs(tree, { compressor: 'lz4_block' }, { bootstrap: { write() {} }, blob: { write() {} } });
  const runs = new Map<string, { wall: number[]; cpu: number[]; load: number[] }>();
  try {
    for (let r = 0; r < (opts.rounds ?? 3); r++) {
      for (const compressor of ['zstd', 'lz4_block'] as const) {
        for (const n of [0, threads]) {
          // a fresh pool per build, as each CLI run starts its own threads
          const pool = n ? new NodeCompressPool(n) : null;
          useChunkCompressPool(pool);
          const t0 = performance.now();
          const cpu0 = process.cpuUsage();
          await buildRafs(tree, { version: 6, compressor, digester: 'blake3' }, { bootstrap: { write() {} }, blob: { write() {} } });
          const s = (performance.now() - t0) / 1000;
          const cu = process.cpuUsage(cpu0);
          await pool?.close();
          const key = `${compressor} ${n}`;
          const e = runs.get(key) ?? { wall: [], cpu: [], load: [] };
          e.wall.push(s);
          e.cpu.push((cu.user + cu.system) / 1e6);
          e.load.push(loadavg()[0]!);
          runs.set(key, e);
        }
      }
    }
  } finally {
    useChunkCompressPool(null);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const rows = [...runs].map(([k, e]) => {
    const [compressor, n] = k.split(' ');
    return { compressor, threads: Number(n), contentMB: +total.toFixed(1), wallS: +med(e.wall).toFixed(2), cpuS: +med(e.cpu).toFixed(2), MBps: +(total / med(e.wall)).toFixed(1), cpuMBps: +(total / med(e.cpu)).toFixed(1), runs: e.wall.length, load: `${Math.min(...e.load).toFixed(1)}-${Math.max(...e.load).toFixed(1)}` };
  });
  console.log(`RAFS v6 /blake3, compress pool (${threads} threads) against none, interleaved, Node ${process.version}, ${total.toFixed(1)} MB of /usr/bin, sinks discard`);
  console.table(rows);
  return rows;
}

/** bytes of the regular files under `dir` (each inode once), as the build reads them */
function dirContentBytes(dir: string): number {
  const seen = new Set<string>();
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const st = lstatSync(p);
        const key = `${st.dev}:${st.ino}`;
        if (!seen.has(key)) {
          seen.add(key);
          n += st.size;
        }
      }
    }
  };
  walk(dir);
  return n;
}

/**
 * `--cli=N`: the bundled CLI (`node bin/layerscope.mjs build --format rafs-v6 DIR OUT --blob-dir B
 * --compressor C`, output to a temp dir) at LAYERSCOPE_COMPRESS_THREADS 0, 1 and 2 (and the
 * default, unset), interleaved, N rounds; wall and CPU (user+sys of the process and its threads,
 * /usr/bin/time) per run. This is the cost of a real build: the pool's threads load the built
 * worker bundle, not TypeScript through tsx as in the in-process rows.
 */
export function runRafsCliAb(opts: { dir?: string; rounds?: number; compressor?: string } = {}) {
  const dir = opts.dir ?? '/usr/bin';
  const compressor = opts.compressor ?? 'zstd';
  const bin = fileURLToPath(new URL('../bin/layerscope.mjs', import.meta.url));
  const work = mkdtempSync(join(tmpdir(), 'ls-rafs-cli-'));
  const rows: { threads: string; wallS: number; cpuS: number; MBps: number; load: string }[] = [];
  const mb = dirContentBytes(dir) / 1e6;
  try {
    // builds the CLI's bundle if a source changed, outside the timed runs
    spawnSync(process.execPath, [bin, '--help'], { stdio: 'ignore' });
    for (let r = 0; r < (opts.rounds ?? 3); r++) {
      for (const t of ['0', '1', '2', 'default']) {
        rmSync(join(work, 'blobs'), { recursive: true, force: true });
        const env = { ...process.env };
        if (t === 'default') delete env.LAYERSCOPE_COMPRESS_THREADS;
        else env.LAYERSCOPE_COMPRESS_THREADS = t;
        const load = loadavg()[0]!.toFixed(1);
        const p = spawnSync('/usr/bin/time', ['-f', '%e %U %S', process.execPath, bin, 'build', '--format', 'rafs-v6', dir, join(work, 'boot'), '--blob-dir', join(work, 'blobs'), '--compressor', compressor], { env, encoding: 'utf8' });
        if (p.status !== 0) throw new Error(`rafs-build --cli: ${p.stderr}`);
        const [e, u, s] = p.stderr.trim().split('\n').pop()!.split(' ').map(Number);
        rows.push({ threads: t, wallS: e!, cpuS: +(u! + s!).toFixed(2), MBps: +(mb / e!).toFixed(1), load });
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`RAFS v6 ${compressor}/blake3 through the bundled CLI, ${dir} (${mb.toFixed(1)} MB of file content; MBps = that / wall), LAYERSCOPE_COMPRESS_THREADS interleaved, Node ${process.version}, ${availableParallelism()} cores`);
  console.table(rows);
  return rows;
}

/** The RAFS v6 rows of bench/build-browser.ts: the page's builder worker in Chromium, and Node on the same generated tree. */
export async function runRafsBuildBrowserBench(opts: { mb?: number; runs?: number } = {}) {
  const { runBuildBrowserBench } = await import('./build-browser.ts');
  const cases = (['none', 'lz4_block', 'zstd'] as const).flatMap((c) => (['blake3', 'sha256'] as const).map((d) => ({
    name: `rafs v6 ${c} ${d}`, format: 'rafs' as const, rafsCompressor: c, rafsDigester: d,
  })));
  const rows = await runBuildBrowserBench({ mb: opts.mb ?? 100, files: 500, runs: opts.runs ?? 1, cases });
  console.log('RAFS v6 build in Chromium (the page, dropped folder, builder worker) and Node (native SHA-256), same generated tree');
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const mb = process.argv.find((a) => a.startsWith('--mb='))?.slice(5);
  const ab = process.argv.find((a) => a.startsWith('--ab='))?.slice(5);
  const cli = process.argv.find((a) => a.startsWith('--cli='))?.slice(6);
  const dir = process.argv.find((a) => a.startsWith('--dir='))?.slice(6);
  if (cli) runRafsCliAb({ rounds: Number(cli), dir, compressor: process.argv.find((a) => a.startsWith('--compressor='))?.slice(13) });
  else if (process.argv.includes('--browser')) console.table(await runRafsBuildBrowserBench(mb ? { mb: Number(mb) } : {}));
  else if (ab) await runRafsPoolAb({ rounds: Number(ab), ...(mb ? { bytes: Number(mb) << 20 } : {}) });
  else await runRafsBuildBench(mb ? { bytes: Number(mb) << 20 } : {});
}
