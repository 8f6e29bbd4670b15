import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { makedev } from '../src/lib/fs/types.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { openRafs } from '../src/lib/rafs/index.ts';
import { checkRafs } from '../src/lib/rafs/analyze.ts';
import { mergeRafs } from '../src/lib/rafs/builder/merge.ts';
import { buildMem, diffTree, dir, file, openBuilt, special, symlink, tree } from './rafs-build-helpers.ts';

const enc = new TextEncoder();
const txt = (s: string) => file(enc.encode(s));

function lower() {
  return tree(dir([
    ['etc', dir([['passwd', txt('root:x:0:0')], ['hosts', txt('127.0.0.1 localhost\n'.repeat(300))], ['gone', txt('bye')]])],
    ['opq', dir([['old1', txt('old one')], ['old2', txt('old two')], ['sub', dir([['deep', txt('deep')]])]])],
    ['ovl-opq', dir([['old', txt('old')]])],
    ['usr', dir([['bin', dir([['sh', txt('#!shell'.repeat(1000))]])]])],
    ['tobefile', dir([['x', txt('x')]])],
    ['link', symlink('etc/passwd')],
    ['ovl-gone', txt('removed by a char device')],
  ]));
}

function upper() {
  return tree(dir([
    ['etc', dir([['.wh.gone', txt('')], ['passwd', txt('root:x:0:0:new')], ['added', txt('new file')]], 0o750)],
    ['opq', dir([['.wh..wh..opq', txt('')], ['new', txt('fresh')]])],
    ['ovl-opq', dir([['mine', txt('mine')]], 0o755, { xattrs: [{ name: enc.encode('trusted.overlay.opaque'), value: enc.encode('y') }] })],
    ['tobefile', txt('now a file')],
    ['ovl-gone', special('chr', makedev(0, 0))],
    ['.wh.link', txt('')],
    ['newdir', dir([['.wh.nothing', txt('')], ['f', txt('f')]])],
  ]));
}

/** What the merged view must be. */
function expected() {
  return tree(dir([
    ['etc', dir([['passwd', txt('root:x:0:0:new')], ['hosts', txt('127.0.0.1 localhost\n'.repeat(300))], ['added', txt('new file')]], 0o750)],
    ['opq', dir([['new', txt('fresh')]])],
    ['ovl-opq', dir([['mine', txt('mine')]])],
    ['usr', dir([['bin', dir([['sh', txt('#!shell'.repeat(1000))]])]])],
    ['tobefile', txt('now a file')],
    ['newdir', dir([['f', txt('f')]])],
  ]));
}

for (const version of [6, 5] as const) {
  test(`v${version} upper layer onto a parent bootstrap: OCI and overlayfs whiteouts, opaque dirs; parent blobs referenced`, async () => {
    const lo = await buildMem(lower(), { version, chunkSize: 0x1000 });
    const parent = await openBuilt(lo, [{ id: lo.result.blobId!, bytes: lo.blob }]);
    const up = await buildMem(upper(), { version, chunkSize: 0x1000, parent });
    assert.deepEqual(up.result.blobIds, [lo.result.blobId, up.result.blobId]);
    const fs = await openBuilt(up, [{ id: lo.result.blobId!, bytes: lo.blob }, { id: up.result.blobId!, bytes: up.blob }]);
    const r = await checkRafs(fs);
    assert.equal(r.ok, true, JSON.stringify(r).slice(0, 2000));
    assert.deepEqual(await diffTree(expected(), fs, { dirMtime: false }), []);
    // unchanged files keep their chunks in the parent's blob; the new blob holds only new content
    const usr = (await fs.lookup(fs.rootIno, enc.encode('usr')))!;
    const bin = (await fs.lookup(usr.ino, enc.encode('bin')))!;
    const sh = (await fs.lookup(bin.ino, enc.encode('sh')))!;
    assert.ok((await fs.fileChunks(sh.ino)).every((c) => c.blobIndex === 0));
    assert.ok(up.blob.length < lo.blob.length + 2000);
  });

  test(`v${version} merge of three layer bootstraps equals applying them in order`, async () => {
    const l1 = await buildMem(lower(), { version, chunkSize: 0x1000 });
    const l2 = await buildMem(upper(), { version, chunkSize: 0x1000 });
    const l3 = await buildMem(tree(dir([['etc', dir([['.wh.added', txt('')]], 0o750)], ['top', txt('top layer')]])), { version, chunkSize: 0x1000 });
    const all = [l1, l2, l3];
    const blobs = all.map((b) => ({ id: b.result.blobId!, bytes: b.blob }));
    const layers = await Promise.all(all.map((b, i) => openBuilt(b, [blobs[i]!])));
    // the layer bootstraps keep their whiteouts as plain entries
    assert.ok(await layers[1]!.lookup(layers[1]!.rootIno, enc.encode('.wh.link')));
    const sink = new MemorySink();
    const m = await mergeRafs(layers, {}, sink);
    assert.deepEqual(m.blobIds, blobs.map((b) => b.id));
    const fs = await openRafs(new BytesSource(sink.bytes(), 'merged.boot'), { blobs: blobs.map((b) => new BytesSource(b.bytes, b.id)) });
    const r = await checkRafs(fs);
    assert.equal(r.ok, true, JSON.stringify(r).slice(0, 2000));
    const want = expected();
    const etc = want.root.children!.find((c) => new TextDecoder().decode(c.name) === 'etc')!;
    etc.inode.children = etc.inode.children!.filter((c) => new TextDecoder().decode(c.name) !== 'added');
    want.root.children!.push({ name: enc.encode('top'), inode: txt('top layer') });
    assert.deepEqual(await diffTree(want, fs, { dirMtime: false }), []);
  });
}

test('whiteoutSpec none keeps whiteout entries as files; oci ignores char 0:0', async () => {
  const lo = await buildMem(lower(), { chunkSize: 0x1000 });
  const parent = await openBuilt(lo, [{ id: lo.result.blobId!, bytes: lo.blob }]);
  const none = await buildMem(upper(), { chunkSize: 0x1000, parent, whiteoutSpec: 'none' });
  const fsNone = await openBuilt(none, [{ id: lo.result.blobId!, bytes: lo.blob }, { id: none.result.blobId!, bytes: none.blob }]);
  assert.ok(await fsNone.lookup(fsNone.rootIno, enc.encode('.wh.link')));
  assert.ok(await fsNone.lookup(fsNone.rootIno, enc.encode('link')));
  const oci = await buildMem(upper(), { chunkSize: 0x1000, parent, whiteoutSpec: 'oci' });
  const fsOci = await openBuilt(oci, [{ id: lo.result.blobId!, bytes: lo.blob }, { id: oci.result.blobId!, bytes: oci.blob }]);
  assert.equal((await fsOci.lookup(fsOci.rootIno, enc.encode('ovl-gone')))?.type, 'chr');
  assert.equal(await fsOci.lookup(fsOci.rootIno, enc.encode('link')), null);
});

test('a parent of another version or digester is refused', async () => {
  const lo = await buildMem(lower(), { version: 5, chunkSize: 0x1000 });
  const parent = await openBuilt(lo, [{ id: lo.result.blobId!, bytes: lo.blob }]);
  await assert.rejects(buildMem(upper(), { version: 6, chunkSize: 0x1000, parent }), /v5/);
  await assert.rejects(buildMem(upper(), { version: 5, chunkSize: 0x1000, digester: 'sha256', parent }), /digester/);
});
