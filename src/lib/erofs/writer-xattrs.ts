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
import { erofs_xattr_entry, erofs_xattr_ibody_header } from './structs.ts';
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

/** What a name contributes wherever it appears: its prefix index, the suffix start, its h_name_filter bit. */
interface NameInfo {
  index: number;
  prefixLen: number;
  bit: number;
  /** FNV-1a state after the name's bytes and a separator (the pair hash continues with the value) */
  hash: number;
}

const NO_VALUE = new Uint8Array(0);

/** Distinct (name, value) pairs with use counts; hashed, compared byte for byte. */
class XattrPool {
  readonly entries: { x: Xattr; count: number; offset: number }[] = [];
  /** hash -> entry id, or ids when several pairs share a hash */
  private readonly byHash = new Map<number, number | number[]>();

  intern(x: Xattr, nameHash: number): number {
    let h = nameHash;
    const { name, value } = x;
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
  const planner = new XattrPlanner(lists.length, sharing);
  for (let i = 0; i < lists.length; i++) planner.add(i, lists[i]!);
  return planner.plan();
}

/**
 * planXattrs in two steps: `add` takes inode i's final list (interned, its name filter computed),
 * `plan` decides what is shared and sizes every area. The composefs writer adds every list but the
 * external files' while their digests are still being computed, and those once the digests are in.
 * The plan is the same whatever order the lists come in (the shared table is sorted by a total order).
 *
 * A name's prefix index, filter bit (xxh32) and hash are computed once per name array: the writers
 * hand the same array to every inode for the names they add (composefs' metacopy and redirect), and
 * those were three prefix scans and an xxh32 per pair, 80k pairs on the 1.05 GB bench tree.
 */
export class XattrPlanner {
  private readonly minUses: number;
  private readonly share: boolean;
  private readonly withFilter: boolean;
  private readonly maxShared: number;
  private readonly ix: XattrIndexer;
  private readonly cmp: (a: Xattr, b: Xattr) => number;
  private readonly pool = new XattrPool();
  private readonly names = new Map<Uint8Array, NameInfo>();
  private readonly lists: (readonly Xattr[])[];
  private readonly ids: number[][];
  private readonly filter: Uint32Array;
  /** inline bytes of each list were nothing shared */
  private readonly inlineBytes: Uint32Array;
  /** (inode, list index) of the pairs added late */
  private readonly late: number[] = [];
  private any = false;

  constructor(readonly count: number, sharing: XattrSharing) {
    this.minUses = sharing.minUses ?? 2;
    this.share = this.minUses !== Infinity;
    this.withFilter = sharing.nameFilter ?? true;
    this.maxShared = sharing.maxShared ?? MAX_SHARED_PER_INODE;
    this.ix = sharing.indexer ?? xattrIndex;
    this.cmp = sharedCompare(sharing.order);
    this.lists = new Array(count).fill(NO_XATTRS);
    this.ids = new Array(count).fill(NONE);
    this.filter = new Uint32Array(count);
    this.inlineBytes = new Uint32Array(count);
  }

  private info(name: Uint8Array): NameInfo {
    let n = this.names.get(name);
    if (n === undefined) {
      const { index, prefixLen } = this.ix(name);
      let h = 0x811c9dc5;
      for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name[i]!, 0x01000193);
      h = Math.imul(h ^ 0x100, 0x01000193);
      n = { index, prefixLen, bit: this.withFilter ? xattrFilterBit({ name, value: NO_VALUE }, this.ix) : 0, hash: h };
      this.names.set(name, n);
    }
    return n;
  }

  /**
   * inode i's list: neither the list nor its names may change afterwards, nor any value but those
   * at the indexes in `late`, whose bytes (not their length) may be filled in until `plan`
   */
  add(i: number, list: readonly Xattr[], late?: readonly number[]): void {
    if (list.length === 0) return;
    this.any = true;
    this.lists[i] = list;
    let bits = 0;
    let bytes = 0;
    const ids: number[] = this.share ? new Array(list.length) : NONE;
    for (let k = 0; k < list.length; k++) {
      const x = list[k]!;
      const n = this.info(x.name);
      bits |= n.bit;
      bytes += (erofs_xattr_entry.size + x.name.length - n.prefixLen + x.value.length + 3) & ~3;
      if (this.share) ids[k] = late?.includes(k) ? -1 : this.pool.intern(x, n.hash);
    }
    if (late && this.share) for (const k of late) this.late.push(i, k);
    this.ids[i] = ids;
    this.inlineBytes[i] = bytes;
    this.filter[i] = this.withFilter ? ~bits >>> 0 : 0;
  }

  plan(): XattrPlan {
    const { count: N, pool, lists, ids, maxShared, minUses, late } = this;
    for (let j = 0; j < late.length; j += 2) {
      const x = lists[late[j]!]![late[j + 1]!]!;
      ids[late[j]!]![late[j + 1]!] = pool.intern(x, this.info(x.name).hash);
    }
    this.late.length = 0;
    const entrySize = (x: Xattr) => (erofs_xattr_entry.size + x.name.length - this.info(x.name).prefixLen + x.value.length + 3) & ~3;
    const sharedEnts = pool.entries.filter((e) => e.count >= minUses);
    sharedEnts.sort((a, b) => this.cmp(a.x, b.x));
    let sharedSize = 0;
    for (const e of sharedEnts) {
      e.offset = sharedSize;
      sharedSize += entrySize(e.x);
    }
    const xsize = new Uint32Array(N);
    const sharedOffsets: number[][] = new Array(N);
    const inline: Xattr[][] = new Array(N);
    const entries = pool.entries;
    for (let i = 0; i < N; i++) {
      const list = lists[i]!;
      const nodeIds = ids[i]!;
      let anyShared = false;
      for (let k = 0; k < nodeIds.length; k++) {
        if (entries[nodeIds[k]!]!.count >= minUses) {
          anyShared = true;
          break;
        }
      }
      if (!anyShared) {
        // nothing shared (most inodes): the list itself is the inline part, its size known from add
        sharedOffsets[i] = NONE;
        inline[i] = list as Xattr[];
        xsize[i] = xattrAreaSize(0, this.inlineBytes[i]!);
        continue;
      }
      const offs: number[] = [];
      const inl: Xattr[] = [];
      let inlineBytes = 0;
      for (let k = 0; k < list.length; k++) {
        const x = list[k]!;
        const offset = entries[nodeIds[k]!]!.offset;
        if (offset >= 0 && offs.length < maxShared) offs.push(offset);
        else {
          inl.push(x);
          inlineBytes += entrySize(x);
        }
      }
      xsize[i] = xattrAreaSize(offs.length, inlineBytes);
      sharedOffsets[i] = offs;
      inline[i] = inl;
    }
    return {
      shared: sharedEnts.map((e) => e.x), sharedAt: sharedEnts.map((e) => e.offset), sharedSize, xsize, filter: this.filter, sharedOffsets, inline, any: this.any, indexer: this.ix,
    };
  }
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
