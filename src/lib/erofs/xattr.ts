import { check, fail } from '../errors.ts';
import { EROFS_XATTR_LONG_PREFIX, EROFS_XATTR_LONG_PREFIX_MASK, EROFS_XATTR_PREFIXES, erofs_xattr_entry, erofs_xattr_ibody_header } from './structs.ts';

const enc = new TextEncoder();
export const PREFIX_BYTES: readonly Uint8Array[] = EROFS_XATTR_PREFIXES.map((p) => enc.encode(p));

export interface Xattr {
  /** full name: prefix + stored suffix */
  name: Uint8Array;
  nameIndex: number;
  value: Uint8Array;
  /** shared xattr id, or -1 for an inline entry */
  sharedId: number;
  /** absolute offset of the entry header */
  offset: number;
}

/** Header of an inode's xattr area: shared ids and where the inline entries start. */
export interface XattrIbody {
  sharedIds: number[];
  /** offset of the first inline entry, relative to the area */
  inlineStart: number;
}

export function parseIbodyHeader(area: Uint8Array, at: number): XattrIbody {
  const S = erofs_xattr_ibody_header.name;
  check(area.length >= erofs_xattr_ibody_header.size, S, at, `xattr area of ${area.length} bytes is smaller than its header`);
  const count = area[erofs_xattr_ibody_header.f.h_shared_count.offset]!;
  const inlineStart = erofs_xattr_ibody_header.size + count * 4;
  check(inlineStart <= area.length, S, at + erofs_xattr_ibody_header.f.h_shared_count.offset, `${count} shared xattr ids do not fit in the ${area.length}-byte xattr area`);
  const view = new DataView(area.buffer, area.byteOffset, area.byteLength);
  const sharedIds: number[] = [];
  for (let i = 0; i < count; i++) sharedIds.push(view.getUint32(erofs_xattr_ibody_header.size + i * 4, true));
  return { sharedIds, inlineStart };
}

/**
 * The long xattr name prefixes (incompat XATTR_PREFIXES, erofs-modern-format.md §4.1), index k =
 * e_name_index 0x80 | k: each is a short prefix (by its index) followed by an infix.
 */
export interface LongPrefix {
  baseIndex: number;
  /** the whole prefix: short prefix + infix */
  bytes: Uint8Array;
  /** absolute offset of the entry's le16 length (in its space), for display */
  offset: number;
}

/**
 * Parse `count` prefix table entries from `read(pos, len)` (positions relative to the table's
 * start; null: the bytes are not there, which is damage). Each entry: aligned to 4, le16 length,
 * then a base index and the infix.
 */
export function parseLongPrefixes(count: number, read: (pos: number, len: number) => Uint8Array, at: number): LongPrefix[] {
  const S = 'erofs.xattr_long_prefix';
  const out: LongPrefix[] = [];
  let pos = 0;
  for (let k = 0; k < count; k++) {
    const h = read(pos, 2);
    const len = h[0]! | (h[1]! << 8);
    if (!(len >= 1 && len <= 256)) fail(S, at + pos, `long prefix ${k} of ${len} bytes (1..256)`);
    const body = read(pos + 2, len);
    const base = body[0]!;
    if (!(base < EROFS_XATTR_PREFIXES.length)) fail(S, at + pos + 2, `long prefix ${k}: unknown base index ${base}`);
    const p = PREFIX_BYTES[base]!;
    const bytes = new Uint8Array(p.length + len - 1);
    bytes.set(p, 0);
    bytes.set(body.subarray(1), p.length);
    out.push({ baseIndex: base, bytes, offset: at + pos });
    pos = Math.ceil((pos + 2 + len) / 4) * 4;
  }
  return out;
}

/** the prefix bytes for a name index (short, or long with bit 7) */
function prefixOf(nameIndex: number, prefixes: readonly LongPrefix[] | undefined, at: number): Uint8Array {
  if (nameIndex & EROFS_XATTR_LONG_PREFIX) {
    const k = nameIndex & EROFS_XATTR_LONG_PREFIX_MASK;
    const lp = prefixes?.[k];
    if (!lp) fail(erofs_xattr_entry.name, at + erofs_xattr_entry.f.e_name_index.offset, `xattr name index 0x${nameIndex.toString(16)} names long prefix ${k} of ${prefixes?.length ?? 0}`);
    return lp.bytes;
  }
  check(nameIndex < EROFS_XATTR_PREFIXES.length, erofs_xattr_entry.name, at + erofs_xattr_entry.f.e_name_index.offset, `unknown xattr name index ${nameIndex}`);
  return PREFIX_BYTES[nameIndex]!;
}

/** Decode an entry header at b[pos]; returns its total (unpadded) length. Checks the name index. */
export function entryHeader(b: Uint8Array, pos: number, at: number, prefixes?: readonly LongPrefix[]): { nameLen: number; nameIndex: number; valueSize: number } {
  const E = erofs_xattr_entry.f;
  const nameLen = b[pos + E.e_name_len.offset]!;
  const nameIndex = b[pos + E.e_name_index.offset]!;
  const valueSize = b[pos + E.e_value_size.offset]! | (b[pos + E.e_value_size.offset + 1]! << 8);
  const p = prefixOf(nameIndex, prefixes, at);
  check(nameLen > 0 || p.length > 0, erofs_xattr_entry.name, at, 'empty xattr name');
  return { nameLen, nameIndex, valueSize };
}

export function fullName(nameIndex: number, suffix: Uint8Array, prefixes?: readonly LongPrefix[]): Uint8Array {
  const p = prefixOf(nameIndex, prefixes, -1);
  const out = new Uint8Array(p.length + suffix.length);
  out.set(p, 0);
  out.set(suffix, p.length);
  return out;
}

function allZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

/** Every inline entry of an xattr area (after the shared ids). */
export function parseInlineEntries(area: Uint8Array, start: number, at: number, prefixes?: readonly LongPrefix[]): Xattr[] {
  const out: Xattr[] = [];
  const HEAD = erofs_xattr_entry.size;
  let pos = start;
  while (pos < area.length) {
    check(pos + HEAD <= area.length, erofs_xattr_entry.name, at + pos, 'xattr entry header runs past the xattr area');
    // an all-zero entry is padding (mkfs.erofs --root-xattr-isize grows the area with zeros)
    if (allZero(area, pos, pos + HEAD)) {
      pos += HEAD;
      continue;
    }
    const h = entryHeader(area, pos, at + pos, prefixes);
    const len = HEAD + h.nameLen + h.valueSize;
    check(pos + len <= area.length, erofs_xattr_entry.name, at + pos, `xattr entry of ${len} bytes runs past the xattr area`);
    out.push({
      name: fullName(h.nameIndex, area.subarray(pos + HEAD, pos + HEAD + h.nameLen), prefixes),
      nameIndex: h.nameIndex,
      value: area.slice(pos + HEAD + h.nameLen, pos + len),
      sharedId: -1,
      offset: at + pos,
    });
    pos += (len + 3) & ~3;
  }
  return out;
}
