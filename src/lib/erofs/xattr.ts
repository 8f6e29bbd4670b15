import { check } from '../errors.ts';
import { EROFS_XATTR_PREFIXES, erofs_xattr_entry, erofs_xattr_ibody_header } from './structs.ts';

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
  check(inlineStart <= area.length, S, at + 4, `${count} shared xattr ids do not fit in the ${area.length}-byte xattr area`);
  const view = new DataView(area.buffer, area.byteOffset, area.byteLength);
  const sharedIds: number[] = [];
  for (let i = 0; i < count; i++) sharedIds.push(view.getUint32(erofs_xattr_ibody_header.size + i * 4, true));
  return { sharedIds, inlineStart };
}

/** Decode an entry header at b[pos]; returns its total (unpadded) length. Checks the name index. */
export function entryHeader(b: Uint8Array, pos: number, at: number): { nameLen: number; nameIndex: number; valueSize: number } {
  const nameLen = b[pos]!;
  const nameIndex = b[pos + 1]!;
  const valueSize = b[pos + 2]! | (b[pos + 3]! << 8);
  check(nameIndex < EROFS_XATTR_PREFIXES.length, erofs_xattr_entry.name, at + 1, `unknown xattr name index ${nameIndex}`);
  check(nameLen > 0 || PREFIX_BYTES[nameIndex]!.length > 0, erofs_xattr_entry.name, at, 'empty xattr name');
  return { nameLen, nameIndex, valueSize };
}

export function fullName(nameIndex: number, suffix: Uint8Array): Uint8Array {
  const p = PREFIX_BYTES[nameIndex]!;
  const out = new Uint8Array(p.length + suffix.length);
  out.set(p, 0);
  out.set(suffix, p.length);
  return out;
}

/** Every inline entry of an xattr area (after the shared ids). */
export function parseInlineEntries(area: Uint8Array, start: number, at: number): Xattr[] {
  const out: Xattr[] = [];
  let pos = start;
  while (pos < area.length) {
    check(pos + 4 <= area.length, erofs_xattr_entry.name, at + pos, 'xattr entry header runs past the xattr area');
    const h = entryHeader(area, pos, at + pos);
    const len = 4 + h.nameLen + h.valueSize;
    check(pos + len <= area.length, erofs_xattr_entry.name, at + pos, `xattr entry of ${len} bytes runs past the xattr area`);
    out.push({
      name: fullName(h.nameIndex, area.subarray(pos + 4, pos + 4 + h.nameLen)),
      nameIndex: h.nameIndex,
      value: area.slice(pos + 4 + h.nameLen, pos + len),
      sharedId: -1,
      offset: at + pos,
    });
    pos += (len + 3) & ~3;
  }
  return out;
}
