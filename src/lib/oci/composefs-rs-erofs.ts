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
// Built on the shared image model (erofs/writer-model.ts: collection, link counts, xattr plan with
// this writer's prefix table, order and no per-inode cap, inode records, directory blocks); the
// order, placement and inline rules above and the xattr rewrite stay here.
// Checked against the two digests composefs-rs pins in crates/composefs/tests/mkfs.rs
// (test_erofs_digest_stability), see test/oci-composefs.test.ts.
import { fsverityDigest } from '../codec/fsverity.ts';
import { digestToPayload } from '../composefs/verity.ts';
import { alignUp, startsWith } from '../bytes.ts';
import { UnsupportedError } from '../errors.ts';
import type { SourceInode, SourceTree, Xattr } from '../fs/tree.ts';
import { bytes, compareBytes, modeOfType } from '../fs/types.ts';
import { validateTree } from '../fs/validate.ts';
import { encodeStruct } from '../struct.ts';
import {
  erofs_inode_extended, erofs_super_block, EROFS_FEATURE_COMPAT_MTIME, EROFS_FEATURE_COMPAT_XATTR_FILTER,
  EROFS_INODE_CHUNK_BASED, EROFS_INODE_FLAT_INLINE, EROFS_INODE_FLAT_PLAIN, EROFS_MAGIC, EROFS_SLOTSIZE, EROFS_SUPER_OFFSET,
  EROFS_XATTR_INDEX_LUSTRE, EROFS_XATTR_INDEX_POSIX_ACL_ACCESS, EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT, EROFS_XATTR_INDEX_SECURITY,
  EROFS_XATTR_INDEX_TRUSTED, EROFS_XATTR_INDEX_USER,
} from '../erofs/structs.ts';
import { COMPOSEFS_MAGIC } from '../composefs/structs.ts';
import { direntBlocks, direntBytes, emitDirentsOf, prefixIndexer, xattrIcount, type InodeCore } from '../erofs/writer-common.ts';
import { assignBlocks, collectInodes, emitDirBlocks, emitInodeAreaSync, linkCounts, nodePath, type InodeRecords, type ModelNode } from '../erofs/writer-model.ts';
import { expectAt, measureThenWrite, MemorySink, type Output } from '../erofs/writer-output.ts';
import { planXattrs } from '../erofs/writer-xattrs.ts';
import { COMPOSEFS_RS_INLINE_MAX } from './composefs.ts';

const BLOCK = 4096;
const W = 'composefs-rs';
const INODE = erofs_inode_extended.size;
/** composefs-rs XATTR_PREFIXES, tried from the highest index down ("lustre." has one here, unlike mkcomposefs) */
const IX = prefixIndexer([
  EROFS_XATTR_INDEX_SECURITY, EROFS_XATTR_INDEX_LUSTRE, EROFS_XATTR_INDEX_TRUSTED, EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT,
  EROFS_XATTR_INDEX_POSIX_ACL_ACCESS, EROFS_XATTR_INDEX_USER,
]);
const OVERLAY = bytes('trusted.overlay.');
const METACOPY = bytes('trusted.overlay.metacopy');
const REDIRECT = bytes('trusted.overlay.redirect');
const FF4 = new Uint8Array(4).fill(0xff);

/** the shared table's order: prefix index, then suffix, then value */
function sharedOrder(a: Xattr, b: Xattr): number {
  const ia = IX(a.name);
  const ib = IX(b.name);
  return ia.index - ib.index || compareBytes(a.name.subarray(ia.prefixLen), b.name.subarray(ib.prefixLen)) || compareBytes(a.value, b.value);
}

/** trusted.overlay.X escaped as trusted.overlay.overlay.X (overlayfs then shows it as trusted.overlay.X) */
function escaped(x: Xattr): Xattr {
  if (!startsWith(x.name, OVERLAY)) return x;
  return { name: new Uint8Array([...OVERLAY, ...bytes('overlay.'), ...x.name.subarray(OVERLAY.length)]), value: x.value };
}

interface Node extends ModelNode {
  src: SourceInode;
}

/**
 * On-disk order: depth-first pre-order from the root, a directory's entries in name order (each
 * subdirectory's subtree before the next entry), a hardlinked leaf at its first name.
 */
function preorder(nodes: readonly Node[]): Uint32Array {
  const order = new Uint32Array(nodes.length);
  const seen = new Uint8Array(nodes.length);
  const stack = [0];
  let k = 0;
  while (stack.length) {
    const i = stack.pop()!;
    if (seen[i]) continue;
    seen[i] = 1;
    order[k++] = i;
    const n = nodes[i]!;
    const ents = n.entNodes;
    if (!ents) continue;
    for (let e = ents.length - 1; e >= 0; e--) if (ents[e] !== i && ents[e] !== n.parent) stack.push(ents[e]!);
  }
  return order;
}

/** The composefs-rs EROFS image of `tree` (regular files above 64 bytes are external objects). */
export async function composefsRsImage(tree: SourceTree): Promise<Uint8Array> {
  validateTree(tree);
  const nodes: Node[] = [];
  collectInodes(tree, nodes, { add: (src, parent, name) => nodes.push({ src, parent, name, entNames: null, entNodes: null }) - 1 });
  const N = nodes.length;
  const isDir = (t: number) => nodes[t]!.src.type === 'dir';
  const nlink = linkCounts(nodes, isDir);
  const order = preorder(nodes);

  // each inode's size, layout, inline data (regular content, symlink target) and directory blocks;
  // an external file's metacopy and redirect come before the tree's xattrs (sorted by name)
  const size = new Float64Array(N);
  const layout = new Uint8Array(N);
  const external = new Uint8Array(N);
  const data: (Uint8Array | null)[] = new Array(N).fill(null);
  const dirStarts: (number[] | null)[] = new Array(N).fill(null);
  const nBlocks = new Uint32Array(N);
  const tailLen = new Uint32Array(N);
  const lists: Xattr[][] = new Array(N);
  for (let i = 0; i < N; i++) {
    const n = nodes[i]!;
    const src = n.src;
    const list: Xattr[] = [];
    layout[i] = EROFS_INODE_FLAT_PLAIN;
    if (src.type === 'reg') {
      size[i] = src.size;
      if (src.size > COMPOSEFS_RS_INLINE_MAX) {
        external[i] = 1;
        layout[i] = EROFS_INODE_CHUNK_BASED;
        let digest = src.fsverityDigest;
        if (!digest) {
          if (!src.content) throw new UnsupportedError('composefs-rs image', 'a file above 64 bytes has neither content nor an fs-verity digest');
          digest = await fsverityDigest(src.content);
        }
        // overlayfs metacopy: version 0, length, flags 0, digest algorithm 1 (sha256), digest
        const metacopy = new Uint8Array(4 + digest.length);
        metacopy.set([0, metacopy.length, 0, 1]);
        metacopy.set(digest, 4);
        list.push({ name: METACOPY, value: metacopy }, { name: REDIRECT, value: bytes('/' + digestToPayload(digest)) });
        // one null block map entry
        tailLen[i] = 4;
      } else if (src.size > 0) {
        if (!src.content) throw new UnsupportedError('composefs-rs image', 'an inline file has no content');
        data[i] = await src.content.read(0, src.size);
        layout[i] = EROFS_INODE_FLAT_INLINE;
      }
    } else if (src.type === 'symlink') {
      data[i] = src.target ?? new Uint8Array(0);
      size[i] = data[i]!.length;
      layout[i] = EROFS_INODE_FLAT_INLINE;
    } else if (src.type === 'dir') {
      // blocks of up to 4096 bytes of dirents; a last block above 2048 bytes is a block too, else inline
      const names = n.entNames!;
      const { starts, lastSize } = direntBlocks(names, BLOCK);
      dirStarts[i] = starts;
      const inline = lastSize <= 2048;
      nBlocks[i] = inline ? starts.length - 2 : starts.length - 1;
      if (inline) {
        tailLen[i] = direntBytes(names, starts[starts.length - 2]!, names.length);
        layout[i] = EROFS_INODE_FLAT_INLINE;
      }
      size[i] = BLOCK * nBlocks[i]! + tailLen[i]!;
    }
    if (data[i]) tailLen[i] = data[i]!.length;
    for (const x of [...src.xattrs].sort((a, b) => compareBytes(a.name, b.name))) list.push(escaped(x));
    lists[i] = list;
  }
  // a (name, value) pair used twice or more goes to the shared table; no cap per inode
  const xp = planXattrs(lists, { order: sharedOrder, indexer: IX, maxShared: Infinity });

  // placement in on-disk order: inline data never crosses a block (an exact fit counts as crossing)
  const ipos = new Float64Array(N);
  let pos = EROFS_SUPER_OFFSET + erofs_super_block.size;
  for (let k = 0; k < N; k++) {
    const i = order[k]!;
    const head = INODE + xp.xsize[i]!;
    pos = alignUp(pos, EROFS_SLOTSIZE);
    if (layout[i] === EROFS_INODE_FLAT_INLINE) {
      const endOfMeta = pos + head - 1;
      const inlineEnd = pos + head + (size[i]! % BLOCK);
      if (Math.floor(endOfMeta / BLOCK) !== Math.floor(inlineEnd / BLOCK)) pos = alignUp(pos + (BLOCK - (endOfMeta % BLOCK)), EROFS_SLOTSIZE);
    }
    ipos[i] = pos;
    pos = alignUp(pos + head + tailLen[i]!, EROFS_SLOTSIZE);
  }
  // shared xattrs after the last inode, directory blocks from the next 4 KiB boundary
  const dataStart = alignUp(pos + xp.sharedSize, BLOCK);
  const records: InodeRecords = { order, ipos, coreSize: () => INODE, tailLen, xattrs: xp, inodesEnd: pos, dataStart, bs: BLOCK, xattrFrom: 0 };
  const blkaddr = new Float64Array(N);
  const end = assignBlocks(nBlocks, dataStart / BLOCK, blkaddr, undefined, order) * BLOCK;
  const nid = Float64Array.from(ipos, (p) => p / EROFS_SLOTSIZE);
  if (nid[0]! > 0xffff) throw new Error('composefs-rs layout: root nid above 65535');
  const where = (i: number) => `inode ${i} (nid ${nid[i]!}, ${JSON.stringify(nodePath(nodes, i))})`;
  const typeOf = (t: number) => nodes[t]!.src.type;

  const core = (i: number): InodeCore => {
    const src = nodes[i]!.src;
    let iu = 0;
    if (src.type === 'dir') iu = blkaddr[i]!;
    else if (external[i]) iu = 31;
    else if (src.type === 'chr' || src.type === 'blk') iu = src.rdev;
    return {
      compact: false, layout: layout[i]!, xattrIcount: xattrIcount(xp.xsize[i]!), mode: modeOfType(src.type) | src.perm,
      nlink: nlink[i]!, size: size[i]!, iu, ino: nid[i]!, uid: src.uid, gid: src.gid, mtime: src.mtime, mtimeNsec: 0,
    };
  };
  const tail = (out: Output) => (i: number): void => {
    const n = nodes[i]!;
    if (n.src.type === 'dir') {
      const starts = dirStarts[i]!;
      emitDirentsOf(out, n.entNames!, n.entNodes!, nid, typeOf, starts[starts.length - 2]!, n.entNames!.length);
    } else if (external[i]) out.bytes(FF4);
    else out.bytes(data[i]!);
  };

  const emit = (out: Output): void => {
    const hdr = new Uint8Array(32);
    const hv = new DataView(hdr.buffer);
    hv.setUint32(0, COMPOSEFS_MAGIC, true);
    hv.setUint32(4, 1, true);
    hv.setUint32(12, 2, true);
    out.bytes(hdr);
    out.padTo(EROFS_SUPER_OFFSET);
    const sb = new Uint8Array(erofs_super_block.size);
    encodeStruct(erofs_super_block, {
      magic: EROFS_MAGIC, feature_compat: EROFS_FEATURE_COMPAT_MTIME | EROFS_FEATURE_COMPAT_XATTR_FILTER, blkszbits: 12, root_nid: nid[0]!, inos: N, blocks: end / BLOCK,
    }, sb);
    out.bytes(sb);
    emitInodeAreaSync(out, records, core, tail(out), W, where);
    for (let k = 0; k < N; k++) {
      const i = order[k]!;
      const nb = nBlocks[i]!;
      if (nb === 0) continue;
      const n = nodes[i]!;
      emitDirBlocks(out, blkaddr[i]! * BLOCK, BLOCK, n.entNames!, n.entNodes!, dirStarts[i]!, nb, nid, typeOf, W, () => where(i));
    }
    expectAt(out, end, W, () => 'image end');
  };
  const sink = new MemorySink();
  await measureThenWrite(emit, end, sink, 'composefs-rs image');
  return sink.bytes();
}
