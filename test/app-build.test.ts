// One build function under the page and the CLI (src/lib/app/build.ts): the page's build choice and
// the CLI's arguments for the same options give the same image bytes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildImage, choiceOptions } from '../src/lib/app/build.ts';
import { buildCommand, defaultChoice, mkfsCommand } from '../src/lib/app/build-choice.ts';
import { treeFromDirectory } from '../src/lib/fs/sources/node.ts';
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

test('compressed EROFS: the page choice, its `layerscope build` line and its `mkfs.erofs` line', async () => {
  const d = mkdtempSync(join(tmpdir(), 'layerscope-app-build-z-'));
  try {
    const src = join(d, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'text'), Buffer.from('layerscope compressed erofs '.repeat(3000)));
    writeFileSync(join(src, 'sub', 'ls'), readFileSync('/usr/bin/ls'));
    const c = defaultChoice();
    c.erofs = { ...c.erofs, uuid: '11111111-2222-3333-4444-555555555555', buildTime: 1_700_000_000, compression: 'lz4hc', level: 12, pclusterSize: 16384 };
    const cmd = buildCommand(c, [src], join(d, 'cli.erofs'));
    assert.equal(cmd, `layerscope build --format erofs -z lz4hc,12 -C 16384 --uuid 11111111-2222-3333-4444-555555555555 -T 1700000000 ${src} ${join(d, 'cli.erofs')}`);
    assert.equal(mkfsCommand(c, src, join(d, 'mkfs.erofs')), `mkfs.erofs -zlz4hc,12 -C16384 -T1700000000 -U11111111-2222-3333-4444-555555555555 ${join(d, 'mkfs.erofs')} ${src}`);
    // the page's options and the shown command line make the same bytes
    const page = memory();
    await buildImage(await treeFromDirectory(src), choiceOptions(c), { image: page });
    const r = spawnSync('sh', ['-c', cmd.replace(/^layerscope /, `'${process.execPath}' '${join(import.meta.dirname, '..', 'bin/layerscope.mjs')}' `)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readFileSync(join(d, 'cli.erofs')), Buffer.from(page.bytes()));
    // the mkfs line runs as shown with Debian's mkfs.erofs 1.5 and makes a compressed image
    const m = spawnSync('sh', ['-c', mkfsCommand(c, src, join(d, 'mkfs.erofs'))!], { encoding: 'utf8' });
    assert.equal(m.status, 0, m.stderr);
    assert.match(spawnSync('dump.erofs', ['--path=/text', join(d, 'mkfs.erofs')], { encoding: 'utf8' }).stdout, /Layout: 3/);
    // ztailpacking, fragments, dedupe, block size and chunk mode as each tool spells them
    c.erofs = { ...c.erofs, uuid: '', buildTime: null, level: null, pclusterSize: null, ztailpacking: true, fragments: true, zdedupe: true, blockSize: 16384 };
    assert.equal(buildCommand(c, ['S'], 'O'), 'layerscope build --format erofs -b 16384 -z lz4hc -E ztailpacking,fragments,dedupe S O');
    assert.equal(mkfsCommand(c, 'S', 'O'), 'mkfs.erofs -b16384 -zlz4hc -Eztailpacking,fragments,dedupe O S');
    assert.deepEqual(choiceOptions(c), { format: 'erofs', inlineData: true, blockSize: 16384, compression: { algorithm: 'lz4hc', ztailpacking: true, fragments: true, dedupe: true } });
    c.erofs = { ...defaultChoice().erofs, chunkSize: 65536, inlineData: false };
    assert.equal(mkfsCommand(c, 'S', 'O'), 'mkfs.erofs --chunksize=65536 -Enoinline_data O S');
    c.format = 'composefs';
    assert.equal(mkfsCommand(c, 'S', 'O'), null);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
