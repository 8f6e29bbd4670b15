// One build function under the page and the CLI (src/lib/app/build.ts): the page's build choice and
// the CLI's arguments for the same options give the same image bytes.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildImage, choiceOptions } from '../src/lib/app/build.ts';
import { defaultChoice } from '../src/lib/app/build-choice.ts';
import type { Sink } from '../src/lib/erofs/writer-output.ts';
import { build } from '../src/cli/build.ts';
import { dir, file, treeOf } from './helpers/craft.ts';

const enc = new TextEncoder();
const tree = () => treeOf(dir([
  ['small', file(enc.encode('hi'))],
  ['big', file(enc.encode('layerscope '.repeat(1000)))],
  ['sub', dir([['again', file(enc.encode('layerscope '.repeat(1000)))]])],
]));

function memory(): Sink & { bytes(): Uint8Array } {
  const parts: Uint8Array[] = [];
  return { write(c: Uint8Array) { parts.push(c.slice()); }, bytes: () => Buffer.concat(parts) };
}

test('erofs, composefs and RAFS v6: the page choice and the CLI arguments build the same bytes', async () => {
  const d = mkdtempSync(join(tmpdir(), 'layerscope-app-build-'));
  try {
    const c = defaultChoice();
    c.erofs = { ...c.erofs, uuid: '11111111-2222-3333-4444-555555555555', buildTime: 1_700_000_000, chunkSize: 4096 };
    const e = memory();
    const pe = await buildImage(tree(), choiceOptions(c), { image: e });
    const ce = await build(tree(), { format: 'erofs', out: join(d, 'x.erofs'), uuid: '11111111-2222-3333-4444-555555555555', buildTime: 1_700_000_000, chunkSize: 4096 });
    assert.equal(pe.format, 'erofs');
    assert.equal(ce.size, e.bytes().length);
    assert.deepEqual(readFileSync(join(d, 'x.erofs')), Buffer.from(e.bytes()));

    c.format = 'composefs';
    const f = memory();
    const pc = await buildImage(tree(), choiceOptions(c, { objects: true }), { image: f });
    const cc = await build(tree(), { format: 'composefs', out: join(d, 'x.cfs'), minVersion: 0, maxVersion: 1, digestStore: join(d, 'objects') });
    assert.equal(pc.format === 'composefs' && pc.objects?.length, 1);
    assert.equal(cc.objects?.count, 1);
    assert.equal(pc.format === 'composefs' && pc.digest, cc.digest);
    assert.deepEqual(readFileSync(join(d, 'x.cfs')), Buffer.from(f.bytes()));

    c.format = 'rafs';
    const boot = memory(), blob = memory();
    const pr = await buildImage(tree(), choiceOptions(c), { bootstrap: boot, blob });
    const cr = await build(tree(), { format: 'rafs-v6', out: join(d, 'x.boot'), blobDir: join(d, 'blobs'), compressor: 'zstd', digester: 'blake3', chunkSize: 1 << 20 });
    assert.equal(pr.format === 'rafs' && pr.rafs.blobId, cr.blobId);
    assert.deepEqual(readdirSync(join(d, 'blobs')), [cr.blobId]);
    assert.deepEqual(readFileSync(join(d, 'x.boot')), Buffer.from(boot.bytes()));
    assert.deepEqual(readFileSync(join(d, 'blobs', cr.blobId as string)), Buffer.from(blob.bytes()));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
