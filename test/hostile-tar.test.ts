// Hostile tar layers and composefs dumps: inputs crafted to make a quadratic step hang or a
// per-entry cost blow memory. Each runs the CLI in a child process with a generous timeout (only to
// detect a hang: the broken code ran for minutes) and its peak RSS (reported by the child itself)
// checked against a bound proportional to the input; the result must be the right tree or a typed
// error (exit 3, the structure and offset named, no stack trace).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, describe, test } from 'node:test';
import { REPO, tempDir } from './helpers/paths.ts';
import { FormatError } from '../src/lib/errors.ts';
import { walk } from '../src/lib/fs/path.ts';
import { treeFs } from '../src/lib/fs/sources/treefs.ts';
import { MAX_TREE_DEPTH, newDir, type SourceInode } from '../src/lib/fs/tree.ts';

const CLI = join(REPO, 'bin/layerscope.mjs');
/** only to detect a hang: every case here takes a few seconds once fixed */
const HANG_MS = Number(process.env.HOSTILE_HANG_MS) || 60_000;
const MB = 1 << 20;
const enc = new TextEncoder();
const dec = new TextDecoder();

const dir = tempDir('ls-hosttar-');
after(() => rmSync(dir, { recursive: true, force: true }));

// the child prints its own peak RSS on exit (KiB), after whatever the CLI wrote
const REPORT_RSS = 'data:text/javascript,process.on("exit",()=>process.stderr.write("\\nmaxrss="+process.resourceUsage().maxRSS+"\\n"))';

interface Run { status: number | null; stdout: string; stderr: string; peak: number; signal: string | null }
function cli(args: string[]): Run {
  const r = spawnSync(process.execPath, ['--import', REPORT_RSS, CLI, ...args], { timeout: HANG_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 28 });
  let stderr = r.stderr.toString('utf8');
  let peak = -1;
  const m = /\nmaxrss=(\d+)\n$/.exec(stderr);
  if (m) {
    peak = Number(m[1]) * 1024;
    stderr = stderr.slice(0, m.index);
  }
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr, peak, signal: r.signal };
}
function assertFinished(r: Run, what: string): void {
  assert.notEqual(r.signal, 'SIGKILL', `${what}: still running after ${HANG_MS / 1000} s (a hang), killed`);
}
/**
 * peak RSS below 20x the input plus 300 MB for the runtime and the garbage collector's slack: the
 * 300,000-link chain (12.4 MB) keeps 54 MB live after its parse, and peaked at 332 MB on a quiet
 * machine but 454 MB with both cores busy (concurrent marking falls behind), so 200 MB of slack
 * made the test fail on load alone; a quadratic blowup is still far past this bound
 */
function assertMemory(r: Run, inputBytes: number, what: string): void {
  assert.ok(r.peak > 0, `${what}: no RSS report`);
  const bound = 20 * inputBytes + 300 * MB;
  assert.ok(r.peak < bound, `${what}: peak RSS ${(r.peak / MB).toFixed(0)} MB for a ${(inputBytes / MB).toFixed(1)} MB input (bound ${(bound / MB).toFixed(0)} MB)`);
}
function assertTypedError(r: Run, structure: string, what: string): void {
  assertFinished(r, what);
  assert.equal(r.status, 3, `${what}: exit ${r.status}, expected 3 (damaged input); stderr: ${r.stderr.slice(0, 500)}`);
  assert.match(r.stderr, new RegExp(`${structure.replace('.', '\\.')} at byte \\d+`), `${what}: the message names the structure and offset: ${r.stderr.slice(0, 500)}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: a stack trace was printed`);
}

// ---------------------------------------------------------------------------------------------
// a minimal tar writer (GNU long names), so the hazards are built byte by byte

function octal(v: number, len: number): string {
  return v.toString(8).padStart(len - 1, '0') + '\0';
}
function header(name: Uint8Array, type: string, size: number): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string | Uint8Array, off: number) => h.set(typeof s === 'string' ? enc.encode(s) : s, off);
  put(name.subarray(0, 100), 0);
  put(octal(type === '5' ? 0o755 : 0o644, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  put(octal(size, 12), 124);
  put(octal(0, 12), 136);
  put('        ', 148);
  h[156] = type.charCodeAt(0);
  put('ustar  \0', 257);
  let sum = 0;
  for (const b of h) sum += b;
  put(octal(sum, 7) + '\0', 148);
  return h;
}
class TarOut {
  private parts: Uint8Array[] = [];
  entry(path: string | Uint8Array, type: '0' | '5', data: string = ''): void {
    const name = typeof path === 'string' ? enc.encode(path) : path;
    const body = enc.encode(data);
    if (name.length > 100) {
      const l = new Uint8Array(name.length + 1);
      l.set(name);
      this.parts.push(header(enc.encode('././@LongLink'), 'L', l.length), l);
      this.pad(l.length);
    }
    this.parts.push(header(name, type, body.length));
    if (body.length) {
      this.parts.push(body);
      this.pad(body.length);
    }
  }
  private pad(n: number): void {
    const p = (512 - (n % 512)) % 512;
    if (p) this.parts.push(new Uint8Array(p));
  }
  bytes(): Buffer {
    return Buffer.concat([...this.parts, new Uint8Array(1024)]);
  }
}

/** "a/", "a/a/", … `depth` directory entries, each its own entry, then a file at the bottom */
function deepTar(depth: number): Buffer {
  const t = new TarOut();
  const path = enc.encode('a/'.repeat(depth));
  for (let d = 1; d <= depth; d++) t.entry(path.subarray(0, 2 * d), '5');
  t.entry('a/'.repeat(depth) + 'file', '0', 'deep\n');
  return t.bytes();
}

function write(name: string, bytes: Uint8Array | string): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

// ---------------------------------------------------------------------------------------------

describe('a tar nesting directories deeper than the path-depth limit', () => {
  // every entry spells out its ancestors: resolving each through whole-path keys was O(depth²) per
  // entry (cubic overall: 3,000 levels ran for minutes); beyond MAX_TREE_DEPTH it is refused
  const depth = MAX_TREE_DEPTH + 900;
  const tar = write('deep.tar', deepTar(depth));
  const size = statSync(tar).size;
  for (const args of [['ls', tar, '/'], ['inspect', tar], ['stats', tar], ['check', tar], ['export', tar, join(dir, 'deep-out.tar')], ['extract', tar, join(dir, 'deep-x')]]) {
    test(`${args[0]}: exit 3 naming the tar header and the limit`, () => {
      const r = cli(args);
      assertTypedError(r, 'tar.header', args[0]!);
      assert.match(r.stderr, new RegExp(`${MAX_TREE_DEPTH + 1} components is deeper than the ${MAX_TREE_DEPTH}-component limit`));
      assertMemory(r, size, args[0]!);
    });
  }
});

describe('a tar nesting 3,000 directories (within the limit) is read in linear time', () => {
  const depth = 3000;
  const tar = write('deep3k.tar', deepTar(depth));
  const gz = write('deep3k.tar.gz', gzipSync(deepTar(depth), { level: 1 }));
  const size = statSync(tar).size;
  test('stats counts every level; cat reads the file at the bottom', () => {
    for (const img of [tar, gz]) {
      const r = cli(['stats', img, '--json']);
      assertFinished(r, 'stats');
      assert.equal(r.status, 0, r.stderr);
      const st = JSON.parse(r.stdout) as { entries: number; counts: { dir: number; reg: number } };
      assert.equal(st.counts.dir, depth + 1);
      assert.equal(st.counts.reg, 1);
      assertMemory(r, size, 'stats');
      const c = cli(['cat', img, '/' + 'a/'.repeat(depth) + 'file']);
      assertFinished(c, 'cat');
      assert.equal(c.status, 0, c.stderr);
      assert.equal(c.stdout, 'deep\n');
    }
  });
  test('export writes every entry back', () => {
    const out = join(dir, 'deep3k-out.tar');
    const r = cli(['export', tar, out]);
    assertFinished(r, 'export');
    assert.equal(r.status, 0, r.stderr);
    assertMemory(r, size, 'export');
    const back = cli(['stats', out, '--json']);
    assert.equal(back.status, 0, back.stderr);
    assert.equal((JSON.parse(back.stdout) as { entries: number }).entries, depth + 2);
  });
});

describe('a tar.gz replacing one directory 16,000 times', () => {
  // replacing a directory scanned every path of the archive for those below it (O(entries) per
  // replacement), and every entry below a deep directory rebuilt all its ancestors' keys
  const times = 16_000;
  const siblings = 50_000;
  const base = 'p/'.repeat(600);
  const t = new TarOut();
  for (let i = 0; i < siblings; i++) t.entry(`s/${i}`, '0');
  for (let i = 0; i < times; i++) {
    t.entry(`${base}d/`, '5');
    t.entry(`${base}d/x${i}`, '0', 'x');
    t.entry(`${base}d`, '0', 'file'); // the directory becomes a file…
  }
  t.entry(`${base}d/`, '5'); // …and a directory again
  t.entry(`${base}d/last`, '0', 'last\n');
  const raw = t.bytes();
  const gz = write('replace.tar.gz', gzipSync(raw, { level: 1 }));

  test('ls, cat and stats see only what the last entries left', () => {
    const r = cli(['ls', gz, '/' + base + 'd']);
    assertFinished(r, 'ls');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['last']);
    // the decompressed archive is what is parsed: the bound is on its size
    assertMemory(r, raw.length, 'ls');
    const c = cli(['cat', gz, '/' + base + 'd/last']);
    assert.equal(c.status, 0, c.stderr);
    assert.equal(c.stdout, 'last\n');
    const s = cli(['stats', gz, '--json']);
    assertFinished(s, 'stats');
    assert.equal(s.status, 0, s.stderr);
    const st = JSON.parse(s.stdout) as { counts: { reg: number; dir: number } };
    assert.equal(st.counts.reg, siblings + 1);
    assert.equal(st.counts.dir, 1 + 1 + 600 + 1); // root, s, p…, d
  });
});

// ---------------------------------------------------------------------------------------------
// composefs dumps

describe('composefs dumps of 300,000 files', () => {
  const N = 300_000;
  test('ls of a dump with three xattrs per file stays proportional to the input', () => {
    const lines = ['/ 0 40755 2 0 0 0 0.0 - - -'];
    for (let i = 0; i < N; i++) lines.push(`/f${i} 0 100644 1 0 0 0 0.0 - - - user.a=1 user.b=2 trusted.overlay.x=abc`);
    const dump = write('xattrs.dump', lines.join('\n') + '\n');
    const r = cli(['ls', dump, '/']);
    assertFinished(r, 'ls');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.split('\n').length - 1, N);
    assertMemory(r, statSync(dump).size, 'ls');
    // --json is written entry by entry as the directory is read: one valid array, the same entries
    const j = cli(['ls', dump, '/', '--json']);
    assertFinished(j, 'ls --json');
    assert.equal(j.status, 0, j.stderr);
    const list = JSON.parse(j.stdout) as { name: string; type: string; mode: number; size: number; nlink: number }[];
    assert.deepEqual(list.map((e) => e.name), r.stdout.split('\n').slice(0, -1));
    assert.deepEqual(new Set(list.map((e) => e.name)).size, N);
    assert.ok(list.every((e) => e.type === 'reg' && e.mode === 0o100644 && e.size === 0 && e.nlink === 1), 'every entry is the dump\'s empty 0644 file');
    assertMemory(j, statSync(dump).size, 'ls --json');
    const x = cli(['stat', dump, `/f${N - 1}`, '--json']);
    assert.equal(x.status, 0, x.stderr);
    const st = JSON.parse(x.stdout) as { xattrs: { name: string; value: string }[] };
    assert.deepEqual(st.xattrs.map((a) => `${a.name}=${a.value}`).sort(), ['trusted.overlay.x=abc', 'user.a=1', 'user.b=2']);
  });

  test('a chain of 300,000 hardlinks, each naming the previous one, resolves in linear time', () => {
    // each "@" line was followed to the real inode hop by hop: O(n²)
    const lines = ['/ 0 40755 2 0 0 0 0.0 - - -', `/f 5 100644 ${N} 0 0 0 0.0 - hello -`];
    for (let i = 1; i < N; i++) lines.push(`/h${i} 0 @100644 1 0 0 0 0.0 ${i === 1 ? '/f' : `/h${i - 1}`} - -`);
    const dump = write('chain.dump', lines.join('\n') + '\n');
    const r = cli(['ls', dump, '/', '--json']);
    assertFinished(r, 'ls');
    assert.equal(r.status, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { name: string; ino: number; nlink: number }[];
    assert.equal(list.length, N);
    const f = list.find((e) => e.name === 'f')!;
    assert.equal(f.nlink, N);
    assert.ok(list.every((e) => e.ino === f.ino), 'every name is the one inode');
    // memory of the parse and the tree (ls --json adds its own rows and JSON text of every entry)
    const i = cli(['inspect', dump]);
    assertFinished(i, 'inspect');
    assert.equal(i.status, 0, i.stderr);
    assertMemory(i, statSync(dump).size, 'inspect');
    const c = cli(['cat', dump, `/h${N - 1}`]);
    assert.equal(c.stdout, 'hello');
  });

  test('a dump nesting directories deeper than the limit is refused at the line', () => {
    const lines = ['/ 0 40755 2 0 0 0 0.0 - - -'];
    for (let d = 1; d <= MAX_TREE_DEPTH + 10; d++) lines.push(`${'/a'.repeat(d)} 0 40755 2 0 0 0 0.0 - - -`);
    const dump = write('deep.dump', lines.join('\n') + '\n');
    const r = cli(['ls', dump, '/']);
    assertTypedError(r, 'composefs.dump', 'ls');
    assert.match(r.stderr, new RegExp(`line ${MAX_TREE_DEPTH + 2}: .*deeper than the ${MAX_TREE_DEPTH}-component limit`));
  });
});

// ---------------------------------------------------------------------------------------------
// walk()

function chain(depth: number): SourceInode {
  const root = newDir();
  let d = root;
  for (let i = 0; i < depth; i++) {
    const next = newDir();
    // a file beside every directory: each level has an entry after the one that goes deeper
    d.children!.push({ name: enc.encode('d'), inode: next }, { name: enc.encode(`f${i}`), inode: { type: 'reg', perm: 0o644, uid: 0, gid: 0, mtime: 0, mtimeNsec: 0, size: 0, rdev: 0, xattrs: [] } });
    d = next;
  }
  return root;
}

describe('walk', () => {
  test('yields every path of a deep tree in depth-first order with its own array', async () => {
    const depth = 500;
    const fs = treeFs({ root: chain(depth), notes: [] });
    const paths: string[] = [];
    const arrays = new Set<Uint8Array[]>();
    for await (const e of walk(fs)) {
      paths.push('/' + e.path.map((c) => dec.decode(c)).join('/'));
      arrays.add(e.path);
    }
    const expected = ['/'];
    for (let i = 1; i <= depth; i++) expected.push('/' + Array(i).fill('d').join('/'));
    // the files come out as each level's directory is left, deepest first
    for (let i = depth - 1; i >= 0; i--) expected.push('/' + [...Array(i).fill('d'), `f${i}`].join('/'));
    assert.deepEqual(paths.map((p) => p.replace(/^\/\//, '/')), expected);
    assert.equal(arrays.size, paths.length, 'a path array is never reused for another entry');
  });

  test('refuses paths deeper than the limit with a FormatError (30,000 levels: no O(depth²) paths)', async () => {
    const fs = treeFs({ root: chain(30_000), notes: [] });
    let n = 0;
    await assert.rejects(
      (async () => {
        for await (const e of walk(fs)) {
          n++;
          assert.ok(e.path.length <= MAX_TREE_DEPTH);
        }
      })(),
      (e: unknown) => e instanceof FormatError && e.structure === 'directory tree' && /more than 4096 directories deep/.test(e.message),
    );
    assert.equal(n, MAX_TREE_DEPTH + 1);
  });
});
