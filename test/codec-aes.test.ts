/**
 * AES (FIPS-197 Appendix B/C vectors) and XTS-AES (IEEE 1619-2007 vectors 1, 2, 4, 5 and the
 * ciphertext-stealing vectors 15-18), then node:crypto's aes-128-xts / aes-256-xts / aes-*-ecb on
 * random keys and data of every awkward length.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Aes } from '../src/lib/codec/aes.ts';
import { AesXts, xtsDecrypt, xtsEncrypt } from '../src/lib/codec/aes-xts.ts';
import { hex } from '../src/lib/bytes.ts';

const h = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

test('AES block: FIPS-197 Appendix B and C.1-C.3', () => {
  const cases: [string, string, string][] = [
    ['2b7e151628aed2a6abf7158809cf4f3c', '3243f6a8885a308d313198a2e0370734', '3925841d02dc09fbdc118597196a0b32'],
    ['000102030405060708090a0b0c0d0e0f', '00112233445566778899aabbccddeeff', '69c4e0d86a7b0430d8cdb78070b4c55a'],
    ['000102030405060708090a0b0c0d0e0f1011121314151617', '00112233445566778899aabbccddeeff', 'dda97ca4864cdfe06eaf70a0ec0d7191'],
    ['000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', '00112233445566778899aabbccddeeff', '8ea2b7ca516745bfeafc49904b496089'],
  ];
  for (const [k, p, c] of cases) {
    const aes = new Aes(h(k));
    const out = new Uint8Array(16);
    aes.encryptBlock(h(p), 0, out, 0);
    assert.equal(hex(out), c, `encrypt with ${k}`);
    aes.decryptBlock(h(c), 0, out, 0);
    assert.equal(hex(out), p, `decrypt with ${k}`);
  }
  assert.throws(() => new Aes(new Uint8Array(15)), RangeError);
});

test('XTS-AES-128: IEEE 1619 vectors, including ciphertext stealing', () => {
  const stealKey = 'fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0bfbebdbcbbbab9b8b7b6b5b4b3b2b1b0';
  const stealIv = '9a785634120000000000000000000000';
  const seq = Array.from({ length: 512 }, (_, i) => (i & 0xff).toString(16).padStart(2, '0')).join('');
  const vectors: [string, string, string, string, string][] = [
    ['1', '0'.repeat(64), '0'.repeat(32), '0'.repeat(64), '917cf69ebd68b2ec9b9fe9a3eadda692cd43d2f59598ed858c02c2652fbf922e'],
    ['2', '11'.repeat(16) + '22'.repeat(16), '3333333333' + '0'.repeat(22), '44'.repeat(32), 'c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0'],
    ['5', stealKey, stealIv, '44'.repeat(32), 'b01f86f8edc1863706fa8a4253e34f28af319de38334870f4dd1f94cbe9832f1'],
    ['4', '2718281828459045235360287471352631415926535897932384626433832795', '0'.repeat(32), seq,
      '27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89cc78cf7f5e543445f8333d8fa7f56000005279fa5d8b5e4ad40e736ddb4d35412'
      + '328063fd2aab53e5ea1e0a9f332500a5df9487d07a5c92cc512c8866c7e860ce93fdf166a24912b422976146ae20ce846bb7dc9ba94a767aaef20c0d61ad0265'
      + '5ea92dc4c4e41a8952c651d33174be51a10c421110e6d81588ede82103a252d8a750e8768defffed9122810aaeb99f9172af82b604dc4b8e51bcb08235a6f434'
      + '1332e4ca60482a4ba1a03b3e65008fc5da76b70bf1690db4eae29c5f1badd03c5ccf2a55d705ddcd86d449511ceb7ec30bf12b1fa35b913f9f747a8afd1b130e'
      + '94bff94effd01a91735ca1726acd0b197c4e5b03393697e126826fb6bbde8ecc1e08298516e2c9ed03ff3c1b7860f6de76d4cecd94c8119855ef5297ca67e9f3'
      + 'e7ff72b1e99785ca0a7e7720c5b36dc6d72cac9574c8cbbc2f801e23e56fd344b07f22154beba0f08ce8891e643ed995c94d9a69c9f1b5f499027a78572aeebd'
      + '74d20cc39881c213ee770b1010e4bea718846977ae119f7a023ab58cca0ad752afe656bb3c17256a9f6e9bf19fdd5a38fc82bbe872c5539edb609ef4f79c203e'
      + 'bb140f2e583cb2ad15b4aa5b655016a8449277dbd477ef2c8d6c017db738b18deb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568'],
    ['15', stealKey, stealIv, '000102030405060708090a0b0c0d0e0f10', '6c1625db4671522d3d7599601de7ca09ed'],
    ['16', stealKey, stealIv, '000102030405060708090a0b0c0d0e0f1011', 'd069444b7a7e0cab09e24447d24deb1fedbf'],
    ['17', stealKey, stealIv, '000102030405060708090a0b0c0d0e0f101112', 'e5df1351c0544ba1350b3363cd8ef4beedbf9d'],
    ['18', stealKey, stealIv, '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e', 'd05bc090a8e04f1b3d3ecdd5baec0fd4edbf9dace45d6f6a7306e64be5dd82'],
  ];
  for (const [id, k, iv, p, c] of vectors) {
    assert.equal(hex(xtsEncrypt(h(k), h(iv), h(p))), c, `vector ${id} encrypt`);
    assert.equal(hex(xtsDecrypt(h(k), h(iv), h(c))), p, `vector ${id} decrypt`);
  }
  assert.throws(() => xtsEncrypt(h(stealKey), h(stealIv), new Uint8Array(15)), RangeError);
});

test('XTS-AES-128 and -256 agree with node:crypto (OpenSSL) on random keys, IVs and lengths', () => {
  const lengths = [16, 17, 31, 32, 33, 47, 100, 4095, 4096, 4097, 65536 + 5];
  for (const [alg, klen] of [['aes-128-xts', 32], ['aes-256-xts', 64]] as const) {
    for (const n of lengths) {
      let key = randomBytes(klen);
      // OpenSSL refuses XTS keys whose halves are equal; random halves never are
      key = Buffer.concat([key.subarray(0, klen / 2), randomBytes(klen / 2)]);
      const iv = randomBytes(16);
      const data = randomBytes(n);
      const c = createCipheriv(alg, key, iv);
      const ref = Buffer.concat([c.update(data), c.final()]);
      const x = new AesXts(key);
      const mine = x.encrypt(iv, data);
      assert.equal(hex(mine), ref.toString('hex'), `${alg} encrypt ${n}`);
      const d = createDecipheriv(alg, key, iv);
      const back = Buffer.concat([d.update(ref), d.final()]);
      assert.deepEqual(x.decrypt(iv, ref), new Uint8Array(back), `${alg} decrypt ${n}`);
      assert.deepEqual(x.decrypt(iv, mine), new Uint8Array(data), `${alg} round trip ${n}`);
    }
  }
});

test('AES-128/192/256 ECB blocks agree with node:crypto on random keys', () => {
  for (const bits of [128, 192, 256]) {
    const key = randomBytes(bits / 8);
    const data = randomBytes(16 * 64);
    const c = createCipheriv(`aes-${bits}-ecb`, key, null).setAutoPadding(false);
    const ref = Buffer.concat([c.update(data), c.final()]);
    const aes = new Aes(key);
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i += 16) aes.encryptBlock(data, i, out, i);
    assert.equal(hex(out), ref.toString('hex'), `aes-${bits} encrypt`);
    for (let i = 0; i < data.length; i += 16) aes.decryptBlock(ref, i, out, i);
    assert.deepEqual(out, new Uint8Array(data), `aes-${bits} decrypt`);
  }
});
