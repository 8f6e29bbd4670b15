import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, crc32cRaw } from '../src/lib/codec/crc32c.ts';

const ascii = (s: string) => new TextEncoder().encode(s);

// Bit-at-a-time reference, independent of the table code.
function slowRaw(seed: number, data: Uint8Array): number {
  let c = seed >>> 0;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return c >>> 0;
}

test('crc32c: check value and RFC 3720 (iSCSI) vectors', () => {
  assert.equal(crc32c(ascii('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  const pdu = Uint8Array.from([
    0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0x14,
    0, 0, 0, 0x18, 0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0,
  ]);
  assert.equal(crc32c(pdu), 0xd9963a56);
});

test('crc32c: raw form has no final xor and matches a bitwise reference at every length/alignment', () => {
  let x = 12345;
  const data = Uint8Array.from({ length: 300 }, () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
  for (let start = 0; start < 9; start++) {
    for (let len = 0; len < 200; len += 7) {
      const d = data.subarray(start, start + len);
      assert.equal(crc32cRaw(0xffffffff, d), slowRaw(0xffffffff, d), `raw start ${start} len ${len}`);
      assert.equal(crc32cRaw(0x1234, d), slowRaw(0x1234, d));
      assert.equal(crc32c(d), (slowRaw(0xffffffff, d) ^ 0xffffffff) >>> 0);
    }
  }
  assert.equal(crc32cRaw(0xffffffff, ascii('123456789')), (0xe3069283 ^ 0xffffffff) >>> 0);
});

test('crc32c: continues over pieces', () => {
  const a = ascii('hello, ');
  const b = ascii('world and more bytes to cross the 8-byte step');
  const ab = new Uint8Array([...a, ...b]);
  assert.equal(crc32c(b, crc32c(a)), crc32c(ab));
  assert.equal(crc32cRaw(crc32cRaw(7, a), b), crc32cRaw(7, ab));
});
