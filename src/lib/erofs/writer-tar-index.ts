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
 *
 * Built on the shared image model (writer-model.ts: collection, link counts, xattr plan, inode
 * records, directory blocks); what is its own here: the on-disk inode order (depth first in the
 * tar's order, inodesOf), the placement (every record extended, chunk index 8-aligned after the
 * xattrs, directory and symlink data in blocks), tar data addressed in device-1 blocks, and the
 * superblock with its device slot.
 */
import { FormatError, UnsupportedError } from '../errors.ts';
import { inodesOf, type SourceInode, type SourceTree } from '../fs/tree.ts';
import { bytes, bytesEqual, modeOfType } from '../fs/types.ts';
import { validateTree } from '../fs/validate.ts';
import { SliceSource, type ByteSource } from '../io/source.ts';
import { alignUp, binKey, startsWith } from '../bytes.ts';
import { encodeStruct } from '../struct.ts';
import {
  EROFS_CHUNK_FORMAT_INDEXES, EROFS_DEVT_SLOT_SIZE, EROFS_FEATURE_INCOMPAT_DEVICE_TABLE, EROFS_INODE_CHUNK_BASED, EROFS_INODE_FLAT_PLAIN,
  EROFS_MAGIC, EROFS_SLOTSIZE, EROFS_SUPER_OFFSET,
  erofs_deviceslot, erofs_inode_chunk_index, erofs_super_block,
} from './structs.ts';
import { direntBlocks, inodeCoreSize, xattrIcount, type InodeCore } from './writer-common.ts';
import { assignBlocks, collectInodes, emitDirBlocks, emitInodeAreaSync, linkCounts, nodePath, type InodeRecords, type ModelNode } from './writer-model.ts';
import { expectAt, measureThenWrite, type Output, type Sink } from './writer-output.ts';
import { planXattrs } from './writer-xattrs.ts';
import { OPAQUE_WHITEOUT_BYTES, WHITEOUT_PREFIX_BYTES } from '../fs/whiteout.ts';

const BS = 512;
const BITS = 9;
/** the device slot right after the 128-byte superblock: byte 1152 = slot offset 9 × 128 */
const DEVT_SLOTOFF = 9;
const W = 'tar index';
const INODE = inodeCoreSize(false);

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

interface Node extends ModelNode {
  src: SourceInode;
}

/**
 * Builds the tar index image of `tree`, whose regular files must be slices of `tar` (treeFromTar
 * makes such a tree).
 */
export async function buildTarIndex(tree: SourceTree, tar: ByteSource, sink: Sink, opts: { aufs?: boolean } = {}): Promise<TarIndexResult> {
  if (opts.aufs) aufsWhiteouts(tree.root);
  if (tar.size % BS !== 0) throw new FormatError('tar', tar.size, `${tar.name}: ${tar.size} bytes is not a whole number of 512-byte tar blocks`);
  if (tar.size / BS > 0xffff_ffff) throw new UnsupportedError('tar index build', `${tar.name}: more than 2^32 blocks needs the 48BIT format, not written here`);
  validateTree(tree);
  const nodes: Node[] = [];
  const nodeOf = new Map<SourceInode, number>();
  collectInodes(tree, nodes, {
    add: (src, parent, name) => {
      const k = nodes.push({ src, parent, name, entNames: null, entNodes: null }) - 1;
      nodeOf.set(src, k);
      return k;
    },
  });
  const N = nodes.length;
  const isDir = (t: number) => nodes[t]!.src.type === 'dir';
  const nlink = linkCounts(nodes, isDir);
  // on disk depth first in the tar's order (nid 0 = the root); ino = place in that order + 1
  const order = Uint32Array.from(inodesOf(tree.root), (n) => nodeOf.get(n)!);
  const rank = new Uint32Array(N);
  for (let k = 0; k < N; k++) rank[order[k]!] = k;
  // inline entries only, in the tree's order: no shared table, no name filter
  const xp = planXattrs(nodes.map((n) => n.src.xattrs), { order: 'mkfs', minUses: Infinity, nameFilter: false });

  const dataSize = new Float64Array(N);
  const nBlocks = new Uint32Array(N);
  const tarOff = new Float64Array(N).fill(-1);
  const dirStarts: (number[] | null)[] = new Array(N).fill(null);
  for (let i = 0; i < N; i++) {
    const n = nodes[i]!.src;
    if (n.type === 'dir') {
      const { starts, lastSize } = direntBlocks(nodes[i]!.entNames!, BS);
      dirStarts[i] = starts;
      dataSize[i] = (starts.length - 2) * BS + lastSize;
    } else if (n.type === 'symlink') dataSize[i] = n.target!.length;
    else if (n.type === 'reg' && n.size > 0) tarOff[i] = tarOffset(n, tar);
    nBlocks[i] = Math.ceil(dataSize[i]! / BS);
  }

  // inode area from block 3 (superblock at 1024, device slot at 1152..1279); a chunk-based
  // file's one index follows its xattrs 8-aligned
  const metaBlk = Math.ceil((DEVT_SLOTOFF * EROFS_DEVT_SLOT_SIZE + erofs_deviceslot.size) / BS);
  const ipos = new Float64Array(N);
  const tailLen = new Uint32Array(N);
  let at = metaBlk * BS;
  for (let k = 0; k < N; k++) {
    const i = order[k]!;
    ipos[i] = at;
    let end = at + INODE + xp.xsize[i]!;
    if (tarOff[i]! >= 0) {
      tailLen[i] = alignUp(end, 8) - end + erofs_inode_chunk_index.size;
      end += tailLen[i]!;
    }
    at = alignUp(end, EROFS_SLOTSIZE);
  }
  const dataStart = alignUp(at, BS);
  const records: InodeRecords = { order, ipos, coreSize: () => INODE, tailLen, xattrs: xp, inodesEnd: at, dataStart, bs: BS };
  const blkaddr = new Float64Array(N);
  const blocks = assignBlocks(nBlocks, dataStart / BS, blkaddr, undefined, order);
  const nid = Float64Array.from(ipos, (p) => (p - metaBlk * BS) / EROFS_SLOTSIZE);
  if (nid[0] !== 0) throw new Error('tar-index writer: the root is not at nid 0');
  const deviceBlocks = tar.size / BS;
  const where = (i: number) => `inode ${rank[i]! + 1} (nid ${nid[i]!}, ${JSON.stringify(nodePath(nodes, i))})`;

  const core = (i: number): InodeCore => {
    const n = nodes[i]!.src;
    let layout = EROFS_INODE_FLAT_PLAIN;
    let iu = 0;
    if (n.type === 'dir' || n.type === 'symlink') iu = blkaddr[i]!;
    else if (n.type === 'chr' || n.type === 'blk') iu = n.rdev;
    else if (tarOff[i]! >= 0) {
      layout = EROFS_INODE_CHUNK_BASED;
      // one chunk covers the whole file
      iu = EROFS_CHUNK_FORMAT_INDEXES | (Math.max(BITS, Math.ceil(Math.log2(n.size))) - BITS);
    }
    const size = n.type === 'dir' || n.type === 'symlink' ? dataSize[i]! : n.type === 'reg' ? n.size : 0;
    return {
      compact: false, layout, xattrIcount: xattrIcount(xp.xsize[i]!), mode: modeOfType(n.type) | n.perm, nlink: nlink[i]!, size, iu,
      ino: rank[i]! + 1, uid: n.uid, gid: n.gid, mtime: n.mtime, mtimeNsec: n.mtimeNsec,
    };
  };
  const ci = new Uint8Array(erofs_inode_chunk_index.size);
  /** the chunk index: the file's data in the tar, in blocks of device 1 */
  const tail = (out: Output) => (i: number): void => {
    out.padTo(alignUp(out.pos, 8));
    encodeStruct(erofs_inode_chunk_index, { device_id: 1, blkaddr: tarOff[i]! / BS }, ci);
    out.bytes(ci);
  };

  const emit = (out: Output): void => {
    out.fill(EROFS_SUPER_OFFSET);
    const sb = new Uint8Array(erofs_super_block.size);
    encodeStruct(erofs_super_block, {
      magic: EROFS_MAGIC, blkszbits: BITS, root_nid: 0, inos: N, blocks, meta_blkaddr: metaBlk,
      feature_incompat: EROFS_FEATURE_INCOMPAT_DEVICE_TABLE, extra_devices: 1, devt_slotoff: DEVT_SLOTOFF,
    }, sb);
    out.bytes(sb);
    out.padTo(DEVT_SLOTOFF * EROFS_DEVT_SLOT_SIZE);
    const slot = new Uint8Array(erofs_deviceslot.size);
    encodeStruct(erofs_deviceslot, { blocks: deviceBlocks, mapped_blkaddr: blocks }, slot);
    out.bytes(slot);
    expectAt(out, DEVT_SLOTOFF * EROFS_DEVT_SLOT_SIZE + erofs_deviceslot.size, W, () => 'device slot end');

    emitInodeAreaSync(out, records, core, tail(out), W, where);

    // directory and symlink data, in inode order
    for (let k = 0; k < N; k++) {
      const i = order[k]!;
      const nb = nBlocks[i]!;
      if (nb === 0) continue;
      const start = blkaddr[i]! * BS;
      const n = nodes[i]!;
      if (n.src.type === 'dir') emitDirBlocks(out, start, BS, n.entNames!, n.entNodes!, dirStarts[i]!, nb, nid, (t) => nodes[t]!.src.type, W, () => where(i));
      else {
        expectAt(out, start, W, () => `${where(i)}: data block 0`);
        out.bytes(n.src.target!);
        out.padTo(alignUp(out.pos, BS));
      }
      expectAt(out, start + nb * BS, W, () => `${where(i)}: end of its ${nb} data blocks`);
    }
    expectAt(out, blocks * BS, W, () => 'image end');
  };
  await measureThenWrite(emit, blocks * BS, sink, 'tar index image');
  let files = 0;
  for (let i = 0; i < N; i++) if (tarOff[i]! >= 0) files++;
  return { size: blocks * BS, blocks, inodes: N, deviceBlocks, files };
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
