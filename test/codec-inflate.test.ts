// Our raw DEFLATE decoder (src/lib/codec/inflate.ts) against zlib (node:zlib) and fflate: streams
// zlib makes at every level and strategy decode byte-exact; restarting at any block boundary with
// the primed bits and the 32 KiB window before it gives the same bytes (what ZRAN contexts do);
// gzip files of several members; and damaged or cut streams end in a FormatError with bounded
// output.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { constants, deflateRawSync, gzipSync, gunzipSync } from 'node:zlib';
import { inflateSync as fflateInflate } from 'fflate';
import { gunzipMembers, inflateRaw, WINDOW_SIZE } from '../src/lib/codec/inflate.ts';
import { FormatError } from '../src/lib/errors.ts';
import { usrBinBytes as binaries } from './helpers/mktree.ts';

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}


function corpus(): [string, Uint8Array][] {
  const r = rng(7);
  const random = new Uint8Array(100_000).map(() => r() & 0xff);
  const text = new TextEncoder().encode(readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8').repeat(3));
  // short repeats at every distance: exercises overlapping copies
  const runs = new Uint8Array(200_000);
  for (let i = 0; i < runs.length; i++) runs[i] = (i % ((i >> 12) + 1)) & 0xff;
  return [
    ['empty', new Uint8Array(0)],
    ['one byte', Uint8Array.of(42)],
    ['zeros', new Uint8Array(300_000)],
    ['random', random],
    ['text', text],
    ['runs', runs],
    ['binaries', binaries(1 << 20)],
  ];
}

const STRATEGIES: [string, object][] = [
  ['level 0 (stored)', { level: 0 }],
  ['level 1', { level: 1 }],
  ['level 6', { level: 6 }],
  ['level 9', { level: 9 }],
  ['fixed', { level: 6, strategy: constants.Z_FIXED }],
  ['huffman only', { level: 6, strategy: constants.Z_HUFFMAN_ONLY }],
  ['rle', { level: 6, strategy: constants.Z_RLE }],
  ['small window', { level: 9, windowBits: 9, memLevel: 1 }],
];

test('zlib streams of every strategy decode byte-exact, as fflate decodes them', () => {
  for (const [name, data] of corpus()) {
    for (const [sname, o] of STRATEGIES) {
      const z = new Uint8Array(deflateRawSync(data, o));
      const r = inflateRaw(z, { maxOutput: data.length });
      assert.ok(r.ended, `${name} ${sname}: final block reached`);
      assert.deepEqual(r.output, data, `${name} ${sname}`);
      assert.equal(Math.ceil(r.endBit / 8), z.length, `${name} ${sname}: the stream ends where zlib's ends`);
      assert.deepEqual(new Uint8Array(fflateInflate(z)), r.output, `${name} ${sname}: fflate agrees`);
    }
  }
});

test('restarting at any block boundary with the primed bits and the window gives the same bytes', () => {
  const r = rng(11);
  let restarts = 0;
  let primed = 0;
  for (const [name, data] of corpus()) {
    if (data.length < 1000) continue;
    for (const [sname, o] of STRATEGIES) {
      const z = new Uint8Array(deflateRawSync(data, { ...o, chunkSize: 16 * 1024 }));
      const blocks: { bit: number; out: number }[] = [];
      inflateRaw(z, { maxOutput: data.length, onBlock: (bit, out) => blocks.push({ bit, out }) });
      assert.equal(blocks[0]!.bit, 0);
      for (const b of blocks.slice(1)) {
        // as a ZRAN context stores it: the byte to resume at, and the unread high bits of the byte before
        const inOff = Math.ceil(b.bit / 8);
        const bits = inOff * 8 - b.bit;
        const len = Math.min(data.length - b.out, 1 + (r() % 300_000));
        const got = inflateRaw(z, {
          offset: inOff, primeBits: bits, primeByte: bits ? z[inOff - 1]! : 0,
          dict: data.subarray(Math.max(0, b.out - WINDOW_SIZE), b.out), maxOutput: len, stopAtMax: true,
        });
        assert.deepEqual(got.output, data.subarray(b.out, b.out + len), `${name} ${sname}: restart at bit ${b.bit}`);
        restarts++;
        if (bits) primed++;
      }
    }
  }
  assert.ok(restarts > 100 && primed > 50, `${restarts} restarts, ${primed} with primed bits`);
});

test('a restart without the window fails on the first back-reference before it, with a FormatError', () => {
  const data = binaries(256 * 1024);
  const z = new Uint8Array(deflateRawSync(data, { level: 6, chunkSize: 16 * 1024 }));
  const blocks: { bit: number; out: number }[] = [];
  inflateRaw(z, { maxOutput: data.length, onBlock: (bit, out) => blocks.push({ bit, out }) });
  const b = blocks[Math.floor(blocks.length / 2)]!;
  const inOff = Math.ceil(b.bit / 8);
  const bits = inOff * 8 - b.bit;
  assert.throws(() => inflateRaw(z, { offset: inOff, primeBits: bits, primeByte: z[inOff - 1]!, maxOutput: data.length }),
    (e: unknown) => e instanceof FormatError && /before the start of the window/.test(e.detail));
});

test('gzip files of several members decode as gunzip decodes them; block starts are reported per member', () => {
  const parts = [binaries(70_000), new TextEncoder().encode('second member '.repeat(5000)), new Uint8Array(0), binaries(5000)];
  const gz = new Uint8Array(Buffer.concat(parts.map((p, i) => gzipSync(p, { level: 1 + i }))));
  const starts: number[] = [];
  const { output, members } = gunzipMembers(gz, { maxOutput: 1 << 24, onBlock: (_b, _o, _f, m) => starts.push(m) });
  assert.deepEqual(output, new Uint8Array(gunzipSync(gz)));
  assert.equal(members.length, 4);
  assert.equal(members[3]!.end, gz.length);
  assert.deepEqual([...new Set(starts)], [0, 1, 2, 3]);
  // a second pass into the first pass's output (what the ZRAN builder does): same bytes, no new buffer
  const again = gunzipMembers(gz, { maxOutput: 1 << 24, into: output });
  assert.equal(again.output.buffer, output.buffer);
  assert.deepEqual(again.output, new Uint8Array(gunzipSync(gz)));
  assert.throws(() => gunzipMembers(gz, { maxOutput: 1 << 24, into: new Uint8Array(output.length - 1) }), FormatError);
});

test('the output bound holds: more output than allowed is a FormatError unless told to stop there', () => {
  const data = new Uint8Array(1 << 20);
  const z = new Uint8Array(deflateRawSync(data));
  assert.throws(() => inflateRaw(z, { maxOutput: 1000 }), (e: unknown) => e instanceof FormatError && /more than 1000 bytes/.test(e.detail));
  const r = inflateRaw(z, { maxOutput: 1000, stopAtMax: true });
  assert.equal(r.output.length, 1000);
  assert.equal(r.ended, false);
});

test('damaged and cut streams: a FormatError or bytes within the bound, never anything else', () => {
  const r = rng(3);
  const data = binaries(64 * 1024);
  let errors = 0;
  for (const [, o] of STRATEGIES) {
    const z = new Uint8Array(deflateRawSync(data, o));
    for (let cut = 0; cut < z.length; cut += Math.max(1, Math.floor(z.length / 40))) {
      assert.throws(() => inflateRaw(z.subarray(0, cut), { maxOutput: data.length }), FormatError, `cut at ${cut}`);
    }
    for (let i = 0; i < 150; i++) {
      const d = z.slice();
      const at = r() % d.length;
      d[at]! ^= 1 << (r() % 8);
      try {
        const got = inflateRaw(d, { maxOutput: data.length + 100 });
        assert.ok(got.output.length <= data.length + 100);
      } catch (e) {
        assert.ok(e instanceof FormatError, `flip at ${at}: ${String(e)}`);
        assert.ok(e.offset >= 0 && e.offset <= d.length, `error offset ${e.offset} inside the stream`);
        errors++;
      }
    }
    // random bytes as a stream
    for (let i = 0; i < 50; i++) {
      const junk = new Uint8Array(200 + (r() % 2000)).map(() => r() & 0xff);
      try {
        assert.ok(inflateRaw(junk, { maxOutput: 1 << 16 }).output.length <= 1 << 16);
      } catch (e) {
        assert.ok(e instanceof FormatError, String(e));
      }
    }
  }
  // raw DEFLATE has no checksum: a flipped bit in a literal decodes to a wrong byte, silently
  assert.ok(errors > 50, `${errors} damaged streams rejected`);
});

test('dynamic headers: the probing decoder and the fast one (one reader) agree on every flipped or cut header', () => {
  // every bit of the first 48 bytes (a dynamic block's header and its code lengths) flipped, and
  // every cut in them: with probes (inflateRaw's own loop) and without (inflate-fast.ts) the same
  // error at the same offset, or the same bytes ending at the same bit
  const data = binaries(16 * 1024);
  const run = (z: Uint8Array, probing: boolean): string => {
    try {
      const r = probing ? inflateRaw(z, { maxOutput: data.length + 64, probes: [0], probeBits: new Float64Array(1) }) : inflateRaw(z, { maxOutput: data.length + 64 });
      return `ok ${r.output.length} ${Buffer.from(r.output).toString('base64').slice(0, 64)} end ${r.endBit} ${r.ended}`;
    } catch (e) {
      assert.ok(e instanceof FormatError, String(e));
      return `error at ${e.offset}: ${e.detail}`;
    }
  };
  let dynamic = 0;
  let errors = 0;
  for (const level of [1, 6, 9]) {
    const z = new Uint8Array(deflateRawSync(data, { level }));
    if (((z[0]! >>> 1) & 3) !== 2) continue;
    dynamic++;
    for (let bit = 0; bit < 48 * 8; bit++) {
      const d = z.slice();
      d[bit >>> 3]! ^= 1 << (bit & 7);
      const fast = run(d, false);
      assert.equal(run(d, true), fast, `level ${level}, bit ${bit} flipped`);
      if (fast.startsWith('error')) errors++;
    }
    for (let cut = 0; cut < 48; cut++) assert.equal(run(z.subarray(0, cut), true), run(z.subarray(0, cut), false), `level ${level}, cut at ${cut}`);
  }
  assert.equal(dynamic, 3, 'zlib starts each stream with a dynamic block');
  assert.ok(errors > 100, `${errors} damaged headers rejected`);
});
