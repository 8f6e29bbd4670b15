import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../src/lib/errors.ts';
import { lzmaDecodeRaw, lzmaPropsByte, lzmaPropsFromByte, microLzmaDecode, type LzmaDecodeOptions } from '../src/lib/codec/lzma.ts';
import { openErofs } from '../src/lib/erofs/reader.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { walk } from '../src/lib/fs/path.ts';
import { FIXTURES, REPO, tempDir } from './helpers/paths.ts';
import { concat } from '../src/lib/bytes.ts';

// The oracle is liblzma through python3: `lzma.compress(FORMAT_RAW, FILTER_LZMA1)` for raw LZMA1
// (liblzma always ends those with an end marker), and liblzma's own MicroLZMA encoder (the one
// mkfs.erofs uses; python does not expose it, so it is called through ctypes) for MicroLZMA.
const ENCODER = String.raw`
import ctypes, lzma, struct, json, sys
lib = ctypes.CDLL('liblzma.so.5')
def micro(data, lc, lp, pb, dict_size, preset):
    opts = ctypes.create_string_buffer(256)            # lzma_options_lzma (and spare room)
    if lib.lzma_lzma_preset(opts, ctypes.c_uint32(preset)) != 0: raise Exception('preset')
    struct.pack_into('<I', opts, 0, dict_size)          # dict_size
    struct.pack_into('<III', opts, 20, lc, lp, pb)      # lc, lp, pb after preset_dict(_size)
    strm = ctypes.create_string_buffer(256)             # LZMA_STREAM_INIT is all zeros
    if lib.lzma_microlzma_encoder(strm, opts) != 0: raise Exception('lzma_microlzma_encoder')
    inbuf = ctypes.create_string_buffer(data, len(data) + 1)
    cap = len(data) + len(data) // 2 + 4096
    outbuf = ctypes.create_string_buffer(cap)
    struct.pack_into('<QQQQQQ', strm, 0, ctypes.addressof(inbuf), len(data), 0, ctypes.addressof(outbuf), cap, 0)
    r = lib.lzma_code(strm, 3)                           # LZMA_FINISH
    tin, = struct.unpack_from('<Q', strm, 16)
    tout, = struct.unpack_from('<Q', strm, 40)
    lib.lzma_end(strm)
    if r != 1 or tin != len(data): raise Exception('microlzma: ret %d, %d of %d bytes' % (r, tin, len(data)))
    return outbuf.raw[:tout]
for job in json.load(open(sys.argv[1])):
    data = open(job['in'], 'rb').read()
    if job['mode'] == 'raw':
        f = {'id': lzma.FILTER_LZMA1, 'preset': job['preset'], 'lc': job['lc'], 'lp': job['lp'], 'pb': job['pb']}
        if job['dict']: f['dict_size'] = job['dict']
        out = lzma.compress(data, format=lzma.FORMAT_RAW, filters=[f])
    else:
        out = micro(data, job['lc'], job['lp'], job['pb'], job['dict'] or (1 << 20), job['preset'])
    open(job['out'], 'wb').write(out)
`;

/** liblzma's LZMA_PRESET_EXTREME flag (added, not or-ed: `|` would make a negative int32) */
const EXTREME = 0x80000000;

interface Job {
  data: Uint8Array;
  mode: 'raw' | 'micro';
  lc?: number;
  lp?: number;
  pb?: number;
  preset?: number;
  /** encoder dictionary size; 0 = the preset's */
  dict?: number;
}

/** One python run for many streams (each python start costs more than a small encode). */
function encodeAll(jobs: Job[]): Uint8Array[] {
  const dir = tempDir('ls-lzma-');
  try {
    const spec = jobs.map((j, i) => {
      writeFileSync(join(dir, `${i}.in`), j.data);
      return { in: join(dir, `${i}.in`), out: join(dir, `${i}.out`), mode: j.mode, lc: j.lc ?? 3, lp: j.lp ?? 0, pb: j.pb ?? 2, preset: j.preset ?? 6, dict: j.dict ?? 0 };
    });
    writeFileSync(join(dir, 'jobs.json'), JSON.stringify(spec));
    const r = spawnSync('python3', ['-c', ENCODER, join(dir, 'jobs.json')], { encoding: 'utf8', maxBuffer: 1 << 20 });
    assert.equal(r.status, 0, `python3 encoder failed: ${r.stderr}`);
    return spec.map((s) => new Uint8Array(readFileSync(s.out)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function encodeOne(job: Job): Uint8Array {
  return encodeAll([job])[0]!;
}

// ---- inputs -------------------------------------------------------------------------------------

function xorshift(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function randomBytes(n: number, seed: number): Uint8Array {
  const next = xorshift(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = next() & 0xff;
  return b;
}

/** real text: this repository's TypeScript sources */
const TEXT: Uint8Array = (() => {
  const parts: Uint8Array[] = [];
  let total = 0;
  const root = join(REPO, 'src');
  for (const rel of (readdirSync(root, { recursive: true }) as string[]).sort()) {
    if (!rel.endsWith('.ts') || total > 400_000) continue;
    const b = new Uint8Array(readFileSync(join(root, rel)));
    parts.push(b);
    total += b.length;
  }
  return concat(...parts).subarray(0, 400_000);
})();

/** real machine code: a slice of the node binary running this test */
const BINARY: Uint8Array = (() => {
  const b = new Uint8Array(readFileSync(process.execPath));
  const start = Math.min(1 << 20, Math.max(0, b.length - 600_000));
  return b.slice(start, start + 600_000);
})();

const RANDOM = randomBytes(200_000, 12345);
const REPETITIVE = new TextEncoder().encode('abcabcabd'.repeat(30_000));
const ZEROS = new Uint8Array(1 << 20);

/** text, code, noise and runs, interleaved in pieces of varied size */
function mixed(n: number, seed: number): Uint8Array {
  const next = xorshift(seed);
  const sources = [TEXT, BINARY, RANDOM, REPETITIVE, ZEROS];
  const parts: Uint8Array[] = [];
  let total = 0;
  while (total < n) {
    const s = sources[next() % sources.length]!;
    const len = Math.min(n - total, 1 + (next() % 20_000));
    const at = next() % (s.length - len);
    parts.push(s.subarray(at, at + len));
    total += len;
  }
  return concat(...parts);
}

const MIXED_48K = mixed(48 << 10, 7);

// ---- helpers ------------------------------------------------------------------------------------

/** raw LZMA1 stream → MicroLZMA: byte 0 (always 0 in raw) becomes ~props */
function toMicro(raw: Uint8Array, lc: number, lp: number, pb: number): Uint8Array {
  const m = raw.slice();
  m[0] = ~lzmaPropsByte(lc, lp, pb) & 0xff;
  return m;
}

const GUARD = 64;

/**
 * An output buffer of `n` bytes that is a view into a larger one whose last GUARD bytes hold a
 * pattern, so that a write past out.length would show.
 */
function guardedOut(n: number): { out: Uint8Array; intact: () => boolean } {
  const all = new Uint8Array(n + GUARD);
  for (let i = 0; i < GUARD; i++) all[n + i] = (i * 37 + 11) & 0xff;
  const out = all.subarray(0, n);
  return { out, intact: () => all.subarray(n).every((v, i) => v === ((i * 37 + 11) & 0xff)) };
}

function sameBytes(a: Uint8Array, b: Uint8Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  const i = a.findIndex((v, k) => v !== b[k]);
  assert.equal(i, -1, `${what}: first difference at byte ${i}`);
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function throwsFormat(fn: () => unknown, re: RegExp, what: string): void {
  assert.throws(fn, (e: unknown) => e instanceof FormatError && re.test(e.detail), what);
}

/** Decode one raw stream every way it can be decoded, and its MicroLZMA form as well. */
function checkRaw(raw: Uint8Array, data: Uint8Array, lc: number, lp: number, pb: number, dictSize: number, what: string): void {
  assert.equal(raw[0], 0, `${what}: raw stream starts with 0`);
  const props = { lc, lp, pb, dictSize };
  const a = guardedOut(data.length);
  const used = lzmaDecodeRaw(raw, props, a.out);
  sameBytes(a.out, data, `${what} raw`);
  assert.ok(a.intact(), `${what}: wrote past out`);
  // liblzma ends every raw LZMA1 stream with an end marker: a decode that stops at the declared
  // size leaves it (and the flush) unread; an exact decode must read it to the last byte
  assert.ok(used >= 5 && used < raw.length, `${what}: ${used} of ${raw.length} bytes used`);
  const b = guardedOut(data.length);
  assert.equal(lzmaDecodeRaw(raw, props, b.out, { exact: true }), raw.length, `${what}: exact decode uses all input`);
  sameBytes(b.out, data, `${what} raw exact`);
  assert.ok(b.intact(), `${what}: wrote past out (exact)`);
  const micro = toMicro(raw, lc, lp, pb);
  const c = guardedOut(data.length);
  assert.equal(microLzmaDecode(micro, c.out, Math.max(dictSize, 4096)), used, `${what}: micro uses as much as raw`);
  sameBytes(c.out, data, `${what} micro`);
  assert.ok(c.intact(), `${what}: wrote past out (micro)`);
  // MicroLZMA has no end marker: the kernel's full (non-partial) decode refuses what follows
  throwsFormat(() => microLzmaDecode(micro, guardedOut(data.length).out, Math.max(dictSize, 4096), { exact: true }), /left after|not flushed/, `${what}: micro exact with an end marker`);
}

/** Decode a MicroLZMA stream from liblzma's MicroLZMA encoder, exact and not. */
function checkMicro(micro: Uint8Array, data: Uint8Array, lc: number, lp: number, pb: number, dictSize: number, what: string): void {
  assert.equal(micro[0], ~lzmaPropsByte(lc, lp, pb) & 0xff, `${what}: first byte is ~props`);
  const a = guardedOut(data.length);
  assert.equal(microLzmaDecode(micro, a.out, dictSize, { exact: true }), micro.length, `${what}: exact decode uses all input`);
  sameBytes(a.out, data, `${what} micro exact`);
  assert.ok(a.intact(), `${what}: wrote past out`);
  // as raw LZMA1: byte 0 back to 0; no end marker, and none needed in exact mode
  const raw = micro.slice();
  raw[0] = 0;
  const b = guardedOut(data.length);
  assert.equal(lzmaDecodeRaw(raw, { lc, lp, pb, dictSize }, b.out, { exact: true }), micro.length, `${what}: raw exact`);
  sameBytes(b.out, data, `${what} raw exact`);
}

// ---- tests --------------------------------------------------------------------------------------

test('props byte: (pb × 5 + lp) × 9 + lc, and the lc + lp ≤ 4, pb ≤ 4 limits', () => {
  let valid = 0;
  for (let b = 0; b < 256; b++) {
    const p = lzmaPropsFromByte(b);
    if (p === null) continue;
    valid++;
    assert.equal(lzmaPropsByte(p.lc, p.lp, p.pb), b);
    assert.ok(p.lc + p.lp <= 4 && p.pb <= 4);
  }
  // 15 (lc, lp) pairs with lc + lp ≤ 4, times 5 pb values
  assert.equal(valid, 75);
  assert.deepEqual(lzmaPropsFromByte(0x5d), { lc: 3, lp: 0, pb: 2 });
  assert.equal(lzmaPropsFromByte(225), null);
  assert.equal(lzmaPropsFromByte(lzmaPropsByte(4, 1, 0)), null);
});

test('raw LZMA1 from liblzma with every valid lc/lp/pb decodes, exact and not, and as MicroLZMA', { timeout: 300_000 }, () => {
  const combos: [number, number, number][] = [];
  for (let lc = 0; lc <= 4; lc++) for (let lp = 0; lc + lp <= 4; lp++) for (let pb = 0; pb <= 4; pb++) combos.push([lc, lp, pb]);
  assert.equal(combos.length, 75);
  const streams = encodeAll(combos.map(([lc, lp, pb]) => ({ data: MIXED_48K, mode: 'raw', lc, lp, pb, preset: 6, dict: 1 << 16 })));
  combos.forEach(([lc, lp, pb], i) => checkRaw(streams[i]!, MIXED_48K, lc, lp, pb, 1 << 16, `lc=${lc} lp=${lp} pb=${pb}`));
});

test('MicroLZMA from liblzma\'s MicroLZMA encoder with every valid lc/lp/pb decodes exactly', { timeout: 300_000 }, () => {
  const combos: [number, number, number][] = [];
  for (let lc = 0; lc <= 4; lc++) for (let lp = 0; lc + lp <= 4; lp++) for (let pb = 0; pb <= 4; pb++) combos.push([lc, lp, pb]);
  const streams = encodeAll(combos.map(([lc, lp, pb]) => ({ data: MIXED_48K, mode: 'micro', lc, lp, pb, preset: 6, dict: 1 << 16 })));
  combos.forEach(([lc, lp, pb], i) => checkMicro(streams[i]!, MIXED_48K, lc, lp, pb, 1 << 16, `micro lc=${lc} lp=${lp} pb=${pb}`));
});

test('presets 0-9 and 9 extreme, on text and machine code, raw and MicroLZMA', { timeout: 300_000 }, () => {
  const presets = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9 + EXTREME, 3 + EXTREME];
  const inputs: [string, Uint8Array][] = [['text', TEXT.subarray(0, 200_000)], ['binary', BINARY.subarray(0, 200_000)]];
  const jobs: Job[] = [];
  for (const [, data] of inputs) for (const preset of presets) for (const mode of ['raw', 'micro'] as const) jobs.push({ data, mode, preset });
  const streams = encodeAll(jobs);
  jobs.forEach((j, i) => {
    const what = `${inputs.find(([, d]) => d === j.data)![0]} preset ${j.preset! & 0xff}${j.preset! >= EXTREME ? 'e' : ''} ${j.mode}`;
    if (j.mode === 'raw') checkRaw(streams[i]!, j.data, 3, 0, 2, 64 << 20, what);
    else checkMicro(streams[i]!, j.data, 3, 0, 2, 1 << 20, what);
  });
});

test('edge inputs: empty, one byte, noise, runs, zeros, short strings', { timeout: 300_000 }, () => {
  const inputs: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['one byte', new Uint8Array([0x41])],
    ['two bytes', new Uint8Array([0, 0])],
    ['random', RANDOM],
    ['repetitive', REPETITIVE],
    ['zeros', ZEROS],
    ...[2, 3, 5, 17, 100, 273, 274, 275, 1000].map((n): [string, Uint8Array] => [`${n} text bytes`, TEXT.subarray(5000, 5000 + n)]),
    ['one byte then zeros', concat(new Uint8Array([7]), new Uint8Array(100_000))],
  ];
  const jobs: Job[] = [];
  for (const [, data] of inputs) {
    jobs.push({ data, mode: 'raw', preset: 6 });
    jobs.push({ data, mode: 'raw', preset: 0, lc: 0, lp: 0, pb: 0 });
    jobs.push({ data, mode: 'micro', preset: 9 });
  }
  const streams = encodeAll(jobs);
  jobs.forEach((j, i) => {
    const what = `${inputs[Math.floor(i / 3)]![0]} ${j.mode} preset ${j.preset}`;
    if (j.mode === 'raw') checkRaw(streams[i]!, j.data, j.lc ?? 3, j.lp ?? 0, j.pb ?? 2, 8 << 20, what);
    else checkMicro(streams[i]!, j.data, 3, 0, 2, 1 << 20, what);
  });
});

test('dictionary sizes: 4 KiB to 8 MiB decode; a dictionary smaller than the encoder\'s is refused', { timeout: 300_000 }, () => {
  const data = mixed(900_000, 99);
  const dicts = [4096, 1 << 16, 1 << 20, 8 << 20];
  const jobs: Job[] = dicts.flatMap((dict): Job[] => [{ data, mode: 'raw', dict, preset: 6 }, { data, mode: 'micro', dict, preset: 6 }]);
  const streams = encodeAll(jobs);
  jobs.forEach((j, i) => {
    if (j.mode === 'raw') checkRaw(streams[i]!, data, 3, 0, 2, j.dict!, `raw dict ${j.dict}`);
    else checkMicro(streams[i]!, data, 3, 0, 2, j.dict!, `micro dict ${j.dict}`);
  });
  // matches reach further back than 4 KiB with a 64 KiB dictionary: told 4 KiB, the decoder refuses
  throwsFormat(() => microLzmaDecode(streams[3]!, new Uint8Array(data.length), 4096), /exceeds the dictionary size 4096/, 'micro 64K stream with a 4K dictionary');
  throwsFormat(() => lzmaDecodeRaw(streams[2]!, { lc: 3, lp: 0, pb: 2, dictSize: 4096 }, new Uint8Array(data.length)), /exceeds the dictionary size 4096/, 'raw 64K stream with a 4K dictionary');
});

test('a few MiB of mixed data, raw preset 6 and MicroLZMA preset 9e', { timeout: 300_000 }, () => {
  const data = mixed(3 << 20, 2024);
  const [raw, micro] = encodeAll([{ data, mode: 'raw', preset: 6 }, { data, mode: 'micro', preset: 9 + EXTREME, dict: 8 << 20 }]);
  checkRaw(raw!, data, 3, 0, 2, 8 << 20, '3 MiB raw');
  checkMicro(micro!, data, 3, 0, 2, 8 << 20, '3 MiB micro');
});

test('partial decoding stops at out.length: a prefix, nothing written past it; exact refuses a wrong size', { timeout: 300_000 }, () => {
  const data = mixed(100_000, 5);
  const [raw, micro] = encodeAll([{ data, mode: 'raw', preset: 6 }, { data, mode: 'micro', preset: 6 }]);
  for (const n of [0, 1, 2, 3, 17, 273, 4096, 4097, 50_000, data.length - 1, data.length]) {
    const a = guardedOut(n);
    const usedRaw = lzmaDecodeRaw(raw!, { lc: 3, lp: 0, pb: 2, dictSize: 1 << 20 }, a.out);
    sameBytes(a.out, data.subarray(0, n), `raw prefix ${n}`);
    assert.ok(a.intact(), `raw prefix ${n}: wrote past out`);
    const b = guardedOut(n);
    const usedMicro = microLzmaDecode(micro!, b.out, 1 << 20);
    sameBytes(b.out, data.subarray(0, n), `micro prefix ${n}`);
    assert.ok(b.intact(), `micro prefix ${n}: wrote past out`);
    if (n < data.length) {
      if (n <= data.length >> 1) assert.ok(usedRaw < raw!.length - 6 && usedMicro < micro!.length, `prefix ${n} reads only part of the input: ${usedRaw} of ${raw!.length}, ${usedMicro} of ${micro!.length}`);
      throwsFormat(() => microLzmaDecode(micro!, new Uint8Array(n), 1 << 20, { exact: true }), /left after|past the|not flushed/, `micro exact with ${n} of ${data.length}`);
      throwsFormat(() => lzmaDecodeRaw(raw!, { lc: 3, lp: 0, pb: 2, dictSize: 1 << 20 }, new Uint8Array(n), { exact: true }), /past the|no end marker/, `raw exact with ${n} of ${data.length}`);
    }
  }
  // more output wanted than the stream holds: the raw stream's end marker comes first, the MicroLZMA
  // stream runs out of input
  throwsFormat(() => lzmaDecodeRaw(raw!, { lc: 3, lp: 0, pb: 2, dictSize: 1 << 20 }, new Uint8Array(data.length + 1)), /end marker after 100000 bytes/, 'raw, one byte too many');
  throwsFormat(() => microLzmaDecode(micro!, new Uint8Array(data.length + 1), 1 << 20), /input ends/, 'micro, one byte too many');
});

test('MicroLZMA pclusters of EROFS images made by mkfs.erofs -zlzma decode to the files the kernel reads', { timeout: 300_000 }, async () => {
  for (const name of ['lzma', 'lzma-C128k']) {
    const path = join(FIXTURES, 'erofs-modern', `${name}.erofs`);
    const img = new Uint8Array(readFileSync(path));
    const manifest = new Map<string, { sha256?: string; size?: number }>(
      readFileSync(`${path}.manifest.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { path: string; sha256?: string }).map((e) => [e.path, e]),
    );
    const fs = await openErofs(new BytesSource(img));
    // the LZMA config record (§3.12): le16 record size, then le32 dict_size, le16 format
    const cfg = (fs as unknown as { sb: { comprCfgs: { algorithm: number; offset: number; size: number }[] } }).sb.comprCfgs.find((c) => c.algorithm === 1);
    assert.ok(cfg, `${name}: has an LZMA config record`);
    const dv = new DataView(img.buffer, img.byteOffset, img.byteLength);
    const dictSize = dv.getUint32(cfg.offset + 2, true);
    assert.equal(dv.getUint16(cfg.offset + 6, true), 0, `${name}: LZMA format 0`);
    let files = 0;
    let pclusters = 0;
    for await (const e of walk(fs)) {
      if (e.attr.type !== 'reg') continue;
      const d = (await fs.inodeDetails(e.attr.ino)) as { data?: { kind: string; extents: { logical: number; length: number; algorithm: unknown; pclusterOffset: number; compressedSize: number; inline: boolean }[] } };
      if (d.data?.kind !== 'compressed') continue;
      const file = new Uint8Array(e.attr.size);
      for (const x of d.data.extents) {
        assert.equal(x.algorithm, 'lzma');
        assert.ok(!x.inline);
        // 0padding: the stream is right-aligned in its pcluster, zeros before it
        let p = x.pclusterOffset;
        const end = p + x.compressedSize;
        while (p < end && img[p] === 0) p++;
        const src = img.subarray(p, end);
        const out = file.subarray(x.logical, x.logical + x.length);
        assert.equal(microLzmaDecode(src, out, dictSize, { exact: true, structure: 'erofs.pcluster', offset: p }), src.length);
        // the kernel's partial decode: a prefix only
        for (const n of [1, 1000, x.length >> 1]) {
          const part = guardedOut(n);
          microLzmaDecode(src, part.out, dictSize, { offset: p });
          sameBytes(part.out, out.subarray(0, n), `${name} nid ${e.attr.ino} prefix ${n}`);
          assert.ok(part.intact());
        }
        pclusters++;
      }
      const where = '/' + e.path.map((c) => new TextDecoder().decode(c)).join('/');
      assert.equal(sha256(file), manifest.get(where)?.sha256, `${name}: ${where} as the kernel reads it`);
      files++;
    }
    assert.ok(files >= 3 && pclusters >= files, `${name}: ${files} compressed files, ${pclusters} pclusters`);
  }
});

test('corrupt input fails with FormatError at the right place', () => {
  const [raw, micro] = encodeAll([{ data: TEXT.subarray(0, 20_000), mode: 'raw', preset: 6 }, { data: TEXT.subarray(0, 20_000), mode: 'micro', preset: 6 }]);
  const props = { lc: 3, lp: 0, pb: 2, dictSize: 1 << 20 };
  const out = new Uint8Array(20_000);
  // raw: the first byte must be 0
  const bad = raw!.slice();
  bad[0] = 1;
  throwsFormat(() => lzmaDecodeRaw(bad, props, out), /first byte/, 'raw first byte 1');
  // shorter than the range coder's 5 initial bytes
  throwsFormat(() => lzmaDecodeRaw(raw!.subarray(0, 4), props, new Uint8Array(0)), /shorter than/, 'raw of 4 bytes');
  throwsFormat(() => microLzmaDecode(micro!.subarray(0, 4), new Uint8Array(0), 1 << 20), /shorter than/, 'micro of 4 bytes');
  // invalid properties
  throwsFormat(() => lzmaDecodeRaw(raw!, { ...props, lc: 4, lp: 1 }, out), /invalid properties/, 'raw lc=4 lp=1');
  throwsFormat(() => lzmaDecodeRaw(raw!, { ...props, pb: 5 }, out), /invalid properties/, 'raw pb=5');
  throwsFormat(() => lzmaDecodeRaw(raw!, { ...props, lc: 1.5 }, out), /invalid properties/, 'raw lc=1.5');
  for (const propsByte of [lzmaPropsByte(4, 1, 0), lzmaPropsByte(0, 0, 0) + 225, 255]) {
    const m = micro!.slice();
    m[0] = ~propsByte & 0xff;
    throwsFormat(() => microLzmaDecode(m, out, 1 << 20), /invalid properties/, `micro props 0x${propsByte.toString(16)}`);
  }
  // dictionary size out of the kernel's range
  for (const d of [0, 4095, 1.5, 3 * 2 ** 30 + 1]) throwsFormat(() => microLzmaDecode(micro!, out, d), /dictionary size/, `micro dict ${d}`);
  throwsFormat(() => lzmaDecodeRaw(raw!, { ...props, dictSize: -1 }, out), /dictionary size/, 'raw dict -1');
  // truncated: the error names the input byte where the input ran out. Cuts inside the range
  // coder's final 5 flush bytes are left out: whether the decoder still needs the last of them
  // depends on the data (TEXT is this repository's sources, so it changes with every commit), and
  // a stream that decodes without it is correct; that case is checked below.
  for (const cut of [5, 6, 100, micro!.length >> 1, micro!.length - 6]) {
    const cutStream = micro!.subarray(0, cut);
    assert.throws(() => microLzmaDecode(cutStream, new Uint8Array(20_000), 1 << 20, { offset: 1000 }), (e: unknown) => {
      return e instanceof FormatError && /input ends/.test(e.detail) && e.offset === 1000 + cut && e.structure === 'lzma stream';
    }, `micro cut at ${cut}`);
  }
  // one byte short: either the input ends where the error says, or every byte decodes right
  {
    const shorter = micro!.subarray(0, micro!.length - 1);
    const got = new Uint8Array(20_000);
    try {
      microLzmaDecode(shorter, got, 1 << 20, { offset: 1000 });
      assert.deepEqual(got, TEXT.subarray(0, 20_000), 'a stream one byte short decoded, so it must decode right');
    } catch (e) {
      assert.ok(e instanceof FormatError && /input ends/.test(e.detail) && e.offset === 1000 + shorter.length, `micro cut at ${shorter.length}: ${String(e)}`);
    }
  }
  // a trailing byte after a complete MicroLZMA stream: fine for a partial decode, not for an exact one
  const longer = concat(micro!, new Uint8Array([0x55]));
  assert.equal(microLzmaDecode(longer, new Uint8Array(20_000), 1 << 20), micro!.length);
  throwsFormat(() => microLzmaDecode(longer, new Uint8Array(20_000), 1 << 20, { exact: true }), /1 input bytes left/, 'micro with a trailing byte');
  // a code of 0xffffffff can not start a stream
  const ff = micro!.slice();
  ff.fill(0xff, 1, 5);
  throwsFormat(() => microLzmaDecode(ff, out, 1 << 20), /0xffffffff/, 'micro code 0xffffffff');
  // a stream whose first symbol is a match has nothing to copy from: bytes that decode as "match"
  const m = micro!.slice();
  m.fill(0xfe, 1, 5);
  throwsFormat(() => microLzmaDecode(m, out, 1 << 20), /before the start|repeated match/, 'match at byte 0');
  // the error carries the structure name given
  assert.throws(() => lzmaDecodeRaw(bad, props, out, { structure: 'erofs.pcluster', offset: 8192 }), (e: unknown) => e instanceof FormatError && e.structure === 'erofs.pcluster' && e.offset === 8192);
});

/**
 * A minimal LZMA range encoder, to write symbol sequences no real encoder emits. Every bit here is
 * coded in a context used for the first time, so its probability is the initial one-half (1024).
 */
class RangeEncoder {
  private low = 0; // < 2^33: a float keeps it exact
  private range = 0xffffffff;
  private cache = 0;
  private cacheSize = 1;
  readonly bytes: number[] = [];

  bit(b: number): void {
    const bound = Math.floor(this.range / 2048) * 1024;
    if (b === 0) this.range = bound;
    else {
      this.low += bound;
      this.range -= bound;
    }
    this.normalize();
  }
  bits(value: number, n: number): void {
    for (let i = n - 1; i >= 0; i--) this.bit((value >>> i) & 1);
  }
  direct(value: number, n: number): void {
    for (let i = n - 1; i >= 0; i--) {
      this.range = Math.floor(this.range / 2);
      if ((value >>> i) & 1) this.low += this.range;
      this.normalize();
    }
  }
  finish(): Uint8Array {
    for (let i = 0; i < 5; i++) this.shiftLow();
    return new Uint8Array(this.bytes);
  }
  private normalize(): void {
    while (this.range < 0x1000000) {
      this.range *= 256;
      this.shiftLow();
    }
  }
  private shiftLow(): void {
    const carry = this.low >= 2 ** 32 ? 1 : 0;
    const low32 = this.low % 2 ** 32;
    if (low32 < 0xff000000 || carry) {
      let temp = this.cache;
      do {
        this.bytes.push((temp + carry) & 0xff);
        temp = 0xff;
      } while (--this.cacheSize !== 0);
      this.cache = Math.floor(low32 / 2 ** 24);
    }
    this.cacheSize++;
    this.low = (low32 % 2 ** 24) * 256;
  }
}

/** literal 'A' (0x41) as the first symbol: is_match 0, then its 8 bits */
function literalA(e: RangeEncoder): void {
  e.bit(0);
  e.bits(0x41, 8);
}

/** an end marker as the second symbol (pos state 1): match, length 2, slot 63, all distance bits 1 */
function endMarkerAfterA(e: RangeEncoder): void {
  e.bit(1); // is_match
  e.bit(0); // is_rep: a new distance
  e.bit(0); // length choice: low tree
  e.bits(0, 3); // length 2
  e.bits(63, 6); // distance slot 63
  e.direct(0x3ffffff, 26);
  e.bits(0xf, 4); // align bits (reverse tree, all ones either way)
}

test('hand-made streams: end marker, and matches with nothing to copy from', () => {
  const props = { lc: 3, lp: 0, pb: 2, dictSize: 1 << 20 };
  // 'A' and an end marker
  let e = new RangeEncoder();
  literalA(e);
  endMarkerAfterA(e);
  const withMarker = e.finish();
  assert.equal(withMarker[0], 0);
  const one = new Uint8Array(1);
  assert.equal(lzmaDecodeRaw(withMarker, props, one, { exact: true }), withMarker.length);
  assert.equal(one[0], 0x41);
  throwsFormat(() => lzmaDecodeRaw(withMarker, props, new Uint8Array(2)), /end marker after 1 bytes, before the 2/, 'end marker too early');
  throwsFormat(() => microLzmaDecode(toMicro(withMarker, 3, 0, 2), new Uint8Array(1), 1 << 20, { exact: true }), /left after|not flushed/, 'MicroLZMA may not end with a marker');
  // 'A' alone, flushed: exact without a marker
  e = new RangeEncoder();
  literalA(e);
  const plain = e.finish();
  assert.equal(lzmaDecodeRaw(plain, props, one.fill(0), { exact: true }), plain.length);
  assert.equal(one[0], 0x41);
  assert.equal(microLzmaDecode(toMicro(plain, 3, 0, 2), one.fill(0), 4096, { exact: true }), plain.length);
  assert.equal(one[0], 0x41);
  // a short rep (one byte from the last distance) as the very first symbol
  e = new RangeEncoder();
  e.bit(1); // is_match
  e.bit(1); // is_rep
  e.bit(0); // rep0
  e.bit(0); // short rep
  const shortRep = e.finish();
  throwsFormat(() => lzmaDecodeRaw(shortRep, props, new Uint8Array(4)), /repeated match/, 'short rep at byte 0');
  // 'A', then a match of distance 6 (slot 5: 6 + one low bit 0) when one byte exists
  e = new RangeEncoder();
  literalA(e);
  e.bit(1); // is_match
  e.bit(0); // new distance
  e.bit(0); // length: low tree
  e.bits(0, 3); // length 2
  e.bits(5, 6); // slot 5
  e.bit(0); // its one low bit
  const farMatch = e.finish();
  throwsFormat(() => lzmaDecodeRaw(farMatch, props, new Uint8Array(10)), /distance 7 reaches before the start of the output \(1 bytes decoded\)/, 'distance past the start');
  // the same, wanting only the literal: a partial decode never reaches the bad match
  assert.ok(lzmaDecodeRaw(farMatch, props, one.fill(0)) > 0);
  assert.equal(one[0], 0x41);
});

test('damaged streams either decode or fail with FormatError, never writing past out', { timeout: 600_000 }, () => {
  const bases: [string, Uint8Array][] = [
    ['text', TEXT.subarray(0, 12_000)],
    ['binary', BINARY.subarray(0, 12_000)],
    ['mixed', MIXED_48K.subarray(0, 16_000)],
    ['runs', REPETITIVE.subarray(0, 30_000)],
  ];
  const jobs: Job[] = bases.flatMap(([, data]): Job[] => [
    { data, mode: 'raw', preset: 6 },
    { data, mode: 'micro', preset: 6, dict: 1 << 16 },
    { data, mode: 'micro', preset: 1, lc: 0, lp: 2, pb: 4, dict: 4096 },
  ]);
  const streams = encodeAll(jobs);
  const next = xorshift(0xdecaf);
  const outcome = { ok: 0, formatError: 0 };
  const attempt = (fn: (out: Uint8Array, opts: LzmaDecodeOptions) => unknown, n: number, what: string): void => {
    for (const exact of [false, true]) {
      const g = guardedOut(n);
      try {
        fn(g.out, { exact, structure: 'fuzz', offset: 0 });
        outcome.ok++;
      } catch (e) {
        if (!(e instanceof FormatError)) throw new Error(`${what}: ${String(e)}`, { cause: e });
        assert.equal(e.structure, 'fuzz');
        assert.ok(e.offset >= 0, `${what}: offset ${e.offset}`);
        outcome.formatError++;
      }
      assert.ok(g.intact(), `${what}: wrote past out`);
    }
  };
  jobs.forEach((j, ji) => {
    const s = streams[ji]!;
    for (let k = 0; k < 400; k++) {
      const d = s.slice();
      const kind = k % 5;
      let m: Uint8Array = d;
      if (kind === 0) {
        d[next() % d.length] ^= 1 << (next() % 8);
      } else if (kind === 1) {
        for (let f = 1 + (next() % 8); f > 0; f--) d[next() % d.length] = next() & 0xff;
      } else if (kind === 2) {
        m = d.subarray(0, next() % d.length);
      } else if (kind === 3) {
        // flips in the first bytes, where the properties and the range coder's code are
        d[next() % Math.min(8, d.length)] ^= 1 << (next() % 8);
      } else {
        const at = next() % d.length;
        m = concat(d.subarray(0, at), randomBytes(next() % 64, next()), d.subarray(at));
      }
      // a declared size near the real one, or anything up to twice it
      const n = k % 3 === 0 ? j.data.length : next() % (2 * j.data.length + 2);
      const what = `${bases[Math.floor(ji / 3)]![0]} ${j.mode} #${k}`;
      // each damaged stream in both forms: raw (byte 0 = 0) and MicroLZMA (byte 0 = ~props)
      const lc = j.lc ?? 3;
      const lp = j.lp ?? 0;
      const pb = j.pb ?? 2;
      const asRaw = m.slice();
      const asMicro = m.length > 0 ? toMicro(m, lc, lp, pb) : m;
      if (j.mode === 'raw' && asRaw.length > 0) asRaw[0] = m[0]!; // keep byte-0 damage visible to the raw decoder
      else if (asRaw.length > 0) asRaw[0] = 0;
      if (j.mode === 'micro' && asMicro.length > 0) asMicro[0] = m[0]!;
      attempt((out, o) => lzmaDecodeRaw(asRaw, { lc, lp, pb, dictSize: j.dict || 1 << 20 }, out, o), n, `${what} as raw`);
      attempt((out, o) => microLzmaDecode(asMicro, out, j.dict || 1 << 20, o), n, `${what} as micro`);
    }
  });
  // both outcomes occur, so the sweep tests something
  assert.ok(outcome.ok > 100 && outcome.formatError > 1000, JSON.stringify(outcome));
});
