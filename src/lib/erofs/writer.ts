/**
 * EROFS image writer (erofs-composefs-format.md §2, erofs-modern-format.md): plain, chunk-based or
 * compressed (writer-compress.ts) images, block sizes 512 to 65536, that `fsck.erofs` 1.5 accepts
 * where it knows the layout and the kernel mounts (up to its page size).
 *
 * Layout: the superblock at byte 1024, then the inodes (breadth-first from the root, so a
 * directory's children sit together) from the superblock's block on, each followed by its xattrs
 * and its inline tail, chunk map or compression indexes (and inline pcluster); then the shared
 * xattr table; then, block aligned, the data in inode order (directory blocks, file blocks or
 * pclusters, tails that were not inlined, deduplicated chunks). With fragments, the packed inode is
 * the last inode (not linked from any directory) and its pclusters the last data.
 *
 * - Inodes are compact when nothing needs the extended form (mtime = build time, uid/gid/nlink
 *   < 65536, size < 4 GiB).
 * - FLAT_INLINE keeps a file's (directory's, symlink's) last partial block in the inode's own
 *   block; a tail is never split across blocks: the inode moves to the next block when that
 *   wastes less than a data block would, else the tail goes to a data block (FLAT_PLAIN).
 * - xattr (name, value) pairs used by more than one inode are shared.
 * - `chunkSize` stores regular files CHUNK_BASED with a 4-byte block map; identical chunks (same
 *   length and SHA-256) are stored once. Content is then read twice: hashed before the layout,
 *   copied after.
 * - The superblock checksum covers bytes 1024 to the end of block 0 (to 1024 + bs for blocks of
 *   1 KiB or less), which also hold the first inodes: that head is rendered into a buffer,
 *   checksummed, then emitted.
 *
 * The whole layout is computed first; emission then streams front to back, reading file content
 * in large pieces.
 */
import { crc32cRaw } from '../codec/crc32c.ts';
import { webCryptoSubtle, plainBufferView, sha256 } from '../codec/sha256.ts';
import { UnsupportedError } from '../errors.ts';
import type { SourceInode, SourceTree, Xattr } from '../fs/tree.ts';
import { validateTree } from '../fs/validate.ts';
import { modeOfType } from '../fs/types.ts';
import type { ByteSource } from '../io/source.ts';
import { encodeStruct } from '../struct.ts';
import {
  EROFS_FEATURE_COMPAT_MTIME, EROFS_FEATURE_COMPAT_SB_CHKSUM, EROFS_FEATURE_COMPAT_XATTR_FILTER, EROFS_FEATURE_INCOMPAT_CHUNKED_FILE,
  EROFS_FEATURE_INCOMPAT_COMPR_CFGS, EROFS_FEATURE_INCOMPAT_FRAGMENTS, EROFS_FEATURE_INCOMPAT_ZERO_PADDING, EROFS_FEATURE_INCOMPAT_ZTAILPACKING,
  EROFS_INODE_CHUNK_BASED, EROFS_INODE_COMPRESSED_COMPACT, EROFS_INODE_COMPRESSED_FULL, EROFS_INODE_FLAT_INLINE, EROFS_INODE_FLAT_PLAIN, EROFS_MAGIC, EROFS_SLOTSIZE, EROFS_SUPER_OFFSET,
  erofs_super_block,
} from './structs.ts';
import {
  availableAlgs, cfgRecordBytes, compressFile, dropInline, emitCfgRecord, encodeZMeta, inlinePclusterOffset, mapHeaderOffset, resolveCompression, zLayout, zMetaBytes,
  newZDataStore, storeZFile, ZImage, zFilePool, type ErofsCompression, type ZDataStore, type ZConfig, type ZFile, type ZFilePool, type ZPoolFile,
} from './writer-compress.ts';
import { BytesSource } from '../io/source.ts';
import {
  BLOCK_SIZE, compareBytes, direntBlocks, emitDirentsOf, inodeCoreSize, xattrIcount, xattrIndex, type InodeCore,
} from './writer-common.ts';
import { CountingOutput, StreamOutput, expectAt, roundUp, type Output, type Sink } from './writer-output.ts';
import { assignBlocks, collectInodes, emitDirBlocks, emitInodeArea, linkCounts, nodePath } from './writer-model.ts';
import { planXattrs, type XattrPlan } from './writer-xattrs.ts';
import { binKey } from '../bytes.ts';

export interface ErofsOptions {
  /** 16 bytes, or "xxxxxxxx-xxxx-…" (default: random) */
  uuid?: Uint8Array | string;
  /** superblock build time, the mtime of every compact inode (default: now) */
  buildTime?: number;
  buildTimeNsec?: number;
  /** up to 16 bytes */
  volumeName?: string;
  /** keep last partial blocks inside the inodes (default true; false = -Enoinline_data) */
  inlineData?: boolean;
  /** store regular files chunk-based with this chunk size (a power of two, ≥ 4096) */
  chunkSize?: number;
  /** with chunkSize: store identical chunks once (default true) */
  dedupe?: boolean;
  /** superblock checksum (default true) */
  checksum?: boolean;
  /** bytes per content read (default 4 MiB) */
  readSize?: number;
  /** store regular files compressed (mkfs -z, -C); not with chunkSize */
  compression?: ErofsCompression;
  /** block size (mkfs -b): a power of two from 512 to 65536, default 4096 */
  blockSize?: number;
  /**
   * compress files on these threads (not with dedupe or fragments): absent = the registered pool
   * (useZFilePool) once the files to compress add up to POOL_MIN_BYTES, null = none
   */
  compressPool?: ZFilePool | null;
  /**
   * where compressed pclusters wait from planning to writing: a new store per build, closed at its
   * end (also on failure); absent = the registered kind (useZDataStore), else in memory
   */
  zstore?: () => ZDataStore;
}

export type { ErofsCompression, ErofsAlgorithm } from './writer-compress.ts';

export interface ErofsResult {
  size: number;
  blocks: number;
  inodes: number;
  uuid: Uint8Array;
  buildTime: number;
  /** chunk mode: chunks written / chunks referenced */
  chunks?: { stored: number; referenced: number };
  /**
   * compression: regular files stored compressed, their bytes and their own pcluster blocks; of
   * them, files with an inline tail, files with a fragment (tail or whole); extents reusing another
   * pcluster (dedupe); the packed inode's data bytes and blocks; the threads that compressed files
   * (a ZFilePool's; 0: the build's own thread)
   */
  compressed?: { files: number; bytes: number; blocks: number; inlineTails: number; fragments: number; sharedExtents: number; packedBytes: number; packedBlocks: number; threads?: number };
}

const ENC = new TextEncoder();
const DEFAULT_READ = 4 << 20;

interface Node {
  src: SourceInode;
  parent: number;
  name: Uint8Array;
  nlink: number;
  /** directories: entries sorted by name (with "." and ".."), as node indexes */
  entNames: Uint8Array[] | null;
  entNodes: number[] | null;
  xattrs: Xattr[];
  /** chunk mode: unique chunk id of each chunk */
  chunkIds: Int32Array | null;
}

interface Plan {
  nodes: Node[];
  uuid: Uint8Array;
  buildTime: number;
  buildTimeNsec: number;
  volumeName: Uint8Array;
  checksum: boolean;
  /** block size and its log2 */
  bs: number;
  bits: number;
  chunkBits: number;
  /** the packed inode's node (fragments), or -1 */
  packed: number;
  // per node
  ipos: Float64Array;
  nid: Float64Array;
  compact: Uint8Array;
  layout: Uint8Array;
  isize: Float64Array;
  /** i_size */
  size: Float64Array;
  /** bytes stored inline after the inode (tail or chunk map) */
  inlineLen: Uint32Array;
  /** blocks in the data area and where they start */
  nBlocks: Float64Array;
  blkaddr: Float64Array;
  /** xattr areas and the shared table (sizes, filters, entries) */
  xattrs: XattrPlan;
  /** node indexes in on-disk order of their inodes */
  order: Uint32Array;
  inodesEnd: number;
  dataStart: number;
  blocks: number;
  /** chunk mode: unique chunks (file node, chunk index) and their block addresses */
  uniq: { node: number; index: number; len: number }[];
  uniqBlk: Float64Array;
  /** compression settings, and the pclusters of each file stored compressed */
  z: ZConfig | null;
  zfile: (ZFile | null)[];
  /** holds the zfile pclusters (ZFile.stored) */
  zstore: ZDataStore;
  /** threads the files were compressed on (0: this one) */
  zThreads: number;
}

function parseUuid(u: Uint8Array | string | undefined): Uint8Array {
  if (u === undefined) {
    const b = new Uint8Array(16);
    globalThis.crypto.getRandomValues(b);
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    return b;
  }
  if (typeof u !== 'string') {
    if (u.length !== 16) throw new RangeError('uuid must be 16 bytes');
    return u.slice();
  }
  const h = u.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new RangeError(`bad uuid ${u}`);
  return Uint8Array.from({ length: 16 }, (_, i) => parseInt(h.slice(2 * i, 2 * i + 2), 16));
}

export async function buildErofs(tree: SourceTree, opts: ErofsOptions, sink: Sink): Promise<ErofsResult> {
  const zstore = opts.zstore ? opts.zstore() : newZDataStore();
  let plan: Plan;
  const out = new StreamOutput(sink);
  try {
    plan = await planErofs(tree, opts, zstore);
    await emitErofs(plan, new ChecksumHead(out, plan.checksum, plan.bs), opts.readSize ?? DEFAULT_READ);
    await out.finish();
  } finally {
    zstore.close();
  }
  const size = plan.blocks * plan.bs;
  if (out.pos !== size) throw new Error(`EROFS writer bug: wrote ${out.pos} bytes, planned ${size}`);
  const res: ErofsResult = { size, blocks: plan.blocks, inodes: plan.nodes.length, uuid: plan.uuid, buildTime: plan.buildTime };
  if (plan.chunkBits) {
    let referenced = 0;
    for (const n of plan.nodes) referenced += n.chunkIds?.length ?? 0;
    res.chunks = { stored: plan.uniq.length, referenced };
  }
  if (plan.z) {
    const c = { files: 0, bytes: 0, blocks: 0, inlineTails: 0, fragments: 0, sharedExtents: 0, packedBytes: 0, packedBlocks: 0, threads: plan.zThreads };
    if (plan.packed >= 0) {
      c.packedBytes = plan.size[plan.packed]!;
      c.packedBlocks = plan.nBlocks[plan.packed]!;
    }
    for (let i = 0; i < plan.nodes.length; i++) {
      const f = plan.zfile[i];
      if (!f || i === plan.packed) continue;
      c.files++;
      c.bytes += plan.size[i]!;
      c.blocks += f.blocks;
      if (f.tail?.inline) c.inlineTails++;
      else if (f.tail) c.fragments++;
      for (const x of f.extents) if (x.ref) c.sharedExtents++;
    }
    res.compressed = c;
  }
  return res;
}

/** Image size without writing (the measuring pass; content is still hashed in chunk mode). */
export async function measureErofs(tree: SourceTree, opts: ErofsOptions = {}): Promise<number> {
  // the pclusters are never read back here (the measuring pass counts their lengths): dropped as made
  const zstore: ZDataStore = {
    put: () => 0,
    get: () => {
      throw new Error('EROFS writer bug: the measuring pass read pclusters');
    },
    close: () => {},
  };
  try {
    const plan = await planErofs(tree, { ...opts, uuid: opts.uuid ?? new Uint8Array(16) }, zstore);
    const out = new CountingOutput();
    await emitErofs(plan, new ChecksumHead(out, false, plan.bs), opts.readSize ?? DEFAULT_READ, true);
    return out.pos;
  } finally {
    zstore.close();
  }
}

/** Collect the tree breadth-first; hardlinks (one SourceInode under several names) become one inode. */
function collect(tree: SourceTree): Node[] {
  validateTree(tree);
  const nodes: Node[] = [];
  collectInodes(tree, nodes, {
    add: (src, parent, name) => nodes.push({ src, parent, name, nlink: 0, entNames: null, entNodes: null, xattrs: src.xattrs, chunkIds: null }) - 1,
  });
  // nlink: names of a file; 2 + subdirectories for a directory
  const nlink = linkCounts(nodes, (t) => nodes[t]!.src.type === 'dir');
  for (let i = 0; i < nodes.length; i++) nodes[i]!.nlink = nlink[i]!;
  return nodes;
}

/** Chunk mode: hash every chunk of every regular file; returns the unique chunks in first-use order. */
async function hashChunks(nodes: Node[], chunkBits: number, dedupe: boolean, readSize: number): Promise<{ node: number; index: number; len: number }[]> {
  const chunkSize = 2 ** chunkBits;
  const uniq: { node: number; index: number; len: number }[] = [];
  const seen = new Map<string, number>();
  const subtle = webCryptoSubtle();
  const hash = async (b: Uint8Array): Promise<Uint8Array> => (subtle ? new Uint8Array(await subtle.digest('SHA-256', plainBufferView(b))) : sha256(b));
  for (let i = 0; i < nodes.length; i++) {
    const src = nodes[i]!.src;
    if (src.type !== 'reg' || src.size === 0) continue;
    const count = Math.ceil(src.size / chunkSize);
    const ids = new Int32Array(count);
    nodes[i]!.chunkIds = ids;
    if (!dedupe) {
      for (let c = 0; c < count; c++) {
        ids[c] = uniq.length;
        uniq.push({ node: i, index: c, len: Math.min(chunkSize, src.size - c * chunkSize) });
      }
    }
  }
  if (!dedupe) return uniq;
  // read several chunks at once (files ahead of time), hash them together
  const per = Math.max(1, Math.floor(readSize / chunkSize));
  const reqs: ReadReq[] = [];
  for (let i = 0; i < nodes.length; i++) {
    const ids = nodes[i]!.chunkIds;
    if (!ids) continue;
    const size = nodes[i]!.src.size;
    for (let c0 = 0; c0 < ids.length; c0 += per) reqs.push({ src: contentOf(nodes, i), start: c0 * chunkSize, len: Math.min(size, (c0 + per) * chunkSize) - c0 * chunkSize });
  }
  const ra = new ReadAhead(reqs);
  for (let i = 0; i < nodes.length; i++) {
    const ids = nodes[i]!.chunkIds;
    if (!ids) continue;
    const size = nodes[i]!.src.size;
    const count = ids.length;
    for (let c0 = 0; c0 < count; c0 += per) {
      const c1 = Math.min(count, c0 + per);
      const piece = await ra.next();
      const digests = await Promise.all(
        Array.from({ length: c1 - c0 }, (_, k) => hash(piece.subarray(k * chunkSize, Math.min(piece.length, (k + 1) * chunkSize)))),
      );
      for (let k = 0; k < digests.length; k++) {
        const c = c0 + k;
        const len = Math.min(chunkSize, size - c * chunkSize);
        let key = `${len}:`;
        for (const b of digests[k]!) key += String.fromCharCode(b);
        const id = seen.get(key);
        if (id !== undefined) ids[c] = id;
        else {
          ids[c] = uniq.length;
          seen.set(key, uniq.length);
          uniq.push({ node: i, index: c, len });
        }
      }
    }
  }
  return uniq;
}

function contentOf(nodes: Node[], i: number): ByteSource {
  const src = nodes[i]!.src;
  if (!src.content) throw new UnsupportedError('erofs', `${nodePath(nodes, i)}: no content for a ${src.size}-byte file`);
  if (src.content.size !== src.size) throw new UnsupportedError('erofs', `${nodePath(nodes, i)}: content has ${src.content.size} bytes, the file ${src.size}`);
  return src.content;
}

async function planErofs(tree: SourceTree, opts: ErofsOptions, zstore: ZDataStore): Promise<Plan> {
  const bs = opts.blockSize ?? BLOCK_SIZE;
  const bits = Math.log2(bs);
  if (!Number.isInteger(bits) || bits < 9 || bits > 16) throw new RangeError(`blockSize ${bs}: a power of two from 512 to 65536`);
  const nodes = collect(tree);
  const now = Date.now();
  const buildTime = opts.buildTime ?? Math.floor(now / 1000);
  const buildTimeNsec = opts.buildTimeNsec ?? (opts.buildTime === undefined ? (now % 1000) * 1e6 : 0);
  const inlineData = opts.inlineData ?? true;
  let chunkBits = 0;
  if (opts.chunkSize !== undefined) {
    const cs = opts.chunkSize;
    chunkBits = Math.log2(cs);
    if (!Number.isInteger(chunkBits) || chunkBits < bits || chunkBits > bits + 31) throw new RangeError(`chunkSize ${cs}: a power of two from the block size (${bs}) to 2^${bits + 31}`);
  }
  const readSize = opts.readSize ?? DEFAULT_READ;
  for (let i = 0; i < nodes.length; i++) {
    const s = nodes[i]!.src;
    if (s.type === 'reg' && s.size > 0) contentOf(nodes, i);
  }
  const uniq = chunkBits ? await hashChunks(nodes, chunkBits, opts.dedupe ?? true, readSize) : [];
  const z = opts.compression ? resolveCompression(opts.compression, bs) : null;
  if (z && chunkBits) throw new UnsupportedError('erofs', 'compression and chunk-based files together');
  const { zfile, packed, threads: zThreads } = z ? await compressFiles(nodes, z, readSize, buildTime, buildTimeNsec, opts.compressPool, zstore) : { zfile: [], packed: -1, threads: 0 };
  const N = nodes.length;

  // one value per name (the last wins), sorted by name; pairs used by more than one inode are shared
  for (let i = 0; i < N; i++) {
    const byName = new Map<string, Xattr>();
    for (const x of nodes[i]!.src.xattrs) {
      if (x.name.length === 0 || x.value.length > 0xffff) throw new UnsupportedError('erofs', `${nodePath(nodes, i)}: xattr name empty or value over 65535 bytes`);
      if (x.name.length - xattrIndex(x.name).prefixLen > 255) throw new UnsupportedError('erofs', `${nodePath(nodes, i)}: xattr name longer than 255 bytes after its prefix`);
      byName.set(binKey(x.name), x);
    }
    nodes[i]!.xattrs = byName.size ? [...byName.values()].sort((a, b) => compareBytes(a.name, b.name)) : [];
  }
  const xp = planXattrs(nodes.map((n) => n.xattrs), { order: 'mkfs' });

  const ipos = new Float64Array(N);
  const nid = new Float64Array(N);
  const compact = new Uint8Array(N);
  const layout = new Uint8Array(N);
  const isizeA = new Float64Array(N);
  const sizeA = new Float64Array(N);
  const inlineLen = new Uint32Array(N);
  const nBlocks = new Float64Array(N);
  const meta = new MetaBlocks(EROFS_SUPER_OFFSET + erofs_super_block.size + (z ? cfgRecordBytes(z) : 0), bs);
  for (let i = 0; i < N; i++) {
    const n = nodes[i]!;
    const s = n.src;
    // data size and the bytes that could live inline
    let size = 0;
    let tail = 0;
    let lay = EROFS_INODE_FLAT_PLAIN;
    let mapBytes = 0;
    if (s.type === 'dir') {
      const { starts, lastSize } = direntBlocks(n.entNames!, bs);
      size = (starts.length - 2) * bs + lastSize;
      tail = lastSize;
    } else if (s.type === 'symlink') {
      size = s.target!.length;
      tail = size % bs;
    } else if (s.type === 'reg') {
      size = s.size;
      if (chunkBits && size > 0) {
        lay = EROFS_INODE_CHUNK_BASED;
        mapBytes = 4 * n.chunkIds!.length;
      } else if (zfile[i]) lay = zLayout(zfile[i]!);
      else tail = size % bs;
    }
    const isCompact = s.mtime === buildTime && s.mtimeNsec === buildTimeNsec && s.uid <= 0xffff && s.gid <= 0xffff && n.nlink <= 0xffff && size <= 0xffffffff;
    const isz = inodeCoreSize(isCompact);
    const xs = xp.xsize[i]!;
    if (xattrIcount(xs) > 0xffff) throw new UnsupportedError('erofs', `${nodePath(nodes, i)}: xattrs too large`);
    const head = isz + xs;
    // inline the tail when inode, xattrs and tail fit one block (a tail never crosses a block)
    const inline = lay !== EROFS_INODE_CHUNK_BASED && tail > 0 && inlineData && head + tail <= bs ? tail : 0;
    if (inline > 0) lay = EROFS_INODE_FLAT_INLINE;
    let zf = zfile[i] ?? null;
    if (zf) {
      mapBytes = zMetaBytes(z!, zf, head, size);
      // an inline pcluster must share a block with its inode and indexes, else it gets a block
      if (zf.tail?.inline && head + mapBytes + zf.tail.bytes.length > bs) zfile[i] = zf = dropInline(z!, zf);
      if (zf.tail?.inline) mapBytes += zf.tail.bytes.length;
    }
    const pos = meta.place(head + (lay === EROFS_INODE_CHUNK_BASED || zf ? mapBytes : inline));
    ipos[i] = pos;
    nid[i] = pos / EROFS_SLOTSIZE;
    compact[i] = isCompact ? 1 : 0;
    layout[i] = lay;
    isizeA[i] = isz;
    sizeA[i] = size;
    inlineLen[i] = lay === EROFS_INODE_CHUNK_BASED || zf ? mapBytes : inline;
    nBlocks[i] = lay === EROFS_INODE_CHUNK_BASED ? 0 : zf ? zf.blocks : Math.ceil((size - inline) / bs);
  }
  const inodesEnd = meta.end();
  if (nid[0]! > 0xffff) throw new Error('EROFS writer bug: root nid does not fit 16 bits');
  const dataStart = roundUp(inodesEnd + xp.sharedSize, bs);
  // data blocks in inode order; a unique chunk is placed where it is first used
  const blkaddr = new Float64Array(N);
  const uniqBlk = new Float64Array(uniq.length);
  let u = 0;
  const blk = assignBlocks(nBlocks, dataStart / bs, blkaddr, (i, at) => {
    for (; u < uniq.length && uniq[u]!.node === i; u++) {
      uniqBlk[u] = at;
      at += Math.ceil(uniq[u]!.len / bs);
    }
    return at;
  });
  if (blk > 0xffffffff) throw new UnsupportedError('erofs', `image of ${blk} blocks does not fit 32-bit block addresses`);
  return {
    nodes, uuid: parseUuid(opts.uuid), buildTime, buildTimeNsec, volumeName: ENC.encode(opts.volumeName ?? '').subarray(0, 16),
    checksum: opts.checksum ?? true, bs, bits, chunkBits, packed, ipos, nid, compact, layout, isize: isizeA, size: sizeA, inlineLen, nBlocks, blkaddr,
    xattrs: xp, order: Uint32Array.from({ length: N }, (_, k) => k).sort((a, b) => ipos[a]! - ipos[b]!), inodesEnd, dataStart, blocks: blk, uniq, uniqBlk,  z, zfile, zstore, zThreads,
  };
}

/**
 * Holds the first block back until it is complete, then sets the superblock checksum (crc32c of
 * bytes 1024..4095 with the field zeroed) and lets it through.
 */
class ChecksumHead implements Output {
  private head: Uint8Array | null;
  /** bytes held back: up to the end of the checksummed range (1024 + bs for blocks ≤ 1 KiB, else bs) */
  private readonly len: number;
  pos = 0;
  constructor(private readonly out: Output, private readonly checksum: boolean, bs: number) {
    this.len = bs <= EROFS_SUPER_OFFSET ? EROFS_SUPER_OFFSET + bs : bs;
    this.head = new Uint8Array(this.len);
  }
  private release(): void {
    const h = this.head!;
    this.head = null;
    if (this.checksum) {
      const crc = crc32cRaw(0xffffffff, h.subarray(EROFS_SUPER_OFFSET));
      new DataView(h.buffer).setUint32(EROFS_SUPER_OFFSET + erofs_super_block.f.checksum.offset, crc, true);
    }
    this.out.bytes(h);
  }
  into(len: number, read: (dest: Uint8Array, off: number) => void): void {
    if (this.head || !this.out.into) {
      const b = new Uint8Array(len);
      read(b, 0);
      return this.bytes(b);
    }
    this.out.into(len, read);
    this.pos += len;
  }
  give(b: Uint8Array): void {
    if (this.head || !this.out.give) return this.bytes(b);
    this.out.give(b);
    this.pos += b.length;
  }
  bytes(b: Uint8Array): void {
    if (this.head) {
      const n = Math.min(b.length, this.len - this.pos);
      this.head.set(b.subarray(0, n), this.pos);
      this.pos += n;
      if (this.pos === this.len) this.release();
      if (n < b.length) {
        this.out.bytes(b.subarray(n));
        this.pos += b.length - n;
      }
      return;
    }
    this.out.bytes(b);
    this.pos += b.length;
  }
  fill(n: number, byte = 0): void {
    if (this.head) {
      const k = Math.min(n, this.len - this.pos);
      if (byte !== 0) this.head.fill(byte, this.pos, this.pos + k);
      this.pos += k;
      if (this.pos === this.len) this.release();
      if (k < n) {
        this.out.fill(n - k, byte);
        this.pos += n - k;
      }
      return;
    }
    this.out.fill(n, byte);
    this.pos += n;
  }
  padTo(to: number): void {
    if (to < this.pos) throw new Error(`writer bug: padding back from ${this.pos} to ${to}`);
    this.fill(to - this.pos);
  }
  drain(): Promise<void> {
    return this.out.drain();
  }
}

/**
 * Metadata blocks filled best-fit: an inode record (core, xattrs, inline tail or chunk map) goes
 * into the block with the least room that still holds it, so tails pack tightly and never cross a
 * block. Records over a block get whole blocks of their own.
 */
class MetaBlocks {
  private blocks: number;
  /** next free byte of each block (a multiple of 32) */
  private fill: number[] = [];
  /** blocks by free 32-byte slots; entries go stale when a block fills (checked on use) */
  private readonly bySlots: number[][];
  /** metadata starts at byte `start` (after the superblock: in block 2 for 512-byte blocks) */
  constructor(start: number, private readonly bs: number) {
    this.bySlots = Array.from({ length: bs / EROFS_SLOTSIZE + 1 }, () => []);
    const first = Math.floor(start / bs);
    for (let k = 0; k < first; k++) this.fill[k] = bs;
    this.fill[first] = roundUp(start % bs, EROFS_SLOTSIZE);
    this.blocks = first + 1;
    this.file(first);
  }
  private file(b: number): void {
    const free = (this.bs - this.fill[b]!) / EROFS_SLOTSIZE;
    if (free > 0) this.bySlots[free]!.push(b);
  }
  place(len: number): number {
    const bs = this.bs;
    const slots = Math.ceil(len / EROFS_SLOTSIZE);
    if (len > bs) {
      const b = this.blocks;
      const n = Math.ceil(len / bs);
      this.blocks += n;
      const last = b + n - 1;
      this.fill[last] = roundUp(len - (n - 1) * bs, EROFS_SLOTSIZE);
      for (let k = b; k < last; k++) this.fill[k] = bs;
      this.file(last);
      return b * bs;
    }
    for (let f = slots; f < this.bySlots.length; f++) {
      const list = this.bySlots[f]!;
      while (list.length) {
        const b = list.pop()!;
        if ((bs - this.fill[b]!) / EROFS_SLOTSIZE !== f) continue; // stale
        const pos = b * bs + this.fill[b]!;
        this.fill[b] = this.fill[b]! + slots * EROFS_SLOTSIZE;
        this.file(b);
        return pos;
      }
    }
    const b = this.blocks++;
    this.fill[b] = slots * EROFS_SLOTSIZE;
    this.file(b);
    return b * bs;
  }
  /** end of the metadata (the last block is only as full as it needs to be) */
  end(): number {
    return (this.blocks - 1) * this.bs + this.fill[this.blocks - 1]!;
  }
}

interface ReadReq {
  src: ByteSource;
  start: number;
  len: number;
}

/**
 * Content reads issued ahead of use, consumed in request order: many small files are read
 * concurrently (each read may open a file), big ones in `readSize` pieces.
 *
 * With `reuse` (the consumer is done with a piece before it asks for the next one), a source that
 * reads synchronously (a local file in the CLI) is read only when its piece is asked for, into one
 * buffer kept for every such piece: reading ahead gains nothing there, and a fresh buffer per piece
 * (page faults, external memory that triggers full GCs) was 0.1 s of allocation plus most of the
 * 1.1 s of GC in a profile of `build -z lz4` on a 530 MB tree.
 */
class ReadAhead {
  private started = 0;
  private consumed = 0;
  private bytes = 0;
  private readonly promises: (Promise<Uint8Array> | undefined)[];
  private scratch = new Uint8Array(0);
  constructor(private readonly reqs: ReadReq[], private readonly maxBytes = 64 << 20, private readonly maxCount = 64, private readonly reuse = false) {
    this.promises = new Array(reqs.length);
    this.fill();
  }
  private fill(): void {
    while (this.started < this.reqs.length && this.started - this.consumed < this.maxCount && (this.bytes < this.maxBytes || this.started === this.consumed)) {
      const r = this.reqs[this.started]!;
      if (!(this.reuse && r.src.readIntoSync)) {
        const p = r.src.read(r.start, r.len);
        p.catch(() => {}); // reported when consumed
        this.promises[this.started] = p;
        this.bytes += r.len;
      }
      this.started++;
    }
  }
  /** the next piece, emitted to `out`: a synchronous source reads straight into out's buffers */
  async emitNext(out: Output): Promise<void> {
    const r = this.reqs[this.consumed]!;
    if (this.promises[this.consumed] === undefined && out.into) {
      this.consumed++;
      out.into(r.len, (dest, off) => r.src.readIntoSync!(r.start + off, dest));
      this.fill();
      return;
    }
    // each piece was read for this write alone (ReadAhead keeps no reference) unless it is the shared buffer
    const piece = await this.next();
    if (out.give && !this.reuse) out.give(piece);
    else out.bytes(piece);
  }
  async next(): Promise<Uint8Array> {
    const i = this.consumed++;
    const r = this.reqs[i]!;
    const p = this.promises[i];
    if (p === undefined) {
      // a synchronous source, read now into the shared buffer
      if (this.scratch.length < r.len) this.scratch = new Uint8Array(r.len);
      const b = this.scratch.subarray(0, r.len);
      r.src.readIntoSync!(r.start, b);
      this.fill();
      return b;
    }
    this.promises[i] = undefined;
    const b = await p;
    this.bytes -= r.len;
    this.fill();
    return b;
  }
  /** the next piece into `dest` (its exact length): a synchronous source reads straight into it */
  async nextInto(dest: Uint8Array): Promise<void> {
    const r = this.reqs[this.consumed]!;
    if (dest.length !== r.len) throw new Error(`EROFS writer bug: a ${dest.length}-byte buffer for a ${r.len}-byte read`);
    if (this.promises[this.consumed] !== undefined) {
      dest.set(await this.next());
      return;
    }
    this.consumed++;
    r.src.readIntoSync!(r.start, dest);
    this.fill();
  }
}

/** requests for [start, start+len) in pieces of at most readSize */
function pieces(reqs: ReadReq[], src: ByteSource, start: number, len: number, readSize: number): void {
  for (let o = 0; o < len; o += readSize) reqs.push({ src, start: start + o, len: Math.min(readSize, len - o) });
}

async function copyPieces(out: Output, ra: ReadAhead, len: number, readSize: number): Promise<void> {
  for (let o = 0; o < len; o += readSize) {
    await ra.emitNext(out);
    await out.drain();
  }
}

/**
 * Unique chunks stored one after another from one file's consecutive chunks: one read, one copy
 * (only a file's last chunk can be short, so the blocks stay contiguous).
 */
function chunkRun(p: Plan, u: number): { end: number; len: number } {
  const first = p.uniq[u]!;
  let len = first.len;
  let e = u + 1;
  while (e < p.uniq.length && p.uniq[e]!.node === first.node && p.uniq[e]!.index === p.uniq[e - 1]!.index + 1) len += p.uniq[e++]!.len;
  return { end: e, len };
}

/** Every content read of the emission, in the order emission consumes them. */
function contentReads(p: Plan, readSize: number): ReadReq[] {
  const reqs: ReadReq[] = [];
  const { nodes } = p;
  for (const i of p.order) {
    const s = nodes[i]!.src;
    const il = p.inlineLen[i]!;
    if (s.type === 'reg' && il > 0 && p.layout[i] !== EROFS_INODE_CHUNK_BASED && !isCompressed(p, i)) reqs.push({ src: s.content!, start: s.size - il, len: il });
  }
  let u = 0;
  for (let i = 0; i < nodes.length; i++) {
    const s = nodes[i]!.src;
    if (s.type === 'reg' && p.nBlocks[i]! > 0 && !isCompressed(p, i)) pieces(reqs, s.content!, 0, p.size[i]! - p.inlineLen[i]!, readSize);
    while (u < p.uniq.length && p.uniq[u]!.node === i) {
      const run = chunkRun(p, u);
      pieces(reqs, s.content!, p.uniq[u]!.index * 2 ** p.chunkBits, run.len, readSize);
      u = run.end;
    }
  }
  return reqs;
}

async function emitErofs(p: Plan, out: Output, readSize: number, measureOnly = false): Promise<void> {
  const { nodes, bs } = p;
  const N = nodes.length;
  // local files are read when their piece is emitted, straight into the output's chunks (see ReadAhead)
  const ra = measureOnly ? null : new ReadAhead(contentReads(p, readSize), undefined, undefined, out.into !== undefined);
  out.padTo(EROFS_SUPER_OFFSET);
  const sb = new Uint8Array(erofs_super_block.size);
  let compat = EROFS_FEATURE_COMPAT_MTIME;
  if (p.checksum) compat |= EROFS_FEATURE_COMPAT_SB_CHKSUM;
  // some inode has xattrs: the name filter is written
  if (p.xattrs.any) compat |= EROFS_FEATURE_COMPAT_XATTR_FILTER;
  encodeStruct(erofs_super_block, {
    magic: EROFS_MAGIC, checksum: 0, feature_compat: compat, blkszbits: p.bits, root_nid: p.nid[0]!, inos: N,
    build_time: p.buildTime, build_time_nsec: p.buildTimeNsec, blocks: p.blocks, meta_blkaddr: 0,
    xattr_blkaddr: Math.floor(p.inodesEnd / bs), uuid: p.uuid, volume_name: p.volumeName,
    feature_incompat: (p.chunkBits ? EROFS_FEATURE_INCOMPAT_CHUNKED_FILE : 0) |
      (p.z ? EROFS_FEATURE_INCOMPAT_ZERO_PADDING | (p.z.cfgs ? EROFS_FEATURE_INCOMPAT_COMPR_CFGS : 0) : 0) |
      (p.z?.ztail ? EROFS_FEATURE_INCOMPAT_ZTAILPACKING : 0) | (p.z?.fragments || p.z?.dedupe ? EROFS_FEATURE_INCOMPAT_FRAGMENTS : 0),
    packed_nid: p.packed >= 0 ? p.nid[p.packed]! : 0,
    // available_compr_algs with COMPR_CFGS; otherwise lz4_max_distance, 0 = the default 64 KiB
    u1: p.z?.cfgs ? availableAlgs(p.z) : 0,
  }, sb);
  out.bytes(sb);
  const W = 'EROFS';
  expectAt(out, EROFS_SUPER_OFFSET + erofs_super_block.size, W, () => 'superblock end');
  if (p.z) {
    emitCfgRecord(out, p.z);
    expectAt(out, EROFS_SUPER_OFFSET + erofs_super_block.size + cfgRecordBytes(p.z), W, () => 'compression configuration end');
  }
  const where = (i: number) => `inode ${i + 1} (nid ${p.nid[i]!}, ${JSON.stringify(nodePath(nodes, i))})`;

  const core = (i: number): InodeCore => {
    const n = nodes[i]!;
    const s = n.src;
    let iu = 0;
    if (s.type === 'chr' || s.type === 'blk') iu = s.rdev >>> 0;
    else if (p.layout[i] === EROFS_INODE_CHUNK_BASED) iu = p.chunkBits - p.bits;
    else if (isCompressed(p, i)) iu = p.nBlocks[i]!; // compressed_blocks (informational)
    else iu = p.blkaddr[i]!;
    return {
      compact: p.compact[i] === 1, layout: p.layout[i]!, xattrIcount: xattrIcount(p.xattrs.xsize[i]!), mode: modeOfType(s.type) | (s.perm & 0o7777),
      nlink: n.nlink, size: p.size[i]!, iu, ino: i + 1, uid: s.uid, gid: s.gid, mtime: s.mtime, mtimeNsec: s.mtimeNsec,
    };
  };
  const tail = (i: number): void | Promise<void> => {
    const n = nodes[i]!;
    const s = n.src;
    const il = p.inlineLen[i]!;
    const zf = p.zfile[i];
    if (zf) {
      const headBytes = p.isize[i]! + p.xattrs.xsize[i]!;
      out.padTo(p.ipos[i]! + mapHeaderOffset(headBytes));
      expectAt(out, p.ipos[i]! + mapHeaderOffset(headBytes), W, () => `${where(i)}: map header`);
      out.bytes(encodeZMeta(p.z!, zf, headBytes, p.size[i]!, p.blkaddr[i]!, (owner) => p.blkaddr[owner]!));
      if (zf.tail?.inline) {
        expectAt(out, p.ipos[i]! + inlinePclusterOffset(p.z!, zf, headBytes, p.size[i]!), W, () => `${where(i)}: inline pcluster`);
        out.bytes(zf.tail.bytes);
      }
    } else if (p.layout[i] === EROFS_INODE_CHUNK_BASED) {
      const big = new Uint8Array(il);
      const v = new DataView(big.buffer);
      const ids = n.chunkIds!;
      for (let c = 0; c < ids.length; c++) v.setUint32(c * 4, p.uniqBlk[ids[c]!]!, true);
      out.bytes(big);
    } else if (s.type === 'dir') {
      const { starts } = direntBlocks(n.entNames!, bs);
      emitDir(out, p, n, starts[starts.length - 2]!, n.entNames!.length);
    } else if (s.type === 'symlink') out.bytes(s.target!.subarray(s.target!.length - il));
    else if (ra) return ra.next().then((b) => out.bytes(b));
    else out.fill(il);
  };
  await emitInodeArea(out, {
    order: p.order, ipos: p.ipos, coreSize: (i) => p.isize[i]!, tailLen: p.inlineLen, xattrs: p.xattrs, inodesEnd: p.inodesEnd, dataStart: p.dataStart, bs,
  }, core, tail, W, where);

  let u = 0;
  for (let i = 0; i < N; i++) {
    const n = nodes[i]!;
    const s = n.src;
    const nb = p.nBlocks[i]!;
    if (nb > 0) {
      const start = p.blkaddr[i]! * bs;
      const plainBytes = p.size[i]! - p.inlineLen[i]!;
      if (s.type === 'dir') {
        const { starts } = direntBlocks(n.entNames!, bs);
        const blocks = starts.length - 1;
        const stored = p.inlineLen[i]! > 0 ? blocks - 1 : blocks;
        emitDirBlocks(out, start, bs, n.entNames!, n.entNodes!, starts, stored, p.nid, (t) => nodes[t]!.src.type, W, () => where(i));
      } else if (p.zfile[i]) {
        const zf = p.zfile[i]!;
        expectAt(out, start, W, () => `${where(i)}: pcluster 0`);
        if (zf.data) out.bytes(zf.data);
        else if (measureOnly) out.fill(zf.dataLen); // the measuring pass needs the length only
        else if (zf.stored >= 0) {
          const b = p.zstore.get(zf.stored, zf.dataLen);
          out.bytes(b instanceof Uint8Array ? b : await b);
        }
        if (zf.extra) out.bytes(zf.extra);
      } else {
        expectAt(out, start, W, () => `${where(i)}: data block 0`);
        if (s.type === 'symlink') out.bytes(s.target!.subarray(0, plainBytes));
        else if (!ra) out.fill(plainBytes);
        else await copyPieces(out, ra, plainBytes, readSize);
        expectAt(out, start + plainBytes, W, () => `${where(i)}: data end`);
      }
      out.padTo(roundUp(out.pos, bs));
      expectAt(out, start + nb * bs, W, () => `${where(i)}: end of its ${nb} data blocks`);
    }
    while (u < p.uniq.length && p.uniq[u]!.node === i) {
      const run = chunkRun(p, u);
      const start = p.uniqBlk[u]! * bs;
      expectAt(out, start, W, () => `${where(i)}: chunk ${p.uniq[u]!.index}`);
      if (!ra) out.fill(run.len);
      else await copyPieces(out, ra, run.len, readSize);
      expectAt(out, start + run.len, W, () => `${where(i)}: end of chunks ${p.uniq[u]!.index}..${p.uniq[run.end - 1]!.index}`);
      out.padTo(roundUp(out.pos, bs));
      u = run.end;
    }
    if ((i & 255) === 255) await out.drain();
  }
  expectAt(out, p.blocks * bs, W, () => 'image end');
}

function isCompressed(p: Plan, i: number): boolean {
  return p.layout[i] === EROFS_INODE_COMPRESSED_COMPACT || p.layout[i] === EROFS_INODE_COMPRESSED_FULL;
}

/**
 * Compress every regular file over one block (smaller ones cannot save a block; with fragments
 * or ztailpacking every non-empty file, which may end up in the packed inode or compressed
 * inline, as mkfs does), reading content ahead in
 * `readSize` pieces. Null where the file stays plain. With fragments, the packed inode becomes
 * one more node (unlinked, 0100644, root-owned, build-time mtime), compressed like the files
 * but without fragments, inline tails or dedupe of its own.
 */
async function compressFiles(
  nodes: Node[], z: ZConfig, readSize: number, buildTime: number, buildTimeNsec: number, poolOpt: ZFilePool | null | undefined, store: ZDataStore,
): Promise<{ zfile: (ZFile | null)[]; packed: number; threads: number }> {
  const res: (ZFile | null)[] = new Array(nodes.length).fill(null);
  const todo: number[] = [];
  const reqs: ReadReq[] = [];
  let total = 0;
  const pool = z.dedupe || z.fragments ? null : poolOpt === undefined ? zFilePool() : poolOpt;
  // on a pool, a thread's messages carry up to POOL_BATCH bytes: big files go in pieces of that size
  const piece = pool ? Math.min(readSize, POOL_BATCH) : readSize;
  for (let i = 0; i < nodes.length; i++) {
    const s = nodes[i]!.src;
    if (s.type !== 'reg' || s.size === 0 || (s.size <= z.bs && !z.fragments && !z.ztail)) continue;
    todo.push(i);
    total += s.size;
    pieces(reqs, contentOf(nodes, i), 0, s.size, piece);
  }
  // compressFile copies each piece into its window before it asks for the next
  const ra = new ReadAhead(reqs, undefined, undefined, true);
  if (pool && (poolOpt !== undefined || total >= POOL_MIN_BYTES)) {
    // without fragments there is no packed inode
    await compressOnPool(nodes, todo, z, pool, ra, piece, res, store);
    return { zfile: res, packed: -1, threads: pool.threads };
  }
  const zi = new ZImage(z);
  // each file's pclusters go to the store as soon as they are made (planning needs their length only)
  for (const i of todo) res[i] = storeZFile(store, await compressFile(zi, i, nodes[i]!.src.size, () => ra.next()));
  if (zi.packedSize === 0) return { zfile: res, packed: -1, threads: 0 };
  const data = zi.packedData();
  const packed = nodes.length;
  nodes.push({
    src: { type: 'reg', perm: 0o644, uid: 0, gid: 0, mtime: buildTime, mtimeNsec: buildTimeNsec, size: data.length, rdev: 0, xattrs: [], content: new BytesSource(data, 'packed inode') },
    parent: 0, name: ENC.encode('(packed inode)'), nlink: 1, entNames: null, entNodes: null, xattrs: [], chunkIds: null,
  });
  const own = new ZImage({ ...z, ztail: false, fragments: false, dedupe: false, interlaced: false });
  let at = 0;
  res.push(data.length > z.bs ? storeZFile(store, await compressFile(own, packed, data.length, async () => data.subarray(at, (at = data.length)))) : null);
  return { zfile: res, packed, threads: 0 };
}

/**
 * Content to compress before the registered pool is used: a smaller build finishes before threads
 * would have started (~0.1 s each).
 */
const POOL_MIN_BYTES = 8 << 20;
/** most content bytes in one message to a pool thread (small files are batched up to it) */
const POOL_BATCH = 1 << 20;
/** content bytes handed to the threads and not yet taken or compressed, per thread */
const POOL_INFLIGHT = 4 << 20;

/**
 * compressFiles on a pool: the files in order, small ones batched per message, big ones streamed in
 * `piece`-byte messages to the thread that has their start; each message's buffer is read into
 * and then handed over (no second copy). The bytes handed over and not yet done with are bounded,
 * so memory does not grow with the tree; `res` is filled by node, so the order threads finish in
 * does not matter.
 */
async function compressOnPool(
  nodes: Node[], todo: number[], z: ZConfig, pool: ZFilePool, ra: ReadAhead, piece: number, res: (ZFile | null)[], store: ZDataStore,
): Promise<void> {
  const limit = Math.max(pool.threads, 1) * POOL_INFLIGHT;
  let inflight = 0;
  let failed: { e: unknown } | null = null;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  /** wait until `n` more bytes fit (or nothing is in flight) */
  const room = async (n: number): Promise<void> => {
    while (!failed && inflight > 0 && inflight + n > limit) await new Promise<void>((r) => (wake = r));
    if (failed) throw failed.e;
  };
  const taken = (n: number): void => {
    inflight -= n;
    notify();
  };
  const done: Promise<void>[] = [];
  const send = (files: ZPoolFile[], bytes: Uint8Array): ReturnType<ZFilePool['begin']> => {
    const first = bytes.length;
    inflight += first;
    const job = pool.begin(z, files, bytes, taken);
    done.push(job.result.then(
      (zs) => {
        for (let k = 0; k < files.length; k++) res[files[k]!.node] = storeZFile(store, zs[k] ?? null);
        taken(first);
      },
      (e: unknown) => {
        failed ??= { e };
        notify();
      },
    ));
    return job;
  };
  let t = 0;
  /** a big file's job still waiting for pieces: ended if this thread gives up (a read failed), else its thread waits forever */
  let streaming: ReturnType<ZFilePool['begin']> | null = null;
  try {
    while (t < todo.length) {
      const i = todo[t]!;
      const size = nodes[i]!.src.size;
      if (size > piece) {
        // a big file: its first piece starts the job, the rest follow to the same thread
        t++;
        await room(piece);
        const b = new Uint8Array(piece);
        await ra.nextInto(b);
        streaming = send([{ node: i, size }], b);
        for (let o = piece; o < size; o += piece) {
          const len = Math.min(piece, size - o);
          await room(len);
          const m = new Uint8Array(len);
          await ra.nextInto(m);
          inflight += len;
          streaming.more(m);
        }
        streaming = null;
        continue;
      }
      // small files: as many consecutive ones as fit one message (their reads are one piece each)
      let bytes = 0;
      let e = t;
      while (e < todo.length && nodes[todo[e]!]!.src.size <= piece && bytes + nodes[todo[e]!]!.src.size <= piece) bytes += nodes[todo[e++]!]!.src.size;
      await room(bytes);
      const b = new Uint8Array(bytes);
      const files: ZPoolFile[] = [];
      let at = 0;
      for (; t < e; t++) {
        const n = todo[t]!;
        const s = nodes[n]!.src.size;
        await ra.nextInto(b.subarray(at, at + s));
        at += s;
        files.push({ node: n, size: s });
      }
      send(files, b);
    }
  } catch (e) {
    (streaming as ReturnType<ZFilePool['begin']> | null)?.more(new Uint8Array(0));
    throw e;
  }
  await Promise.all(done);
  if (failed) throw (failed as { e: unknown }).e;
}

function emitDir(out: Output, p: Plan, n: Node, first: number, end: number): void {
  emitDirentsOf(out, n.entNames!, n.entNodes!, p.nid, (t) => p.nodes[t]!.src.type, first, end);
}
