// Crafted hostile images, one per hazard an attacker-style sweep found: each is built by our own
// writers from a tree with placeholder names or targets, then patched to what no mkfs writes
// (a name listed twice, NUL in a name or a target, directories sharing one block run, a chunk that
// inflates far past its declared size). Every one is run through the CLI as a user would
// (`extract`, `export`, `check`) inside a sandbox that holds a canary directory beside the
// destination: the canary must come out untouched, nothing may appear beside the destination, and
// every failure must be a typed one (exit 2 with skipped entries, 3 for a damaged image, 4 for
// check's findings), never a stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'fflate';
import { gzipDecompress } from '../src/lib/codec/gzip.ts';
import { FormatError } from '../src/lib/errors.ts';
import { openImage } from '../src/lib/open.ts';
import '../src/lib/formats.ts';
import { readdirAll } from '../src/lib/fs/path.ts';
import { openErofs } from '../src/lib/erofs/reader.ts';
import type { SourceInode } from '../src/lib/fs/tree.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { amplifiedErofs, build, dir, file, gzipBombRafs, patch, setInode, special, symlink, treeOf, type Built, type Format } from './helpers/craft.ts';
import { REPO, tempDir } from './helpers/paths.ts';

const CLI = join(REPO, 'bin/layerscope.mjs');
const enc = new TextEncoder();

interface Sandbox {
  root: string;
  dest: string;
  canary: string;
  /** a root-owned file outside the destination that symlinks in images point at */
  target: string;
}

function sandbox(): Sandbox {
  const root = tempDir('ls-hostile-');
  const canary = join(root, 'canary');
  mkdirSync(join(canary, 'sub'), { recursive: true });
  writeFileSync(join(canary, 'target'), 'outside: must not change\n');
  chmodSync(join(canary, 'target'), 0o600);
  writeFileSync(join(canary, 'sub', 'f'), 'x');
  return { root, dest: join(root, 'dest'), canary, target: join(canary, 'target') };
}

/** Everything about the canary that an escape could change. */
function snapshot(dir: string): string {
  const rows: string[] = [];
  const walk = (p: string, rel: string): void => {
    const st = lstatSync(p);
    rows.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.isSymbolicLink() ? readlinkSync(p) : st.isFile() ? readFileSync(p, 'latin1') : ''}`);
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(join(p, n), `${rel}/${n}`);
  };
  walk(dir, '.');
  return rows.join('\n');
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

// the CLI's peak resident memory, printed by a preload as it exits
const PEAK = `data:text/javascript,process.on('exit',()=>process.stderr.write('\\npeak-rss-kib '+process.resourceUsage().maxRSS+'\\n'))`;
/** every command's peak resident memory may be this much: the inputs are a few MB, a bomb is 256 MB and up */
const PEAK_RSS_MAX_KIB = 400 * 1024;

function cli(args: string[]): Run {
  const r = spawnSync(process.execPath, ['--import', PEAK, CLI, ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 1 << 26 });
  assert.equal(r.signal, null, `layerscope ${args[0]} was killed (${r.signal}): a hang`);
  const peak = /\npeak-rss-kib (\d+)\n/.exec(r.stderr);
  assert.ok(peak, `layerscope ${args[0]}: no peak memory reported\n${r.stderr}`);
  assert.ok(Number(peak[1]) < PEAK_RSS_MAX_KIB, `layerscope ${args[0]} peaked at ${peak[1]} KiB`);
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.replace(peak[0], '') };
}

/** No stack trace and no untyped exit: 0, 2 (skipped entries), 3 (damaged) or 4 (check's findings). */
function assertTyped(r: Run, what: string): void {
  assert.ok([0, 2, 3, 4].includes(r.status), `${what}: exit ${r.status}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at .*:\d+:\d+/, `${what}: a stack trace\n${r.stderr}`);
}

/**
 * The image (and blob) written into the sandbox, extracted, exported and checked; the canary
 * must be untouched and the sandbox hold nothing new.
 */
function runAll(sb: Sandbox, img: Built): { extract: Run; export: Run; check: Run } {
  const imagePath = join(sb.root, '..', `${sb.root.split('/').pop()}.img`);
  writeFileSync(imagePath, img.image);
  const extra: string[] = [];
  if (img.blob) {
    const blobDir = `${imagePath}.blobs`;
    mkdirSync(blobDir, { recursive: true });
    writeFileSync(join(blobDir, img.blobId ?? 'blob'), img.blob);
    extra.push('--blob-dir', blobDir);
  }
  const before = snapshot(sb.canary);
  const extract = cli(['extract', imagePath, sb.dest, ...extra]);
  assertTyped(extract, 'extract');
  const tarPath = join(sb.root, '..', `${sb.root.split('/').pop()}.tar`);
  const exported = cli(['export', imagePath, tarPath, ...extra]);
  assertTyped(exported, 'export');
  const check = cli(['check', imagePath, ...extra]);
  assertTyped(check, 'check');
  assert.equal(snapshot(sb.canary), before, 'the canary changed: extract wrote outside its destination');
  assert.deepEqual(readdirSync(sb.root).sort(), existsDest(sb) ? ['canary', 'dest'] : ['canary'], 'something appeared beside the destination');
  return { extract, export: exported, check };
}

const existsDest = (sb: Sandbox): boolean => {
  try {
    return statSync(sb.dest).isDirectory();
  } catch {
    return false;
  }
};

/** Names of a PAX tar's entries, in order (ustar name fields; our export puts long names in PAX records). */
function tarNames(tar: Uint8Array): string[] {
  const names: string[] = [];
  let pax: string | null = null;
  for (let at = 0; at + 512 <= tar.length; ) {
    const h = tar.subarray(at, at + 512);
    if (h.every((x) => x === 0)) break;
    const name = new TextDecoder().decode(h.subarray(0, 100)).replace(/\0.*$/s, '');
    const prefix = new TextDecoder().decode(h.subarray(345, 500)).replace(/\0.*$/s, '');
    const size = parseInt(new TextDecoder().decode(h.subarray(124, 136)).replace(/\0.*$/s, '').trim() || '0', 8);
    const type = String.fromCharCode(h[156]!);
    const body = tar.subarray(at + 512, at + 512 + size);
    if (type === 'x') pax = /\d+ path=([^\n]*)\n/.exec(new TextDecoder().decode(body))?.[1] ?? null;
    else {
      names.push(pax ?? (prefix ? `${prefix}/${name}` : name));
      pax = null;
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}

const FORMATS: Format[] = ['erofs', 'composefs', 'rafs-v5', 'rafs-v6'];

// ---- a name listed twice: a symlink out of the destination, then something of the same name ----

const SECOND: Record<string, (sb: Sandbox) => SourceInode> = {
  fifo: () => ({ ...special('fifo'), uid: 1234, gid: 1234, perm: 0o4777 }),
  chr: () => ({ ...special('chr', 0x0103), uid: 1234, gid: 1234, perm: 0o6777 }),
  file: () => file(enc.encode('evil\n'), 0o4777, { uid: 1234, gid: 1234 }),
  dir: () => dir([['evil', file(enc.encode('evil\n'))]], 0o777),
};

const PAD = 'p'.repeat(100);
const DUP = `dup${PAD}`;
const DUP_B = `duq${PAD}`;

/**
 * A directory listing a symlink named DUP and then `second` under the same name. Our readers
 * refuse names out of order inside one directory block, so the two are put on either side of a
 * block boundary (fillers before them push the symlink to the end of a block), where only a walk
 * can tell them apart: the fillers are added until the patched image lists both.
 */
async function duplicateImage(format: Format, link: SourceInode, second: SourceInode, after: [string, SourceInode][] = []): Promise<Built | null> {
  for (let fillers = 0; fillers < 200; fillers++) {
    const kids: [string, SourceInode][] = [];
    for (let i = 0; i < fillers; i++) kids.push([`a${String(i).padStart(4, '0')}${PAD}`, file(new Uint8Array(0))]);
    kids.push([DUP, link], [DUP_B, second], ...after);
    const img = await build(format, treeOf(dir(kids)));
    const image = patch(img.image, DUP_B, DUP);
    try {
      const fs = await openImage(new BytesSource(image, 'img'));
      const names = (await readdirAll(fs, fs.rootIno)).map((e) => new TextDecoder().decode(e.name));
      if (names.filter((n) => n === DUP).length === 2) return { ...img, image };
    } catch { /* the two landed in one block: one more filler */ }
  }
  return null;
}

for (const format of FORMATS) {
  for (const [kind, second] of Object.entries(SECOND)) {
    test(`${format}: a symlink out of the destination, then a ${kind} of the same name: the first entry is kept, nothing outside changes`, async () => {
      const sb = sandbox();
      const link = symlink(kind === 'dir' ? sb.canary : sb.target);
      const img = await duplicateImage(format, link, second(sb));
      if (!img) {
        // this reader refuses a name listed twice wherever it stands: the image is damaged
        const plain = await build(format, treeOf(dir([[DUP, link], [DUP_B, second(sb)]])));
        const r = runAll(sb, { ...plain, image: patch(plain.image, DUP_B, DUP) });
        assert.equal(r.extract.status, 3, r.extract.stdout + r.extract.stderr);
        assert.match(r.extract.stderr, /FormatError: \S+ at byte \d+: names are not strictly ascending/);
        return;
      }
      const r = runAll(sb, img);
      assert.equal(r.extract.status, 2, r.extract.stdout + r.extract.stderr);
      assert.match(r.extract.stdout, new RegExp(`skipped /${DUP}: duplicate name`));
      assert.equal(readlinkSync(join(sb.dest, DUP)), kind === 'dir' ? sb.canary : sb.target);
      assert.equal(statSync(sb.target).mode & 0o7777, 0o600);
      // check calls the image damaged; export writes the name once
      assert.equal(r.check.status, 4, r.check.stdout);
      assert.match(r.check.stdout, /duplicate name|not sorted|not strictly ascending/);
      const names = tarNames(readFileSync(join(sb.root, '..', `${sb.root.split('/').pop()}.tar`)));
      assert.deepEqual(names.filter((n) => n.startsWith(DUP)), [DUP]);
    });
  }
}

test('erofs: a symlink, then a hardlink of the same name to a file: the first entry is kept', async () => {
  const sb = sandbox();
  const shared = file(enc.encode('shared\n'));
  const img = await duplicateImage('erofs', symlink(sb.target), shared, [['zzzz', shared]]);
  assert.ok(img);
  const r = runAll(sb, img);
  assert.equal(r.extract.status, 2);
  assert.match(r.extract.stdout, new RegExp(`skipped /${DUP}: duplicate name`));
  assert.equal(readlinkSync(join(sb.dest, DUP)), sb.target);
  assert.equal(readFileSync(join(sb.dest, 'zzzz'), 'utf8'), 'shared\n');
});

// ---- NUL in names and symlink targets; targets symlink(2) cannot make -------------------------------

/** Our readers refuse some of these as damage (exit 3, a FormatError); what they let through, extract skips (exit 2). */
function refusedOrSkipped(r: Run, skip: RegExp): 'refused' | 'skipped' {
  if (r.status === 3) {
    assert.match(r.stderr, /FormatError: \S+ at byte \d+: /, r.stderr);
    return 'refused';
  }
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stdout, skip);
  return 'skipped';
}

for (const format of FORMATS) {
  test(`${format}: names holding NUL or "/" are skipped or refused, nothing created elsewhere`, async () => {
    const sb = sandbox();
    const t = treeOf(dir([['keep', file(enc.encode('b'))], ['nulXYZ', file(enc.encode('a'))], ['subXYZ', dir([['inner', file(enc.encode('c'))]])]]));
    const img = await build(format, t);
    // "nul\0YZ": the part before NUL would name another file; "sub/..": a path through another directory
    let image = patch(img.image, 'nulXYZ', enc.encode('nul\0YZ'));
    image = patch(image, 'subXYZ', enc.encode('s/../Z'));
    const r = runAll(sb, { ...img, image });
    // names render by nameText, "/" inside one as \x2f (app/names.ts): one component, nothing cut
    if (refusedOrSkipped(r.extract, /skipped \/nul\\x00YZ: name contains NUL/) === 'skipped') {
      assert.match(r.extract.stdout, /skipped \/s\\x2f\.\.\\x2fZ: name contains "\/"/);
      assert.deepEqual(readdirSync(sb.dest).sort(), ['keep']);
      assert.equal(r.check.status, 4);
    } else assert.ok([3, 4].includes(r.check.status), r.check.stdout);
  });

  test(`${format}: a symlink target holding NUL is skipped or refused`, async () => {
    const sb = sandbox();
    const t = treeOf(dir([['fine', symlink('abc/def')], ['nul', symlink('abc/TTTT')]]));
    const img = await build(format, t);
    const r = runAll(sb, { ...img, image: patch(img.image, 'abc/TTTT', enc.encode('abc\0/../')) });
    if (refusedOrSkipped(r.extract, /skipped \/nul: symlink target contains NUL/) === 'skipped') assert.equal(readlinkSync(join(sb.dest, 'fine')), 'abc/def');
    assert.equal(r.check.status, 4);
    assert.match(r.check.stdout, /symlink target contains NUL|symlink/);
  });
}

// ---- the same hazards in a tar layer, which can say anything (PAX records carry any bytes) -------------

interface TarEntry {
  name: Uint8Array | string;
  type: '0' | '1' | '2' | '5' | '6';
  link?: Uint8Array | string;
  data?: Uint8Array;
  mode?: number;
  /** PAX uid / gid records (decimal) */
  uid?: number;
  gid?: number;
  /** the header's 8-byte uid field as given (base-256 numbers) */
  uidField?: Uint8Array;
}

const asBytes = (x: Uint8Array | string): Uint8Array => (typeof x === 'string' ? enc.encode(x) : x);

/** A tar whose every entry carries its name and link target as PAX records (any bytes, any length). */
function makeTar(entries: TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const header = (name: string, type: string, size: number, mode: number, uidField?: Uint8Array): Uint8Array => {
    const h = new Uint8Array(512);
    h.set(enc.encode(name).subarray(0, 99), 0);
    h.set(enc.encode(mode.toString(8).padStart(7, '0') + '\0'), 100);
    h.set(uidField ?? enc.encode('0000000\0'), 108);
    h.set(enc.encode('0000000\0'), 116);
    h.set(enc.encode(size.toString(8).padStart(11, '0') + '\0'), 124);
    h.set(enc.encode('14000000000\0'), 136);
    h.fill(0x20, 148, 156);
    h[156] = type.charCodeAt(0);
    h.set(enc.encode('ustar\0' + '00'), 257);
    let sum = 0;
    for (const b of h) sum += b;
    h.set(enc.encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
    return h;
  };
  const pad = (n: number): Uint8Array => new Uint8Array((512 - (n % 512)) % 512);
  const record = (key: string, value: Uint8Array): Uint8Array => {
    const body = [enc.encode(` ${key}=`), value, enc.encode('\n')];
    const rest = body.reduce((n, b) => n + b.length, 0);
    let len = rest + 1;
    while (String(len).length + rest !== len) len++;
    return Buffer.concat([enc.encode(String(len)), ...body]);
  };
  for (const e of entries) {
    const pax = Buffer.concat([
      record('path', asBytes(e.name)),
      ...(e.link !== undefined ? [record('linkpath', asBytes(e.link))] : []),
      ...(e.uid !== undefined ? [record('uid', enc.encode(String(e.uid)))] : []),
      ...(e.gid !== undefined ? [record('gid', enc.encode(String(e.gid)))] : []),
    ]);
    parts.push(header('pax', 'x', pax.length, 0o644), pax, pad(pax.length));
    const data = e.data ?? new Uint8Array(0);
    parts.push(header('placeholder', e.type, data.length, e.mode ?? (e.type === '5' ? 0o755 : 0o644), e.uidField), data, pad(data.length));
  }
  parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}

test('tar: NUL in targets, empty and 64 KiB targets: skipped with the reason, nothing outside', () => {
  const sb = sandbox();
  const tar = makeTar([
    { name: 'fine', type: '2', link: 'abc' },
    { name: 'nultarget', type: '2', link: enc.encode('abc\0/../x') },
    { name: 'empty', type: '2', link: '' },
    { name: 'long', type: '2', link: 'L'.repeat(65536) },
  ]);
  const r = runAll(sb, { image: tar });
  assertTyped(r.extract, 'extract');
  const out = r.extract.stdout + r.extract.stderr;
  assert.equal(r.extract.status, 2, out);
  assert.match(out, /skipped \/nultarget: symlink target contains NUL/);
  assert.match(out, /skipped \/empty: empty symlink target/);
  assert.match(out, /skipped \/long: symlink target of 65536 bytes/);
  assert.equal(readlinkSync(join(sb.dest, 'fine')), 'abc');
  assert.deepEqual(readdirSync(sb.canary).sort(), ['sub', 'target']);
});

test('tar: owners no Linux id can hold (PAX 2^40, base-256 -5): the entries are restored with the extracting user as owner, and named in warnings', (t) => {
  if (process.getuid?.() !== 0) return t.skip('owners are restored only as root (not root here)');
  const sb = sandbox();
  // base-256: 0xff lead byte, two's complement over the 8 bytes
  const minus5 = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb]);
  const r = runAll(sb, { image: makeTar([
    { name: 'd', type: '5', uid: 2 ** 40 },
    { name: 'd/f', type: '0', data: enc.encode('data'), uid: 1234, gid: 2 ** 32 },
    { name: 'd/l', type: '2', link: 'f', uidField: minus5 },
    { name: 'ok', type: '0', data: enc.encode('x'), uid: 1234, gid: 4321 },
  ]) });
  const out = r.extract.stdout + r.extract.stderr;
  // not everything is as in the image: the "incomplete" status, as for skipped entries
  assert.equal(r.extract.status, 2, out);
  assert.match(out, /\/d: owner 1099511627776:0 is outside the ids Linux can set/);
  assert.match(out, /\/d\/f: owner 1234:4294967296 is outside/);
  assert.match(out, /\/d\/l: owner -5:0 is outside/);
  assert.equal(readFileSync(join(sb.dest, 'd/f'), 'utf8'), 'data');
  assert.equal(readlinkSync(join(sb.dest, 'd/l')), 'f');
  for (const p of ['d', 'd/f', 'd/l']) assert.deepEqual([lstatSync(join(sb.dest, p)).uid, lstatSync(join(sb.dest, p)).gid], [0, 0], p);
  // an id Linux can hold is still set
  assert.deepEqual([statSync(join(sb.dest, 'ok')).uid, statSync(join(sb.dest, 'ok')).gid], [1234, 4321]);
});

test('tar: a file under a symlink out of the destination is refused as damaged', () => {
  const sb = sandbox();
  const r = runAll(sb, { image: makeTar([{ name: 'esc', type: '2', link: sb.canary }, { name: 'esc/evil', type: '0', data: enc.encode('evil') }]) });
  assert.equal(r.extract.status, 3, r.extract.stdout + r.extract.stderr);
  assert.match(r.extract.stderr, /FormatError: tar\.header at byte \d+: "esc\/evil": parent "esc" is not a directory/);
});

test('tar: a name holding NUL is refused as damaged', () => {
  const sb = sandbox();
  const r = runAll(sb, { image: makeTar([{ name: 'ok', type: '0', data: enc.encode('x') }, { name: enc.encode('nul\0name'), type: '0', data: enc.encode('x') }]) });
  assert.equal(r.extract.status, 3, r.extract.stdout + r.extract.stderr);
  assert.match(r.extract.stderr, /FormatError: tar\.header at byte \d+: .*NUL/);
});

test('erofs: an empty symlink target is skipped with the reason', async () => {
  const sb = sandbox();
  const t = treeOf(dir([['empty', symlink('Q')], ['fine', symlink('x')]]));
  const img = await build('erofs', t);
  // the inode's i_size (1) becomes 0: find the symlink's inode through our reader
  const fs = await openErofs(new BytesSource(img.image, 'img'));
  const e = (await fs.readdir(fs.rootIno)).find((x) => new TextDecoder().decode(x.name) === 'empty')!;
  const image = img.image.slice();
  setInode(image, fs.inodeOffset(e.ino), { size: 0 });
  const r = runAll(sb, { image });
  assert.equal(r.extract.status, 2, r.extract.stderr);
  assert.match(r.extract.stdout, /skipped \/empty: empty symlink target/);
});


// ---- depth: 3,000 levels make paths longer than PATH_MAX ---------------------------------------------

test('erofs: 3,000 directory levels: the parts past PATH_MAX are skipped, the rest extracted', async () => {
  const sb = sandbox();
  let d: SourceInode = dir([['leaf', file(enc.encode('deep'))]]);
  for (let i = 0; i < 3000; i++) d = dir([['d', d]]);
  const img = await build('erofs', treeOf(dir([['top', d], ['ok', file(enc.encode('ok'))]])));
  const r = runAll(sb, img);
  assert.equal(r.extract.status, 2, r.extract.stderr);
  assert.match(r.extract.stdout, /longer than PATH_MAX \(4096\) allows \(with everything below it\)/);
  assert.equal(readFileSync(join(sb.dest, 'ok'), 'utf8'), 'ok');
  // export has no PATH_MAX: a tar holds the whole depth
  assert.notEqual(r.export.status, 3, r.export.stderr);
});

// ---- directories sharing one block run ------------------------------------------------------------

test('erofs: 20,000 directories over one 20,000-entry block run are refused as damaged, fast', async () => {
  const sb = sandbox();
  const image = await amplifiedErofs(20000);
  const r = runAll(sb, { image });
  assert.equal(r.extract.status, 3, r.extract.stdout + r.extract.stderr);
  assert.match(r.extract.stderr, /FormatError: erofs\.dirent at byte \d+: .*directories share their entries/);
  assert.equal(r.check.status, 4);
  assert.match(r.check.stdout, /directories share their entries/);
});

// ---- chunks that inflate past their declared size ------------------------------------------------------

test('gzip: a stream that inflates past its declared size stops there with a FormatError', () => {
  const bomb = gzipSync(new Uint8Array(256 << 20), { level: 9 });
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => gzipDecompress(bomb, 65536, 'rafs.chunk', 1234), (e: unknown) => e instanceof FormatError && e.structure === 'rafs.chunk' && e.offset === 1234 && /more than the 65536 bytes/.test(e.message));
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 << 20, 'the bomb was inflated whole');
  // a good stream still decodes exactly, and a short one is refused
  const good = enc.encode('hello '.repeat(10000));
  assert.deepEqual(gzipDecompress(gzipSync(good), good.length), good);
  assert.throws(() => gzipDecompress(gzipSync(good), good.length + 1), FormatError);
});

for (const format of ['rafs-v5', 'rafs-v6'] as const) {
  test(`${format}: a gzip chunk that inflates past its declared 64 KiB is a typed error`, async () => {
    const sb = sandbox();
    const img = await gzipBombRafs(format);
    const r = runAll(sb, img);
    assert.equal(r.extract.status, 3, r.extract.stdout + r.extract.stderr);
    assert.match(r.extract.stderr, /FormatError: rafs\.chunk at byte \d+: gzip/);
  });
}

