#!/usr/bin/env node
// The CLI runs as one bundled module built by esbuild from src/ and kept in node_modules/.cache:
// it starts in ~0.15 s where compiling the TypeScript through tsx at every run takes ~0.5 s.
// `extract`'s worker threads load a second, small bundle built with it. Both are rebuilt whenever
// a source file (or the lockfile) is newer than either. Without esbuild, or if the build fails (a
// syntax error while editing), the sources run through tsx, which reports the error properly.
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'src/cli/main.ts');
const cacheDir = join(root, 'node_modules/.cache/layerscope');
const bundle = join(cacheDir, 'cli.mjs');
// extract's worker threads load their own small entry point, next to the CLI's (see src/cli/extract.ts)
const workerBundle = join(cacheDir, 'extract-worker.mjs');
// RAFS builds compress chunks on threads that load this one (src/cli/compress-pool.ts)
const compressBundle = join(cacheDir, 'compress-worker.mjs');
// composefs builds hash files on threads that load this one (src/cli/verity-pool.ts)
const verityBundle = join(cacheDir, 'verity-worker.mjs');

/** newest modification time of the TypeScript under `dir` */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

const mtime = (p) => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
};

async function bundled() {
  try {
    const built = Math.min(mtime(bundle), mtime(workerBundle), mtime(compressBundle), mtime(verityBundle));
    if (built > 0 && built >= Math.max(newest(join(root, 'src/cli')), newest(join(root, 'src/lib')), mtime(join(root, 'package-lock.json')))) return bundle;
    const { build } = await import('esbuild');
    // several CLIs may start at once (tests): each builds into its own directory and renames the
    // files into place, the worker's first so a new CLI never starts an old worker
    const tmp = `${cacheDir}.${process.pid}.tmp`;
    mkdirSync(tmp, { recursive: true });
    await build({
      entryPoints: { cli: entry, 'extract-worker': join(root, 'src/cli/extract-worker.ts'), 'compress-worker': join(root, 'src/cli/compress-worker.ts'), 'verity-worker': join(root, 'src/cli/verity-worker.ts') },
      bundle: true, platform: 'node', format: 'esm', target: 'node20', outdir: tmp, outExtension: { '.js': '.mjs' }, logLevel: 'silent',
      banner: { js: "import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);" },
    });
    mkdirSync(cacheDir, { recursive: true });
    renameSync(join(tmp, 'extract-worker.mjs'), workerBundle);
    renameSync(join(tmp, 'compress-worker.mjs'), compressBundle);
    renameSync(join(tmp, 'verity-worker.mjs'), verityBundle);
    renameSync(join(tmp, 'cli.mjs'), bundle);
    rmSync(tmp, { recursive: true, force: true });
    return bundle;
  } catch {
    return null;
  }
}

const b = await bundled();
if (b) await import(pathToFileURL(b).href);
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(entry).href);
}
