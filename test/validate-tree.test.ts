// One validateTree under every writer: the same bad tree gets the same FormatError (naming the
// path) from the EROFS, composefs, RAFS v5 and RAFS v6 writers, nothing is written for it, and
// what a writer accepts its own reader reads back in full.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openComposefs } from '../src/lib/composefs/reader.ts';
import { openErofs } from '../src/lib/erofs/reader.ts';
import { FormatError } from '../src/lib/errors.ts';
import { PATH_MAX } from '../src/lib/fs/entries.ts';
import type { SourceInode, SourceTree } from '../src/lib/fs/tree.ts';
import { NAME_MAX, TREE_STRUCTURE, validateTree } from '../src/lib/fs/validate.ts';
import type { ReadOnlyFs } from '../src/lib/fs/types.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { openRafs } from '../src/lib/rafs/index.ts';
import { build, dir, file, special, symlink, type Format } from './helpers/craft.ts';
import { snapshotFs } from './helpers/treecompare.ts';
import { hexOf } from './helpers/hex.ts';

const FORMATS: Format[] = ['erofs', 'composefs', 'rafs-v5', 'rafs-v6'];
const enc = new TextEncoder();
const bytes = (s: string | Uint8Array) => (typeof s === 'string' ? enc.encode(s) : s);

/** /sub/<name> = `inode`, beside an ordinary file; built fresh for each writer */
function treeWith(name: string | Uint8Array, inode: () => SourceInode): SourceTree {
  const sub = dir([['ok', file(bytes('x'))]]);
  sub.children!.push({ name: bytes(name), inode: inode() });
  return { root: dir([['sub', sub], ['z', file(bytes('hello'))]]), notes: [] };
}

function symlinkOf(target: Uint8Array): SourceInode {
  return { ...symlink('x'), target, size: target.length };
}

interface BadCase {
  label: string;
  tree: () => SourceTree;
  /** the path and reason the refusal names */
  path: string;
  reason: RegExp;
}

const BAD: BadCase[] = [
  { label: 'empty name', tree: () => treeWith('', () => file(bytes('a'))), path: '"/sub/"', reason: /empty name/ },
  { label: '"."', tree: () => treeWith('.', () => file(bytes('a'))), path: '"/sub/."', reason: /name "\."/ },
  { label: '".."', tree: () => treeWith('..', () => dir([])), path: '"/sub/.."', reason: /name "\.\."/ },
  { label: '"/" in a name', tree: () => treeWith('a/b', () => file(bytes('a'))), path: '"/sub/a/b"', reason: /contains "\/"/ },
  { label: 'NUL in a name', tree: () => treeWith('a\0b', () => file(bytes('a'))), path: '"/sub/a\\u0000b"', reason: /contains NUL/ },
  { label: `a name of ${NAME_MAX + 1} bytes`, tree: () => treeWith('n'.repeat(NAME_MAX + 1), () => file(bytes('a'))), path: `"/sub/${'n'.repeat(NAME_MAX + 1)}"`, reason: /name of 256 bytes/ },
  { label: 'two entries of one name', tree: () => treeWith('ok', () => special('fifo')), path: '"/sub/ok"', reason: /duplicate name/ },
  {
    label: 'a name listed twice out of order',
    tree: () => {
      const t = treeWith('b', () => file(bytes('b')));
      t.root.children!.find((c) => c.inode.type === 'dir')!.inode.children!.push({ name: bytes('a'), inode: file(bytes('c')) }, { name: bytes('b'), inode: dir([]) });
      return t;
    },
    path: '"/sub/b"', reason: /duplicate name/,
  },
  {
    label: 'a hardlinked directory',
    tree: () => {
      const shared = dir([['f', file(bytes('f'))]]);
      return { root: dir([['a', shared], ['sub', dir([['b', shared]])]]), notes: [] };
    },
    path: '"/sub/b"', reason: /directory reached twice/,
  },
  {
    label: 'the root inside itself',
    tree: () => {
      const root = dir([]);
      root.children!.push({ name: bytes('sub'), inode: dir([['loop', root]]) });
      return { root, notes: [] };
    },
    path: '"/sub/loop"', reason: /directory reached twice/,
  },
  { label: 'an empty symlink target', tree: () => treeWith('l', () => symlinkOf(new Uint8Array(0))), path: '"/sub/l"', reason: /empty symlink target/ },
  { label: `a symlink target of ${PATH_MAX} bytes`, tree: () => treeWith('l', () => symlinkOf(bytes('t'.repeat(PATH_MAX)))), path: '"/sub/l"', reason: /symlink target of 4096 bytes/ },
  { label: 'a symlink target of 4200 bytes', tree: () => treeWith('l', () => symlinkOf(bytes('t'.repeat(4200)))), path: '"/sub/l"', reason: /symlink target of 4200 bytes/ },
  { label: 'NUL in a symlink target', tree: () => treeWith('l', () => symlinkOf(bytes('a\0b'))), path: '"/sub/l"', reason: /symlink target contains NUL/ },
  {
    label: 'a symlink without a target',
    tree: () => treeWith('l', () => {
      const s = symlink('x');
      delete s.target;
      return s;
    }),
    path: '"/sub/l"', reason: /symlink without a target/,
  },
  { label: 'a root that is not a directory', tree: () => ({ root: file(bytes('x')), notes: [] }), path: '"/"', reason: /not a directory/ },
];

async function refusal(format: Format, t: SourceTree): Promise<FormatError | null> {
  try {
    await build(format, t);
    return null;
  } catch (e) {
    assert.ok(e instanceof FormatError, `${format}: expected a FormatError, got ${String(e)}`);
    return e;
  }
}

for (const c of BAD) {
  test(`every writer refuses ${c.label} with the same FormatError naming the path`, async () => {
    const messages: string[] = [];
    for (const f of FORMATS) {
      const e = await refusal(f, c.tree());
      assert.ok(e, `${f} built a tree with ${c.label}`);
      assert.equal(e.structure, TREE_STRUCTURE);
      assert.ok(e.detail.startsWith(`${c.path}: `), `${f}: "${e.detail}" does not name ${c.path}`);
      assert.match(e.detail, c.reason);
      messages.push(e.message);
    }
    assert.deepEqual(messages, FORMATS.map(() => messages[0]), 'the same refusal from every writer');
    // validateTree alone says the same
    assert.throws(() => validateTree(c.tree()), (e: unknown) => e instanceof FormatError && e.message === messages[0]);
  });
}

async function openBuilt(format: Format, t: SourceTree): Promise<ReadOnlyFs> {
  const b = await build(format, t);
  const src = new BytesSource(b.image, 'image');
  if (format === 'erofs') return openErofs(src);
  if (format === 'composefs') return openComposefs(src);
  return openRafs(src, { blobs: b.blob ? [new BytesSource(b.blob, b.blobId!)] : [] });
}

/** Names at every edge the checks draw, and names sorting around "." and "..". */
const EDGE_NAMES = [
  '-', '!', ' ', '.a', '..a', '...', '.-', '.\x01', 'a.', '\x01', '\xff', 'n'.repeat(NAME_MAX), '.'.repeat(NAME_MAX), '00', 'ff',
];

test('what validateTree accepts every writer builds and its own reader reads back in full (RAFS v6 included)', async () => {
  const long = symlinkOf(bytes('t'.repeat(PATH_MAX - 1)));
  const mk = (): SourceTree => {
    const kids: [string, SourceInode][] = EDGE_NAMES.map((n, i) => [n, i % 3 === 0 ? dir([['.b', file(bytes('q'))], ['-', dir([])]]) : file(bytes(`f${i}`))]);
    kids.push(['long-link', { ...long }]);
    return { root: dir([['sub', dir(kids)]]), notes: [] };
  };
  validateTree(mk());
  for (const f of FORMATS) {
    const fs = await openBuilt(f, mk());
    const snap = await snapshotFs(fs);
    // every edge name is there, and the 4095-byte target reads back whole
    const sub = [...snap.entries.keys()].filter((k) => /^sub\/[^/]+$/.test(Buffer.from(k, 'hex').toString('latin1')));
    assert.ok(sub.length >= EDGE_NAMES.length + 1, `${f}: ${sub.length} entries under /sub`);
    const link = snap.entries.get(hexOf('sub/long-link'));
    assert.equal(link?.target?.length, 2 * (PATH_MAX - 1), `${f}: the long symlink target`);
  }
});

test('RAFS v6 never writes what its reader rejects: each bad entry alone, each edge name alone', async () => {
  // the bad trees of above, and every edge name alone in a directory with "." and ".." around it
  const trees: { label: string; tree: () => SourceTree }[] = [
    ...BAD,
    ...EDGE_NAMES.map((n) => ({ label: JSON.stringify(n), tree: () => treeWith(n, () => file(bytes('e'))) })),
    ...EDGE_NAMES.map((n) => ({ label: `dir ${JSON.stringify(n)}`, tree: () => treeWith(n, () => dir([['..x', file(bytes('d'))]])) })),
  ];
  let built = 0;
  let refused = 0;
  for (const c of trees) {
    let verdict: FormatError | null = null;
    try {
      validateTree(c.tree());
    } catch (e) {
      assert.ok(e instanceof FormatError);
      verdict = e;
    }
    for (const f of ['rafs-v6', 'rafs-v5'] as Format[]) {
      if (verdict) {
        const e = await refusal(f, c.tree());
        assert.equal(e?.message, verdict.message, `${f} ${c.label}`);
        refused++;
      } else {
        // a reader failure here is the bug this test is for
        await snapshotFs(await openBuilt(f, c.tree()));
        built++;
      }
    }
  }
  assert.equal(refused, 2 * BAD.length);
  assert.equal(built, 2 * 2 * EDGE_NAMES.length);
});
