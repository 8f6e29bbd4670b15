import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { xxh32 } from '../src/lib/codec/xxh32.ts';
import { tempDir } from './helpers/paths.ts';
import { hex } from '../src/lib/bytes.ts';

const enc = new TextEncoder();
const pat = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
const EROFS_SEED = 0x25bbe08f;

/**
 * Expected values computed once (2026-11) with Debian's python3-xxhash 3.2.0 on libxxhash 0.8.1:
 * `xxhash.xxh32_intdigest(data, seed)`; the first three are also the xxHash reference values
 * (`printf abc | xxhsum -H0` prints 32d153ff).
 */
const RECORDED: [Uint8Array, number, number][] = [
  [enc.encode(''), 0, 0x02cc5d05],
  [enc.encode('a'), 0, 0x550d7456],
  [enc.encode('abc'), 0, 0x32d153ff],
  [enc.encode(''), 1, 0x0b2cb792],
  [enc.encode('abc'), EROFS_SEED, 0x61c300aa],
  [enc.encode('Nobody inspects the spammish repetition'), 0, 0xe2293b2f],
  [enc.encode('Nobody inspects the spammish repetition'), 0xffffffff, 0xe26fe6cd],
  [pat(3), 0, 0xaca17380], [pat(3), EROFS_SEED + 6, 0xcd250976],
  [pat(4), 0, 0x073faa82], [pat(4), EROFS_SEED + 6, 0xe969cbed],
  [pat(15), 0, 0x9f29f87b], [pat(15), EROFS_SEED + 6, 0x1debae83],
  [pat(16), 0, 0x3f6c9665], [pat(16), EROFS_SEED + 6, 0x765563b6],
  [pat(17), 0, 0xe048ecdb], [pat(17), EROFS_SEED + 6, 0x767e9364],
  [pat(31), 0, 0x00f1525c], [pat(31), EROFS_SEED + 6, 0x0dec1abc],
  [pat(32), 0, 0xee42e668], [pat(32), EROFS_SEED + 6, 0x2b9dc211],
  [pat(33), 0, 0x770b5126], [pat(33), EROFS_SEED + 6, 0x116a82df],
  [pat(100), 0, 0x75936eb8], [pat(100), EROFS_SEED + 6, 0xd275577b],
  [pat(1000), 0, 0xa793e7c7], [pat(1000), EROFS_SEED + 6, 0x355e46ad],
];

test('recorded XXH32 values (python3-xxhash / xxhsum), every length class and seed', () => {
  for (const [data, seed, expected] of RECORDED) {
    assert.equal(xxh32(data, seed), expected, `len ${data.length} seed ${seed.toString(16)}`);
  }
});

test('result is unsigned and does not depend on the view offset', () => {
  const buf = pat(1003);
  for (const off of [0, 1, 2, 3]) {
    const view = buf.subarray(off);
    assert.equal(xxh32(view, 5), xxh32(new Uint8Array(view), 5));
  }
  assert.ok(xxh32(enc.encode('a')) > 0);
  assert.equal(xxh32(enc.encode('abc'), EROFS_SEED + 2 ** 32), xxh32(enc.encode('abc'), EROFS_SEED), 'seed is taken modulo 2^32');
});

// Live cross-check against the system library, when Debian's python3-xxhash is installed.
const PY = '/usr/bin/python3';
const hasPyXxhash = spawnSync(PY, ['-c', 'import xxhash'], { stdio: 'ignore' }).status === 0;

test('random inputs and seeds agree with python3-xxhash', { skip: hasPyXxhash ? false : 'python3-xxhash not installed (apt-get install python3-xxhash)' }, () => {
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const cases = Array.from({ length: 200 }, (_, i) => {
    const len = i < 40 ? i : (rand() * 5000) | 0;
    return { data: Uint8Array.from({ length: len }, () => (rand() * 256) | 0), seed: i % 3 === 0 ? 0 : (rand() * 2 ** 32) >>> 0 };
  });
  const dir = tempDir('ls-xxh32-');
  const file = join(dir, 'cases.json');
  writeFileSync(file, JSON.stringify(cases.map((c) => [hex(c.data), c.seed])));
  const script = 'import json,sys,xxhash\nprint(json.dumps([xxhash.xxh32_intdigest(bytes.fromhex(h), s) for h, s in json.load(open(sys.argv[1]))]))';
  const expected = JSON.parse(execFileSync(PY, ['-c', script, file]).toString()) as number[];
  cases.forEach((c, i) => assert.equal(xxh32(c.data, c.seed), expected[i], `case ${i} len ${c.data.length} seed ${c.seed}`));
});
