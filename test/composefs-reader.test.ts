import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FIXTURES } from './helpers/paths.ts';
import { openComposefs, probeComposefs } from '../src/lib/composefs/reader.ts';
import { parseDumpSync, writeDump } from '../src/lib/composefs/dump.ts';
import { buildComposefs } from '../src/lib/composefs/writer.ts';
import { objectsOf } from '../src/lib/composefs/objects.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { BytesSource, type ByteSource } from '../src/lib/io/source.ts';
import { detectFormat, openImage } from '../src/lib/open.ts';
import '../src/lib/erofs/register.ts';
import '../src/lib/composefs/register.ts';
import { NotFoundError } from '../src/lib/errors.ts';
import { resolvePath, readAll } from '../src/lib/fs/path.ts';
import { bytes, utf8 } from '../src/lib/fs/types.ts';
import { newDir, type SourceTree } from '../src/lib/fs/tree.ts';
import { fsverityDigest } from '../src/lib/codec/fsverity.ts';
import { hex } from '../src/lib/bytes.ts';

const GOLDEN = join(FIXTURES, 'composefs/golden');
const readAsset = (name: string): Uint8Array => gunzipSync(readFileSync(join(FIXTURES, 'composefs/assets', name)));
const goldens = readdirSync(GOLDEN).filter((n) => n.endsWith('.cfs'));

test('golden images are present', () => {
  assert.equal(goldens.length, 12);
});

for (const f of goldens) {
  test(`dump of ${f} equals composefs-info dump`, { timeout: 120_000 }, async () => {
    const img = readFileSync(join(GOLDEN, f));
    assert.ok(probeComposefs(img.subarray(0, 8192)));
    const fs = await openComposefs(new BytesSource(img, f));
    const dump = await writeDump(fs);
    const want = readFileSync(join(GOLDEN, f.replace(/\.cfs$/, '.info-dump.txt')));
    if (Buffer.compare(Buffer.from(dump), want) !== 0) {
      let k = 0;
      while (k < dump.length && dump[k] === want[k]) k++;
      assert.fail(`${f}: first difference at byte ${k}: ${JSON.stringify(Buffer.from(dump.subarray(k, k + 80)).toString('latin1'))} vs ${JSON.stringify(want.subarray(k, k + 80).toString('latin1'))}`);
    }
  });
}

test('cs9 image built from its dump reads back as the same dump', { timeout: 120_000 }, async () => {
  const text = readAsset('cs9-x86_64-minimal.dump.gz');
  const sink = new MemorySink();
  await buildComposefs(parseDumpSync(text, { strict: true }), {}, sink);
  const fs = await openComposefs(new BytesSource(sink.bytes()));
  assert.equal(Buffer.compare(Buffer.from(await writeDump(fs)), Buffer.from(text)), 0);
});

test('registered: openImage picks composefs over plain EROFS', async () => {
  const img = readFileSync(join(GOLDEN, 'special.cfs'));
  const src = new BytesSource(img, 'special.cfs');
  assert.equal((await detectFormat(src))?.id, 'composefs');
  const fs = await openImage(src);
  assert.equal(fs.format, 'composefs');
  const info = await fs.info();
  assert.deepEqual(info.composefs, { headerVersion: 1, formatVersion: 0, flags: 0, hasAcl: false });
});

test('whiteouts, stubs and internal xattrs are shown as composefs-info shows them', async () => {
  const fs = await openComposefs(new BytesSource(readFileSync(join(GOLDEN, 'special.cfs'))));
  const root = await fs.getattr(fs.rootIno);
  // the 256 stubs 00..ff are hidden
  const names = (await fs.readdir(root.ino)).map((e) => utf8(e.name));
  assert.ok(!names.includes('00') && !names.includes('ff'));
  assert.equal(await fs.lookup(root.ino, bytes('3f')), null);
  assert.ok(names.includes('whiteout'));
  // the user whiteout is a chardev 0:0 again
  const w = await resolvePath(fs, '/whiteout');
  assert.equal(w.type, 'chr');
  assert.equal(w.rdev, 0);
  // the root's opaque=y and whiteout markers are hidden; user xattrs stay
  assert.deepEqual((await fs.listxattr(root.ino)).map(utf8).sort(), ['trusted.foo1', 'user.foo2']);
  // trusted.overlay.* given by the user is escaped in the image and unescaped here
  const esc = await resolvePath(fs, '/escaped-xattr');
  assert.deepEqual(utf8((await fs.getxattr(esc.ino, bytes('trusted.overlay.redirect')))!), '/foo\n');
  const raw = (await fs.erofs.listxattr(esc.ino)).map(utf8);
  assert.ok(raw.includes('trusted.overlay.overlay.redirect'), raw.join(' '));
  // inline content is read from the image
  const inl = await resolvePath(fs, '/inline');
  assert.equal(utf8(await readAll(fs, inl.ino)), 'FOOBAR\nINAFILE\n');
});

/** a tree with two identical external files, one distinct, a small inline one */
function sampleTree(): { tree: SourceTree; big: Uint8Array; other: Uint8Array } {
  const root = newDir();
  const big = new Uint8Array(200_000).map((_, i) => (i * 31) & 0xff);
  const other = new Uint8Array(5000).fill(9);
  const file = (name: string, data: Uint8Array) => ({
    name: bytes(name),
    inode: { type: 'reg' as const, perm: 0o644, uid: 0, gid: 0, mtime: 1, mtimeNsec: 0, size: data.length, rdev: 0, xattrs: [], content: new BytesSource(data, name) },
  });
  root.children!.push(file('a', big), file('b', big), file('c', other), file('tiny', bytes('hi\n')));
  return { tree: { root, notes: [] }, big, other };
}

test('read() resolves backing objects through the object store; missing objects are listed', async () => {
  const { tree, big, other } = sampleTree();
  const sink = new MemorySink();
  await buildComposefs(tree, {}, sink);
  const objects = await objectsOf(tree);
  assert.equal(objects.length, 2, 'identical content is one object');
  const store = new Map<string, ByteSource>(objects.map((o) => [o.payload, o.content]));
  const fs = await openComposefs(new BytesSource(sink.bytes()), { objectStore: async (p) => store.get(p) ?? null });
  const a = await resolvePath(fs, '/a');
  assert.deepEqual(await readAll(fs, a.ino), big);
  assert.deepEqual(await fs.read(a.ino, 4095, 10), big.subarray(4095, 4105));
  assert.deepEqual(await readAll(fs, (await resolvePath(fs, '/c')).ino), other);
  assert.equal(utf8(await readAll(fs, (await resolvePath(fs, '/tiny')).ino)), 'hi\n');
  assert.deepEqual(await fs.missingObjects(), []);
  assert.deepEqual(await fs.objectPaths(), objects.map((o) => o.payload).sort());
  // payload paths are the fs-verity digests
  const d = await fsverityDigest(big);
  const digest = hex(d);
  assert.ok(objects.some((o) => o.payload === `${digest.slice(0, 2)}/${digest.slice(2)}`));
  const details = await fs.inodeDetails(a.ino);
  assert.deepEqual((details.composefs as { fsverityDigest: string }).fsverityDigest, digest);

  // without one of the objects
  const gone = objects[0]!.payload;
  const partial = await openComposefs(new BytesSource(sink.bytes()), { objectStore: async (p) => (p === gone ? null : store.get(p) ?? null) });
  assert.deepEqual(await partial.missingObjects(), [gone]);
  for (const name of ['/a', '/c']) {
    const ino = (await resolvePath(partial, name)).ino;
    const payload = ((await partial.inodeDetails(ino)).composefs as { payload: string }).payload;
    if (payload === gone) await assert.rejects(partial.read(ino, 0, 10), NotFoundError);
    else assert.equal((await partial.read(ino, 0, 10)).length, 10);
  }
  // no store at all
  const bare = await openComposefs(new BytesSource(sink.bytes()));
  await assert.rejects(bare.read(a.ino, 0, 1), NotFoundError);
  assert.equal((await bare.missingObjects()).length, 2);
});

test('at most 256 backing objects are open at once, and none is closed while a read holds it', async () => {
  // 600 files of distinct content, all external: one object each
  const root = newDir();
  const datas: Uint8Array[] = [];
  for (let k = 0; k < 600; k++) {
    const data = new Uint8Array(300 + k).map((_, i) => (i * (k + 7)) & 0xff);
    datas.push(data);
    root.children!.push({ name: bytes(`f${k}`), inode: { type: 'reg', perm: 0o644, uid: 0, gid: 0, mtime: 1, mtimeNsec: 0, size: data.length, rdev: 0, xattrs: [], content: new BytesSource(data) } });
  }
  const tree: SourceTree = { root, notes: [] };
  const sink = new MemorySink();
  await buildComposefs(tree, { inlineMax: 0 }, sink);
  const objects = new Map((await objectsOf(tree)).map((o) => [o.payload, o.content]));
  assert.equal(objects.size, 600);
  let open = 0;
  let most = 0;
  let closedWhileRead = 0;
  const reading = new Set<string>();
  const store = async (p: string): Promise<ByteSource | null> => {
    const inner = objects.get(p);
    if (!inner) return null;
    open++;
    most = Math.max(most, open);
    let closed = false;
    return {
      size: inner.size, name: p,
      async read(o, n) {
        reading.add(p);
        await new Promise((r) => setTimeout(r, 0));
        if (closed) closedWhileRead++;
        reading.delete(p);
        return inner.read(o, n);
      },
      async close() {
        if (reading.has(p)) closedWhileRead++;
        closed = true;
        open--;
      },
    };
  };
  const fs = await openComposefs(new BytesSource(sink.bytes()), { objectStore: store });
  // reads of many files at once, as the page makes them
  const entries = await fs.readdir(fs.rootIno);
  assert.equal(entries.length, 600);
  await Promise.all(entries.map(async (e) => {
    const k = Number(utf8(e.name).slice(1));
    assert.deepEqual(await fs.read(e.ino, 0, 1 << 20), datas[k]);
  }));
  // every read held its object (600 at once here); once they are done, the surplus is closed
  assert.ok(open <= 256, `${open} open after the reads`);
  assert.equal(closedWhileRead, 0);
  // planning every file (extract) and listing missing objects (check), one at a time, stay at the cap
  most = open;
  for (const e of entries) await fs.dataPlan(e.ino, 0, 1 << 20);
  assert.deepEqual(await fs.missingObjects(), []);
  assert.ok(most <= 257 && open <= 256, `${open} open at the end (${most} at most)`);
});

test('writeDump of a plain EROFS image parses back (generic ReadOnlyFs, inline content up to inlineMax)', async () => {
  const { buildErofs } = await import('../src/lib/erofs/writer.ts');
  const { openErofs } = await import('../src/lib/erofs/reader.ts');
  const root = newDir(0o755);
  root.mtime = 7;
  const f = (data: Uint8Array, x: { name: Uint8Array; value: Uint8Array }[] = []) => ({
    type: 'reg' as const, perm: 0o640, uid: 3, gid: 4, mtime: 7, mtimeNsec: 9, size: data.length, rdev: 0, xattrs: x, content: new BytesSource(data),
  });
  const small = f(bytes('a=b\n- \\x'), [{ name: bytes('user.k=1'), value: bytes('v v\n') }]);
  root.children!.push(
    { name: bytes('small'), inode: small },
    { name: bytes('same'), inode: small },
    { name: bytes('-'), inode: f(new Uint8Array(9000)) },
    { name: bytes('l'), inode: { type: 'symlink', perm: 0o777, uid: 0, gid: 0, mtime: 7, mtimeNsec: 0, size: 1, rdev: 0, xattrs: [], target: bytes('-') } },
  );
  const sink = new MemorySink();
  await buildErofs({ root, notes: [] }, { buildTime: 7 }, sink);
  const fs = await openErofs(new BytesSource(sink.bytes()));
  const text = await writeDump(fs, { inlineMax: 5000 });
  const lines = utf8(text).split('\n');
  assert.match(lines[1]!, /^\/- 9000 100640 1 3 4 0 7\.9 - - -$/);
  assert.match(lines[2]!, /^\/l 1 120777 1 0 0 0 7\.0 \\x2d - -$/);
  // '=' is escaped in xattrs only; content and payload escape a lone '-'
  assert.match(lines[3]!, /^\/same 8 100640 2 3 4 0 7\.9 - a=b\\n-\\x20\\\\x - user\.k\\x3d1=v\\x20v\\n$/);
  assert.match(lines[4]!, /^\/small 8 @100640 2 3 4 0 7\.9 \/same a=b\\n-\\x20\\\\x - user\.k\\x3d1=v\\x20v\\n$/);
  const back = parseDumpSync(text, { strict: true });
  const same = back.root.children!.find((c) => utf8(c.name) === 'same')!;
  assert.equal(back.root.children!.find((c) => utf8(c.name) === 'small')!.inode, same.inode);
  assert.deepEqual(await same.inode.content!.read(0, 8), bytes('a=b\n- \\x'));
  assert.deepEqual(same.inode.xattrs, [{ name: bytes('user.k=1'), value: bytes('v v\n') }]);
});
