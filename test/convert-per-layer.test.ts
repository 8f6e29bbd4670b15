// app/convert-per-layer.ts on its own (the CLI's files are test/erofs-tar-index.test.ts): a store in
// memory, as the page's tar output is one. Its tar of the pairs (archiveMember) extracts with GNU tar
// to the CLI's OUTDIR byte for byte; a cancel mid-way rejects with the abort and leaves no tar or
// image open; a layer blob that changed since the image was loaded is caught by its diff_id; the
// CLI's run does not keep the merged tree's file content.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, test } from 'node:test';
import { archiveEnd, archiveMember, convertPerLayer, type PerLayerStore } from '../src/lib/app/convert-per-layer.ts';
import { BytesSource, type ByteSource } from '../src/lib/io/source.ts';
import { OciError, type OciFiles } from '../src/lib/oci/index.ts';
import { loadOciPath, ociFiles } from '../src/cli/oci.ts';
import { appendLayer, makeTar, missingTools, newImage, repack, sh } from './helpers/oci.ts';
import { REPO, tempDir } from './helpers/paths.ts';

const skip = missingTools();
const CLI = join(REPO, 'bin/layerscope.mjs');
const work = skip ? '' : tempDir('ls-per-layer-');
let layout = '';
after(() => void (work && rmSync(work, { recursive: true, force: true })));

function image(): string {
  if (layout) return layout;
  layout = join(work, 'img');
  newImage(layout, 't');
  repack(layout, 't', work, (r) => sh('mkdir -p etc; printf hello > etc/a; head -c 7000 /dev/urandom > etc/r', r), 'one');
  appendLayer(layout, 't', makeTar([{ name: 'opt/x', size: 5000 }, { name: 'etc/.wh.a', text: '' }]), 'gzip', 'two');
  appendLayer(layout, 't', makeTar([{ name: 'h', text: 'h' }]), 'zstd', 'three');
  return layout;
}

/** a store in memory; `open` counts tars and images not yet ended / closed */
function memoryStore(): PerLayerStore & { files: Map<string, Uint8Array>; open: Set<string> } {
  const files = new Map<string, Uint8Array>();
  const open = new Set<string>();
  const keep = (name: string, parts: Uint8Array[]): Uint8Array => {
    const b = Buffer.concat(parts);
    files.set(name, b);
    open.delete(name);
    return b;
  };
  return {
    files, open,
    where: (name) => `mem:${name}`,
    async tar(name) {
      const parts: Uint8Array[] = [];
      open.add(name);
      return {
        write: (c) => void parts.push(c.slice()),
        end: async () => void keep(name, parts),
        source: async (): Promise<ByteSource> => new BytesSource(files.get(name)!, name),
      };
    },
    async image(name) {
      const parts: Uint8Array[] = [];
      open.add(name);
      return { write: (c) => void parts.push(c.slice()), close: () => void keep(name, parts) };
    },
  };
}

test('the pairs in memory, as one tar of archive members: GNU tar extracts the CLI\'s --per-layer OUTDIR byte for byte', { skip: skip ?? false }, async () => {
  const img = await loadOciPath(image(), {}, false);
  const store = memoryStore();
  const stages: string[] = [];
  const r = await convertPerLayer(img, await ociFiles(layout), store, { onProgress: (p) => void stages.push(`${p.stage}${p.layer}`) });
  assert.deepEqual(r.map((l) => [l.tar, l.erofs]), [0, 1, 2].map((i) => [`mem:layer-${i}.tar`, `mem:layer-${i}.erofs`]));
  assert.deepEqual([...new Set(stages)], ['layer0', 'layer1', 'layer2', 'done2']);
  const parts: Uint8Array[] = [];
  for (const [name, bytes] of store.files) {
    const m = archiveMember(name, bytes.length);
    parts.push(m.header, bytes, m.padding);
  }
  parts.push(archiveEnd());
  const tar = join(work, 'pairs.tar');
  writeFileSync(tar, Buffer.concat(parts));
  const x = join(work, 'x');
  mkdirSync(x);
  const t = spawnSync('tar', ['-xf', tar, '-C', x], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  const out = join(work, 'cli');
  const c = spawnSync(process.execPath, [CLI, 'convert', layout, '--to', 'erofs', '--per-layer', out], { encoding: 'utf8' });
  assert.equal(c.status, 0, c.stderr);
  const names = readdirSync(out).sort();
  assert.deepEqual(readdirSync(x).sort(), names);
  for (const n of names) assert.ok(readFileSync(join(x, n)).equals(readFileSync(join(out, n))), n);
  assert.equal(r[0]!.size, readFileSync(join(out, 'layer-0.erofs')).length);
});

test('a cancel mid-way rejects with the abort; every tar and image opened was ended', { skip: skip ?? false }, async () => {
  const img = await loadOciPath(image(), {}, false);
  const store = memoryStore();
  const ctl = new AbortController();
  await assert.rejects(
    convertPerLayer(img, await ociFiles(layout), store, { signal: ctl.signal, onProgress: (p) => { if (p.layer === 1 && p.bytes > 0) ctl.abort(new Error('cancelled here')); } }),
    /cancelled here/,
  );
  assert.deepEqual([...store.open], []);
  assert.ok(store.files.has('layer-1.tar') && !store.files.has('layer-2.tar'), [...store.files.keys()].join(' '));
});

test('convert --per-layer keeps none of the merged tree\'s file content: a layer file over 8 MiB needs no temporary spill file', { skip: skip ?? false }, () => {
  // loading the image with content kept a compressed layer's files of 8 MiB or less in memory (up
  // to 256 MiB) and spilled larger ones into a temporary file, none of it used: with TMPDIR
  // pointing nowhere that run failed in mkdtemp (ENOENT); peak RSS 380-408 MB -> 161-192 MB over
  // three umoci gzip layers of 297 MiB of tar (commit bd1afd2 and the next)
  const big = join(work, 'big');
  newImage(big, 't');
  appendLayer(big, 't', makeTar([{ name: 'big.bin', size: (8 << 20) + 1 }, { name: 'small', text: 's' }]), 'gzip', 'big');
  const out = join(work, 'big-out');
  const c = spawnSync(process.execPath, [CLI, 'convert', big, '--to', 'erofs', '--per-layer', out], { encoding: 'utf8', env: { ...process.env, TMPDIR: join(work, 'no-such-dir') } });
  assert.equal(c.status, 0, c.stderr);
  assert.deepEqual(readdirSync(out).sort(), ['layer-0.erofs', 'layer-0.tar']);
});

test('a layer blob changed since the image was loaded: refused by its diff_id, naming the layer', { skip: skip ?? false }, async () => {
  const img = await loadOciPath(image(), {}, false);
  const files = await ociFiles(layout);
  const l1 = img.layers[1]!.ref.path;
  // layer 1's blob swapped for another gzip of its tar, one byte changed: the same size, other bytes
  const blob = (await files.get(l1))!;
  const tar = gunzipSync(await blob.read(0, blob.size));
  tar[tar.length >> 1]! ^= 1;
  const changed = new BytesSource(gzipSync(tar), 'changed');
  const swapped: OciFiles = { name: files.name, get: async (p) => (p === l1 ? changed : files.get(p)) };
  const store = memoryStore();
  await assert.rejects(convertPerLayer(img, swapped, store), (e: Error) => e instanceof OciError && e.code === 'diff-id-mismatch' && /layer 1: its tar hashes to sha256:[0-9a-f]{64} this time, not sha256:/.test(e.message));
  assert.deepEqual([...store.open], []);
  assert.ok(store.files.has('layer-0.erofs') && !store.files.has('layer-1.erofs'));
});

test('a layer blob changed since the image was loaded into one that decompresses to more: stopped at the size it had, not written out', { skip: skip ?? false }, async () => {
  const img = await loadOciPath(image(), {}, false);
  const files = await ociFiles(layout);
  const l1 = img.layers[1]!;
  // layer 1's blob swapped for 32 MiB of zeros in gzip (32 KiB): no diff_id can fail before its end
  const bomb = new BytesSource(gzipSync(new Uint8Array(32 << 20)), 'bomb');
  const swapped: OciFiles = { name: files.name, get: async (p) => (p === l1.ref.path ? bomb : files.get(p)) };
  const store = memoryStore();
  await assert.rejects(convertPerLayer(img, swapped, store), (e: Error) => e instanceof OciError && e.code === 'too-large' && new RegExp(`layer 1: decompresses to more than the ${l1.uncompressedSize} bytes`).test(e.message));
  assert.deepEqual([...store.open], []);
  assert.ok(store.files.get('layer-1.tar')!.length <= l1.uncompressedSize, `${store.files.get('layer-1.tar')!.length} bytes written`);
});
