/**
 * The image model the EROFS writers share (plain EROFS, composefs, RAFS v6): collecting a source
 * tree into inodes breadth-first with hardlinks grouped, directory entries with "." and "..",
 * directory link counts, data blocks handed out in inode order, and the record the planning
 * (measuring) pass leaves (InodeRecords: where each inode record lands, how long its tail is, the
 * xattr plan, where the inode area ends and data starts), which the writing pass follows
 * (emitInodeRecord / emitInodeArea or emitInodeAreaSync, emitDirBlocks), checking every piece
 * where it lands.
 *
 * Each writer keeps its own node type and what is specific to it: composefs its overlay rewrite,
 * whiteout stubs, version rules and placement rule; plain EROFS compression, chunks and best-fit
 * placement; RAFS v6 the nydus inode order and hardlink rule (rafs/builder/tree.ts, shared with
 * v5), chunk indexes into blobs and device slots.
 */
import { binKey } from '../bytes.ts';
import type { SourceInode, SourceTree, Xattr } from '../fs/tree.ts';
import type { FileType } from '../fs/types.ts';
import { compareBytes, direntBytes, emitDirentsOf, emitInodeCore, type InodeCore } from './writer-common.ts';
import { expectAt, roundUp, type Output } from './writer-output.ts';
import { emitSharedXattrs, emitXattrArea, sharedIdsAt, type XattrPlan } from './writer-xattrs.ts';
import type { XattrIndexer } from './writer-common.ts';

const ENC = new TextEncoder();
export const DOT = ENC.encode('.');
export const DOTDOT = ENC.encode('..');

/** What the model needs of a writer's node. */
export interface ModelNode {
  /** null for inodes the writer makes up (composefs whiteout stubs, the packed inode) */
  src: SourceInode | null;
  /** node index of the parent directory (the root's is 0) */
  parent: number;
  /** the name it was collected under */
  name: Uint8Array;
  /** directories: entries sorted by name (with "." and ".."), and the node each names */
  entNames: Uint8Array[] | null;
  entNodes: number[] | null;
}

export interface CollectSpec {
  /** make the writer's node for `src` and push it; returns its index */
  add(src: SourceInode, parent: number, name: Uint8Array): number;
  /**
   * inodes with a primary (non-link) dirent: a link entry met first waits for it, so the inode
   * sits at its primary name in the breadth-first order (composefs); absent: at the first name met
   */
  primary?: ReadonlySet<SourceInode>;
  /** a link whose inode was never reached (only with `primary`) */
  orphanLink?(dir: number): never;
  /**
   * names of entries to add to directory `dir`, given the binKeys of the names it has (composefs: the
   * root's stubs); `has` builds the set when called (every directory's was ~58k keys for the root's 256 stubs)
   */
  extraNames?(dir: number, has: () => ReadonlySet<string>): Uint8Array[];
  /** make the node of such an entry and push it; returns its index */
  addExtra?(dir: number, name: Uint8Array): number;
}

/**
 * Breadth-first collection from the root (node 0): each directory's entries sorted by name, every
 * entry naming an inode not seen yet becomes the next node. Names, duplicates and directory
 * hardlinks must have been refused before (validateTree).
 */
export function collectInodes<N extends ModelNode>(tree: SourceTree, nodes: N[], spec: CollectSpec): void {
  const index = new Map<SourceInode, number>();
  const pending: SourceInode[] = [];
  const pendingAt: number[] = [];
  index.set(tree.root, spec.add(tree.root, 0, new Uint8Array(0)));
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    if (n.src?.type !== 'dir') continue;
    const ents: { name: Uint8Array; inode: SourceInode | null; link: boolean; node: number }[] = [];
    for (const c of n.src.children ?? []) ents.push({ name: c.name, inode: c.inode, link: !!c.link, node: -1 });
    ents.push({ name: DOT, inode: null, link: true, node: i }, { name: DOTDOT, inode: null, link: true, node: n.parent });
    if (spec.extraNames) {
      const extra = spec.extraNames(i, () => new Set(ents.map((e) => binKey(e.name))));
      for (const name of extra) ents.push({ name, inode: null, link: false, node: -2 });
    }
    ents.sort((a, b) => compareBytes(a.name, b.name));
    for (const e of ents) {
      if (e.node === -2) {
        e.node = spec.addExtra!(i, e.name);
        continue;
      }
      if (e.inode === null) continue;
      const known = index.get(e.inode);
      if (known !== undefined) e.node = known;
      else if (e.link && spec.primary?.has(e.inode)) {
        // resolved once every node exists
        e.node = -3 - pending.length;
        pending.push(e.inode);
        pendingAt.push(i);
      } else {
        const k = spec.add(e.inode, i, e.name);
        index.set(e.inode, k);
        e.node = k;
      }
    }
    n.entNames = ents.map((e) => e.name);
    n.entNodes = ents.map((e) => e.node);
  }
  for (let p = 0; p < pending.length; p++) {
    const target = index.get(pending[p]!);
    if (target === undefined) {
      spec.orphanLink?.(pendingAt[p]!);
      throw new Error(`a hardlink in directory node ${pendingAt[p]!} names an inode outside the tree`);
    }
    const ents = nodes[pendingAt[p]!]!.entNodes!;
    ents[ents.indexOf(-3 - p)] = target;
  }
}

/** The path a node was collected under, "/a/b" (for layout-check messages). */
export function nodePath(nodes: readonly ModelNode[], i: number): string {
  const comps: string[] = [];
  for (let k = i; k !== 0; k = nodes[k]!.parent) comps.push(new TextDecoder().decode(nodes[k]!.name));
  return '/' + comps.reverse().join('/');
}

/** A directory's st_nlink: 2 plus its subdirectories ("." and ".." not counted). */
export function dirLinks(nodes: readonly ModelNode[], i: number, isDir: (node: number) => boolean): number {
  const n = nodes[i]!;
  let links = 2;
  const ents = n.entNodes!;
  for (let k = 0; k < ents.length; k++) {
    const t = ents[k]!;
    if (t !== i && t !== n.parent && isDir(t)) links++;
  }
  return links;
}

/**
 * Every node's st_nlink: a directory's by dirLinks, any other's the number of names it has.
 */
export function linkCounts(nodes: readonly ModelNode[], isDir: (node: number) => boolean): Uint32Array {
  const nlink = new Uint32Array(nodes.length);
  for (let i = 0; i < nodes.length; i++) {
    const ents = nodes[i]!.entNodes;
    if (!ents) continue;
    nlink[i] = dirLinks(nodes, i, isDir);
    for (let k = 0; k < ents.length; k++) {
      const t = ents[k]!;
      if (!isDir(t)) nlink[t]!++;
    }
  }
  return nlink;
}

/**
 * Data blocks in node order (or in `order`, node indexes in on-disk order, when the writer lays
 * out its inodes in another order: composefs-rs, the tar index) from block `first`: blkaddr[i] is
 * node i's first block (0 when it has none); `after` may place more of node i's data behind them
 * (plain EROFS: its unique chunks) and returns the next free block. Returns the block after the last.
 */
export function assignBlocks(
  nBlocks: ArrayLike<number>, first: number, blkaddr: Float64Array, after?: (node: number, blk: number) => number, order?: ArrayLike<number>,
): number {
  let blk = first;
  for (let k = 0; k < nBlocks.length; k++) {
    const i = order ? order[k]! : k;
    const nb = nBlocks[i]!;
    blkaddr[i] = nb > 0 ? blk : 0;
    blk += nb;
    if (after) blk = after(i, blk);
  }
  return blk;
}

/** One inode's xattr area as planned: size (0 = none), name filter, shared ids, inline entries. */
export interface XattrArea {
  size: number;
  filter: number;
  sharedIds: readonly number[];
  inline: readonly Xattr[];
  /** the writer's prefix table (default libcomposefs') */
  indexer?: XattrIndexer;
}

/**
 * An inode's head at `at`: the core, then its xattr area, each checked where it starts and the
 * area where it ends. Returns where the inline tail starts.
 */
export function emitInodeHead(out: Output, at: number, core: InodeCore, coreSize: number, x: XattrArea, writer: string, where: () => string): number {
  expectAt(out, at, writer, () => `${where()}: inode start`);
  emitInodeCore(out, core);
  const xattrAt = at + coreSize;
  expectAt(out, xattrAt, writer, () => `${where()}: xattr area start`);
  if (x.size > 0) emitXattrArea(out, xattrAt, x.filter, x.sharedIds, x.inline, writer, where, x.indexer);
  const tailAt = xattrAt + x.size;
  expectAt(out, tailAt, writer, () => `${where()}: xattr area end`);
  return tailAt;
}

/**
 * Directory blocks [0, count) of a directory at byte `start`: block b holds the entries
 * [starts[b], starts[b+1]), each block checked where it starts and ends and padded to `bs`.
 */
export function emitDirBlocks(
  out: Output, start: number, bs: number, names: readonly Uint8Array[], targets: ArrayLike<number>, starts: readonly number[], count: number,
  nids: ArrayLike<number>, typeOf: (node: number) => FileType, writer: string, where: () => string,
): void {
  for (let b = 0; b < count; b++) {
    expectAt(out, start + b * bs, writer, () => `${where()}: directory block ${b}`);
    emitDirentsOf(out, names, targets, nids, typeOf, starts[b]!, starts[b + 1]!);
    expectAt(out, start + b * bs + direntBytes(names, starts[b]!, starts[b + 1]!), writer, () => `${where()}: directory block ${b} end`);
    out.padTo(roundUp(out.pos, bs));
  }
}

/** Where the measuring pass put every inode record, and what each record holds besides its core. */
export interface InodeRecords {
  /** node indexes in on-disk order */
  order: ArrayLike<number>;
  /** byte offset of each node's record */
  ipos: ArrayLike<number>;
  /** bytes of each node's core (32 compact, 64 extended) */
  coreSize: (node: number) => number;
  /** bytes stored after the xattr area (inline tail, chunk map, compression indexes) */
  tailLen: ArrayLike<number>;
  xattrs: XattrPlan;
  /** end of the inode area = start of the shared xattr table */
  inodesEnd: number;
  /** first data block's byte offset */
  dataStart: number;
  /** block size (shared xattr ids count from the table's block) */
  bs: number;
  /** the byte xattr_blkaddr points to, when not the block holding the table (composefs-rs: 0) */
  xattrFrom?: number;
}

const NO_IDS: number[] = [];

/**
 * One record as planned: padding from the previous record's checked end to its offset, core,
 * xattr area, then what `tail` writes (it must be `tailLen` bytes; it may return a promise when
 * content is read ahead), checked where it ends.
 */
export function emitInodeRecord(
  out: Output, r: InodeRecords, i: number, core: InodeCore, tail: (node: number, at: number) => void | Promise<void>, writer: string, where: (node: number) => string,
): void | Promise<void> {
  const { xattrs: xp } = r;
  out.padTo(r.ipos[i]!);
  const xs = xp.xsize[i]!;
  const tailAt = emitInodeHead(out, r.ipos[i]!, core, r.coreSize(i), {
    size: xs, filter: xp.filter[i]!, sharedIds: xs ? sharedIdsAt(xp.sharedOffsets[i]!, r.inodesEnd, r.bs, r.xattrFrom) : NO_IDS, inline: xp.inline[i]!,
    indexer: xp.indexer,
  }, writer, () => where(i));
  const len = r.tailLen[i]!;
  const end = () => expectAt(out, tailAt + len, writer, () => `${where(i)}: inline data end`);
  if (len > 0) {
    const done = tail(i, tailAt);
    if (done) return done.then(end);
  }
  end();
}

/**
 * The inode area as planned: every record in on-disk order (emitInodeRecord), the shared xattr
 * table after the last, padding to the data area; the sink is drained every 1024 records.
 */
export async function emitInodeArea(
  out: Output, r: InodeRecords, core: (node: number) => InodeCore, tail: (node: number, at: number) => void | Promise<void>, writer: string, where: (node: number) => string,
): Promise<void> {
  for (let k = 0; k < r.order.length; k++) {
    const i = r.order[k]!;
    const done = emitInodeRecord(out, r, i, core(i), tail, writer, where);
    if (done) await done;
    if ((k & 1023) === 1023) await out.drain();
  }
  emitInodeAreaEnd(out, r, writer);
}

/**
 * The same, synchronously, for writers whose tails are all in hand (the tar index, composefs-rs:
 * small images written by measureThenWrite in one go, nothing read ahead, no sink to drain; the
 * RAFS v6 bootstrap, whose metadata is written in one synchronous pass).
 */
export function emitInodeAreaSync(
  out: Output, r: InodeRecords, core: (node: number) => InodeCore, tail: (node: number, at: number) => void, writer: string, where: (node: number) => string,
): void {
  for (let k = 0; k < r.order.length; k++) {
    const i = r.order[k]!;
    emitInodeRecord(out, r, i, core(i), tail, writer, where);
  }
  emitInodeAreaEnd(out, r, writer);
}

/** After the last record: the shared xattr table and the padding to the data area. */
export function emitInodeAreaEnd(out: Output, r: InodeRecords, writer: string): void {
  out.padTo(r.inodesEnd);
  emitSharedXattrs(out, r.xattrs, r.inodesEnd, writer);
  out.padTo(r.dataStart);
}
