/**
 * EROFS in tar index mode (what `mkfs.erofs --tar=i` makes; erofs-modern-format.md §6.5, read
 * against erofs-utils 1.9.3 lib/tar.c, lib/blobchunk.c and the fixture
 * /work/shared/fixtures/erofs-modern/tar-index.erofs): an image holding only metadata, whose
 * regular-file data stays in the uncompressed tar, given to the kernel as extra device 1.
 *
 * What is the same as mkfs.erofs --tar=i:
 *  - 512-byte blocks (tar data is 512-aligned, so each file's data has a block address);
 *  - one device slot (tag zeros, blocks = ceil(tar size / 512), uniaddr = primary blocks), incompat
 *    DEVICE_TABLE and not CHUNKED_FILE;
 *  - every non-empty regular file CHUNK_BASED with 8-byte indexes and chunkbits =
 *    max(9, ceil(log2(size))): one chunk, device_id 1, startblk = data offset in the tar / 512;
 *    empty files FLAT_PLAIN of size 0; nothing inlined.
 * What is NOT the same (the image mounts and reads the same, its bytes differ from mkfs.erofs's):
 *  - every inode is extended (64 bytes, mtime with nanoseconds), laid out depth-first from the root
 *    at nid 0; directories and symlinks are FLAT_PLAIN blocks after the inode area (mkfs inlines
 *    tails); xattrs are inline entries only (no shared table, no name filter); no superblock
 *    checksum, uuid or build time;
 *  - a directory the tar has no entry for gets the tree builder's attributes (fs/sources/tar.ts);
 *    mkfs.erofs (lib/rebuild.c erofs_rebuild_mkdir) gives it mode 0755 and its parent's owner and mtime.
 * Same as mkfs.erofs without --aufs: OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) stay the plain
 * files the tar holds; with `aufs` (mkfs.erofs --aufs, lib/tar.c + lib/rebuild.c) they become what
 * overlayfs reads as a lower layer's: `.wh.NAME` a character device 0:0 named NAME (permission bits 0,
 * owner and mtime of the whiteout entry) and `trusted.overlay.origin` (empty) on its directory;
 * `.wh..wh..opq` the `trusted.overlay.opaque` = "y" xattr on its directory. A hardlink to a file
 * the tar does not hold is an error (mkfs: ENOENT).
 * Files of a tar entry that appears twice are taken from the last entry (the tree's rule).
 */
import { FormatError, UnsupportedError } from '../errors.ts';
import { inodesOf, type SourceInode, type SourceTree } from '../fs/tree.ts';
import { bytes, bytesEqual, compareBytes, modeOfType } from '../fs/types.ts';
import { SliceSource, type ByteSource } from '../io/source.ts';
import { alignUp, binKey, startsWith } from '../bytes.ts';
import { encodeStruct } from '../struct.ts';
import {
  EROFS_CHUNK_FORMAT_INDEXES, EROFS_DEVT_SLOT_SIZE, EROFS_FEATURE_INCOMPAT_DEVICE_TABLE, EROFS_INODE_CHUNK_BASED, EROFS_INODE_FLAT_PLAIN,
  EROFS_MAGIC, EROFS_SUPER_OFFSET,
  erofs_deviceslot, erofs_inode_chunk_index, erofs_super_block,
} from './structs.ts';
import {
  direntBlocks, emitDirentBlock, direntFileType, emitInodeCore, emitXattrEntry, emitXattrHeader,
  inodeCoreSize, xattrAreaSize, xattrEntrySize, xattrIcount,
} from './writer-common.ts';
import { measureThenWrite, type Output, type Sink } from './writer-output.ts';
import { OPAQUE_WHITEOUT_BYTES, WHITEOUT_PREFIX_BYTES } from '../fs/whiteout.ts';

const BS = 512;
const BITS = 9;
/** the device slot right after the 128-byte superblock: byte 1152 = slot offset 9 × 128 */
const DEVT_SLOTOFF = 9;

export interface TarIndexResult {
  /** image bytes written (metadata only) */
  size: number;
  /** primary-device blocks */
  blocks: number;
  inodes: number;
  /** blocks of device 1 (the tar) as the device slot says */
  deviceBlocks: number;
  files: number;
}

/** Where a regular file's data starts in the tar: its content must be a 512-aligned slice of that very tar. */
function tarOffset(n: SourceInode, tar: ByteSource): number {
  const c = n.content;
  if (!(c instanceof SliceSource && c.inner === tar)) throw new UnsupportedError('tar index build', `${c?.name ?? 'a regular file'}: its content is not a slice of the tar`);
  if (c.start % BS !== 0) throw new FormatError('tar.data', c.start, `${c.name}: data at ${c.start} is not on a 512-byte block`);
  return c.start;
}

interface Plan {
  node: SourceInode;
  /** byte offset of the inode in the image */
  at: number;
  xattrBytes: number;
  /** directories: sorted names and target plan indexes (".", ".." included) */
  names?: Uint8Array[];
  targets?: number[];
  /** directories and symlinks: data size and first block */
  dataSize: number;
  startBlk: number;
  tarOff: number;
  nlink: number;
}

/**
 * Builds the tar index image of `tree`, whose regular files must be slices of `tar` (treeFromTar
 * makes such a tree).
 */
export async function buildTarIndex(tree: SourceTree, tar: ByteSource, sink: Sink, opts: { aufs?: boolean } = {}): Promise<TarIndexResult> {
  if (opts.aufs) aufsWhiteouts(tree.root);
  if (tar.size % BS !== 0) throw new FormatError('tar', tar.size, `${tar.name}: ${tar.size} bytes is not a whole number of 512-byte tar blocks`);
  if (tar.size / BS > 0xffff_ffff) throw new UnsupportedError('tar index build', `${tar.name}: more than 2^32 blocks needs the 48BIT format, not written here`);
  const nodes = inodesOf(tree.root);
  const index = new Map<SourceInode, number>(nodes.map((n, i) => [n, i]));
  const links = new Uint32Array(nodes.length);
  const parentOf = new Map<SourceInode, SourceInode>([[tree.root, tree.root]]);
  for (const n of nodes) {
    if (n.type !== 'dir') continue;
    for (const d of n.children ?? []) {
      if (d.inode.type === 'dir') {
        if (parentOf.has(d.inode)) throw new FormatError('tree', -1, 'a directory is reached twice');
        parentOf.set(d.inode, n);
      } else links[index.get(d.inode)!]! += 1;
    }
  }
  const plans: Plan[] = nodes.map((node, i) => {
    const xattrBytes = xattrAreaSize(0, node.xattrs.reduce((s, x) => s + xattrEntrySize(x), 0));
    const p: Plan = { node, at: 0, xattrBytes, dataSize: 0, startBlk: 0, tarOff: -1, nlink: node.type === 'dir' ? 2 : links[i]! };
    if (node.type === 'dir') {
      const kids = [...(node.children ?? [])].sort((a, b) => compareBytes(a.name, b.name));
      const dot = new Uint8Array([0x2e]);
      const dotdot = new Uint8Array([0x2e, 0x2e]);
      const all = [{ name: dot, inode: node }, { name: dotdot, inode: parentOf.get(node)! }, ...kids].sort((a, b) => compareBytes(a.name, b.name));
      p.names = all.map((d) => d.name);
      p.targets = all.map((d) => index.get(d.inode)!);
      p.nlink = 2 + kids.filter((d) => d.inode.type === 'dir').length;
      const { starts, lastSize } = direntBlocks(p.names, BS);
      p.dataSize = (starts.length - 2) * BS + lastSize;
    } else if (node.type === 'symlink') p.dataSize = node.target?.length ?? 0;
    else if (node.type === 'reg' && node.size > 0) p.tarOff = tarOffset(node, tar);
    return p;
  });

  // inode area from block 3 (superblock at 1024, device slot at 1152..1279)
  const metaBlk = Math.ceil((DEVT_SLOTOFF * EROFS_DEVT_SLOT_SIZE + erofs_deviceslot.size) / BS);
  let at = metaBlk * BS;
  for (const p of plans) {
    p.at = at;
    let end = at + inodeCoreSize(false) + p.xattrBytes;
    if (p.tarOff >= 0) end = alignUp(end, 8) + erofs_inode_chunk_index.size;
    at = alignUp(end, 32);
  }
  let blk = Math.ceil(at / BS);
  for (const p of plans) {
    if (p.dataSize === 0) continue;
    p.startBlk = blk;
    blk += Math.ceil(p.dataSize / BS);
  }
  const blocks = blk;
  const nidOf = (i: number): number => (plans[i]!.at - metaBlk * BS) / 32;
  if (nidOf(0) !== 0) throw new Error('tar-index writer: the root is not at nid 0');
  const deviceBlocks = tar.size / BS;

  const emit = (out: Output): void => {
    out.fill(EROFS_SUPER_OFFSET);
    const sb = new Uint8Array(erofs_super_block.size);
    encodeStruct(erofs_super_block, {
      magic: EROFS_MAGIC, blkszbits: BITS, root_nid: 0, inos: nodes.length, blocks, meta_blkaddr: metaBlk,
      feature_incompat: EROFS_FEATURE_INCOMPAT_DEVICE_TABLE, extra_devices: 1, devt_slotoff: DEVT_SLOTOFF,
    }, sb);
    out.bytes(sb);
    out.padTo(DEVT_SLOTOFF * EROFS_DEVT_SLOT_SIZE);
    const slot = new Uint8Array(erofs_deviceslot.size);
    encodeStruct(erofs_deviceslot, { blocks: deviceBlocks, mapped_blkaddr: blocks }, slot);
    out.bytes(slot);

    nodes.forEach((n, i) => {
      const p = plans[i]!;
      out.padTo(p.at);
      let layout = EROFS_INODE_FLAT_PLAIN;
      let iu = 0;
      if (n.type === 'dir' || n.type === 'symlink') iu = p.dataSize ? p.startBlk : 0;
      else if (n.type === 'chr' || n.type === 'blk') iu = n.rdev;
      else if (p.tarOff >= 0) {
        layout = EROFS_INODE_CHUNK_BASED;
        const chunkBits = Math.max(BITS, Math.ceil(Math.log2(n.size)));
        iu = EROFS_CHUNK_FORMAT_INDEXES | (chunkBits - BITS);
      }
      const size = n.type === 'dir' || n.type === 'symlink' ? p.dataSize : n.type === 'reg' ? n.size : 0;
      emitInodeCore(out, {
        compact: false, layout, xattrIcount: xattrIcount(p.xattrBytes), mode: modeOfType(n.type) | n.perm, nlink: p.nlink, size, iu,
        ino: i + 1, uid: n.uid, gid: n.gid, mtime: n.mtime, mtimeNsec: n.mtimeNsec,
      });
      if (p.xattrBytes) {
        emitXattrHeader(out, 0, []);
        for (const x of n.xattrs) emitXattrEntry(out, x);
      }
      if (p.tarOff >= 0) {
        out.padTo(alignUp(out.pos, 8));
        const ci = new Uint8Array(erofs_inode_chunk_index.size);
        encodeStruct(erofs_inode_chunk_index, { device_id: 1, blkaddr: p.tarOff / BS }, ci);
        out.bytes(ci);
      }
    });

    for (const p of plans) {
      if (p.dataSize === 0) continue;
      out.padTo(p.startBlk * BS);
      if (p.names) {
        const { starts } = direntBlocks(p.names, BS);
        const nids = p.targets!.map(nidOf);
        const types = p.targets!.map((t) => direntFileType(nodes[t]!.type));
        for (let b = 0; b + 1 < starts.length; b++) {
          out.padTo(p.startBlk * BS + b * BS);
          emitDirentBlock(out, p.names, nids, types, starts[b]!, starts[b + 1]!);
        }
      } else out.bytes(p.node.target!);
    }
    out.padTo(blocks * BS);
  };
  await measureThenWrite(emit, blocks * BS, sink, 'tar index image');
  return { size: blocks * BS, blocks, inodes: nodes.length, deviceBlocks, files: plans.filter((p) => p.tarOff >= 0).length };
}


const OVL_OPAQUE = bytes('trusted.overlay.opaque');
const OVL_ORIGIN = bytes('trusted.overlay.origin');

/** mkfs.erofs --aufs: OCI whiteouts as overlayfs whiteouts (in place; the tree is the caller's own). */
function aufsWhiteouts(root: SourceInode): void {
  const stack = [root];
  const seen = new Set<SourceInode>();
  while (stack.length) {
    const dir = stack.pop()!;
    if (seen.has(dir)) continue;
    seen.add(dir);
    const kids = new Map<string, { name: Uint8Array; inode: SourceInode }>();
    let opaque = false;
    let whiteouts = false;
    for (const c of dir.children ?? []) {
      if (bytesEqual(c.name, OPAQUE_WHITEOUT_BYTES)) opaque = true;
      else if (startsWith(c.name, WHITEOUT_PREFIX_BYTES)) {
        const name = c.name.subarray(WHITEOUT_PREFIX_BYTES.length);
        kids.delete(binKey(name));
        kids.set(binKey(name), { name, inode: { type: 'chr', perm: 0, uid: c.inode.uid, gid: c.inode.gid, mtime: c.inode.mtime, mtimeNsec: c.inode.mtimeNsec, size: 0, rdev: 0, xattrs: [] } });
        whiteouts = true;
      } else {
        kids.delete(binKey(c.name));
        kids.set(binKey(c.name), c);
        if (c.inode.type === 'dir') stack.push(c.inode);
      }
    }
    dir.children = [...kids.values()];
    const drop = (n: Uint8Array) => dir.xattrs.filter((x) => !bytesEqual(x.name, n));
    if (opaque) dir.xattrs = [...drop(OVL_OPAQUE), { name: OVL_OPAQUE, value: bytes('y') }];
    if (whiteouts) dir.xattrs = [...drop(OVL_ORIGIN), { name: OVL_ORIGIN, value: new Uint8Array(0) }];
  }
}
