// The page's composefs hashing moved off the builder worker's thread (workers/verity-pool.ts):
// the synchronous streamed digest those workers run, the offload hook of a build (its digests are
// the image's, its failure is the build's), and the objects zip's CRC-32 (ours instead of fflate's).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import { fsverityDigestOfReads, fsverityDigestSync } from '../src/lib/codec/fsverity.ts';
import { runBuild, type BuildIo } from '../src/lib/app/build-job.ts';
import { defaultChoice } from '../src/lib/app/build-choice.ts';
import { BlobFile } from '../src/lib/app/blob-file.ts';
import { zipObjects } from '../src/lib/app/object-store.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { treeFromBrowserItems } from '../src/lib/fs/sources/browser.ts';
import { streamBlobContents } from '../src/lib/app/stream-source.ts';
import { hex } from '../src/lib/bytes.ts';
import { tempDir } from './helpers/paths.ts';

function fill(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x;
  }
  return out;
}

const noFsverity = spawnSync('fsverity', ['--version'], { stdio: 'ignore' }).status === 0 ? false : 'fsverity (fsverity-utils) not installed';

test('fsverityDigestOfReads (the hashing workers\' digest) equals `fsverity digest` at block edges, for any read size', { skip: noFsverity }, () => {
  const dir = tempDir('verity-reads');
  for (const size of [1, 4095, 4096, 4097, 128 * 4096, 128 * 4096 + 1, (1 << 20) + 5000]) {
    const data = fill(size, size);
    const f = join(dir, `f${size}`);
    writeFileSync(f, data);
    const want = /^sha256:([0-9a-f]{64}) /.exec(execFileSync('fsverity', ['digest', f], { encoding: 'utf8' }))![1]!;
    for (const piece of [4096, 3 * 4096, 1 << 20, 4 << 20]) {
      const reads: number[] = [];
      const got = fsverityDigestOfReads(size, (o, n) => (reads.push(n), data.subarray(o, o + n)), piece);
      assert.equal(hex(got), want, `size ${size}, reads of ${piece}`);
      assert.ok(reads.every((n) => n <= piece), 'never reads more than asked');
    }
  }
  assert.throws(() => fsverityDigestOfReads(10, (o, n) => new Uint8Array(n), 1000), RangeError);
  assert.throws(() => fsverityDigestOfReads(5000, (o, n) => new Uint8Array(n - 1), 4096), /short read/);
});

function droppedTree(files: Record<string, Uint8Array>) {
  const tree = treeFromBrowserItems(Object.entries(files).map(([path, b]) => ({ kind: 'file' as const, path, file: new Blob([b as Uint8Array<ArrayBuffer>]), lastModified: 1_700_000_000_000 })), { via: 'drop' });
  streamBlobContents(tree.root);
  return tree;
}

const FILES = { 'a/big': fill(300_000, 1), 'a/small': fill(5000, 2), 'b/tiny': fill(10, 3), 'b/same': fill(300_000, 1), 'empty': new Uint8Array(0) };

async function build(verity?: BuildIo<BlobFile>['verity']) {
  const ctl = new AbortController();
  const c = defaultChoice();
  c.format = 'composefs';
  let bytes = 0;
  const io: BuildIo<BlobFile> = {
    image: () => new BlobFile('image', { signal: ctl.signal }),
    readImage: async () => null,
    layers: null as unknown as BuildIo<BlobFile>['layers'],
    objects: { kind: 'none' },
    ...(verity ? { verity } : {}),
  };
  const tree = droppedTree(FILES);
  const r = await runBuild({ layers: [{ tree, label: 'drop', givenDigests: new Set() }], choice: c, signal: ctl.signal, onProgress: (p) => void (bytes = p.bytes), originals: new WeakMap() }, io);
  return { r, image: new Uint8Array(await r.image!.finish().arrayBuffer()), bytes };
}

test('a composefs build with its hashing offloaded writes the same image; every non-inline file went to the offload and counts in the progress', async () => {
  const plain = await build();
  const asked: number[] = [];
  const off = await build(async (blob, _signal, onRead) => {
    asked.push(blob.size);
    onRead(blob.size >> 1); // a hashing worker's report half way
    return fsverityDigestSync(new Uint8Array(await blob.arrayBuffer()));
  });
  assert.equal(createHash('sha256').update(off.image).digest('hex'), createHash('sha256').update(plain.image).digest('hex'));
  assert.equal(off.r.digest, plain.r.digest);
  // files over the 64-byte inline limit: big, small, same (10 bytes and the empty file stay inline)
  assert.deepEqual(asked.sort((a, b) => a - b), [5000, 300_000, 300_000]);
  // progress: the offloaded files once each (half-way reports not counted twice) and the inline file the writer read
  assert.equal(off.bytes, 300_000 + 5000 + 300_000 + 10);

  // a wrong digest from the offload is what the image gets (so the e2e equality with the CLI checks the pool)
  const wrong = await build(async () => new Uint8Array(32).fill(7));
  assert.notEqual(wrong.r.digest, plain.r.digest);
  // and its failure is the build's
  await assert.rejects(build(async () => { throw new Error('worker gone'); }), /worker gone/);
});

test('zipObjects: every entry\'s CRC-32 checks out (python zipfile.testzip), across 4 MiB pieces and for empty objects', async () => {
  const objs = [fill(0, 1), fill(1, 2), fill((4 << 20) + 3, 3), fill(70_000, 4)].map((b, i) => ({ payload: `0${i}/x${i}`, content: new BytesSource(b), size: b.length, b }));
  const sink = new MemorySink();
  await zipObjects(objs, sink);
  const z = join(tempDir('verity-zip'), 'o.zip');
  writeFileSync(z, sink.bytes());
  const out = execFileSync('python3', ['-c', 'import sys,zipfile;z=zipfile.ZipFile(sys.argv[1]);print(z.testzip());[print(i.filename,i.CRC) for i in z.infolist()]', z], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(out[0], 'None', 'testzip found no bad CRC');
  const { crc32 } = await import('node:zlib') as unknown as { crc32?: (b: Uint8Array) => number };
  for (const [i, o] of objs.entries()) {
    const [name, crc] = out[i + 1]!.split(' ');
    assert.equal(name, o.payload);
    if (crc32) assert.equal(Number(crc), crc32(o.b));
  }
});
