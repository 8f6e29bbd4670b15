import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from './helpers/paths.ts';
import { nydusBytes, nydusSource, RAFS } from './helpers/nydus.ts';
import { detectFormat, openImage } from '../src/lib/open.ts';
import '../src/lib/erofs/register.ts';
import '../src/lib/rafs/register.ts';
import { probeRafsV5, probeRafsV6 } from '../src/lib/rafs/index.ts';

const src = nydusSource;

test('register: openImage recognises RAFS v5 and v6 bootstraps by magic', async () => {
  const v5 = await openImage(src(RAFS.V5));
  assert.equal(v5.format, 'rafs-v5');
  const v6src = src(RAFS.V6);
  assert.equal((await detectFormat(v6src))?.id, 'rafs-v6');
  const v6 = await openImage(v6src, { blobs: [src(RAFS.V6_BLOB)] });
  assert.equal(v6.format, 'rafs-v6');
  assert.equal(v6.rootIno, 128);
  // plain EROFS is registered too (it would also accept this image): RAFS v6 must win
  assert.equal((await detectFormat(src(RAFS.V6)))?.id, 'rafs-v6');
});

test('register: probes refuse what is not RAFS (plain EROFS from mkfs.erofs, short or empty input)', { skip: spawnSync('mkfs.erofs', ['--help']).status === null && 'mkfs.erofs not installed' }, () => {
  const dir = tempDir('rafs-probe-');
  mkdirSync(join(dir, 'tree'));
  writeFileSync(join(dir, 'tree', 'f'), 'hello');
  const r = spawnSync('mkfs.erofs', [join(dir, 'img'), join(dir, 'tree')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const head = new Uint8Array(readFileSync(join(dir, 'img'))).subarray(0, 8192);
  assert.equal(head[1024], 0xe2); // it is EROFS
  assert.equal(probeRafsV6(head), false);
  assert.equal(probeRafsV5(head), false);
  assert.equal(probeRafsV6(new Uint8Array(0)), false);
  assert.equal(probeRafsV5(new Uint8Array(4)), false);
  const v6 = nydusBytes(RAFS.V6).subarray(0, 8192);
  assert.equal(probeRafsV6(v6), true);
  const noCompat = v6.slice();
  noCompat[1024 + 11] = 0; // clear the RAFS v6 compat bit
  assert.equal(probeRafsV6(noCompat), false);
});

test('describe: header and inode structures with absolute offsets', async () => {
  const { describeRafsHeader, describeRafsInode } = await import('../src/lib/rafs/describe.ts');
  const { openRafs } = await import('../src/lib/rafs/index.ts');
  const v5 = await openRafs(src(RAFS.V5));
  const h5 = await describeRafsHeader(v5) as Record<string, any>;
  assert.deepEqual(h5.superblock.find((f: { name: string }) => f.name === 's_blob_table_size'), { name: 's_blob_table_size', offset: 64, size: 4, kind: 'u32', value: 72, note: 'bytes, including the padding to 8' });
  assert.equal(h5.ext_blob_table[0].find((f: { name: string }) => f.name === 'compressed_size').offset, 8480 + 16);
  const i5 = await describeRafsInode(v5, 20);
  assert.equal(i5.chunks!.length, 2);
  assert.equal(i5.chunks![1]!.find((f) => f.name === 'file_offset')!.value, 1048576);
  const v6 = await openRafs(src(RAFS.V6));
  const h6 = await describeRafsHeader(v6) as Record<string, any>;
  assert.equal(h6.blobs[0].find((f: { name: string }) => f.name === 'ci_offset').value, 8314);
  assert.equal(h6.devices[0].find((f: { name: string }) => f.name === 'mapped_blkaddr').offset, 1408 + 68);
  const i6 = await describeRafsInode(v6, 133);
  assert.equal(i6.inode.find((f) => f.name === 'i_size')!.value, 16931);
  assert.equal(i6.inode[0]!.offset, 12448);
});
