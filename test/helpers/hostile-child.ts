// Child process of the hostile-input sweep (see hostile.ts): `node --import tsx hostile-child.ts
// TARGETS.json WORKDIR`. Reads batches of variants (`{"jobs": [[target, k], …]}`, one JSON line on
// stdin each), runs them one after another and writes one line per variant to stdout (prefixed
// with LINE_MARK), then `idle`. Each variant: its input written to WORKDIR/in, a fresh sandbox
// WORKDIR/sandbox holding a canary directory, then what `layerscope extract IMAGE sandbox/dest`,
// `layerscope export IMAGE -` and `layerscope check IMAGE` do, then the canary, the sandbox and
// WORKDIR are compared with what they were.
//
// HOSTILE_FAKE (harness self-test only) replaces the extraction by a deliberately bad one.
import { createHash } from 'node:crypto';
import { appendFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import '../../src/cli/native.ts';
import { closeAll, openFile, openImageSource, type ImageArgs } from '../../src/cli/open.ts';
import { loadSourceFile } from '../../src/cli/build.ts';
import { defaultThreads, extract } from '../../src/cli/extract.ts';
import { isTypedError } from '../../src/lib/errors.ts';
import { checkTree } from '../../src/lib/fs/check.ts';
import { looksLikeTarball } from '../../src/lib/fs/sources/tar.ts';
import { treeFs } from '../../src/lib/fs/sources/treefs.ts';
import type { ReadOnlyFs } from '../../src/lib/fs/types.ts';
import { detectFormat } from '../../src/lib/open.ts';
import { checkRafs } from '../../src/lib/rafs/analyze.ts';
import type { RafsFs } from '../../src/lib/rafs/model.ts';
import { exportTar } from '../../src/lib/tar/writer.ts';
import { LINE_MARK, makeHostileVariant, type ChildResult, type Target } from './hostile.ts';

const [manifest, root] = process.argv.slice(2);
if (!manifest || !root) throw new Error('usage: hostile-child.ts TARGETS.json WORKDIR');
const targets = JSON.parse(readFileSync(manifest, 'utf8')) as Target[];
const inDir = join(root, 'in');
const sandbox = join(root, 'sandbox');
const canary = join(sandbox, 'canary');
const dest = join(sandbox, 'dest');
const fake = process.env.HOSTILE_FAKE;

const emit = (m: object): void => { process.stdout.write(LINE_MARK + JSON.stringify(m) + '\n'); };

/** what `layerscope IMAGE …` does with a file (src/cli/main.ts `open`) */
async function openLikeCli(path: string, args: ImageArgs): Promise<ReadOnlyFs> {
  const src = await openFile(path);
  if (!(await detectFormat(src))) {
    const head = await src.read(0, Math.min(1, src.size));
    if ((await looksLikeTarball(src)) || head[0] === 0x2f) return treeFs(await loadSourceFile(src, path));
  }
  return openImageSource(src, args);
}

const isRafs = (fs: ReadOnlyFs): fs is RafsFs => fs.format === 'rafs-v5' || fs.format === 'rafs-v6';

// ---- the canary -------------------------------------------------------------------------------

function makeCanary(): void {
  mkdirSync(join(canary, 'sub'), { recursive: true });
  writeFileSync(join(canary, 'file1'), 'canary one\n', { mode: 0o644 });
  writeFileSync(join(canary, 'file2'), Buffer.alloc(5000, 7), { mode: 0o600 });
  writeFileSync(join(canary, 'sub', 'deep'), 'deep canary\n', { mode: 0o640 });
  symlinkSync('file1', join(canary, 'link'));
  symlinkSync('../dest', join(canary, 'to-dest'));
}

/** Every entry below `dir`: type, inode, mode, owner, size, links, mtime and ctime in ns, content hash or target. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (rel: string): void => {
    const p = rel ? join(dir, rel) : dir;
    const s = lstatSync(p, { bigint: true });
    let extra = '';
    if (s.isFile()) extra = createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16);
    else if (s.isSymbolicLink()) extra = '-> ' + readlinkSync(p);
    out.set(rel || '.', `ino=${s.ino} mode=${s.mode.toString(8)} uid=${s.uid} gid=${s.gid} size=${s.size} nlink=${s.nlink} mtime=${s.mtimeNs} ctime=${s.ctimeNs} ${extra}`);
    if (s.isDirectory()) for (const n of readdirSync(p).sort()) visit(rel ? join(rel, n) : n);
  };
  visit('');
  return out;
}

function compare(what: string, before: Map<string, string>, after: Map<string, string>): string[] {
  const diffs: string[] = [];
  for (const [k, v] of before) {
    const w = after.get(k);
    if (w === undefined) diffs.push(`${what}/${k} removed`);
    else if (w !== v) diffs.push(`${what}/${k} changed: ${v} => ${w}`);
  }
  for (const [k, v] of after) if (!before.has(k)) diffs.push(`${what}/${k} appeared: ${v}`);
  return diffs;
}

// ---- one variant ------------------------------------------------------------------------------

let unhandled: unknown[] = [];
process.on('unhandledRejection', (e) => { unhandled.push(e); });
process.on('uncaughtException', (e) => { unhandled.push(e); });

const describe = (e: unknown): string => (e instanceof Error ? `${e.name}${(e as NodeJS.ErrnoException).code ? ` (${(e as NodeJS.ErrnoException).code})` : ''}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 7).join('\n')}` : `non-Error thrown: ${String(e)}`);
const rss = (): number => process.resourceUsage().maxRSS * 1024;
let hold: unknown = null;

async function runFake(): Promise<void> {
  switch (fake) {
    case 'escape-canary': appendFileSync(join(canary, 'file1'), 'written by a broken extractor\n'); return;
    case 'escape-beside': writeFileSync(join(sandbox, 'beside-dest'), 'x'); return;
    case 'escape-workdir': writeFileSync(join(root!, 'outside-sandbox'), 'x'); return;
    case 'crash': throw new TypeError('deliberate untyped error (HOSTILE_FAKE=crash)');
    case 'hang': for (;;);
    case 'blowup': {
      const b = Buffer.alloc(400 << 20);
      for (let i = 0; i < b.length; i += 4096) b[i] = 1;
      hold = b;
      return;
    }
    case 'oom': {
      const keep: number[][] = [];
      for (;;) keep.push(new Array(1 << 20).fill(1.5));
    }
  }
}

async function runVariant(ti: number, k: number): Promise<ChildResult> {
  const t = targets[ti]!;
  const v = makeHostileVariant(t, k);
  const started = performance.now();
  rmSync(inDir, { recursive: true, force: true });
  rmSync(sandbox, { recursive: true, force: true });
  mkdirSync(inDir, { recursive: true });
  const mutated = t.mutate < 0 ? t.image : t.extras[t.mutate]!;
  const mutatedPath = join(inDir, mutated.name);
  writeFileSync(mutatedPath, v.bytes);
  const imagePath = t.mutate < 0 ? mutatedPath : t.image.path;
  const extras = t.extras.map((e, i) => (i === t.mutate ? mutatedPath : e.path));
  const args: ImageArgs = { blob: extras, ...(t.objects ? { objects: t.objects } : {}) };
  const inputBytes = v.bytes.length + t.extras.reduce((s, e, i) => s + (i === t.mutate ? 0 : lstatSync(e.path).size), t.mutate < 0 ? 0 : lstatSync(t.image.path).size);
  mkdirSync(sandbox);
  makeCanary();
  const canaryBefore = snapshot(canary);
  const inBefore = snapshot(inDir);
  const rootBefore = readdirSync(root!).sort().join(',');

  const steps: Record<string, string> = { open: 'skipped', extract: 'skipped', export: 'skipped', check: 'skipped' };
  const crashes: { step: string; error: string }[] = [];
  let extracted: ChildResult['extracted'];
  unhandled = [];
  const rssBefore = rss();
  const messages: Record<string, string> = {};
  const stepMs: Record<string, number> = { setup: Math.round(performance.now() - started) };
  const step = async <T>(name: string, f: () => Promise<T>): Promise<T | undefined> => {
    const t0 = performance.now();
    try {
      const r = await f();
      steps[name] = 'ok';
      return r;
    } catch (e) {
      if (isTypedError(e)) {
        steps[name] = e.name;
        messages[name] = e.message.slice(0, 300);
        return undefined;
      }
      steps[name] = 'crash';
      crashes.push({ step: name, error: describe(e) });
      return undefined;
    } finally {
      stepMs[name] = Math.round(performance.now() - t0);
    }
  };
  try {
    if (fake) {
      await step('extract', runFake);
    } else {
      const fs = await step('open', () => openLikeCli(imagePath, args));
      if (fs) {
        const rep = await step('extract', async () => extract(fs, dest, { startIno: fs.rootIno, xattrs: v.xattrs, threads: await defaultThreads(fs) }));
        if (rep) extracted = { entries: rep.entries, skipped: rep.skipped.length, warnings: rep.warnings.length };
        await step('export', () => exportTar(fs, fs.rootIno, { write: () => undefined }));
        await step('check', async (): Promise<unknown> => (isRafs(fs) ? checkRafs(fs, { data: true }) : checkTree(fs)));
      }
    }
  } finally {
    await closeAll().catch((e: unknown) => crashes.push({ step: 'close', error: describe(e) }));
  }
  // let stray callbacks of this variant (a rejected promise nobody awaited) land now
  await new Promise((r) => setImmediate(r));
  for (const e of unhandled) crashes.push({ step: 'unhandled', error: describe(e) });
  const rssAfter = rss();
  hold = null;

  const escape: string[] = [];
  try {
    escape.push(...compare('canary', canaryBefore, snapshot(canary)));
  } catch (e) {
    escape.push(`canary unreadable: ${describe(e)}`);
  }
  const inSandbox = readdirSync(sandbox).filter((n) => n !== 'canary' && n !== 'dest');
  if (inSandbox.length) escape.push(`sandbox holds ${inSandbox.map((n) => JSON.stringify(n)).join(', ')} beside dest and canary`);
  try {
    escape.push(...compare('in', inBefore, snapshot(inDir)));
  } catch (e) {
    escape.push(`input folder unreadable: ${describe(e)}`);
  }
  const rootAfter = readdirSync(root!).sort().join(',');
  if (rootAfter !== rootBefore) escape.push(`work folder was [${rootBefore}], now [${rootAfter}]`);
  rmSync(sandbox, { recursive: true, force: true });
  for (const n of readdirSync(root!)) if (n !== 'in' && n !== 'sandbox') rmSync(join(root!, n), { recursive: true, force: true });

  return {
    ev: 'result', label: v.label, mutation: v.detail, steps, ...(crashes.length ? { crash: { step: crashes[0]!.step, error: crashes.map((c) => `[${c.step}] ${c.error}`).join('\n') } } : {}),
    ...(escape.length ? { escape } : {}), messages, stepMs, rssBefore, rssAfter, inputBytes, ms: Math.round(performance.now() - started), xattrs: v.xattrs, ...(extracted ? { extracted } : {}),
  };
}

// ---- batches ----------------------------------------------------------------------------------

const RECYCLE_ABOVE = 192 << 20;
const startRss = rss();
const rl = createInterface({ input: process.stdin });
const queue: string[] = [];
let wake: (() => void) | null = null;
let closed = false;
rl.on('line', (l) => {
  queue.push(l);
  wake?.();
});
rl.on('close', () => {
  closed = true;
  wake?.();
});
for (;;) {
  while (!queue.length && !closed) await new Promise<void>((r) => { wake = r; });
  wake = null;
  const line = queue.shift();
  if (line === undefined) break;
  const { jobs } = JSON.parse(line) as { jobs: [number, number][] };
  let recycle = false;
  for (const [t, k] of jobs) {
    emit({ ev: 'start', label: `${targets[t]!.name}#${k}` });
    emit(await runVariant(t, k));
    // maxRSS only rises: once it is well above where it started, a fresh process measures the
    // next variants (a blowup would otherwise hide the ones after it)
    if (rss() > startRss + RECYCLE_ABOVE) {
      recycle = true;
      break;
    }
  }
  if (recycle) {
    emit({ ev: 'recycle' });
    process.exit(0);
  }
  emit({ ev: 'idle' });
}
