/**
 * Per-inode xattr set with libcomposefs semantics (erofs-composefs-format.md §7, §4.3): setting a
 * name that exists replaces it (the last entry moves into the hole), and the size is accounted as
 * `12 + Σ(7 + keylen + valuelen)` — twice the 4-byte entry header minus one, for worst-case
 * alignment — against a limit (32767 for external input: dumps, directories, and the overlay
 * xattrs added while writing).
 */
import type { Xattr } from '../fs/tree.ts';
import { bytesEqual } from '../fs/types.ts';

export const XATTR_NAME_MAX = 255;
export const XATTR_VALUE_MAX = 0xffff;
/** LCFS_INODE_EXTERNAL_XATTR_MAX */
export const XATTR_EXTERNAL_MAX = 0x7fff;
const ENTRY_OVERHEAD = 2 * 4 - 1;
const HEADER = 12;

export class XattrSet {
  /** accounted size (libcomposefs `xattr_size`); renames do not change it, as in C */
  size: number;
  constructor(readonly list: Xattr[] = [], size?: number) {
    this.size = size ?? XattrSet.accountedSize(list);
  }

  static accountedSize(list: readonly Xattr[]): number {
    if (list.length === 0) return 0;
    let s = HEADER;
    for (const x of list) s += ENTRY_OVERHEAD + x.name.length + x.value.length;
    return s;
  }

  indexOf(name: Uint8Array): number {
    const l = this.list;
    for (let i = 0; i < l.length; i++) if (bytesEqual(l[i]!.name, name)) return i;
    return -1;
  }

  get(name: Uint8Array): Uint8Array | null {
    const i = this.indexOf(name);
    return i < 0 ? null : this.list[i]!.value;
  }

  private unset(i: number): void {
    const l = this.list;
    const x = l[i]!;
    const last = l.pop()!;
    if (i < l.length) l[i] = last;
    this.size = l.length > 0 ? this.size - (ENTRY_OVERHEAD + x.name.length + x.value.length) : 0;
  }

  /** false when libcomposefs would refuse (ERANGE/EINVAL): bad name length, value too big, over `limit` */
  set(name: Uint8Array, value: Uint8Array, limit = XATTR_EXTERNAL_MAX): boolean {
    if (name.length === 0 || name.length > XATTR_NAME_MAX) return false;
    if (value.length > XATTR_VALUE_MAX) return false;
    const i = this.indexOf(name);
    if (i >= 0) this.unset(i);
    let entry = ENTRY_OVERHEAD + name.length + value.length;
    if (this.list.length === 0) entry += HEADER;
    if (this.size + entry > limit) return false;
    this.list.push({ name, value });
    this.size += entry;
    return true;
  }
}
