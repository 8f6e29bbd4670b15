// The EROFS image composefs-rs writes of a tree (crates/composefs/src/erofs/writer.rs mkfs_erofs,
// containers/composefs-rs 54d248f), whose fs-verity digest is the image id `cfsctl` prints. Its own
// layout, not mkcomposefs' (lib/composefs/writer.ts):
//  - 32-byte composefs header (magic 0xd078629a, version 1, flags 0, composefs_version 2), zeros to
//    1024, then the superblock: feature_compat MTIME|XATTR_FILTER (6), 4 KiB blocks, meta_blkaddr
//    and xattr_blkaddr 0 (nids and shared-xattr ids count from byte 0), no build time, no uuid;
//  - every inode extended (64 bytes, mtime in seconds, nsec 0, i_ino = nid), 32-byte aligned,
//    right after the superblock in depth-first pre-order: a directory, then its entries in name
//    order (each subdirectory's whole subtree before the next entry); a hardlinked leaf once, at its
//    first dirent;
//  - xattrs: for an external file trusted.overlay.metacopy (version 0, len 36, flags 0, algo 1,
//    digest) and trusted.overlay.redirect ("/xx/yyyy…") first, then the tree's xattrs in name order
//    (trusted.overlay.X escaped to trusted.overlay.overlay.X); prefixes matched longest index first
//    over "", user., system.posix_acl_access, system.posix_acl_default, trusted., lustre., security.;
//    a (prefix, suffix, value) used by two or more xattr entries goes to the shared table (in that
//    sort order) after the inode table; name filter = NOT of the bits xxh32(suffix, seed + index) % 32;
//  - files of up to 64 bytes FLAT_INLINE (empty: FLAT_PLAIN), larger ones CHUNK_BASED with i_u 31
//    and one null 4-byte block map entry (0xffffffff); symlinks FLAT_INLINE; devices' rdev in i_u;
//  - directories: dirents packed into 4 KiB blocks; a tail of more than 2048 bytes becomes a block
//    too, else it is inline (FLAT_INLINE); inline data never crosses a block: when it would (the
//    test counts an exact fit as crossing), zeros are added so the inode starts near the next block;
//  - after the shared xattrs, zeros to a 4 KiB boundary, then the directory blocks in inode order.
// Checked against the two digests composefs-rs pins in crates/composefs/tests/mkfs.rs
// (test_erofs_digest_stability), see test/oci-composefs.test.ts.
import { xxh32 } from '../codec/xxh32.ts';
import { fsverityDigest } from '../codec/fsverity.ts';
import { digestToPayload } from '../composefs/verity.ts';
import { alignUp, hex, startsWith } from '../bytes.ts';
import { UnsupportedError } from '../errors.ts';
import type { SourceInode, SourceTree } from '../fs/tree.ts';
import { bytes, compareBytes, modeOfType, type FileType } from '../fs/types.ts';
import { encodeStruct } from '../struct.ts';
import {
  erofs_inode_extended, erofs_super_block, erofs_xattr_ibody_header, EROFS_FEATURE_COMPAT_MTIME, EROFS_FEATURE_COMPAT_XATTR_FILTER,
  EROFS_INODE_CHUNK_BASED, EROFS_INODE_FLAT_INLINE, EROFS_INODE_FLAT_PLAIN, EROFS_MAGIC,
} from '../erofs/structs.ts';
import { COMPOSEFS_MAGIC } from '../composefs/structs.ts';
import { DIRENT_SIZE, direntFileType, emitDirentBlock, emitInodeCore, emitXattrHeader, XATTR_FILTER_SEED } from '../erofs/writer-common.ts';
import { measureThenWrite, MemorySink, type Output } from '../erofs/writer-output.ts';
import { COMPOSEFS_RS_INLINE_MAX } from './composefs.ts';

const BLOCK = 4096;
/** composefs-rs XATTR_PREFIXES, index = e_name_index (lustre. has one here, unlike mkcomposefs) */
const PREFIXES = ['', 'user.', 'system.posix_acl_access', 'system.posix_acl_default', 'trusted.', 'lustre.', 'security.'].map(bytes);
const OVERLAY = bytes('trusted.overlay.');
const INODE_SIZE = erofs_inode_extended.size;
const XATTR_HEADER = erofs_xattr_ibody_header.size;

interface XAttr {
  prefix: number;
  suffix: Uint8Array;
  value: Uint8Array;
}

const xattrKey = (x: XAttr): string => `${x.prefix}:${hex(x.suffix)}:${hex(x.value)}`;
const compareXattr = (a: XAttr, b: XAttr): number => a.prefix - b.prefix || compareBytes(a.suffix, b.suffix) || compareBytes(a.value, b.value);
const xattrBytes = (x: XAttr): number => alignUp(4 + x.suffix.length + x.value.length, 4);

interface Node {
  src: SourceInode;
  type: FileType;
  local: XAttr[];
  shared: number[];
  filter: number;
  nlink: number;
  /** directories: sorted dirent names, target node indexes, blocks as [first, end) entry ranges, inline range */
  names?: Uint8Array[];
  targets?: number[];
  blocks?: [number, number][];
  inline?: [number, number];
  size: number;
  layout: number;
  /** regular inline content or symlink target */
  data?: Uint8Array;
  external: boolean;
}

function addXattr(n: Node, name: Uint8Array, value: Uint8Array): void {
  for (let idx = PREFIXES.length - 1; idx >= 0; idx--) {
    const p = PREFIXES[idx]!;
    if (!startsWith(name, p)) continue;
    const suffix = name.subarray(p.length);
    n.filter |= 1 << (xxh32(suffix, XATTR_FILTER_SEED + idx) % 32);
    n.local.push({ prefix: idx, suffix, value });
    return;
  }
}

function xattrSize(n: Node): number {
  if (n.filter === 0) return 0;
  return XATTR_HEADER + 4 * n.shared.length + n.local.reduce((s, x) => s + xattrBytes(x), 0);
}

/** The composefs-rs EROFS image of `tree` (regular files above 64 bytes are external objects). */
export async function composefsRsImage(tree: SourceTree): Promise<Uint8Array> {
  const nodes: Node[] = [];
  const leafIndex = new Map<SourceInode, number>();
  const refs = new Map<SourceInode, number>();
  const countRefs = (d: SourceInode): void => {
    for (const c of d.children ?? []) {
      if (c.inode.type === 'dir') countRefs(c.inode);
      else refs.set(c.inode, (refs.get(c.inode) ?? 0) + 1);
    }
  };
  countRefs(tree.root);

  const push = async (src: SourceInode): Promise<number> => {
    const n: Node = { src, type: src.type, local: [], shared: [], filter: 0, nlink: 0, size: 0, layout: EROFS_INODE_FLAT_PLAIN, external: false };
    if (src.type === 'reg') {
      n.size = src.size;
      if (src.size > COMPOSEFS_RS_INLINE_MAX) {
        n.external = true;
        n.layout = EROFS_INODE_CHUNK_BASED;
        let digest = src.fsverityDigest;
        if (!digest) {
          if (!src.content) throw new UnsupportedError('composefs-rs image', 'a file above 64 bytes has neither content nor an fs-verity digest');
          digest = await fsverityDigest(src.content);
        }
        const metacopy = new Uint8Array(4 + digest.length);
        metacopy.set([0, metacopy.length, 0, 1]);
        metacopy.set(digest, 4);
        addXattr(n, bytes('trusted.overlay.metacopy'), metacopy);
        addXattr(n, bytes('trusted.overlay.redirect'), bytes('/' + digestToPayload(digest)));
      } else if (src.size > 0) {
        if (!src.content) throw new UnsupportedError('composefs-rs image', 'an inline file has no content');
        n.data = await src.content.read(0, src.size);
        n.layout = EROFS_INODE_FLAT_INLINE;
      }
    } else if (src.type === 'symlink') {
      n.data = src.target ?? new Uint8Array(0);
      n.size = n.data.length;
      n.layout = EROFS_INODE_FLAT_INLINE;
    }
    for (const x of [...src.xattrs].sort((a, b) => compareBytes(a.name, b.name))) {
      const name = startsWith(x.name, OVERLAY) ? new Uint8Array([...OVERLAY, ...bytes('overlay.'), ...x.name.subarray(OVERLAY.length)]) : x.name;
      addXattr(n, name, x.value);
    }
    nodes.push(n);
    return nodes.length - 1;
  };

  const collectDir = async (dir: SourceInode, parent: number): Promise<number> => {
    const me = await push(dir);
    const kids = [...(dir.children ?? [])].sort((a, b) => compareBytes(a.name, b.name));
    const ents: { name: Uint8Array; target: number }[] = [];
    for (const k of kids) {
      let t: number;
      if (k.inode.type === 'dir') t = await collectDir(k.inode, me);
      else {
        const nl = refs.get(k.inode)!;
        const seen = nl > 1 ? leafIndex.get(k.inode) : undefined;
        if (seen !== undefined) t = seen;
        else {
          t = await push(k.inode);
          nodes[t]!.nlink = nl;
          if (nl > 1) leafIndex.set(k.inode, t);
        }
      }
      ents.push({ name: k.name, target: t });
    }
    const self = parent < 0 ? me : parent;
    ents.push({ name: bytes('.'), target: me }, { name: bytes('..'), target: self });
    ents.sort((a, b) => compareBytes(a.name, b.name));
    const n = nodes[me]!;
    n.names = ents.map((e) => e.name);
    n.targets = ents.map((e) => e.target);
    n.nlink = ents.filter((e) => nodes[e.target]!.type === 'dir').length;
    // blocks of up to 4096 bytes of dirents; a tail above 2048 bytes is a block too
    const blocks: [number, number][] = [];
    let first = 0;
    let used = 0;
    for (let i = 0; i < ents.length; i++) {
      const len = DIRENT_SIZE + ents[i]!.name.length;
      used += len;
      if (used > BLOCK) {
        blocks.push([first, i]);
        first = i;
        used = len;
      }
    }
    if (used > 2048) {
      blocks.push([first, ents.length]);
      first = ents.length;
      used = 0;
    }
    n.blocks = blocks;
    n.inline = [first, ents.length];
    n.size = BLOCK * blocks.length + used;
    n.layout = first === ents.length ? EROFS_INODE_FLAT_PLAIN : EROFS_INODE_FLAT_INLINE;
    return me;
  };
  await collectDir(tree.root, -1);

  // share (prefix, suffix, value) triples used more than once
  const counts = new Map<string, { x: XAttr; n: number }>();
  for (const n of nodes) for (const x of n.local) {
    const k = xattrKey(x);
    const c = counts.get(k);
    if (c) c.n++;
    else counts.set(k, { x, n: 1 });
  }
  const shared = [...counts.values()].filter((c) => c.n > 1).map((c) => c.x).sort(compareXattr);
  const sharedIdx = new Map(shared.map((x, i) => [xattrKey(x), i]));
  for (const n of nodes) {
    n.local = n.local.filter((x) => {
      const i = sharedIdx.get(xattrKey(x));
      if (i === undefined) return true;
      n.shared.push(i);
      return false;
    });
  }

  // layout: inode offsets (with composefs-rs' padding rule), shared xattrs, then directory blocks
  const inodeAt: number[] = [];
  let pos = 1024 + erofs_super_block.size;
  for (const n of nodes) {
    pos = alignUp(pos, 32);
    if (n.layout === EROFS_INODE_FLAT_INLINE) {
      const inlineStart = pos + INODE_SIZE + xattrSize(n);
      const endOfMeta = inlineStart - 1;
      const inlineEnd = inlineStart + (n.size % BLOCK);
      if (Math.floor(endOfMeta / BLOCK) !== Math.floor(inlineEnd / BLOCK)) pos = alignUp(pos + (BLOCK - (endOfMeta % BLOCK)), 32);
    }
    inodeAt.push(pos);
    pos += INODE_SIZE + xattrSize(n) + inlineBytes(n);
    pos = alignUp(pos, 32);
  }
  const sharedAt: number[] = [];
  for (const x of shared) {
    sharedAt.push(pos);
    pos += xattrBytes(x);
  }
  pos = alignUp(pos, BLOCK);
  const blockAt: number[] = [];
  for (const n of nodes) {
    blockAt.push(pos);
    pos += (n.blocks?.length ?? 0) * BLOCK;
  }
  const end = pos;
  const nid = (i: number): number => inodeAt[i]! / 32;
  if (nid(0) > 0xffff) throw new Error('composefs-rs layout: root nid above 65535');

  const emit = (out: Output): void => {
    const hdr = new Uint8Array(32);
    const hv = new DataView(hdr.buffer);
    hv.setUint32(0, COMPOSEFS_MAGIC, true);
    hv.setUint32(4, 1, true);
    hv.setUint32(12, 2, true);
    out.bytes(hdr);
    out.padTo(1024);
    const sb = new Uint8Array(erofs_super_block.size);
    encodeStruct(erofs_super_block, {
      magic: EROFS_MAGIC, feature_compat: EROFS_FEATURE_COMPAT_MTIME | EROFS_FEATURE_COMPAT_XATTR_FILTER, blkszbits: 12, root_nid: nid(0), inos: nodes.length, blocks: end / BLOCK,
    }, sb);
    out.bytes(sb);
    nodes.forEach((n, i) => {
      out.padTo(inodeAt[i]!);
      const xs = xattrSize(n);
      let iu = 0;
      if (n.type === 'dir') iu = n.blocks!.length ? blockAt[i]! / BLOCK : 0;
      else if (n.external) iu = 31;
      else if (n.type === 'chr' || n.type === 'blk') iu = n.src.rdev;
      emitInodeCore(out, {
        compact: false, layout: n.layout, xattrIcount: xs === 0 ? 0 : 1 + (xs - XATTR_HEADER) / 4, mode: modeOfType(n.type) | n.src.perm,
        nlink: n.nlink, size: n.size, iu, ino: nid(i), uid: n.src.uid, gid: n.src.gid, mtime: n.src.mtime, mtimeNsec: 0,
      });
      if (xs) {
        emitXattrHeader(out, ~n.filter >>> 0, n.shared.map((s) => sharedAt[s]! / 4));
        for (const x of n.local) emitEntry(out, x);
      }
      if (n.type === 'dir') {
        const [a, b] = n.inline!;
        if (a < b) emitDirents(out, n, a, b, nid);
      } else if (n.external) out.bytes(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
      else if (n.data) out.bytes(n.data);
    });
    out.padTo(alignUp(out.pos, 32));
    for (const x of shared) emitEntry(out, x);
    out.padTo(alignUp(out.pos, BLOCK));
    nodes.forEach((n, i) => {
      for (const [k, [a, b]] of (n.blocks ?? []).entries()) {
        out.padTo(blockAt[i]! + k * BLOCK);
        emitDirents(out, n, a, b, nid);
      }
    });
    out.padTo(end);
  };
  const sink = new MemorySink();
  await measureThenWrite(emit, end, sink, 'composefs-rs image');
  return sink.bytes();

  function inlineBytes(n: Node): number {
    if (n.type === 'dir') {
      const [a, b] = n.inline!;
      let s = 0;
      for (let k = a; k < b; k++) s += DIRENT_SIZE + n.names![k]!.length;
      return s;
    }
    if (n.external) return 4;
    return n.data?.length ?? 0;
  }
  function emitDirents(out: Output, n: Node, a: number, b: number, nidOf: (i: number) => number): void {
    const nids = n.targets!.map(nidOf);
    const types = n.targets!.map((t) => direntFileType(nodes[t]!.type));
    emitDirentBlock(out, n.names!, nids, types, a, b);
  }
}

/**
 * One xattr entry with the prefix index already chosen: writer-common's emitXattrEntry picks the
 * index itself by mkcomposefs' table, which has no "lustre." (composefs-rs gives it index 5).
 */
function emitEntry(out: Output, x: XAttr): void {
  const h = new Uint8Array(4);
  h[0] = x.suffix.length;
  h[1] = x.prefix;
  h[2] = x.value.length & 0xff;
  h[3] = x.value.length >>> 8;
  out.bytes(h);
  out.bytes(x.suffix);
  out.bytes(x.value);
  out.fill(xattrBytes(x) - (4 + x.suffix.length + x.value.length));
}
