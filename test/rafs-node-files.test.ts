// buildRafsToFiles (src/lib/rafs/builder/node.ts) runs the one RAFS layer loop (app/build-layers.ts
// buildRafsLayers) over files on disk: the same bytes as a build into memory, files named by blob
// id, and nothing left behind when the build fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { tempDir } from './helpers/paths.ts';
import { buildMem, randomTree } from './rafs-build-helpers.ts';
import { buildRafsToFiles } from '../src/lib/rafs/builder/node.ts';
import type { ByteSource } from '../src/lib/io/source.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('buildRafsToFiles writes the bytes a build into memory gives (v5 and v6, lz4 and none), the blob named by its id', async () => {
  for (const [version, compressor] of [[6, 'lz4_block'], [5, 'none'], [6, 'zstd']] as const) {
    const d = tempDir('ls-rafs-node-');
    try {
      const t = randomTree(7 + version, 0x10000, { files: 10 });
      const mem = await buildMem(randomTree(7 + version, 0x10000, { files: 10 }), { version, compressor, chunkSize: 0x10000 });
      const r = await buildRafsToFiles(t, { version, compressor, chunkSize: 0x10000 }, join(d, 'img.boot'), d);
      assert.equal(r.blobId, mem.result.blobId);
      assert.deepEqual(readdirSync(d).sort(), [r.blobId!, 'img.boot'].sort());
      assert.equal(r.blobPath, join(d, r.blobId!));
      assert.equal(sha(readFileSync(join(d, 'img.boot'))), sha(mem.boot), `v${version} ${compressor} bootstrap`);
      assert.equal(sha(readFileSync(r.blobPath!)), sha(mem.blob), `v${version} ${compressor} blob`);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }
});

test('buildRafsToFiles: a build whose read fails leaves neither the bootstrap nor a temporary blob', async () => {
  const d = tempDir('ls-rafs-node-fail-');
  try {
    const t = randomTree(3, 0x10000, { files: 6 });
    const stack = [t.root];
    let broken = false;
    while (stack.length && !broken) {
      const n = stack.pop()!;
      if (n.type === 'reg' && n.size > 0) {
        const bad: ByteSource = { size: n.size, name: 'bad', read: async () => { throw new Error('disk gone'); } };
        n.content = bad;
        broken = true;
      }
      for (const k of n.children ?? []) stack.push(k.inode);
    }
    assert.ok(broken);
    await assert.rejects(buildRafsToFiles(t, { chunkSize: 0x10000 }, join(d, 'img.boot'), d), /disk gone/);
    assert.deepEqual(readdirSync(d), []);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
