// A streaming writer of STORED (uncompressed) zip archives (PKWARE APPNOTE 6.3.x): each entry's
// bytes go to the sink as they come, its CRC-32 (codec/crc32.ts, slicing-by-8) computed on the way
// and written after them in a data descriptor, so nothing is read twice and nothing is seeked back.
// ZIP64 records are written when an entry, an offset, the central directory or the entry count
// passes what the 32/16-bit fields hold. The page's composefs objects zip uses it (app/object-store.ts).
import { crc32 } from '../codec/crc32.ts';
import { IoError } from '../errors.ts';
import type { Sink } from '../erofs/writer-output.ts';
import { encodeStruct, struct, writeU64 } from '../struct.ts';
import { concat } from '../bytes.ts';

export const ZIP_LOCAL_HEADER = struct('zip.local_header', 30, [
  ['signature', 0, 4, 'u32', '0x04034b50 "PK\\3\\4"'],
  ['version_needed', 4, 2, 'u16', '20 (2.0: data descriptor), 45 (4.5) with a ZIP64 extra field'],
  ['flags', 6, 2, 'u16', 'bit 3: CRC and sizes follow the data in a data descriptor; bit 11: the name is UTF-8'],
  ['method', 8, 2, 'u16', '0: stored'],
  ['mtime', 10, 2, 'u16', 'DOS time: hour << 11 | minute << 5 | second / 2'],
  ['mdate', 12, 2, 'u16', 'DOS date: (year - 1980) << 9 | month << 5 | day'],
  ['crc32', 14, 4, 'u32', '0 here: in the data descriptor'],
  ['compressed_size', 18, 4, 'u32', '0 here (0xffffffff with a ZIP64 extra field): in the data descriptor'],
  ['uncompressed_size', 22, 4, 'u32', 'as compressed_size'],
  ['name_length', 26, 2, 'u16'],
  ['extra_length', 28, 2, 'u16', 'the name and the extra field follow'],
]);

export const ZIP_DATA_DESCRIPTOR = struct('zip.data_descriptor', 16, [
  ['signature', 0, 4, 'u32', '0x08074b50 "PK\\7\\8"'],
  ['crc32', 4, 4, 'u32'],
  ['compressed_size', 8, 4, 'u32'],
  ['uncompressed_size', 12, 4, 'u32'],
]);

/** the data descriptor of an entry whose local header has a ZIP64 extra field: 8-byte sizes */
export const ZIP64_DATA_DESCRIPTOR = struct('zip64.data_descriptor', 24, [
  ['signature', 0, 4, 'u32', '0x08074b50'],
  ['crc32', 4, 4, 'u32'],
  ['compressed_size', 8, 8, 'u64'],
  ['uncompressed_size', 16, 8, 'u64'],
]);

export const ZIP_CENTRAL_HEADER = struct('zip.central_header', 46, [
  ['signature', 0, 4, 'u32', '0x02014b50 "PK\\1\\2"'],
  ['version_made_by', 4, 2, 'u16', 'host 0 (MS-DOS: no Unix mode in external_attributes) << 8 | version'],
  ['version_needed', 6, 2, 'u16'],
  ['flags', 8, 2, 'u16', 'as in the local header'],
  ['method', 10, 2, 'u16'],
  ['mtime', 12, 2, 'u16'],
  ['mdate', 14, 2, 'u16'],
  ['crc32', 16, 4, 'u32'],
  ['compressed_size', 20, 4, 'u32', '0xffffffff: in the ZIP64 extra field'],
  ['uncompressed_size', 24, 4, 'u32', '0xffffffff: in the ZIP64 extra field'],
  ['name_length', 28, 2, 'u16'],
  ['extra_length', 30, 2, 'u16'],
  ['comment_length', 32, 2, 'u16'],
  ['disk_start', 34, 2, 'u16'],
  ['internal_attributes', 36, 2, 'u16'],
  ['external_attributes', 38, 4, 'u32'],
  ['local_header_offset', 42, 4, 'u32', '0xffffffff: in the ZIP64 extra field'],
]);

export const ZIP64_END = struct('zip64.end_of_central_directory', 56, [
  ['signature', 0, 4, 'u32', '0x06064b50 "PK\\6\\6"'],
  ['record_size', 4, 8, 'u64', 'bytes after this field: 44'],
  ['version_made_by', 12, 2, 'u16'],
  ['version_needed', 14, 2, 'u16', '45'],
  ['disk', 16, 4, 'u32'],
  ['cd_disk', 20, 4, 'u32'],
  ['entries_on_disk', 24, 8, 'u64'],
  ['entries', 32, 8, 'u64'],
  ['cd_size', 40, 8, 'u64'],
  ['cd_offset', 48, 8, 'u64'],
]);

export const ZIP64_LOCATOR = struct('zip64.end_locator', 20, [
  ['signature', 0, 4, 'u32', '0x07064b50 "PK\\6\\7"'],
  ['end_disk', 4, 4, 'u32'],
  ['end_offset', 8, 8, 'u64', 'where the ZIP64 end of central directory record starts'],
  ['disks', 16, 4, 'u32', '1'],
]);

export const ZIP_END = struct('zip.end_of_central_directory', 22, [
  ['signature', 0, 4, 'u32', '0x06054b50 "PK\\5\\6"'],
  ['disk', 4, 2, 'u16'],
  ['cd_disk', 6, 2, 'u16'],
  ['entries_on_disk', 8, 2, 'u16', '0xffff: in the ZIP64 record'],
  ['entries', 10, 2, 'u16', '0xffff: in the ZIP64 record'],
  ['cd_size', 12, 4, 'u32', '0xffffffff: in the ZIP64 record'],
  ['cd_offset', 16, 4, 'u32', '0xffffffff: in the ZIP64 record'],
  ['comment_length', 20, 2, 'u16'],
]);

const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
const FLAG_DESCRIPTOR = 1 << 3;
const FLAG_UTF8 = 1 << 11;
const ZIP64_EXTRA_ID = 0x0001;

export interface ZipEntry {
  /** the entry's path, '/'-separated; stored as UTF-8 (flagged so when not ASCII) */
  name: string;
  /** its byte count, known up front: it decides the ZIP64 extra field of the local header */
  size: number;
  /** its modification time, kept in DOS form (UTC, 2-second steps, 1980..2107) */
  mtime: Date;
}

interface Written {
  name: Uint8Array;
  flags: number;
  time: number;
  date: number;
  crc: number;
  size: number;
  offset: number;
  zip64Local: boolean;
}

/** `d` as DOS date and time fields, read in UTC so the same entries zip the same everywhere */
export function dosDateTime(d: Date): { date: number; time: number } {
  const t = d.getTime();
  if (!(t >= Date.UTC(1980, 0, 1))) return { date: 1 << 5 | 1, time: 0 };
  if (t >= Date.UTC(2108, 0, 1)) return { date: 127 << 9 | 12 << 5 | 31, time: 23 << 11 | 59 << 5 | 29 };
  return {
    date: (d.getUTCFullYear() - 1980) << 9 | (d.getUTCMonth() + 1) << 5 | d.getUTCDate(),
    time: d.getUTCHours() << 11 | d.getUTCMinutes() << 5 | d.getUTCSeconds() >> 1,
  };
}

const enc = new TextEncoder();

/** a ZIP64 extended information extra field holding `values` (8 bytes each, in APPNOTE's order) */
function zip64Extra(values: readonly number[]): Uint8Array {
  const b = new Uint8Array(4 + 8 * values.length);
  const v = new DataView(b.buffer);
  v.setUint16(0, ZIP64_EXTRA_ID, true);
  v.setUint16(2, 8 * values.length, true);
  values.forEach((x, i) => writeU64(v, 4 + 8 * i, x));
  return b;
}

/**
 * Stored entries into `sink`, one after the other: `add` each, then `end` (the central directory).
 * `zip64Limits` (tests) lowers the byte and entry counts from which ZIP64 fields are written (the
 * plain fields then hold 0xffffffff / 0xffff): ZIP64 is valid at any size, so the archive stays
 * readable, and small inputs reach every path a 4 GiB one would. 0 and 0 write ZIP64 everywhere.
 */
export class ZipWriter {
  private offset = 0;
  private readonly entries: Written[] = [];
  private busy = false;
  private ended = false;

  /** from these, a size / offset (`bytes`) or an entry count (`entries`) goes to the ZIP64 fields */
  private readonly big: { bytes: number; entries: number };

  constructor(private readonly sink: Sink, opts: { zip64Limits?: { bytes: number; entries: number } } = {}) {
    this.big = opts.zip64Limits ?? { bytes: U32_MAX, entries: U16_MAX };
  }

  private async put(b: Uint8Array): Promise<void> {
    await this.sink.write(b);
    this.offset += b.length;
  }

  /** one entry, its bytes from `data` (exactly `entry.size` of them) */
  async add(entry: ZipEntry, data: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
    if (this.busy || this.ended) throw new Error(this.ended ? 'zip: add after end' : 'zip: one entry at a time');
    if (!Number.isSafeInteger(entry.size) || entry.size < 0) throw new RangeError(`zip: ${entry.name}: size ${entry.size}`);
    const name = enc.encode(entry.name);
    if (name.length > U16_MAX) throw new RangeError(`zip: a ${name.length}-byte name does not fit the 16-bit name length`);
    this.busy = true;
    try {
      // past the limit, an entry's offset goes to a ZIP64 extra field of its central record; its
      // local header gets one too (sizes 0, 8-byte data descriptor): Info-ZIP UnZip 6.00 reports a
      // "mismatching local filename" for a UTF-8 name whose central record alone has one
      // (test/zip-writer.test.ts, limits lowered); ZIP64 may be used at any size (APPNOTE 4.3.9.2)
      const zip64Local = entry.size >= this.big.bytes || this.offset >= this.big.bytes;
      // a non-ASCII name is flagged UTF-8 (else readers take it as code page 437)
      const flags = FLAG_DESCRIPTOR | (name.some((c) => c >= 0x80) ? FLAG_UTF8 : 0);
      const { date, time } = dosDateTime(entry.mtime);
      const extra = zip64Local ? zip64Extra([0, 0]) : new Uint8Array(0);
      const head = new Uint8Array(ZIP_LOCAL_HEADER.size + name.length + extra.length);
      encodeStruct(ZIP_LOCAL_HEADER, {
        signature: 0x04034b50, version_needed: zip64Local ? 45 : 20, flags, method: 0, mtime: time, mdate: date,
        crc32: 0, compressed_size: zip64Local ? U32_MAX : 0, uncompressed_size: zip64Local ? U32_MAX : 0,
        name_length: name.length, extra_length: extra.length,
      }, head);
      head.set(name, ZIP_LOCAL_HEADER.size);
      head.set(extra, ZIP_LOCAL_HEADER.size + name.length);
      const offset = this.offset;
      await this.put(head);
      let crc = 0;
      let n = 0;
      for await (const chunk of data) {
        n += chunk.length;
        if (n > entry.size) break;
        crc = crc32(chunk, crc);
        await this.put(chunk);
      }
      if (n !== entry.size) throw new IoError(entry.name, `${n > entry.size ? `more than ${entry.size}` : `only ${n}`} bytes came for a ${entry.size}-byte zip entry`);
      const desc = new Uint8Array(zip64Local ? ZIP64_DATA_DESCRIPTOR.size : ZIP_DATA_DESCRIPTOR.size);
      const fields = { signature: 0x08074b50, crc32: crc, compressed_size: n, uncompressed_size: n };
      encodeStruct(zip64Local ? ZIP64_DATA_DESCRIPTOR : ZIP_DATA_DESCRIPTOR, fields, desc);
      await this.put(desc);
      this.entries.push({ name, flags, time, date, crc, size: n, offset, zip64Local });
    } finally {
      this.busy = false;
    }
  }

  /** the central directory and the end records; the archive is whole once this resolves */
  async end(): Promise<void> {
    if (this.busy || this.ended) throw new Error(this.ended ? 'zip: end twice' : 'zip: end while an entry is written');
    this.ended = true;
    const { bytes: big32, entries: big16 } = this.big;
    const cdOffset = this.offset;
    const parts: Uint8Array[] = [];
    let cdSize = 0;
    let pending = 0;
    for (const e of this.entries) {
      // only the fields that do not fit go to the ZIP64 extra field, in APPNOTE's order
      const bigSize = e.size >= big32;
      const bigOffset = e.offset >= big32;
      const big = [...(bigSize ? [e.size, e.size] : []), ...(bigOffset ? [e.offset] : [])];
      const extra = big.length ? zip64Extra(big) : new Uint8Array(0);
      const rec = new Uint8Array(ZIP_CENTRAL_HEADER.size + e.name.length + extra.length);
      const version = e.zip64Local || big.length ? 45 : 20;
      encodeStruct(ZIP_CENTRAL_HEADER, {
        signature: 0x02014b50, version_made_by: version, version_needed: version, flags: e.flags, method: 0,
        mtime: e.time, mdate: e.date, crc32: e.crc,
        compressed_size: bigSize ? U32_MAX : e.size, uncompressed_size: bigSize ? U32_MAX : e.size,
        name_length: e.name.length, extra_length: extra.length, comment_length: 0, disk_start: 0,
        internal_attributes: 0, external_attributes: 0, local_header_offset: bigOffset ? U32_MAX : e.offset,
      }, rec);
      rec.set(e.name, ZIP_CENTRAL_HEADER.size);
      rec.set(extra, ZIP_CENTRAL_HEADER.size + e.name.length);
      parts.push(rec);
      cdSize += rec.length;
      pending += rec.length;
      // the central directory goes out in pieces of up to 1 MiB or 4096 records, not one write per entry
      if (pending >= 1 << 20 || parts.length >= 4096) {
        await this.put(concat(...parts.splice(0)));
        pending = 0;
      }
    }
    if (parts.length) await this.put(concat(...parts));
    const count = this.entries.length;
    const zip64 = count >= big16 || cdSize >= big32 || cdOffset >= big32;
    if (zip64) {
      const rec = new Uint8Array(ZIP64_END.size + ZIP64_LOCATOR.size);
      const at = this.offset;
      encodeStruct(ZIP64_END, {
        signature: 0x06064b50, record_size: ZIP64_END.size - 12, version_made_by: 45, version_needed: 45,
        disk: 0, cd_disk: 0, entries_on_disk: count, entries: count, cd_size: cdSize, cd_offset: cdOffset,
      }, rec);
      encodeStruct(ZIP64_LOCATOR, { signature: 0x07064b50, end_disk: 0, end_offset: at, disks: 1 }, rec, ZIP64_END.size);
      await this.put(rec);
    }
    const end = new Uint8Array(ZIP_END.size);
    const n16 = count >= big16 ? U16_MAX : count;
    encodeStruct(ZIP_END, {
      signature: 0x06054b50, disk: 0, cd_disk: 0, entries_on_disk: n16, entries: n16,
      cd_size: cdSize >= big32 ? U32_MAX : cdSize,
      cd_offset: cdOffset >= big32 ? U32_MAX : cdOffset, comment_length: 0,
    }, end);
    await this.put(end);
  }
}
