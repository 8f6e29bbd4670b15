import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeStruct, describeStruct, encodeStruct, struct } from '../src/lib/struct.ts';

const demo = struct('demo', 24, [
  ['magic', 0, 4, 'u32'],
  ['kind', 4, 1, 'u8'],
  ['reserved', 5, 1, 'u8'],
  ['count', 6, 2, 'u16'],
  ['size', 8, 8, 'u64', 'bytes'],
  ['tag', 16, 8, 'bytes'],
] as const);

describe('struct tables', () => {
  it('decodes little-endian fields at their offsets', () => {
    const b = new Uint8Array(30);
    b.set([0xe2, 0xe1, 0xf5, 0xe0, 7, 0, 0x34, 0x12, 1, 0, 0, 0, 2, 0, 0, 0, 65, 66], 2);
    const v = decodeStruct(demo, b, 2);
    assert.equal(v.magic, 0xe0f5e1e2);
    assert.equal(v.kind, 7);
    assert.equal(v.count, 0x1234);
    assert.equal(v.size, 2 * 2 ** 32 + 1);
    assert.deepEqual([...v.tag.subarray(0, 2)], [65, 66]);
  });
  it('encode then decode gives the same values', () => {
    const out = new Uint8Array(24);
    encodeStruct(demo, { magic: 0xdeadbeef, kind: 3, count: 65535, size: 2 ** 40 + 5, tag: new Uint8Array([9, 8]) }, out);
    const v = decodeStruct(demo, out);
    assert.equal(v.magic, 0xdeadbeef);
    assert.equal(v.count, 65535);
    assert.equal(v.size, 2 ** 40 + 5);
    assert.equal(v.tag[1], 8);
  });
  it('describes fields with absolute offsets for the structure view', () => {
    const d = describeStruct(demo, new Uint8Array(24), 0, 1024);
    assert.deepEqual(d.map((f) => [f.name, f.offset, f.size]), [['magic', 1024, 4], ['kind', 1028, 1], ['reserved', 1029, 1], ['count', 1030, 2], ['size', 1032, 8], ['tag', 1040, 8]]);
    assert.equal(d[4]!.note, 'bytes');
  });
  it('refuses reads beyond the buffer and fields outside the struct', () => {
    assert.throws(() => decodeStruct(demo, new Uint8Array(23)), RangeError);
    assert.throws(() => struct('bad', 4, [['x', 2, 4, 'u32']] as const));
    assert.throws(() => struct('bad', 8, [['x', 0, 2, 'u32']] as const));
    // x fits, but bytes 4..7 belong to no field
    assert.throws(() => struct('bad', 8, [['x', 0, 4, 'u32']] as const), /bytes 4\.\.7 belong to no field/);
  });
});
