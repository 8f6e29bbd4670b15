/**
 * The codec benchmark cases, shared by Node (bench/codecs.ts) and the Chromium page
 * (bench/browser/main.ts) so both time exactly the same calls on the same bytes.
 * No `node:` imports here.
 */
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { blake3, createBlake3 } from '../../src/lib/codec/blake3.ts';
import { crc32 } from '../../src/lib/codec/crc32.ts';
import { fsverityDigest, fsverityDigestSync } from '../../src/lib/codec/fsverity.ts';
import { gzipDecompress } from '../../src/lib/codec/gzip.ts';
import { inflateFast } from '../../src/lib/codec/inflate-fast.ts';
import { deflateSync as fflateDeflate, inflateSync as fflateInflate } from 'fflate';
import { lz4Decompress } from '../../src/lib/codec/lz4.ts';
import { sha256, sha256Async } from '../../src/lib/codec/sha256.ts';
import { xxh32 } from '../../src/lib/codec/xxh32.ts';
import { decompress as fzstdDecompress } from 'fzstd';
import { zstdDecompress } from '../../src/lib/codec/zstd.ts';
import { zstdCompress } from '../../src/lib/codec/zstd-encode.ts';

export interface BenchInputs {
  /** the corpus (8 MiB of a tar of /usr/bin); compressed forms below decode to it */
  corpus: Uint8Array;
  /** raw LZ4 blocks cut out of an `lz4 -1 -B6` frame, with their decoded sizes */
  lz4Blocks: { src: Uint8Array; size: number }[];
  /** `zstd -3` of the corpus */
  zstd: Uint8Array;
  /** `gzip -6` of the corpus */
  gzip: Uint8Array;
}

export interface CaseResult {
  codec: string;
  /** MB/s, 1 MB = 1e6 bytes; for decoders, of decoded bytes */
  mbps: number;
}

/** Median throughput of `runs` timed windows of at least `windowMs` each, after 2 warm-up calls. */
export async function measure(fn: () => unknown, bytes: number, runs = 5, windowMs = 250): Promise<number> {
  for (let i = 0; i < 2; i++) await fn();
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    let calls = 0;
    let t = t0;
    do {
      await fn();
      calls++;
      t = performance.now();
    } while (t - t0 < windowMs);
    rates.push((calls * bytes) / ((t - t0) / 1000) / 1e6);
  }
  rates.sort((a, b) => a - b);
  return rates[rates.length >> 1]!;
}

export const ZSTD_ENCODE_LEVELS = [1, 3, 9];
export const zstdEncodeCase = (level: number): string => `zstd -${level} encode (ours, zstd-encode.ts)`;

interface Case {
  codec: string;
  bytes: number;
  fn: () => unknown;
}

/** the raw DEFLATE stream of a `gzip -n` file (10-byte header, 8-byte trailer) */
const gzipBody = (gz: Uint8Array): Uint8Array => gz.subarray(10, gz.length - 8);

/** EROFS -zdeflate-like pclusters: 2 MiB of the corpus in independent streams of 4 KiB output each */
function smallStreams(inp: BenchInputs): { z: Uint8Array; out: Uint8Array }[] {
  const src = inp.corpus.subarray(0, 2 << 20);
  const r: { z: Uint8Array; out: Uint8Array }[] = [];
  for (let o = 0; o < src.length; o += 4096) r.push({ z: fflateDeflate(src.subarray(o, o + 4096), { level: 9 }), out: new Uint8Array(Math.min(4096, src.length - o)) });
  return r;
}

export const INFLATE_CASES = {
  oursBig: 'deflate decode (gzip -6 body, 8 MiB, ours inflate-fast.ts)',
  fflateBig: 'deflate decode (gzip -6 body, 8 MiB, fflate inflateSync)',
  oursSmall: 'deflate decode (512 streams of 4 KiB, ours inflate-fast.ts)',
  fflateSmall: 'deflate decode (512 streams of 4 KiB, fflate inflateSync)',
};

function cases(inp: BenchInputs): Case[] {
  const MiB = inp.corpus.subarray(0, 1 << 20);
  const fv = inp.corpus.subarray(0, 8 << 20);
  const lz4Out = inp.lz4Blocks.reduce((s, b) => s + b.size, 0);
  const body = gzipBody(inp.gzip);
  const bigOut = new Uint8Array(inp.corpus.length);
  const small = smallStreams(inp);
  const smallOut = small.reduce((s, x) => s + x.out.length, 0);
  return [
    { codec: 'blake3 ours, 1 MiB', bytes: MiB.length, fn: () => blake3(MiB) },
    { codec: 'blake3 ours, 1 MiB unaligned (offset 1)', bytes: MiB.length - 1, fn: () => blake3(inp.corpus.subarray(1, 1 << 20)) },
    {
      codec: 'blake3 ours, streaming 4 KiB updates', bytes: MiB.length,
      fn: () => { const h = createBlake3(); for (let o = 0; o < MiB.length; o += 4096) h.update(MiB.subarray(o, o + 4096)); return h.digest(); },
    },
    { codec: 'blake3 ours, 4 KiB inputs', bytes: MiB.length, fn: () => { for (let o = 0; o < MiB.length; o += 4096) blake3(MiB.subarray(o, o + 4096)); } },
    { codec: 'blake3 @noble/hashes, 1 MiB', bytes: MiB.length, fn: () => nobleBlake3(MiB) },
    { codec: 'sha256 ours (sha256.ts), 1 MiB', bytes: MiB.length, fn: () => sha256(MiB) },
    { codec: 'sha256 @noble/hashes, 1 MiB', bytes: MiB.length, fn: () => nobleSha256(MiB) },
    { codec: 'sha256 WebCrypto (sha256Async), 1 MiB', bytes: MiB.length, fn: () => sha256Async(MiB) },
    { codec: 'fs-verity async (WebCrypto), 8 MiB', bytes: fv.length, fn: () => fsverityDigest(fv) },
    { codec: 'fs-verity sync (JS SHA-256, sha256.ts), 1 MiB', bytes: MiB.length, fn: () => fsverityDigestSync(MiB) },
    { codec: 'crc32, 1 MiB', bytes: MiB.length, fn: () => crc32(MiB) },
    { codec: 'xxh32, 1 MiB', bytes: MiB.length, fn: () => xxh32(MiB) },
    { codec: 'lz4 block decode (lz4 -1, 1 MiB blocks)', bytes: lz4Out, fn: () => { for (const b of inp.lz4Blocks) lz4Decompress(b.src, b.size); } },
    { codec: 'zstd decode (zstd -3, ours)', bytes: inp.corpus.length, fn: () => zstdDecompress(inp.zstd, inp.corpus.length) },
    // fzstd beside ours in the same run (Chromium included): the issue-14 target is 3x fzstd there
    { codec: 'zstd decode (zstd -3, fzstd)', bytes: inp.corpus.length, fn: () => fzstdDecompress(inp.zstd) },
    { codec: 'gzip decode (gzip -6, fflate)', bytes: inp.corpus.length, fn: () => gzipDecompress(inp.gzip, inp.corpus.length) },
    // the EROFS -zdeflate decoder against fflate, one big stream and pcluster-sized ones (fflate writes into the same buffers)
    { codec: INFLATE_CASES.oursBig, bytes: bigOut.length, fn: () => inflateFast(body, bigOut) },
    { codec: INFLATE_CASES.fflateBig, bytes: bigOut.length, fn: () => fflateInflate(body, { out: bigOut }) },
    { codec: INFLATE_CASES.oursSmall, bytes: smallOut, fn: () => { for (const x of small) inflateFast(x.z, x.out); } },
    { codec: INFLATE_CASES.fflateSmall, bytes: smallOut, fn: () => { for (const x of small) fflateInflate(x.z, { out: x.out }); } },
    // the zstd encoder over the whole corpus (bench/codecs.ts puts the zstd CLI beside these)
    ...ZSTD_ENCODE_LEVELS.map((level) => ({ codec: zstdEncodeCase(level), bytes: inp.corpus.length, fn: () => zstdCompress(inp.corpus, { level }) })),
  ];
}

/** Check each codec once against the corpus, then time every case. */
export async function runCases(inp: BenchInputs, log: (s: string) => void = () => {}): Promise<CaseResult[]> {
  const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
  const MiB = inp.corpus.subarray(0, 1 << 20);
  if (!eq(blake3(MiB), nobleBlake3(MiB))) throw new Error('bench: blake3 differs from @noble/hashes');
  if (!eq(sha256(MiB), nobleSha256(MiB))) throw new Error('bench: sha256 differs from @noble/hashes');
  if (!eq(zstdDecompress(inp.zstd, inp.corpus.length), inp.corpus)) throw new Error('bench: zstd output differs');
  if (!eq(gzipDecompress(inp.gzip, inp.corpus.length), inp.corpus)) throw new Error('bench: gzip output differs');
  const inflated = new Uint8Array(inp.corpus.length);
  if (inflateFast(gzipBody(inp.gzip), inflated).end !== inflated.length || !eq(inflated, inp.corpus)) throw new Error('bench: inflate-fast output differs');
  for (const level of ZSTD_ENCODE_LEVELS) {
    if (!eq(zstdDecompress(zstdCompress(inp.corpus, { level }), inp.corpus.length), inp.corpus)) throw new Error(`bench: our zstd level ${level} frame does not decode to the corpus`);
  }
  let o = 0;
  for (const b of inp.lz4Blocks) {
    if (!eq(lz4Decompress(b.src, b.size), inp.corpus.subarray(o, o + b.size))) throw new Error('bench: lz4 output differs');
    o += b.size;
  }
  const out: CaseResult[] = [];
  for (const c of cases(inp)) {
    const mbps = await measure(c.fn, c.bytes);
    log(`${c.codec}: ${mbps.toFixed(1)} MB/s`);
    out.push({ codec: c.codec, mbps });
  }
  return out;
}
