import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { lz4CompressBlock, lz4CompressBound, lz4CompressDestSize, lz4EncodeBlock } from '../src/lib/codec/lz4-compress.ts';
import { lz4Decompress } from '../src/lib/codec/lz4.ts';
import { lz4hcCompressDestSize } from '../src/lib/codec/lz4hc.ts';
import { xxh32 } from '../src/lib/codec/xxh32.ts';

/*
 * Oracles:
 *  - strictParse(): an independent reader of the block format that enforces every end-of-block
 *    rule against the exact decoded size (our decoder, like liblz4 in a frame, is lenient there);
 *  - the Debian `lz4` CLI, fed hand-built frames. lz4 -d decodes each block into a buffer of the
 *    frame's maximum block size and checks the 12-byte (MFLIMIT) rule against that buffer's end,
 *    so it only catches a late last match when a block decodes to exactly that size: tests that
 *    care use 64 KiB / 1 MiB inputs with the matching BD;
 *  - liblz4 itself through python3 ctypes: LZ4_decompress_safe with dstCapacity == the decoded
 *    size, which enforces the rules for any size (and LZ4_compress_default / _destSize to compare).
 */

// ---------- helpers ----------

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 256) | 0;
  return out;
}
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** how many blocks each oracle checked, printed at the end */
const coverage = { strict: 0, cli: 0, cliStrict: 0, liblz4Exact: 0 };
after(() => console.log(`blocks checked: strict parser ${coverage.strict}, lz4 -d ${coverage.cli} (${coverage.cliStrict} at a decoded size equal to the frame block size), liblz4 exact-capacity ${coverage.liblz4Exact}`));

const BD_64K = 4, BD_1M = 6, BD_4M = 7;
const maxBlock = (bd: number) => 1 << (8 + 2 * bd);

/** An LZ4 frame of independent compressed blocks, no checksums, no content size. */
function frame(blocks: Uint8Array[], bd = BD_4M): Uint8Array {
  const flg = 0x60; // version 01, block independence
  const bdByte = bd << 4;
  const hc = (xxh32(Uint8Array.of(flg, bdByte)) >>> 8) & 0xff;
  const parts: Uint8Array[] = [Uint8Array.of(0x04, 0x22, 0x4d, 0x18, flg, bdByte, hc)];
  for (const b of blocks) {
    assert.ok(b.length > 0 && b.length <= maxBlock(bd), 'block fits the frame');
    const size = new Uint8Array(4);
    new DataView(size.buffer).setUint32(0, b.length, true); // high bit clear: compressed
    parts.push(size, b);
  }
  parts.push(new Uint8Array(4)); // end mark
  return concat(parts);
}

/** Decode with the lz4 CLI; throws (with its stderr) if liblz4 rejects any block. */
function lz4Cli(frameBytes: Uint8Array): Uint8Array {
  const r = spawnSync('lz4', ['-d', '-c', '-q'], { input: frameBytes, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`lz4 -d failed (${r.status}): ${r.stderr.toString()}`);
  return new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.length);
}

/** each item's block decodes (via the CLI, in batched multi-block frames) to its expected bytes */
function checkWithCli(items: { block: Uint8Array; data: Uint8Array }[], bd = BD_4M): void {
  let batch: typeof items = [];
  let size = 0;
  const flush = () => {
    if (batch.length === 0) return;
    const want = concat(batch.map((i) => i.data));
    const got = lz4Cli(frame(batch.map((i) => i.block), bd));
    coverage.cli += batch.length;
    coverage.cliStrict += batch.filter((i) => i.data.length === maxBlock(bd)).length;
    assert.equal(got.length, want.length, 'lz4 -d output length');
    assert.ok(Buffer.from(got).equals(Buffer.from(want)), 'lz4 -d output bytes');
    batch = [];
    size = 0;
  };
  for (const it of items) {
    if (it.data.length === 0) continue; // the empty block has its own test
    batch.push(it);
    size += it.data.length;
    if (batch.length >= 400 || size > 32 << 20) flush();
  }
  flush();
}

const PY = String.raw`
import sys, ctypes, struct
lib = ctypes.CDLL('liblz4.so.1')
data = sys.stdin.buffer.read()
mode = sys.argv[1]
out = bytearray()
pos = 0
while pos < len(data):
    a, b = struct.unpack_from('<II', data, pos); pos += 8
    if mode == 'decode':
        src = data[pos:pos + a]; pos += a
        dst = ctypes.create_string_buffer(max(b, 1))
        r = lib.LZ4_decompress_safe(src, dst, a, b)
        out += struct.pack('<i', r)
        if r > 0: out += dst.raw[:r]
    elif mode == 'compress':
        src = data[pos:pos + a]; pos += a
        cap = lib.LZ4_compressBound(a)
        dst = ctypes.create_string_buffer(max(cap, 1))
        out += struct.pack('<ii', lib.LZ4_compress_default(src, dst, a, cap), cap)
    elif mode == 'destsize':
        src = data[pos:pos + a]; pos += a
        dst = ctypes.create_string_buffer(max(b, 1))
        n = ctypes.c_int(a)
        r = lib.LZ4_compress_destSize(src, dst, ctypes.byref(n), b)
        out += struct.pack('<ii', r, n.value)
    elif mode.startswith('hcdestsize'):
        src = data[pos:pos + a]; pos += a
        dst = ctypes.create_string_buffer(max(b, 1))
        n = ctypes.c_int(a)
        state = ctypes.create_string_buffer(lib.LZ4_sizeofStateHC())
        r = lib.LZ4_compress_HC_destSize(state, src, dst, ctypes.byref(n), b, int(mode[10:]))
        out += struct.pack('<ii', r, n.value)
sys.stdout.buffer.write(out)
`;
const hasPython = spawnSync('python3', ['-c', "import ctypes; ctypes.CDLL('liblz4.so.1')"]).status === 0;

function py(mode: string, records: { a: Uint8Array; b: number }[]): Buffer {
  const parts: Uint8Array[] = [];
  for (const r of records) {
    const h = new Uint8Array(8);
    const dv = new DataView(h.buffer);
    dv.setUint32(0, r.a.length, true);
    dv.setUint32(4, r.b, true);
    parts.push(h, r.a);
  }
  return execFileSync('python3', ['-c', PY, mode], { input: concat(parts), maxBuffer: 1 << 30 });
}

/** liblz4's LZ4_decompress_safe with dstCapacity exactly the decoded size: -1 on rejection */
function libDecodeExact(items: { block: Uint8Array; size: number }[]): (Uint8Array | number)[] {
  const out = py('decode', items.map((i) => ({ a: i.block, b: i.size })));
  const res: (Uint8Array | number)[] = [];
  let p = 0;
  for (let k = 0; k < items.length; k++) {
    const r = out.readInt32LE(p);
    p += 4;
    if (r < 0) { res.push(r); continue; }
    res.push(new Uint8Array(out.subarray(p, p + r)));
    p += r;
  }
  return res;
}
function checkWithLib(items: { block: Uint8Array; data: Uint8Array }[]): void {
  if (!hasPython) return;
  for (let s = 0; s < items.length; s += 500) {
    const chunk = items.slice(s, s + 500);
    const res = libDecodeExact(chunk.map((i) => ({ block: i.block, size: i.data.length })));
    coverage.liblz4Exact += chunk.length;
    chunk.forEach((it, k) => {
      const r = res[k]!;
      assert.ok(typeof r !== 'number', `liblz4 (exact capacity ${it.data.length}) rejects block #${s + k} (${r})`);
      assert.ok(Buffer.from(r).equals(Buffer.from(it.data)), `liblz4 decodes block #${s + k} to the input`);
    });
  }
}

interface BlockStats { sequences: number; matches: number; maxOffset: number; minMatch: number }
/**
 * Independent strict reader: decodes `block`, which must produce exactly `size` bytes and obey
 * the format's end-of-block rules for that size. Throws naming the broken rule.
 */
function strictParse(block: Uint8Array, size: number): { data: Uint8Array; stats: BlockStats } {
  const out = new Uint8Array(size);
  const st: BlockStats = { sequences: 0, matches: 0, maxOffset: 0, minMatch: Infinity };
  let s = 0, d = 0;
  let lastMatchStart = -1;
  let lastLitStart = 0;
  let sawEnd = false;
  if (block.length === 0) throw new Error('empty block');
  while (s < block.length) {
    st.sequences++;
    const token = block[s++]!;
    let lit = token >> 4;
    if (lit === 15) for (let b = 255; b === 255;) { if (s >= block.length) throw new Error('truncated literal length'); b = block[s++]!; lit += b; }
    if (s + lit > block.length) throw new Error('literals past the block');
    if (d + lit > size) throw new Error('literals past the decoded size');
    out.set(block.subarray(s, s + lit), d);
    lastLitStart = d;
    s += lit; d += lit;
    if (s === block.length) {
      if ((token & 15) !== 0) throw new Error('last sequence has a match length');
      sawEnd = true;
      break;
    }
    if (s + 2 > block.length) throw new Error('truncated offset');
    const off = block[s]! | (block[s + 1]! << 8);
    s += 2;
    if (off === 0 || off > d) throw new Error(`bad offset ${off} at ${d}`);
    let ml = (token & 15) + 4;
    if ((token & 15) === 15) for (let b = 255; b === 255;) { if (s >= block.length) throw new Error('truncated match length'); b = block[s++]!; ml += b; }
    if (d + ml > size) throw new Error('match past the decoded size');
    lastMatchStart = d;
    for (let i = 0; i < ml; i++, d++) out[d] = out[d - off]!;
    st.matches++;
    st.maxOffset = Math.max(st.maxOffset, off);
    st.minMatch = Math.min(st.minMatch, ml);
    if (s === block.length) throw new Error('block ends with a match');
  }
  if (!sawEnd) throw new Error('no final literal sequence');
  if (d !== size) throw new Error(`decodes to ${d}, expected ${size}`);
  if (lastMatchStart >= 0 && lastMatchStart > size - 12) throw new Error(`last match starts at ${lastMatchStart}, less than 12 bytes before the end ${size} (MFLIMIT)`);
  if (size - lastLitStart < Math.min(5, size)) throw new Error(`only ${size - lastLitStart} final literals (LASTLITERALS)`);
  return { data: out, stats: st };
}

/** every check we have that needs no subprocess */
function verifyLocal(block: Uint8Array, data: Uint8Array, what: string): BlockStats {
  assert.ok(block.length <= lz4CompressBound(data.length), `${what}: within lz4CompressBound`);
  const { data: got, stats } = strictParse(block, data.length);
  coverage.strict++;
  assert.ok(Buffer.from(got).equals(Buffer.from(data)), `${what}: strict decode`);
  const ours = lz4Decompress(block, data.length);
  assert.ok(Buffer.from(ours).equals(Buffer.from(data)), `${what}: lz4Decompress`);
  return stats;
}

function filesUnder(dir: string, pred: (name: string) => boolean, limit: number): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try { names = readdirSync(d).sort(); } catch { return; }
    for (const n of names) {
      if (out.length >= limit) return;
      const p = join(d, n);
      let st;
      try { st = statSync(p); } catch { continue; }
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && pred(n)) out.push(p);
    }
  };
  walk(dir);
  return out;
}
function corpus(kind: 'text' | 'bin', bytes: number): Uint8Array {
  const files = kind === 'text'
    ? filesUnder('/usr/lib/python3', (n) => n.endsWith('.py'), 4000).concat(filesUnder('/usr/share/doc', () => true, 2000))
    : filesUnder('/usr/bin', () => true, 4000);
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const f of files) {
    if (total >= bytes) break;
    try {
      const b = readFileSync(f);
      if (kind === 'text' && b.subarray(0, 64).includes(0)) continue;
      parts.push(b.subarray(0, Math.min(b.length, bytes - total, 2 << 20)));
      total += parts[parts.length - 1]!.length;
    } catch { /* unreadable: skip */ }
  }
  assert.ok(total >= bytes / 2, `enough ${kind} corpus on this machine`);
  return concat(parts);
}
function chunks(data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < data.length; o += size) out.push(data.subarray(o, Math.min(data.length, o + size)));
  return out;
}

const TEXT = corpus('text', 4 << 20);
const BIN = corpus('bin', 4 << 20);

// ---------- oracle self-tests: each oracle catches the bugs it is here for ----------

test('xxh32 and frame builder agree with the lz4 CLI', () => {
  assert.equal(xxh32(new Uint8Array(0)), 0x02cc5d05); // published XXH32("") test vector
  // lz4 -c writes a content checksum (xxh32 of the data) before its end: compare with ours
  const data = TEXT.subarray(0, 100003);
  const f = execFileSync('lz4', ['-c', '-q'], { input: data, maxBuffer: 1 << 28 });
  assert.equal(f.readUInt32LE(f.length - 4), xxh32(data));
  const hd = new Uint8Array(f.subarray(4, 6));
  assert.equal(f[6], (xxh32(hd) >>> 8) & 0xff, 'header checksum formula');
});

/** hand-made block from sequences (no rule checks: for building invalid blocks) */
function rawBlock(seqs: { lit: Uint8Array; off?: number; ml?: number }[]): Uint8Array {
  const out: number[] = [];
  const len = (v: number) => { for (v -= 15; v >= 255; v -= 255) out.push(255); out.push(v); };
  for (const q of seqs) {
    const code = q.ml === undefined ? 0 : q.ml - 4;
    out.push((Math.min(q.lit.length, 15) << 4) | Math.min(code, 15));
    if (q.lit.length >= 15) len(q.lit.length);
    out.push(...q.lit);
    if (q.ml === undefined) break;
    out.push(q.off! & 255, q.off! >> 8);
    if (code >= 15) len(code);
  }
  return Uint8Array.from(out);
}

test('oracles reject blocks that break the end-of-block rules', () => {
  // 65536 bytes whose last match starts at 65526 (> 65536 - 12), followed by 6 literals
  const size = 65536;
  const lits = randomBytes(5, 7);
  const tail = randomBytes(6, 8);
  const bad = rawBlock([{ lit: Uint8Array.of(120), off: 1, ml: 65520 }, { lit: lits, off: 1, ml: 4 }, { lit: tail }]);
  const expect = concat([new Uint8Array(65521).fill(120), lits, new Uint8Array(4).fill(lits[4]!), tail]);
  assert.equal(expect.length, size);
  // our (lenient) decoder accepts it, which is why it cannot be the only oracle
  assert.ok(Buffer.from(lz4Decompress(bad, size)).equals(Buffer.from(expect)));
  assert.throws(() => strictParse(bad, size), /MFLIMIT/);
  assert.throws(() => lz4Cli(frame([bad], BD_64K)), /lz4 -d failed/);
  // the same sequences with the last match starting 2 bytes earlier, at 65524, are fine for everyone
  const tail2 = concat([Uint8Array.of(1, 2), tail]);
  const good = rawBlock([{ lit: Uint8Array.of(120), off: 1, ml: 65518 }, { lit: lits, off: 1, ml: 4 }, { lit: tail2 }]);
  const goodData = concat([new Uint8Array(65519).fill(120), lits, new Uint8Array(4).fill(lits[4]!), tail2]);
  assert.ok(Buffer.from(strictParse(good, size).data).equals(Buffer.from(goodData)));
  assert.ok(Buffer.from(lz4Cli(frame([good], BD_64K))).equals(Buffer.from(goodData)));
  if (hasPython) {
    assert.equal(typeof libDecodeExact([{ block: bad, size }])[0], 'number', 'liblz4 exact rejects MFLIMIT break');
    assert.notEqual(typeof libDecodeExact([{ block: good, size }])[0], 'number', 'liblz4 exact accepts');
  }
  // a block ending in a match (no final literals) at a small size: exact-capacity liblz4 rejects
  const bad2 = rawBlock([{ lit: Uint8Array.of(97), off: 1, ml: 19 }]); // ends in a match
  assert.throws(() => strictParse(bad2, 20));
  if (hasPython) assert.ok(typeof libDecodeExact([{ block: bad2, size: 20 }])[0] === 'number', 'liblz4 exact rejects');
  // 4 final literals only
  const bad3 = rawBlock([{ lit: Uint8Array.of(97), off: 1, ml: 15 }, { lit: Uint8Array.of(98, 98, 98, 98) }]); // 4 final literals
  assert.deepEqual(lz4Decompress(bad3, 20), Uint8Array.from('a'.repeat(16) + 'bbbb', (c) => c.charCodeAt(0)));
  assert.throws(() => strictParse(bad3, 20), /LASTLITERALS/);
  if (hasPython) assert.ok(typeof libDecodeExact([{ block: bad3, size: 20 }])[0] === 'number', 'liblz4 exact rejects');
});

// ---------- lz4CompressBlock / lz4EncodeBlock ----------

test('lz4CompressBound matches liblz4', { skip: !hasPython }, () => {
  const sizes = [0, 1, 12, 13, 254, 255, 256, 4096, 65535, 65536, 1 << 20, 12345678];
  const res = py('compress', sizes.map((n) => ({ a: new Uint8Array(Math.min(n, 4096)), b: 0 })));
  // LZ4_compressBound of the (capped) record sizes
  sizes.forEach((n, k) => {
    if (n <= 4096) assert.equal(res.readInt32LE(k * 8 + 4), lz4CompressBound(n), `bound(${n})`);
  });
  assert.equal(lz4CompressBound(-1), 0);
});

test('empty input', () => {
  assert.equal(lz4CompressBlock(new Uint8Array(0)), null);
  const b = lz4EncodeBlock(new Uint8Array(0));
  assert.deepEqual([...b], [0]);
  verifyLocal(b, new Uint8Array(0), 'empty');
  assert.equal(lz4Cli(frame([b])).length, 0);
  if (hasPython) assert.deepEqual(libDecodeExact([{ block: b, size: 0 }])[0], new Uint8Array(0));
  const ds = lz4CompressDestSize(new Uint8Array(0), 4096);
  assert.equal(ds.consumed, 0);
});

test('1..20 byte inputs: all literals below 13 bytes, valid for liblz4', () => {
  const items: { block: Uint8Array; data: Uint8Array }[] = [];
  for (let n = 1; n <= 20; n++) {
    for (const [name, data] of [
      ['zeros', new Uint8Array(n)],
      ['random', randomBytes(n, n)],
      ['ab', Uint8Array.from({ length: n }, (_, i) => 97 + (i & 1))],
    ] as const) {
      const b = lz4EncodeBlock(data);
      const st = verifyLocal(b, data, `${name}(${n})`);
      if (n < 13) assert.equal(st.matches, 0, `${name}(${n}) is literals only`);
      const c = lz4CompressBlock(data);
      if (b.length >= n) assert.equal(c, null, `${name}(${n}): null when not smaller`);
      else assert.deepEqual(c, b, `${name}(${n}): same block`);
      items.push({ block: b, data });
    }
  }
  // 20 zero bytes compress (1 literal, one match, 5 literals)
  assert.ok(lz4CompressBlock(new Uint8Array(20)) !== null);
  checkWithCli(items);
  checkWithLib(items);
});

test('all-zero 1 MiB', () => {
  const data = new Uint8Array(1 << 20);
  const b = lz4CompressBlock(data);
  assert.ok(b !== null);
  assert.ok(b.length < data.length / 200, `ratio ${data.length / b.length}`);
  verifyLocal(b, data, 'zeros');
  // decoded size == the frame's max block size, so lz4 -d enforces the end rules too
  checkWithCli([{ block: b, data }], BD_1M);
  checkWithLib([{ block: b, data }]);
});

test('random 1 MiB is incompressible: null, and lz4EncodeBlock still valid', () => {
  const data = randomBytes(1 << 20, 1);
  assert.equal(lz4CompressBlock(data), null);
  const b = lz4EncodeBlock(data);
  assert.ok(b.length >= data.length && b.length <= lz4CompressBound(data.length));
  verifyLocal(b, data, 'random');
  checkWithCli([{ block: b, data }], BD_4M);
  checkWithLib([{ block: b, data }]);
  // a dst too small for the block also gives null
  const text = TEXT.subarray(0, 65536);
  const full = lz4CompressBlock(text)!;
  assert.equal(lz4CompressBlock(text, new Uint8Array(full.length - 1)), null);
  const dst = new Uint8Array(full.length);
  const view = lz4CompressBlock(text, dst)!;
  assert.equal(view.buffer, dst.buffer);
  assert.deepEqual(view, full);
});

for (const [kind, blockSize, bd] of [['text', 65536, BD_64K], ['bin', 65536, BD_64K], ['text', 1 << 20, BD_1M], ['bin', 1 << 20, BD_1M]] as const) {
  test(`${kind} corpus in ${blockSize >> 10} KiB blocks: valid for liblz4, ratio close to LZ4_compress_default`, () => {
    const src = kind === 'text' ? TEXT : BIN;
    const items: { block: Uint8Array; data: Uint8Array }[] = [];
    let ours = 0;
    for (const data of chunks(src, blockSize)) {
      const b = lz4CompressBlock(data);
      if (b === null) { ours += data.length; assert.ok(lz4EncodeBlock(data).length >= data.length); continue; }
      verifyLocal(b, data, `${kind} block`);
      ours += b.length;
      items.push({ block: b, data });
    }
    assert.ok(items.length > 0);
    // full-size blocks: lz4 -d checks the end rules at exactly the decoded size
    checkWithCli(items.filter((i) => i.data.length === blockSize), bd);
    checkWithCli(items.filter((i) => i.data.length !== blockSize));
    checkWithLib(items);
    if (hasPython) {
      const res = py('compress', chunks(src, blockSize).map((a) => ({ a, b: 0 })));
      let lib = 0;
      chunks(src, blockSize).forEach((c, k) => { const r = res.readInt32LE(k * 8); lib += r > 0 && r < c.length ? r : c.length; });
      const ratioOurs = src.length / ours, ratioLib = src.length / lib;
      assert.ok(ratioOurs >= ratioLib * 0.95, `ratio ${ratioOurs.toFixed(3)} vs liblz4 ${ratioLib.toFixed(3)}`);
    }
  });
}

test('inputs that end inside a match keep 5 final literals and MFLIMIT', () => {
  const items: { block: Uint8Array; data: Uint8Array }[] = [];
  const exact: { block: Uint8Array; data: Uint8Array }[] = [];
  for (const n of [13, 14, 15, 16, 17, 18, 19, 20, 21, 24, 25, 31, 32, 33, 64, 100, 255, 256, 1000, 4096]) {
    for (let period = 1; period <= 9; period++) {
      const base = randomBytes(period, n * 31 + period);
      const data = Uint8Array.from({ length: n }, (_, i) => base[i % period]!);
      const b = lz4EncodeBlock(data);
      verifyLocal(b, data, `periodic(${n},${period})`);
      items.push({ block: b, data });
    }
    // a random half repeated: the match runs to the very end of the input
    const half = randomBytes(n >> 1, n);
    const data = concat([half, half, randomBytes(n & 1, 3)]);
    const b = lz4EncodeBlock(data);
    verifyLocal(b, data, `repeat(${n})`);
    items.push({ block: b, data });
  }
  // exactly 64 KiB inputs ending in long matches, so lz4 -d (64 KiB frame) is strict about the end
  for (let k = 0; k < 8; k++) {
    const head = randomBytes(1000 + k * 977, 100 + k);
    const data = new Uint8Array(65536);
    for (let i = 0; i < data.length; i++) data[i] = head[i % head.length]!;
    const b = lz4CompressBlock(data)!;
    assert.ok(b !== null);
    verifyLocal(b, data, `64k periodic ${k}`);
    exact.push({ block: b, data });
  }
  checkWithCli(items);
  checkWithCli(exact, BD_64K);
  checkWithLib(items.concat(exact));
});

test('offsets never exceed 65535', () => {
  // a random run repeated at distance 65535 is found; at 65536 or 70000 it is out of reach
  for (const dist of [65535, 65536, 70000]) {
    const r = randomBytes(dist, dist);
    const data = concat([r, r.subarray(0, 20000)]);
    const b = lz4EncodeBlock(data);
    const st = verifyLocal(b, data, `distance ${dist}`);
    assert.ok(st.maxOffset <= 65535);
    if (dist === 65535) {
      assert.equal(st.maxOffset, 65535);
      assert.ok(b.length < data.length - 19000, 'the repeat at distance 65535 is used');
    } else {
      assert.equal(lz4CompressBlock(data), null, 'nothing within reach');
    }
    checkWithCli([{ block: b, data }]);
    checkWithLib([{ block: b, data }]);
  }
  // real data > 64 KiB: every offset in range
  const b = lz4CompressBlock(BIN.subarray(0, 3 << 20))!;
  assert.ok(verifyLocal(b, BIN.subarray(0, 3 << 20), 'bin 3 MiB').maxOffset <= 65535);
});

/** small inputs of mixed character: random, small alphabets, runs, repeats, text slices */
function smallInput(r: () => number, k: number): Uint8Array {
  const n = k % 7 === 0 ? (r() * 40) | 0 : (r() * 3000) | 0;
  const out = new Uint8Array(n);
  const kind = k % 5;
  if (kind === 0) for (let i = 0; i < n; i++) out[i] = (r() * 256) | 0;
  else if (kind === 1) { const a = 1 + ((r() * 4) | 0); for (let i = 0; i < n; i++) out[i] = (r() * a) | 0; }
  else if (kind === 2) { let i = 0; while (i < n) { const v = (r() * 256) | 0; const run = 1 + ((r() * 30) | 0); for (let j = 0; j < run && i < n; j++) out[i++] = v; } }
  else if (kind === 3) { const off = (r() * (TEXT.length - n)) | 0; out.set(TEXT.subarray(off, off + n)); }
  else { const off = (r() * (BIN.length - n)) | 0; out.set(BIN.subarray(off, off + n)); for (let i = 0; i < n / 50; i++) out[(r() * n) | 0] = (r() * 256) | 0; }
  return out;
}

test('5000 random small inputs round-trip; 600 of them through liblz4', () => {
  const r = rng(12345);
  const items: { block: Uint8Array; data: Uint8Array }[] = [];
  let nulls = 0;
  for (let k = 0; k < 5000; k++) {
    const data = smallInput(r, k);
    const b = lz4EncodeBlock(data);
    verifyLocal(b, data, `small #${k}`);
    const c = lz4CompressBlock(data);
    if (b.length >= data.length) { assert.equal(c, null, `small #${k}: null iff not smaller`); nulls++; }
    else assert.deepEqual(c, b, `small #${k}: lz4CompressBlock == lz4EncodeBlock`);
    if (k % 8 === 0) items.push({ block: b, data });
  }
  assert.ok(nulls > 0 && nulls < 5000);
  assert.ok(items.length >= 600);
  checkWithCli(items);
  checkWithLib(items);
});

// ---------- lz4CompressDestSize ----------

function destSizeCase(data: Uint8Array, cap: number, what: string): { block: Uint8Array; data: Uint8Array } {
  const { compressed, consumed } = lz4CompressDestSize(data, cap);
  assert.ok(compressed.length <= cap, `${what}: ${compressed.length} <= ${cap}`);
  assert.ok(consumed <= data.length);
  // one byte holds only an empty block's token
  if (data.length > 0 && cap > 1) assert.ok(consumed > 0, `${what}: consumed something`);
  const prefix = data.subarray(0, consumed);
  if (cap > 0 && data.length > 0) verifyLocal(compressed, prefix, what);
  else assert.equal(compressed.length, 0);
  if (cap >= lz4CompressBound(data.length)) assert.equal(consumed, data.length);
  return { block: compressed, data: prefix };
}

test('destSize 4096 over text, binary, random, zeros and mixed inputs', () => {
  const items: { block: Uint8Array; data: Uint8Array }[] = [];
  const inputs: [string, Uint8Array][] = [];
  for (let k = 0; k < 40; k++) inputs.push([`text@${k}`, TEXT.subarray(k * 65536, k * 65536 + 65536)]);
  for (let k = 0; k < 40; k++) inputs.push([`bin@${k}`, BIN.subarray(k * 90001, k * 90001 + 65536)]);
  for (let k = 0; k < 10; k++) inputs.push([`random${k}`, randomBytes(8192 + k * 1000, 50 + k)]);
  inputs.push(['zeros', new Uint8Array(1 << 20)]);
  const r = rng(99);
  for (let k = 0; k < 400; k++) inputs.push([`small${k}`, smallInput(r, k)]);
  let full = 0;
  for (const [name, data] of inputs) {
    const it = destSizeCase(data, 4096, `destSize(${name})`);
    if (it.data.length > 0) items.push(it);
    if (it.block.length >= 4096 - 16) full++;
  }
  assert.ok(full > 50, 'most large inputs fill the 4 KiB output');
  checkWithCli(items);
  checkWithLib(items);
  // how much of each input fits, against LZ4_compress_destSize
  if (hasPython) {
    const big = inputs.filter(([, d]) => d.length >= 8192);
    const res = py('destsize', big.map(([, a]) => ({ a, b: 4096 })));
    let ours = 0, lib = 0;
    big.forEach(([, d], k) => { ours += lz4CompressDestSize(d, 4096).consumed; lib += res.readInt32LE(k * 8 + 4); });
    assert.ok(ours >= lib * 0.95, `consumed ${ours} vs liblz4 ${lib}`);
  }
});

test('destSize over many capacities, including tiny ones and ones >= the bound', () => {
  const items: { block: Uint8Array; data: Uint8Array }[] = [];
  const r = rng(7);
  const caps = [1, 2, 3, 5, 6, 7, 8, 9, 12, 13, 15, 16, 17, 18, 20, 21, 30, 64, 100, 255, 256, 257, 271, 272, 300, 1000, 4095, 4096, 4097, 8192, 65536];
  for (let k = 0; k < 300; k++) {
    const data = k < 30 ? TEXT.subarray(k * 3000, k * 3000 + 70000) : smallInput(r, k);
    const cap = k % 3 === 0 ? caps[k % caps.length]! : 1 + ((r() * 5000) | 0);
    const it = destSizeCase(data, cap, `destSize(#${k}, cap ${cap})`);
    if (it.data.length > 0) items.push(it);
    if (k === 0) assert.equal(lz4CompressDestSize(data, 0).consumed, 0);
  }
  // literals-only fill: random input, every capacity from 1 to 600
  const rand = randomBytes(1000, 5);
  for (let cap = 1; cap <= 600; cap++) {
    const it = destSizeCase(rand, cap, `random cap ${cap}`);
    items.push(it);
    // a literal run costs 1 token + 1 byte per 255 after the first 15: almost all of cap is used
    assert.ok(it.block.length >= cap - 1, `cap ${cap}: used ${it.block.length}`);
  }
  // capacity exactly at and below the bound
  const t = TEXT.subarray(0, 5000);
  const bound = lz4CompressBound(t.length);
  for (const cap of [bound, bound - 1, lz4EncodeBlock(t).length, lz4EncodeBlock(t).length - 1]) {
    const it = destSizeCase(t, cap, `cap ${cap} near bound`);
    if (cap >= lz4EncodeBlock(t).length) assert.equal(it.data.length, t.length);
    items.push(it);
  }
  checkWithCli(items);
  checkWithLib(items);
});

test('destSize 64 KiB-consumed blocks are strict for lz4 -d', () => {
  // pick capacities so the consumed prefix is exactly 65536 when possible: compress a 64 KiB
  // input with a capacity of its full block size; and a long match cut by the capacity
  const items: { block: Uint8Array; data: Uint8Array }[] = [];
  for (let k = 0; k < 10; k++) {
    const data = TEXT.subarray(k * 65536, (k + 1) * 65536);
    const full = lz4EncodeBlock(data).length;
    const it = destSizeCase(data, full, `text64k#${k}`);
    assert.equal(it.data.length, 65536);
    items.push(it);
  }
  checkWithCli(items, BD_64K);
  // a long zero run cut by the capacity: the shortened match must still leave 5+ literals
  const cut: { block: Uint8Array; data: Uint8Array }[] = [];
  for (const cap of [10, 11, 12, 13, 14, 15, 16, 17, 20, 30, 40]) {
    const data = concat([randomBytes(3, cap), new Uint8Array(1 << 16)]);
    const it = destSizeCase(data, cap, `zero run cap ${cap}`);
    cut.push(it);
  }
  checkWithCli(cut);
  checkWithLib(cut.concat(items));
});

test('destSize walking whole files in 4 KiB outputs (EROFS pclusters) reassembles them', () => {
  const files = filesUnder('/usr/bin', () => true, 400).filter((f) => { try { return statSync(f).size > 200_000; } catch { return false; } }).slice(0, 4);
  const items: { block: Uint8Array; data: Uint8Array }[] = [];
  for (const f of [...files, 'text']) {
    const data = f === 'text' ? TEXT.subarray(0, 1 << 20) : new Uint8Array(readFileSync(f)).subarray(0, 1 << 20);
    const parts: Uint8Array[] = [];
    for (let o = 0; o < data.length;) {
      const { compressed, consumed } = lz4CompressDestSize(data.subarray(o), 4096);
      assert.ok(compressed.length <= 4096 && consumed > 0);
      parts.push(lz4Decompress(compressed, consumed));
      items.push({ block: compressed, data: data.subarray(o, o + consumed) });
      o += consumed;
    }
    assert.ok(Buffer.from(concat(parts)).equals(Buffer.from(data)), `${f} reassembles`);
  }
  for (const it of items) verifyLocal(it.block, it.data, 'pcluster');
  checkWithCli(items);
  checkWithLib(items);
});

test('destSize on a long input only looks at what the capacity can hold', () => {
  // every output byte decodes to at most 255 bytes, so a capacity of c never covers more than 255*c
  const zeros = new Uint8Array(8 << 20);
  for (const cap of [16, 64, 4096]) {
    const a = lz4CompressDestSize(zeros, cap);
    const b = lz4CompressDestSize(zeros.subarray(0, 256 * cap + 2000), cap);
    assert.deepEqual(a.compressed, b.compressed);
    assert.equal(a.consumed, b.consumed);
    // 1 literal, one long match whose length bytes fill the rest but for a token and 5 literals
    assert.ok(a.consumed <= 255 * cap && a.consumed >= (cap - 10) * 255, `cap ${cap}: consumed ${a.consumed}`);
    verifyLocal(a.compressed, zeros.subarray(0, a.consumed), `zeros cap ${cap}`);
    checkWithLib([{ block: a.compressed, data: zeros.subarray(0, a.consumed) }]);
  }
});

test('lz4CompressBlock into a caller buffer writes nothing past the block', () => {
  const r = rng(4242);
  for (let k = 0; k < 300; k++) {
    const data = smallInput(r, k);
    const want = lz4CompressBlock(data);
    if (!want) continue;
    const backing = new Uint8Array(want.length + 64).fill(0xa5);
    const dst = backing.subarray(16, 16 + want.length);
    const got = lz4CompressBlock(data, dst);
    assert.deepEqual(got, want);
    assert.ok(backing.subarray(0, 16).every((b) => b === 0xa5) && backing.subarray(16 + want.length).every((b) => b === 0xa5), `#${k}: guard bytes intact`);
  }
});

test('decoder: long overlapping matches of every period 1..80 (byte loop and strided copies) round-trip', () => {
  for (let period = 1; period <= 80; period++) {
    const seed = randomBytes(period, period);
    const data = new Uint8Array(20_000 + period * 37);
    for (let i = 0; i < data.length; i++) data[i] = seed[i % period]!;
    // a literal run in the middle restarts the pattern at a different phase
    data.set(randomBytes(50, 1000 + period), 9_000);
    const block = lz4EncodeBlock(data);
    assert.ok(block.length < data.length / 4, `period ${period}: the matches overlap their source`);
    assert.deepEqual(lz4Decompress(block, data.length), data, `period ${period}`);
  }
});

// ---------- lz4hcCompressDestSize (EROFS -zlz4hc pclusters) ----------

test('lz4hc destSize: pclusters of text, binaries, random data, zeros and small inputs decode exactly (strict reader, lz4 -d, liblz4 at the exact size)', () => {
  const items: { block: Uint8Array; data: Uint8Array }[] = [];
  const inputs: [string, Uint8Array][] = [];
  for (let k = 0; k < 12; k++) inputs.push([`text@${k}`, TEXT.subarray(k * 300001, k * 300001 + (1 << 20))]);
  for (let k = 0; k < 12; k++) inputs.push([`bin@${k}`, BIN.subarray(k * 290001, k * 290001 + (1 << 20))]);
  for (let k = 0; k < 4; k++) inputs.push([`random${k}`, randomBytes(1 << 20, 70 + k)]);
  inputs.push(['zeros', new Uint8Array(1 << 20)]);
  const r = rng(123);
  for (let k = 0; k < 200; k++) inputs.push([`small${k}`, smallInput(r, k)]);
  for (const level of [1, 2, 9, 12]) {
    for (const cap of [4096, 65536, 100]) {
      for (const [name, data] of inputs) {
        if (level === 12 && cap === 65536 && name.startsWith('small')) continue;
        const { compressed, consumed } = lz4hcCompressDestSize(data, cap, level);
        const what = `lz4hc ${level} cap ${cap} ${name}`;
        assert.ok(compressed.length <= cap, `${what}: ${compressed.length} <= ${cap}`);
        if (data.length === 0) { assert.equal(consumed, 0); continue; }
        assert.ok(consumed > 0, `${what}: consumed something`);
        // an incompressible window costs about one byte per byte, whatever its length
        if (name.startsWith('random')) assert.ok(consumed <= cap, `${what}: consumed ${consumed}`);
        verifyLocal(compressed, data.subarray(0, consumed), what);
        items.push({ block: compressed, data: data.subarray(0, consumed) });
      }
    }
  }
  checkWithCli(items);
  checkWithLib(items);
});

test('lz4hc destSize: a window longer than the capacity can cover gives the same block as a just-long-enough one', () => {
  // what the capacity cannot hold is never looked at: random data past cap, zeros past 255*cap
  const rand = randomBytes(1 << 20, 9);
  const zeros = new Uint8Array(4 << 20);
  for (const level of [1, 9]) {
    for (const cap of [64, 4096]) {
      const a = lz4hcCompressDestSize(rand, cap, level);
      const b = lz4hcCompressDestSize(rand.subarray(0, cap + 64), cap, level);
      assert.deepEqual([a.compressed, a.consumed], [b.compressed, b.consumed], `random, level ${level}, cap ${cap}`);
      const c = lz4hcCompressDestSize(zeros, cap, level);
      assert.ok(c.consumed >= (cap - 10) * 255 && c.consumed <= 255 * cap, `zeros cap ${cap}: consumed ${c.consumed}`);
      verifyLocal(c.compressed, zeros.subarray(0, c.consumed), `zeros lz4hc cap ${cap}`);
    }
  }
});

test('lz4hc destSize covers as much input per 4 KiB pcluster as liblz4 LZ4_compress_HC_destSize at the same level', { skip: !hasPython && 'python3 with liblz4 not found' }, () => {
  const windows = [...chunks(TEXT.subarray(0, 2 << 20), 1 << 16), ...chunks(BIN.subarray(0, 2 << 20), 1 << 16)];
  for (const level of [4, 9]) {
    const res = py(`hcdestsize${level}`, windows.map((a) => ({ a, b: 4096 })));
    let ours = 0, lib = 0;
    windows.forEach((w, k) => { ours += lz4hcCompressDestSize(w, 4096, level).consumed; lib += res.readInt32LE(k * 8 + 4); });
    console.log(`lz4hc level ${level}: consumed per 4 KiB over ${windows.length} windows: ours ${ours}, liblz4 ${lib} (${(ours / lib).toFixed(4)})`);
    assert.ok(ours >= lib * 0.97, `level ${level}: consumed ${ours} vs liblz4 ${lib}`);
  }
});
