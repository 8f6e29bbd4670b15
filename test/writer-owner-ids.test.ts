// Owner ids a tar can carry but an image cannot hold (PAX uid 2^40, a base-256 negative gid): the
// writers refuse them as unsupported, naming the entry, instead of cutting them to 32 (or 16) bits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UnsupportedError } from '../src/lib/errors.ts';
import { build, dir, file, treeOf, type Format } from './helpers/craft.ts';
import { bytes } from '../src/lib/fs/types.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { openImage } from '../src/lib/open.ts';
import '../src/lib/formats.ts';

for (const format of ['erofs', 'composefs', 'rafs-v5', 'rafs-v6'] as Format[]) {
  for (const [what, ids] of [['uid 2^40', { uid: 2 ** 40 }], ['gid -5', { gid: -5 }], ['uid 2^32', { uid: 2 ** 32 }]] as const) {
    test(`${format}: an entry with ${what} is refused as unsupported, by name`, async () => {
      const tree = treeOf(dir([['ok', file(bytes('a'))], ['odd', { ...file(bytes('b')), ...ids }]]));
      await assert.rejects(build(format, tree), (e: unknown) => e instanceof UnsupportedError && /"\/odd"/.test(e.message) && /32 bits|0-4294967295/.test(e.message), String(format));
    });
  }
  test(`${format}: the largest 32-bit ids are kept`, async () => {
    const tree = treeOf(dir([['top', { ...file(bytes('c')), uid: 0xffffffff, gid: 0xfffffffe }]]));
    const fs = await openImage(new BytesSource((await build(format, tree)).image));
    const e = await fs.lookup(fs.rootIno, bytes('top'));
    assert.deepEqual([e?.uid, e?.gid], [0xffffffff, 0xfffffffe]);
  });
}
