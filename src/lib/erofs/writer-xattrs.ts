/**
 * The xattr side of every EROFS writer (plain EROFS, composefs, RAFS v6): which (name, value)
 * pairs go to the shared table, each inode's xattr area (header, shared ids, inline entries, name
 * filter), and their emission with the layout checks.
 *
 * Planning is independent of where inodes land: sizes, filters and table offsets are fixed here;
 * the writer adds the table's start once it has placed the inodes (shared ids count 4-byte units
 * from xattr_blkaddr).
 */
import type { Xattr } from '../fs/tree.ts';
import { bytesEqual, compareBytes } from '../fs/types.ts';
import { erofs_xattr_ibody_header } from './structs.ts';
import { MAX_SHARED_PER_INODE, emitters, emitXattrHeader, xattrAreaSize, xattrEntrySize, xattrFilterBit, xattrIndex, type XattrIndexer } from './writer-common.ts';
import { expectAt, type Output } from './writer-output.ts';

/**
 * Order of the shared table. mkfs.erofs: ascending by name, then value. libcomposefs: descending
 * by name, then by value length, then by value (its sort compares the other way round).
 */
export type SharedOrder = 'mkfs' | 'composefs';

export interface XattrSharing {
  /** a named order, or the writer's own comparator (composefs-rs: by prefix index, suffix, value) */
  order: SharedOrder | ((a: Xattr, b: Xattr) => number);
  /** a pair used by at least this many inodes is shared (both tools: 2); Infinity = never share (nydus) */
  minUses?: number;
  /** write h_name_filter (default true; nydus writes 0) */
  nameFilter?: boolean;
  /** shared references one inode may hold, the rest inline (default MAX_SHARED_PER_INODE; composefs-rs has no cap) */
  maxShared?: number;
  /** the prefix table entries are stored under (default xattrIndex, libcomposefs'; composefs-rs has its own) */
  indexer?: XattrIndexer;
}

export interface XattrPlan {
  /** shared table: entries in table order, the byte offset of each, the table's size */
  shared: Xattr[];
  sharedAt: number[];
  sharedSize: number;
  /** per inode: xattr area size (0 = none), h_name_filter, offsets of its shared entries, inline entries */
  xsize: Uint32Array;
  filter: Uint32Array;
  sharedOffsets: number[][];
  inline: Xattr[][];
  /** some inode has xattrs */
  any: boolean;
  /** the prefix table of every entry, inline or shared */
  indexer: XattrIndexer;
}

/** Distinct (name, value) pairs with use counts; hashed, compared byte for byte. */
class XattrPool {
  readonly entries: { x: Xattr; count: number; offset: number }[] = [];
  /** hash -> entry id, or ids when several pairs share a hash */
  private readonly byHash = new Map<number, number | number[]>();

  intern(x: Xattr): number {
    let h = 0x811c9dc5;
    const { name, value } = x;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name[i]!, 0x01000193);
    h = Math.imul(h ^ 0x100, 0x01000193);
    for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value[i]!, 0x01000193);
    const bucket = this.byHash.get(h);
    if (bucket !== undefined) {
      for (const id of typeof bucket === 'number' ? [bucket] : bucket) {
        const e = this.entries[id]!;
        if (bytesEqual(e.x.name, name) && bytesEqual(e.x.value, value)) {
          e.count++;
          return id;
        }
      }
    }
    const id = this.entries.length;
    this.entries.push({ x, count: 1, offset: -1 });
    if (bucket === undefined) this.byHash.set(h, id);
    else if (typeof bucket === 'number') this.byHash.set(h, [bucket, id]);
    else bucket.push(id);
    return id;
  }
}

const NONE: number[] = [];
const NO_XATTRS: Xattr[] = [];

function sharedCompare(order: XattrSharing['order']): (a: Xattr, b: Xattr) => number {
  if (typeof order === 'function') return order;
  if (order === 'mkfs') return (a, b) => compareBytes(a.name, b.name) || compareBytes(a.value, b.value);
  return (a, b) => compareBytes(b.name, a.name) || b.value.length - a.value.length || compareBytes(b.value, a.value);
}

/**
 * Plans every inode's xattr area from its list (one entry per name, sorted by name, as the
 * writer wants them stored): the first MAX_SHARED_PER_INODE pairs that are shared become
 * references, in list order; the rest are inline entries.
 */
export function planXattrs(lists: readonly (readonly Xattr[])[], sharing: XattrSharing): XattrPlan {
  const N = lists.length;
  const minUses = sharing.minUses ?? 2;
  const share = minUses !== Infinity;
  const withFilter = sharing.nameFilter ?? true;
  const maxShared = sharing.maxShared ?? MAX_SHARED_PER_INODE;
  const ix = sharing.indexer ?? xattrIndex;
  const pool = new XattrPool();
  const ids: number[][] = new Array(N);
  let any = false;
  for (let i = 0; i < N; i++) {
    const list = lists[i]!;
    if (list.length) any = true;
    ids[i] = list.length && share ? list.map((x) => pool.intern(x)) : NONE;
  }
  const sharedEnts = pool.entries.filter((e) => e.count >= minUses);
  const cmp = sharedCompare(sharing.order);
  sharedEnts.sort((a, b) => cmp(a.x, b.x));
  let sharedSize = 0;
  for (const e of sharedEnts) {
    e.offset = sharedSize;
    sharedSize += xattrEntrySize(e.x, ix);
  }
  const xsize = new Uint32Array(N);
  const filter = new Uint32Array(N);
  const sharedOffsets: number[][] = new Array(N);
  const inline: Xattr[][] = new Array(N);
  for (let i = 0; i < N; i++) {
    const list = lists[i]!;
    if (list.length === 0) {
      sharedOffsets[i] = NONE;
      inline[i] = NO_XATTRS;
      continue;
    }
    const offs: number[] = [];
    const inl: Xattr[] = [];
    let inlineBytes = 0;
    let bits = 0;
    const nodeIds = ids[i]!;
    for (let k = 0; k < list.length; k++) {
      const x = list[k]!;
      if (withFilter) bits |= xattrFilterBit(x, ix);
      const offset = share ? pool.entries[nodeIds[k]!]!.offset : -1;
      if (offset >= 0 && offs.length < maxShared) offs.push(offset);
      else {
        inl.push(x);
        inlineBytes += xattrEntrySize(x, ix);
      }
    }
    xsize[i] = xattrAreaSize(offs.length, inlineBytes);
    filter[i] = withFilter ? ~bits >>> 0 : 0;
    sharedOffsets[i] = offs;
    inline[i] = inl;
  }
  return { shared: sharedEnts.map((e) => e.x), sharedAt: sharedEnts.map((e) => e.offset), sharedSize, xsize, filter, sharedOffsets, inline, any, indexer: ix };
}

/**
 * shared ids of an inode whose table starts at byte `tableAt`: ids count 4-byte units from
 * xattr_blkaddr, the block holding the table unless `from` gives its byte (composefs-rs: 0)
 */
export function sharedIdsAt(offsets: readonly number[], tableAt: number, bs: number, from = tableAt - (tableAt % bs)): number[] {
  const base = tableAt - from;
  return offsets.map((o) => (base + o) / 4);
}

/**
 * One inode's xattr area at `at` (right after its core): header with the filter and shared ids,
 * then the inline entries, each checked where it starts. The caller checks the area's end.
 */
export function emitXattrArea(
  out: Output, at: number, filter: number, sharedIds: readonly number[], inline: readonly Xattr[], writer: string, where: () => string, ix: XattrIndexer = xattrIndex,
): void {
  emitXattrHeader(out, filter, sharedIds);
  let pos = at + erofs_xattr_ibody_header.size + 4 * sharedIds.length;
  for (let e = 0; e < inline.length; e++) {
    expectAt(out, pos, writer, () => `${where()}: inline xattr entry ${e}`);
    emitters.xattrEntry(out, inline[e]!, ix);
    pos += xattrEntrySize(inline[e]!, ix);
  }
}

/** The shared xattr table at `tableAt`, each entry checked where it starts, and its end. */
export function emitSharedXattrs(out: Output, p: XattrPlan, tableAt: number, writer: string): void {
  for (let e = 0; e < p.shared.length; e++) {
    expectAt(out, tableAt + p.sharedAt[e]!, writer, () => `shared xattr ${e}`);
    emitters.xattrEntry(out, p.shared[e]!, p.indexer);
  }
  expectAt(out, tableAt + p.sharedSize, writer, () => 'shared xattr table end');
}
