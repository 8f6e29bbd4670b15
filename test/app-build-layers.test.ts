// The RAFS layer loop (src/lib/app/build-layers.ts) under the page's builder worker and the CLI:
// three tar layers (nydus' own all-entry-type.tar fixture, then two GNU tar layers with a whiteout,
// an opaque directory and content already stored below) built into a bootstrap chain with
// in-memory files; each layer's bytes equal `layerscope build --parent` run layer by layer, the top
// bootstrap reads back as the layers applied in order, and a failing layer leaves no file behind.
// The worker's adapter (workers/builder.ts) runs here too, over an in-memory directory handle.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { applyLayers, choiceOptions } from '../src/lib/app/build.ts';
import { resolveChain } from '../src/lib/app/browse.ts';
import { buildRafsLayers, blobTempName, rafsBootstrapNames, type LayerFiles, type OutputFile } from '../src/lib/app/build-layers.ts';
import { defaultChoice } from '../src/lib/app/build-choice.ts';
import { zipObjects } from '../src/lib/app/object-store.ts';
import { BlobFile } from '../src/lib/app/blob-file.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { treeFromTar } from '../src/lib/fs/sources/tar.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { checkRafs } from '../src/lib/rafs/analyze.ts';
import { api } from '../workers/builder.ts';
import { MemoryDirHandle } from './helpers/memory-dir-handle.ts';
import { diffTree, openBuilt } from './rafs-build-helpers.ts';
import { dir, file, treeOf } from './helpers/craft.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'layerscope.mjs');
const L1 = '/work/shared/fixtures/nydus/tests/texture/tar/all-entry-type.tar';
const work = mkdtempSync(join(tmpdir(), 'layerscope-build-layers-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** a layer tar made by GNU tar from `files` (fixed order, mtime and owners) */
function gnuTar(name: string, files: Record<string, string | Uint8Array>): string {
  const d = join(work, name);
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(d, p, '..'), { recursive: true });
    writeFileSync(join(d, p), c);
  }
  const t = join(work, `${name}.tar`);
  execFileSync('tar', ['--sort=name', '--mtime=@1700000000', '--owner=0', '--group=0', '--numeric-owner', '-cf', t, '-C', d, '.']);
  return t;
}
const big = new Uint8Array(300_000).map((_, i) => (i * 7919) % 251);
const L2 = gnuTar('l2', { 'tar/dir2/.wh.symlink1.txt': '', 'tar/new/big.bin': big, 'tar/new/small': 'small\n' });
const L3 = gnuTar('l3', { 'tar/again/big.bin': big, 'tar/new/.wh..wh..opq': '', 'tar/new/other': 'other\n' });
const tars = [L1, L2, L3];
const treeOfTar = (p: string) => treeFromTar(new BytesSource(new Uint8Array(readFileSync(p)), p.split('/').pop()!));

/** Files in memory, by name; every call is logged. */
class MemFile extends MemorySink implements OutputFile {
  closed = false;
  aborted = false;
  constructor(public name: string) { super(); }
  close(): void { this.closed = true; }
  abort(): void { this.aborted = true; }
}
function memoryFiles(): LayerFiles<MemFile> & { files: Map<string, MemFile>; log: string[] } {
  const files = new Map<string, MemFile>();
  const log: string[] = [];
  const open = (name: string) => {
    log.push(`open ${name}`);
    const f = new MemFile(name);
    files.set(name, f);
    return f;
  };
  return {
    files, log,
    bootstrap: open,
    blob: open,
    keep(f, id) {
      log.push(`keep ${f.name} as ${id}`);
      assert.ok(f.closed, 'a blob is kept once closed');
      files.delete(f.name);
      f.name = id;
      files.set(id, f);
    },
    remove(f) {
      log.push(`remove ${f.name}`);
      files.delete(f.name);
    },
    read(f) {
      assert.ok(f.closed, 'a bootstrap is read back once closed');
      return new BytesSource(f.bytes(), f.name);
    },
  };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const rafsChoice = () => {
  const c = defaultChoice();
  c.format = 'rafs';
  c.rafs.chunkSize = 0x10000;
  c.rafs.compressor = 'lz4_block';
  return c;
};

test('three tar layers → a RAFS v6 bootstrap chain: each layer as `layerscope build --parent`, the top reads back as the layers applied', async () => {
  const opts = choiceOptions(rafsChoice());
  assert.equal(opts.format, 'rafs');
  if (opts.format !== 'rafs') return;
  const names = rafsBootstrapNames('img', 3);
  assert.deepEqual(names, ['img.layer1.boot', 'img.layer2.boot', 'img.layer3.boot']);
  const mem = memoryFiles();
  const built = await buildRafsLayers(await Promise.all(tars.map(async (t, i) => ({ tree: await treeOfTar(t), label: t, bootstrapName: names[i]! }))), opts, mem);

  // the CLI, one layer at a time, each onto the bootstrap it wrote before
  const out = join(work, 'cli');
  mkdirSync(out);
  for (let i = 0; i < 3; i++) {
    execFileSync(process.execPath, [CLI, 'build', '--format', 'rafs-v6', '--compressor', 'lz4_block', '--chunk-size', '65536', tars[i]!, join(out, `l${i + 1}.boot`), '--blob-dir', out,
      ...(i ? ['--parent', join(out, `l${i}.boot`)] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  for (let i = 0; i < 3; i++) {
    const b = built[i]!;
    assert.equal(sha(b.bootstrap.bytes()), sha(readFileSync(join(out, `l${i + 1}.boot`))), `layer ${i + 1}: bootstrap as the CLI's`);
    assert.ok(b.blob, `layer ${i + 1} stores chunks`);
    assert.equal(sha(b.blob.bytes()), sha(readFileSync(join(out, b.output.blobId!))), `layer ${i + 1}: blob as the CLI's`);
    assert.equal(b.output.bootstrapName, names[i]);
  }
  // every blob named by its id, no temporary left; the blob table grows layer by layer
  const ids = built.map((b) => b.output.blobId!);
  assert.deepEqual([...mem.files.keys()].sort(), [...names, ...ids].sort());
  assert.deepEqual(built.map((b) => b.output.blobIds), [ids.slice(0, 1), ids.slice(0, 2), ids]);
  assert.deepEqual(mem.log.filter((l) => l.startsWith('keep')), names.map((n, i) => `keep ${blobTempName(n)} as ${ids[i]}`));
  // layer 3's big.bin is layer 2's content: its chunks stay in layer 2's blob
  assert.ok(built[2]!.output.chunksFromOtherBlobs > 0);

  const fs = await openBuilt({ boot: built[2]!.bootstrap.bytes() }, built.map((b) => ({ id: b.output.blobId!, bytes: b.blob!.bytes() })));
  const r = await checkRafs(fs);
  assert.equal(r.ok, true, JSON.stringify(r).slice(0, 1000));
  const merged = applyLayers(await Promise.all(tars.map(treeOfTar)));
  assert.deepEqual(await diffTree(merged, fs, { dirMtime: false }), []);
  // the layers' own changes, spelled out: layer 2's whiteout, layer 3's opaque directory
  const exists = (p: string) => resolveChain(fs, p).then(() => true, () => false);
  assert.deepEqual(await Promise.all(['/tar/dir2/symlink1.txt', '/tar/dir2/hardlink3.txt', '/tar/new/small', '/tar/new/other', '/tar/again/big.bin'].map(exists)), [false, true, false, true, true]);
});

test('a layer storing no chunk keeps no blob; a failing layer leaves none of its files, the layers below stay', async () => {
  const opts = choiceOptions(rafsChoice());
  if (opts.format !== 'rafs') throw new Error('rafs options expected');
  const enc = new TextEncoder();
  const onlyWhiteout = treeOf(dir([['tar', dir([['.wh.dir2', file(new Uint8Array(0))]])]]));
  // a name holding '/' is refused by validateTree before any byte is written
  const bad = treeOf(dir([['a/b', file(enc.encode('x'))]]));
  const mem = memoryFiles();
  const names = rafsBootstrapNames('img', 3);
  await assert.rejects(
    buildRafsLayers([
      { tree: await treeOfTar(L1), label: 'l1', bootstrapName: names[0]! },
      { tree: onlyWhiteout, label: 'wh', bootstrapName: names[1]! },
      { tree: bad, label: 'bad', bootstrapName: names[2]! },
    ], opts, mem),
    /a\/b/,
  );
  const id1 = [...mem.files.keys()].find((n) => /^[0-9a-f]{64}$/.test(n));
  assert.ok(id1);
  assert.deepEqual([...mem.files.keys()].sort(), [id1, 'img.layer1.boot', 'img.layer2.boot'].sort());
  assert.ok(mem.log.includes(`remove ${blobTempName('img.layer2.boot')}`), 'the empty blob of layer 2 is removed');
  assert.ok(mem.log.includes('remove img.layer3.boot') && mem.log.includes(`remove ${blobTempName('img.layer3.boot')}`), mem.log.join('\n'));
});

test('builder worker over an in-memory folder handle (with and without FileSystemFileHandle.move): the bytes of the Blob downloads', async () => {
  const ids: number[] = [];
  for (const t of tars) ids.push((await api.load({ kind: 'file', file: new File([readFileSync(t)], t.split('/').pop()!) })).id);
  const req = (image: Parameters<typeof api.build>[0]['image']) => ({ layers: ids, choice: rafsChoice(), image, objects: { kind: 'none' } as const, rafsName: 'img.boot' });
  const viaBlob = await api.build(req({ kind: 'blob' }), () => {});
  assert.deepEqual(viaBlob.notes, ['3 layers, each built onto the previous one\'s bootstrap as its parent']);
  const want = new Map<string, string>();
  for (const o of viaBlob.rafs!) {
    want.set(o.bootstrapName, sha(new Uint8Array(await o.bootstrap!.arrayBuffer())));
    want.set(o.blobId!, sha(new Uint8Array(await o.blob!.arrayBuffer())));
  }
  assert.equal(want.size, 6);
  for (const move of [false, true]) {
    const d = new MemoryDirHandle('out', move);
    const r = await api.build(req({ kind: 'dir', handle: d as unknown as FileSystemDirectoryHandle }), () => {});
    assert.equal(r.rafs!.length, 3);
    assert.ok(r.rafs!.every((o) => !o.bootstrap && !o.blob), 'files in a folder are not sent back as Blobs');
    assert.deepEqual(new Map([...d.files()].map(([k, v]) => [k, sha(v)])), want, `move: ${move}`);
  }
});

test('composefs objects: the zip holds each object under its payload path (unzip), the folder store as `fsverity digest` names it', async () => {
  const id = (await api.load({ kind: 'file', file: new File([readFileSync(L2)], 'l2.tar') })).id;
  const c = defaultChoice();
  c.format = 'composefs';
  const zipped = await api.build({ layers: [id], choice: c, image: { kind: 'blob' }, objects: { kind: 'zip' } }, () => {});
  const z = join(work, 'objects.zip');
  writeFileSync(z, new Uint8Array(await zipped.objects!.zip!.arrayBuffer()));
  const listed = execFileSync('python3', ['-c', 'import sys,zipfile;[print(i.filename, i.file_size, i.compress_type) for i in zipfile.ZipFile(sys.argv[1]).infolist()]', z], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(listed.length, 1);
  const [payload, size, method] = listed[0]!.split(' ');
  assert.equal(Number(size), big.length);
  assert.equal(method, '0', 'stored, not deflated');
  execFileSync('python3', ['-c', 'import sys,zipfile;zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', z, join(work, 'unzipped')]);
  assert.deepEqual(new Uint8Array(readFileSync(join(work, 'unzipped', payload!))), big);
  const digest = execFileSync('fsverity', ['digest', join(work, 'unzipped', payload!)], { encoding: 'utf8' }).split(' ')[0]!.replace(/^sha256:/, '');
  assert.equal(payload, `${digest.slice(0, 2)}/${digest.slice(2)}`);

  const store = new MemoryDirHandle('objects');
  const r = await api.build({ layers: [id], choice: c, image: { kind: 'blob' }, objects: { kind: 'dir', handle: store as unknown as FileSystemDirectoryHandle } }, () => {});
  assert.deepEqual(r.objects, { count: 1, bytes: big.length, written: 1 });
  assert.deepEqual([...store.files().keys()], [payload]);
  assert.deepEqual(store.files().get(payload!), big);
  // an object already stored with its size is kept
  const again = await api.build({ layers: [id], choice: c, image: { kind: 'blob' }, objects: { kind: 'dir', handle: store as unknown as FileSystemDirectoryHandle } }, () => {});
  assert.equal(again.objects!.written, 0);

  // zipObjects into any sink: the same bytes as the worker's Blob
  const sink = new MemorySink();
  await zipObjects([{ payload: payload!, content: new BytesSource(big), size: big.length }], sink);
  assert.equal(sha(sink.bytes()), sha(readFileSync(z)));
});

test('BlobFile: parts folded into the Blob as they come keep their order; a cancelled build stops at the next write', async () => {
  const ctl = new AbortController();
  const f = new BlobFile('x', { signal: ctl.signal, foldAt: 5, type: 'application/zip' });
  const enc = new TextEncoder();
  for (const s of ['abc', 'defg', 'h', 'ijklmnop', 'q']) f.write(enc.encode(s));
  const b = f.finish();
  assert.equal(b.type, 'application/zip');
  assert.equal(await b.text(), 'abcdefghijklmnopq');
  ctl.abort();
  assert.throws(() => f.write(enc.encode('r')), { name: 'AbortError' });
});

test('builder worker: a RAFS build cancelled before its first write leaves nothing in the folder, and the next build works', async () => {
  const id = (await api.load({ kind: 'file', file: new File([readFileSync(L2)], 'l2.tar') })).id;
  const d = new MemoryDirHandle('out', true);
  const req = { layers: [id], choice: rafsChoice(), image: { kind: 'dir' as const, handle: d as unknown as FileSystemDirectoryHandle }, objects: { kind: 'none' } as const, rafsName: 'img.boot' };
  // build() runs until its first await (opening the bootstrap file), so the cancel lands before any byte is written
  const run = api.build(req, () => {});
  assert.equal(api.cancel(), true);
  await assert.rejects(run, { name: 'AbortError', message: 'The build was cancelled' });
  assert.deepEqual([...d.files().keys()], []);
  const r = await api.build(req, () => {});
  assert.deepEqual([...d.files().keys()].sort(), ['img.boot', r.rafs![0]!.blobId!].sort());
});
