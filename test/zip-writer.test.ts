// Our streaming STORED zip writer (src/lib/io/zip-writer.ts), read back by Python's zipfile (every
// CRC checked by testzip, every data descriptor walked from the local headers), Info-ZIP's `unzip -t`
// when installed, and compared byte for byte with fflate's Zip + ZipPassThrough (which the page
// used before) where both write the same records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Zip, ZipPassThrough } from 'fflate';
import { ZipWriter, dosDateTime, type ZipEntry } from '../src/lib/io/zip-writer.ts';
import { IoError } from '../src/lib/errors.ts';
import { zipObjects } from '../src/lib/app/object-store.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { concat } from '../src/lib/bytes.ts';

const work = mkdtempSync(join(tmpdir(), 'zipw-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

// Reads the zip with zipfile: testzip() (every entry's bytes against its CRC), then from each local
// header, the data descriptor after the bytes (ZIP64 form when the local header has a ZIP64 extra
// field); prints the entries and what it found as JSON.
const CHECK = String.raw`
import json, struct, sys, zipfile, zlib
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
raw = open(sys.argv[1], 'rb').read()
out = []
for i in z.infolist():
    at = i.header_offset
    sig, need, flags, method, t, d, crc, cs, us, nl, xl = struct.unpack_from('<IHHHHHIIIHH', raw, at)
    assert sig == 0x04034b50, 'local header signature'
    extra = raw[at + 30 + nl: at + 30 + nl + xl]
    z64 = len(extra) >= 4 and struct.unpack_from('<H', extra)[0] == 1
    data = at + 30 + nl + xl
    if z64:
        dsig, dcrc, dcs, dus = struct.unpack_from('<IIQQ', raw, data + i.file_size)
    else:
        dsig, dcrc, dcs, dus = struct.unpack_from('<IIII', raw, data + i.file_size)
    content = z.read(i)
    out.append(dict(name=i.filename, size=i.file_size, crc=i.CRC, zcrc=zlib.crc32(content), flags=flags,
        local_flags_match=flags == i.flag_bits, local_zip64=z64, desc=[dsig, dcrc, dcs, dus], date=list(i.date_time),
        version=i.extract_version, cd_extra=i.extra.hex()))
print(json.dumps(dict(bad=bad, count=len(z.infolist()), entries=out)))
`;

type Checked = {
  bad: string | null;
  count: number;
  entries: { name: string; size: number; crc: number; zcrc: number; flags: number; local_flags_match: boolean; local_zip64: boolean; desc: number[]; date: number[]; version: number; cd_extra: string }[];
};

function python(path: string): Checked {
  return JSON.parse(execFileSync('python3', ['-c', CHECK, path], { encoding: 'utf8', maxBuffer: 64 << 20 })) as Checked;
}

function unzipT(path: string): string | null {
  try {
    execFileSync('unzip', ['-v'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  return execFileSync('unzip', ['-tq', path], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

async function zipOf(entries: { e: ZipEntry; data: Uint8Array[] }[], opts: { zip64Limits?: { bytes: number; entries: number } } = {}): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const w = new ZipWriter({ write: (c) => void parts.push(c) }, opts);
  for (const { e, data } of entries) await w.add(e, data);
  await w.end();
  return concat(...parts);
}

const T = new Date(Date.UTC(2021, 5, 30, 13, 45, 59));
const bytes = (n: number, k: number): Uint8Array => new Uint8Array(n).map((_, i) => (i * k + (i >> 8)) & 255);
const SAMPLE = [
  { e: { name: 'ab/cdef0123', size: 70000, mtime: T }, data: [bytes(1, 3), bytes(65535, 5), bytes(4464, 11)] },
  { e: { name: 'empty', size: 0, mtime: T }, data: [] },
  { e: { name: 'dir/ünïcödé-名前-🙂.bin', size: 3, mtime: T }, data: [new Uint8Array([1, 2, 3])] },
  { e: { name: 'odd-second', size: 1, mtime: new Date(Date.UTC(1999, 11, 31, 23, 59, 58)) }, data: [new Uint8Array([9])] },
];

test('zip: Python reads every entry (testzip: no CRC mismatch), UTF-8 names flagged, an empty file, DOS times from the mtime in UTC; unzip -t agrees', async () => {
  const z = await zipOf(SAMPLE);
  const path = join(work, 'plain.zip');
  writeFileSync(path, z);
  const r = python(path);
  assert.equal(r.bad, null);
  assert.deepEqual(r.entries.map((e) => [e.name, e.size]), SAMPLE.map((s) => [s.e.name, s.e.size]));
  for (const e of r.entries) {
    assert.equal(e.crc, e.zcrc, `${e.name}: the stored CRC is zlib's`);
    assert.ok(e.local_flags_match, `${e.name}: local and central flags agree`);
    assert.deepEqual(e.desc, [0x08074b50, e.crc, e.size, e.size], `${e.name}: the data descriptor`);
    assert.equal(e.local_zip64, false);
    assert.equal(e.cd_extra, '');
    assert.equal(e.version, 20);
    assert.equal(e.flags & 0x800, /^[\x00-\x7f]*$/.test(e.name) ? 0 : 0x800, `${e.name}: UTF-8 flag only on a non-ASCII name`);
  }
  assert.deepEqual(r.entries[0]!.date, [2021, 6, 30, 13, 45, 58], 'DOS time: 2-second steps');
  assert.deepEqual(r.entries[3]!.date, [1999, 12, 31, 23, 59, 58]);
  const t = unzipT(path);
  if (t !== null) assert.match(t, /No errors detected/);
});

test('zip: byte for byte what fflate Zip + ZipPassThrough (the page writer before) gives the same entries', async (t) => {
  const tz = process.env.TZ;
  process.env.TZ = 'UTC'; // fflate takes the DOS time in local time, ours in UTC
  t.after(() => (tz === undefined ? delete process.env.TZ : (process.env.TZ = tz)));
  const chunks: Uint8Array[] = [];
  const zf = new Zip((err, c) => {
    if (err) throw err;
    chunks.push(c);
  });
  for (const s of SAMPLE) {
    const e = new ZipPassThrough(s.e.name);
    e.mtime = s.e.mtime;
    zf.add(e);
    if (s.data.length === 0) e.push(new Uint8Array(0), true);
    s.data.forEach((d, i) => e.push(d, i === s.data.length - 1));
  }
  zf.end();
  assert.deepEqual(await zipOf(SAMPLE), concat(...chunks));
});

test('zip: ZIP64 everywhere (extra fields in local and central headers, 8-byte data descriptors, ZIP64 end records) reads back in Python and unzip', async () => {
  const z = await zipOf(SAMPLE, { zip64Limits: { bytes: 0, entries: 0 } });
  const path = join(work, 'forced64.zip');
  writeFileSync(path, z);
  const r = python(path);
  assert.equal(r.bad, null);
  // the 16-bit entry count and 32-bit sizes and offsets all say 0xffff…: these came from the ZIP64 records
  assert.equal(r.count, SAMPLE.length);
  assert.deepEqual(r.entries.map((e) => [e.name, e.size]), SAMPLE.map((s) => [s.e.name, s.e.size]));
  let offset = 0;
  for (const e of r.entries) {
    assert.equal(e.crc, e.zcrc);
    assert.equal(e.local_zip64, true);
    assert.equal(e.version, 45);
    assert.deepEqual(e.desc, [0x08074b50, e.crc, e.size, e.size], `${e.name}: the ZIP64 data descriptor`);
    // id 1, 24 bytes: uncompressed size, compressed size, local header offset
    const le = (n: number): string => Buffer.from(new BigUint64Array([BigInt(n)]).buffer).toString('hex');
    assert.equal(e.cd_extra, `01001800${le(e.size)}${le(e.size)}${le(offset)}`);
    offset += 30 + Buffer.byteLength(e.name) + 20 + e.size + 24;
  }
  // the end records: ZIP64 end, its locator, then the classic end with every field at its "see ZIP64" value
  const v = new DataView(z.buffer, z.byteOffset, z.byteLength);
  const end = z.length - 22;
  assert.equal(v.getUint32(end, true), 0x06054b50);
  assert.deepEqual([v.getUint16(end + 8, true), v.getUint16(end + 10, true), v.getUint32(end + 12, true), v.getUint32(end + 16, true)], [0xffff, 0xffff, 0xffffffff, 0xffffffff]);
  assert.equal(v.getUint32(end - 20, true), 0x07064b50);
  assert.equal(Number(v.getBigUint64(end - 12, true)), end - 20 - 56);
  const t = unzipT(path);
  if (t !== null) assert.match(t, /No errors detected/);
});

test('zip: ZIP64 only where a limit is passed (lowered to 5,000 bytes and 3 entries): a big entry, then offsets past the limit, the entry count; Python reads the mix', async () => {
  const z = await zipOf(SAMPLE, { zip64Limits: { bytes: 5000, entries: 3 } });
  const path = join(work, 'mixed64.zip');
  writeFileSync(path, z);
  const r = python(path);
  assert.equal(r.bad, null);
  assert.equal(r.count, SAMPLE.length);
  assert.deepEqual(r.entries.map((e) => [e.name, e.size, e.crc === e.zcrc]), SAMPLE.map((s) => [s.e.name, s.e.size, true]));
  const le = (n: number): string => Buffer.from(new BigUint64Array([BigInt(n)]).buffer).toString('hex');
  // the 70,000-byte entry at offset 0: ZIP64 local header and 8-byte descriptor, sizes (not the offset) in the central extra field
  const [first, ...rest] = r.entries;
  assert.equal(first!.local_zip64, true);
  assert.equal(first!.cd_extra, `01001000${le(70000)}${le(70000)}`);
  assert.deepEqual(first!.desc, [0x08074b50, first!.crc, 70000, 70000]);
  // the small ones after it, past the limit: only their offset in the central extra field; their
  // local headers carry a ZIP64 extra field too (without it unzip warns about the UTF-8 name)
  let offset = 30 + first!.name.length + 20 + 70000 + 24;
  for (const e of rest) {
    assert.equal(e.local_zip64, true);
    assert.deepEqual(e.desc, [0x08074b50, e.crc, e.size, e.size]);
    assert.equal(e.cd_extra, `01000800${le(offset)}`, e.name);
    assert.equal(e.version, 45);
    offset += 30 + Buffer.byteLength(e.name) + 20 + e.size + 24;
  }
  // the end: the count and the directory's offset say "see ZIP64", its size (< 5,000) is plain
  const v = new DataView(z.buffer, z.byteOffset, z.byteLength);
  const end = z.length - 22;
  assert.deepEqual([v.getUint16(end + 10, true), v.getUint32(end + 12, true), v.getUint32(end + 16, true)], [0xffff, end - 76 - offset, 0xffffffff]);
  const t = unzipT(path);
  if (t !== null) assert.match(t, /No errors detected/);
});

test('zip: 65,536 empty files need the ZIP64 end records (the 16-bit count holds 65,535); Python and unzip count them all', async () => {
  const N = 65536;
  const parts: Uint8Array[] = [];
  const w = new ZipWriter({ write: (c) => void parts.push(c) });
  for (let i = 0; i < N; i++) await w.add({ name: `d${i >> 12}/${i}`, size: 0, mtime: T }, []);
  await w.end();
  const path = join(work, 'many.zip');
  writeFileSync(path, Buffer.concat(parts));
  const r = JSON.parse(execFileSync('python3', ['-c', 'import json,sys,zipfile;z=zipfile.ZipFile(sys.argv[1]);l=z.infolist();print(json.dumps([z.testzip(),len(l),l[-1].filename,l[-1].header_offset]))', path], { encoding: 'utf8' })) as [string | null, number, string, number];
  assert.deepEqual(r, [null, N, `d15/${N - 1}`, (N - 1) * (30 + 16) + [...Array(N - 1).keys()].reduce((a, i) => a + `d${i >> 12}/${i}`.length, 0)]);
  const t = unzipT(path);
  if (t !== null) assert.match(t, new RegExp(`No errors detected`));
});

test('zip: an entry whose source gives fewer or more bytes than its size is refused (IoError); misuse throws', async () => {
  const w = new ZipWriter({ write: () => {} });
  await assert.rejects(w.add({ name: 'short', size: 10, mtime: T }, [new Uint8Array(9)]), (e) => e instanceof IoError && /only 9 bytes came for a 10-byte/.test(e.message));
  const w2 = new ZipWriter({ write: () => {} });
  await assert.rejects(w2.add({ name: 'long', size: 10, mtime: T }, [new Uint8Array(6), new Uint8Array(6)]), (e) => e instanceof IoError && /more than 10 bytes/.test(e.message));
  const w3 = new ZipWriter({ write: () => {} });
  await w3.end();
  await assert.rejects(w3.add({ name: 'x', size: 0, mtime: T }, []), /add after end/);
  await assert.rejects(new ZipWriter({ write: () => {} }).add({ name: 'x'.repeat(65536), size: 0, mtime: T }, []), RangeError);
});

test('dosDateTime: UTC fields, clamped to the DOS range 1980..2107', () => {
  assert.deepEqual(dosDateTime(new Date(Date.UTC(2000, 0, 1))), { date: 20 << 9 | 1 << 5 | 1, time: 0 });
  assert.deepEqual(dosDateTime(new Date(Date.UTC(1970, 0, 1))), { date: 1 << 5 | 1, time: 0 });
  assert.deepEqual(dosDateTime(new Date(Date.UTC(2200, 0, 1))), { date: 127 << 9 | 12 << 5 | 31, time: 23 << 11 | 59 << 5 | 29 });
  assert.deepEqual(dosDateTime(new Date(NaN)), { date: 1 << 5 | 1, time: 0 });
});

test('zipObjects: objects under their payload paths, their bytes read in 4 MiB pieces, through our writer', async () => {
  const big = bytes(9 << 20, 7);
  const parts: Uint8Array[] = [];
  await zipObjects([{ payload: 'ab/cd', content: new BytesSource(big), size: big.length }, { payload: 'ef/00', content: new BytesSource(new Uint8Array(0)), size: 0 }], { write: (c) => void parts.push(c) });
  const path = join(work, 'objects.zip');
  writeFileSync(path, concat(...parts));
  const r = python(path);
  assert.equal(r.bad, null);
  assert.deepEqual(r.entries.map((e) => [e.name, e.size, e.date.join('-')]), [['ab/cd', big.length, '2000-1-1-0-0-0'], ['ef/00', 0, '2000-1-1-0-0-0']]);
  const ctl = new AbortController();
  ctl.abort(new Error('stop'));
  await assert.rejects(zipObjects([{ payload: 'ab/cd', content: new BytesSource(big), size: big.length }], { write: () => {} }, ctl.signal), /stop/);
});
