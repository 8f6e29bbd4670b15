#!/usr/bin/env node
// The CLI runs as one bundled module built by esbuild from src/ and kept in node_modules/.cache:
// it starts in ~0.15 s where compiling the TypeScript through tsx at every run takes ~0.5 s.
// `extract`'s worker threads load a second, small bundle built with it. Both are rebuilt whenever
// a source file (or the lockfile) is newer than either. Without esbuild, or if the build fails (a
// syntax error while editing), the sources run through tsx, which reports the error properly.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

/**
 * esbuild emits every top-level `const` of the bundled modules as `var` (and has no option against
 * it). Node 20's V8 constant-folds a module's `const` bindings in optimized code but reloads and
 * re-checks a `var` at every use, and the hot loops of the codecs read module tables and constants:
 * the zstd decoder ran 5-20% slower (and fzstd too) from the bundle than from the sources (Node 20,
 * CPU time, 8 MiB corpus). This puts `const` back on each top-level `var` declaration (acorn parse of
 * the bundle) whose names all have an initializer, are declared once at top level, are never an
 * assignment, update or for-in/of target anywhere in the bundle (by name, whatever the scope: safe
 * side), and are not referenced before the declaration's end. Most came from `const` (or `let`,
 * `class`) in the sources, where the temporal dead zone is the same; a function defined after such a
 * declaration but called before it at load would throw instead of reading undefined, which module
 * evaluation shows at the first start (test/cli-bundle-const runs the rebuilt bundle). Returns the
 * code and how many declarations it changed. Without acorn (a devDependency) the bundle stays as
 * esbuild wrote it. The parse adds 0.6-2.8 s to a rebuild on this busy machine (1 MB bundle).
 */
async function constify(code) {
  let parse;
  try {
    ({ parse } = await import('acorn'));
  } catch {
    return { code, count: 0 };
  }
  const ast = parse(code, { ecmaVersion: 'latest', sourceType: 'module' });
  const top = ast.body.map((s) => (s.type === 'ExportNamedDeclaration' && s.declaration ? s.declaration : s));
  /** the names of top-level declarations, and how often each name is declared at top level */
  const ids = new Set();
  const declared = new Map();
  const count = (name) => declared.set(name, (declared.get(name) ?? 0) + 1);
  for (const s of top) {
    if (s.type === 'VariableDeclaration') {
      for (const d of s.declarations) {
        ids.add(d.id);
        count(d.id.type === 'Identifier' ? d.id.name : '');
      }
    } else if ((s.type === 'FunctionDeclaration' || s.type === 'ClassDeclaration') && s.id) count(s.id.name);
  }
  /** names assigned anywhere; where each name first occurs other than as a top-level declaration's name */
  const assigned = new Set();
  const firstUse = new Map();
  const target = (n) => {
    if (!n) return;
    if (n.type === 'Identifier') assigned.add(n.name);
    else if (n.type === 'ArrayPattern') n.elements.forEach(target);
    else if (n.type === 'ObjectPattern') for (const p of n.properties) target(p.type === 'RestElement' ? p.argument : p.value);
    else if (n.type === 'RestElement') target(n.argument);
    else if (n.type === 'AssignmentPattern') target(n.left);
  };
  const visit = (n) => {
    if (n.type === 'Identifier') {
      if (!ids.has(n) && !(firstUse.get(n.name) <= n.start)) firstUse.set(n.name, n.start);
      return;
    }
    if (n.type === 'AssignmentExpression') target(n.left);
    else if (n.type === 'UpdateExpression') target(n.argument);
    else if ((n.type === 'ForInStatement' || n.type === 'ForOfStatement') && n.left.type !== 'VariableDeclaration') target(n.left);
    for (const k in n) {
      const v = n[k];
      if (!v || typeof v !== 'object') continue;
      if (Array.isArray(v)) {
        for (const c of v) if (c && typeof c.type === 'string') visit(c);
      } else if (typeof v.type === 'string') visit(v);
    }
  };
  visit(ast);
  // (pieces joined once: replacing in the string 800 times copied the whole bundle each time)
  const parts = [];
  let from = 0;
  let changed = 0;
  for (const s of top) {
    if (s.type !== 'VariableDeclaration' || s.kind !== 'var' || code.slice(s.start, s.start + 4) !== 'var ') continue;
    const ok = s.declarations.every((d) => d.id.type === 'Identifier' && d.init && !assigned.has(d.id.name) && declared.get(d.id.name) === 1 && !(firstUse.get(d.id.name) < s.end));
    if (!ok) continue;
    parts.push(code.slice(from, s.start), 'const');
    from = s.start + 3;
    changed++;
  }
  parts.push(code.slice(from));
  return { code: parts.join(''), count: changed };
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
    for (const name of ['cli', 'extract-worker', 'compress-worker', 'verity-worker']) {
      const f = join(tmp, `${name}.mjs`);
      writeFileSync(f, (await constify(readFileSync(f, 'utf8'))).code);
    }
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
