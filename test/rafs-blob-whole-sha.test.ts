// BlobWriter hands a WholeSha256Sink the SHA-256 of every byte it received (an OCI nydus layer's
// digest) from the hasher it keeps for the blob id, forked at the digest array: the blob id leaves
// that array out (§5.12), the whole-file digest does not. Both with our JS SHA-256 and with Node's
// (whose digest() ends the hasher: the writer must hand over a copy).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { useNativeSha256 } from '../src/lib/codec/sha256.ts';
import type { WholeSha256Sink } from '../src/lib/rafs/builder/blob.ts';
import { buildRafs } from '../src/lib/rafs/builder/build.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import type { RafsBuildOptions } from '../src/lib/rafs/builder/types.ts';
import { dir, file } from './rafs-build-helpers.ts';
import { prng, randomBytes } from './helpers/mktree.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

class CollectSink implements WholeSha256Sink {
  parts: Uint8Array[] = [];
  whole: string | null = null;
  calls = 0;
  write(b: Uint8Array): void { this.parts.push(b.slice()); }
  wholeSha256(h: { digest(): Uint8Array }): void {
    this.calls++;
    this.whole = Buffer.from(h.digest()).toString('hex');
  }
  bytes(): Uint8Array { return Buffer.concat(this.parts); }
}

/** [offset, size) of the digest array: the bytes before its reverse-tar header `blob.digest` (§5.8) */
function digestArray(blob: Uint8Array): [number, number] {
  const at = Buffer.from(blob).indexOf('blob.digest\0');
  assert.ok(at > 0, 'no blob.digest section header');
  const size = parseInt(Buffer.from(blob.subarray(at + 124, at + 135)).toString('latin1'), 8);
  return [at - size, size];
}

async function build(opts: RafsBuildOptions) {
  const rnd = prng(11);
  const tree = { root: dir([['a', file(randomBytes(rnd, 300_000))], ['b', file(randomBytes(rnd, 70_000))], ['e', file(new Uint8Array(0))]]), notes: [] };
  const blob = new CollectSink();
  const r = await buildRafs(tree, opts, { bootstrap: new MemorySink(), blob });
  return { r, blob, bytes: blob.bytes() };
}

for (const native of [false, true]) {
  test(`v6 blob with ToC and inlined bootstrap: whole-file digest and blob id (${native ? 'native' : 'JS'} SHA-256)`, async () => {
    if (native) (await import('../src/cli/native.ts')).registerNativeSha256();
    try {
      const { r, blob, bytes } = await build({ version: 6, compressor: 'zstd', digester: 'sha256', chunkSize: 64 * 1024, inlineBootstrap: true });
      assert.equal(blob.calls, 1);
      assert.equal(blob.whole, sha(bytes));
      const [off, size] = digestArray(bytes);
      assert.equal(size, 7 * 32); // 5 + 2 chunks of 64 KiB
      assert.equal(r.blobId, sha(Buffer.concat([bytes.subarray(0, off), bytes.subarray(off + size)])));
      assert.notEqual(r.blobId, blob.whole);
    } finally {
      useNativeSha256(null);
    }
  });
}

test('v5 blob (no digest array): the whole-file digest is the blob id', async () => {
  const { r, blob, bytes } = await build({ version: 5, compressor: 'none', digester: 'sha256', chunkSize: 64 * 1024 });
  assert.equal(blob.whole, sha(bytes));
  assert.equal(r.blobId, blob.whole);
});

test('no content: the writer writes nothing and hands over no hash', async () => {
  const blob = new CollectSink();
  const r = await buildRafs({ root: dir([['e', file(new Uint8Array(0))]]), notes: [] }, { version: 6, compressor: 'zstd', inlineBootstrap: true }, { bootstrap: new MemorySink(), blob });
  assert.equal(r.blobId, null);
  assert.equal(blob.calls, 0);
  assert.equal(blob.bytes().length, 0);
});
