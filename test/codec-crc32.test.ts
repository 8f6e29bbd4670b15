import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { crc32 } from '../src/lib/codec/crc32.ts';
import { tempDir } from './helpers/paths.ts';

const enc = new TextEncoder();

function randomBytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24);
}

test('check value of CRC-32/ISO-HDLC: crc32("123456789") = 0xCBF43926', () => {
  assert.equal(crc32(enc.encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

const zlibCrc32 = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;

test('random inputs agree with node:zlib.crc32', { skip: zlibCrc32 ? false : 'node:zlib has no crc32 (Node < 20.15)' }, () => {
  for (const n of [1, 7, 8, 9, 15, 16, 17, 1000, 4096, 65537, 1 << 20]) {
    const d = randomBytes(n, n);
    assert.equal(crc32(d), zlibCrc32!(d), `len ${n}`);
    assert.equal(crc32(d.subarray(3)), zlibCrc32!(d.subarray(3)), `len ${n} at offset 3`);
  }
});

test('continuing over pieces equals one pass', () => {
  const d = randomBytes(10000, 99);
  for (const cut of [0, 1, 5, 8, 4096, 9999, 10000]) {
    assert.equal(crc32(d.subarray(cut), crc32(d.subarray(0, cut))), crc32(d), `cut at ${cut}`);
  }
});

test('equals the CRC in the trailer of `gzip -n` output', { skip: spawnSync('gzip', ['--version'], { stdio: 'ignore' }).status === 0 ? false : 'no gzip' }, () => {
  const dir = tempDir('ls-crc32-');
  for (const n of [0, 1, 100, 123457]) {
    const d = randomBytes(n, 7 + n);
    const file = join(dir, `f${n}`);
    writeFileSync(file, d);
    const gz = execFileSync('gzip', ['-n', '-c', file]);
    assert.equal(crc32(d), gz.readUInt32LE(gz.length - 8), `len ${n}`);
  }
});
