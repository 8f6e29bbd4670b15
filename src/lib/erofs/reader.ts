/**
 * EROFS reader (spec: ../shared/docs/erofs-composefs-format.md §2) for every image erofs-utils 1.5
 * writes: compact/extended inodes, flat plain/inline, chunk-based (block map, chunk indexes, extra
 * devices, holes), LZ4 compressed (legacy and compact indexes, 0padding, big pclusters,
 * ztailpacking), multi-block directories, inline and shared xattrs.
 *
 * Metadata goes through a bounded block cache; file data is read in large ranges (straight from the
 * underlying source for big ones) so extracting a whole image does not churn the cache.
 */
import { fail, FormatError, IoError, NotFoundError, UnsupportedError } from '../errors.ts';
import { runPlan, type DataPiece } from '../fs/plan.ts';
import type { Attr, DirEntry, FormatId, FsNow, ImageInfo, ReadOnlyFs, StatFs } from '../fs/types.ts';
import { bytesEqual } from '../fs/types.ts';
import { CachedSource } from '../io/cache.ts';
import { Lru } from '../lru.ts';
import { readInto, type ByteSource } from '../io/source.ts';
import { describeStruct, type DescribedField } from '../struct.ts';
import { compareName, findInBlock, isDotOrDotDot, nameAt, parseDirBlock, TYPE_OF_FT, type DirBlock } from './dir.ts';
import { isCompressedLayout, layoutName, parseInode, type Inode } from './inode.ts';
import {
  COMPRESSION_NAMES,
  EROFS_DEVT_SLOT_SIZE,
  EROFS_FEATURE_INCOMPAT_ZERO_PADDING,
  EROFS_INODE_CHUNK_BASED,
  EROFS_INODE_FLAT_INLINE,
  EROFS_INODE_FLAT_PLAIN,
  EROFS_NULL_ADDR,
  EROFS_SUPER_OFFSET,
  EROFS_SUPER_SIZE,
  LCLUSTER_TYPE_NAMES,
  Z_EROFS_ADVISE_INLINE_PCLUSTER,
  Z_EROFS_COMPRESSION_LZ4,
  erofs_blockmap_entry,
  erofs_deviceslot,
  erofs_inode_chunk_index,
  erofs_inode_compact,
  erofs_inode_extended,
  erofs_super_block,
  erofs_xattr_ibody_header,
  z_erofs_map_header,
} from './structs.ts';
import { featureNames, parseDeviceTable, parseSuperblock, uuidString, type Superblock } from './superblock.ts';
import { entryHeader, fullName, parseIbodyHeader, parseInlineEntries, type Xattr } from './xattr.ts';
import { parseZHeader, zExtents, zFindTail, zHeaderOffset, zIndexRange, zMap, type ZInfo } from './zmap.ts';

export interface ErofsOpenOptions {
  /** extra devices (blobs) in device-table order: devices[0] is device id 1 */
  devices?: ByteSource[];
  /** the format id to report (composefs images are EROFS too) */
  format?: FormatId;
  /** metadata cache block size and budget (when `src` is not already a CachedSource) */
  cacheBlockSize?: number;
  cacheBytes?: number;
}

/** reads at least this long skip the block cache */
const BIG_READ = 64 * 1024;
/** one extent's decompressed bytes held at once; mkfs 1.5 extents are < 1 MiB, later ones ≤ 4 MiB */
const MAX_EXTENT_DECODE = 32 << 20;
/** one physical read when coalescing contiguous pclusters or chunks */
const MAX_RUN = 8 << 20;
/** a walk's reads (see metaDirect): at least a window, at most this much at once */
const WALK_WINDOW = 4096;
const WALK_READ_MAX = 4 << 20;
const INODE_CACHE_ENTRIES = 1 << 16;
const DIRBLOCK_CACHE_ENTRIES = 4096;
const MAP_CACHE_BYTES = 32 << 20;
const PATH_MAX = 4096;
const DETAIL_LIMIT = 4096;

/** One extent of a compressed read: where its pcluster is, and which of its bytes land where. */
interface ZStep { pa: number; plen: number; inline: boolean; algorithm: number | 'shifted'; length: number; skip: number; outPos: number; at: number }

interface Piece {
  dev: number;
  pos: number;
  len: number;
  outPos: number;
  structure: string;
  at: number;
}

/** The extents of a compressed inode that make up [offset, offset+len), last first. */
function zSteps(i: Inode, z: ZInfo, offset: number, len: number): ZStep[] {
  const steps: ZStep[] = [];
  // walk extents from the end, as erofs-utils does: each mapping gives the extent's start
  let end = offset + len;
  for (let guard = 0; end > offset; guard++) {
    if (!(guard <= z.lclusters)) fail('erofs.lcluster_index', z.indexOffset, `nid ${i.nid}: extent walk does not terminate`);
    const e = zMap(z, end - 1);
    const length = end - e.la;
    if (!(length <= MAX_EXTENT_DECODE)) fail('erofs.lcluster_index', e.indexAt, `nid ${i.nid}: extent of ${length} bytes at ${e.la} is larger than ${MAX_EXTENT_DECODE}`);
    const skip = e.la < offset ? offset - e.la : 0;
    steps.push({ pa: e.pa, plen: e.plen, inline: e.inline, algorithm: e.algorithm, length, skip, outPos: e.la + skip - offset, at: e.indexAt });
    end = e.la + skip;
  }
  return steps;
}

export class ErofsFs implements ReadOnlyFs {
  readonly format: FormatId;
  readonly rootIno: number;
  readonly blockSize: number;
  readonly imageSize: number;
  /** nids above this cannot hold an inode inside the image */
  readonly maxNid: number;
  private readonly metaBase: number;
  readonly now: FsNow = {
    getattr: (ino) => this.getattrNow(ino),
    readdir: (ino) => this.readdirNow(ino),
    readlink: (ino) => this.readlinkNow(ino),
    xattrs: (ino) => {
      const list = this.xattrsNow(ino);
      return list && list.flatMap((x) => [x.name, x.value]);
    },
    dataPlan: (ino, offset, size) => this.dataPlanNow(ino, offset, size, false),
  };
  private readonly inodes = new Lru<number, Inode>(INODE_CACHE_ENTRIES);
  private readonly dirBlocks = new Lru<string, DirBlock>(DIRBLOCK_CACHE_ENTRIES);
  private readonly zinfos = new Lru<number, ZInfo>(MAP_CACHE_BYTES);
  private readonly chunkMaps = new Lru<number, Uint8Array>(MAP_CACHE_BYTES);
  private lastXattrs: { nid: number; list: Xattr[] } | null = null;
  private lastInode: Inode | null = null;
  /** metaDirect's window: `len` bytes of the image from `pos` */
  private readonly walkWindow = { bytes: new Uint8Array(WALK_WINDOW), pos: 0, len: 0 };
  /** metadata fetched for an operation that runs again (see settle) */
  private pins: { off: number; bytes: Uint8Array }[] = [];
  /** the range the last metaNow could not answer */
  private missed = { off: 0, len: 0 };
  private scratch: Uint8Array | null = null;
  /** LZ4 output that does not land in the caller's buffer whole (partial extents) */
  private decodeScratch: Uint8Array = new Uint8Array(0);

  constructor(
    readonly sb: Superblock,
    /** the cached primary source (metadata) */
    readonly source: CachedSource,
    /** the primary source behind the cache (big data reads) */
    private readonly raw: ByteSource,
    /** extra devices, cached; index k-1 is device id k */
    private readonly devices: (CachedSource | undefined)[],
    format: FormatId,
  ) {
    this.format = format;
    this.rootIno = sb.rootNid;
    this.blockSize = sb.blockSize;
    this.imageSize = source.size;
    this.metaBase = sb.metaBlkaddr * sb.blockSize;
    this.maxNid = Math.max(-1, Math.floor((this.imageSize - this.metaBase - 32) / 32));
  }

  // ---- byte access ---------------------------------------------------------------------------

  /** bounds-checked metadata read (a view into the cache: do not modify) */
  private meta(off: number, len: number, structure: string): Promise<Uint8Array> {
    this.checkMeta(off, len, structure);
    return this.source.read(off, len);
  }

  /**
   * meta without waiting, when the cache can answer at once (see CachedSource.readNow), else null;
   * the range is then in `missed`
   */
  private metaNow(off: number, len: number, structure: string): Uint8Array | null {
    this.checkMeta(off, len, structure);
    for (const p of this.pins) if (off >= p.off && off + len <= p.off + p.bytes.length) return p.bytes.subarray(off - p.off, off - p.off + len);
    const now = this.source.readNow(off, len);
    if (!now) this.missed = { off, len };
    return now;
  }

  /**
   * Metadata operations are written once, synchronously, over metaNow (null: wait for `missed`).
   * A local image answers at once, so a walk (extract) runs them without an await chain; for other
   * sources the missing bytes are fetched and pinned, and the operation runs again, as often as
   * it has reads that missed.
   */
  private settle<T>(op: () => T | null): Promise<T> {
    try {
      const now = op();
      if (now !== null) return Promise.resolve(now);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.settleSlow(op);
  }

  private async settleSlow<T>(op: () => T | null): Promise<T> {
    const mine: { off: number; bytes: Uint8Array }[] = [];
    try {
      for (;;) {
        const { off, len } = this.missed;
        const pin = { off, bytes: await this.source.read(off, len) };
        mine.push(pin);
        this.pins.push(pin);
        const now = op();
        if (now !== null) return now;
        // each run pins one more of the op's reads: a repeat means the op asks for what it cannot get
        if (mine.some((p) => p.off === this.missed.off && p.bytes.length === this.missed.len)) throw new Error(`erofs: metadata at ${this.missed.off} (+${this.missed.len}) stays unavailable`);
      }
    } finally {
      this.pins = this.pins.filter((p) => !mine.includes(p));
    }
  }

  /**
   * For a walk over a local file (the `keep: false` reads): the bytes from a small window read
   * straight from the file, valid until the window moves, not through the cache. A walk reads
   * each inode and directory block once, and through the cache every block it touches lands in
   * fresh memory: ~90 MB of 4 KiB blocks (the CLI's) for the 20k-file bench image, inline tails
   * and file data around the inodes included, tens of ms of page faults and copying. The window
   * (4 KiB from the first byte asked for) holds an inode with its map header and a small index,
   * so a compressed inode is one read, not three. Bytes the cache holds are used as they are; a
   * source that cannot read at once goes through metaNow.
   */
  private metaDirect(off: number, len: number, structure: string): Uint8Array | null {
    this.checkMeta(off, len, structure);
    const w = this.walkWindow;
    if (off >= w.pos && off + len <= w.pos + w.len) return w.bytes.subarray(off - w.pos, off - w.pos + len);
    const cached = this.source.peek(off, len);
    if (cached) return cached;
    if (!this.raw.readIntoSync || len > WALK_READ_MAX) return this.metaNow(off, len, structure);
    const n = Math.min(Math.max(len, WALK_WINDOW), this.imageSize - off);
    if (w.bytes.length < n) w.bytes = new Uint8Array(Math.max(n, 2 * w.bytes.length));
    w.len = 0;
    this.raw.readIntoSync(off, w.bytes.subarray(0, n));
    w.pos = off;
    w.len = n;
    return w.bytes.subarray(0, len);
  }

  private checkMeta(off: number, len: number, structure: string): void {
    if (!(Number.isSafeInteger(off) && off >= 0 && len >= 0 && off + len <= this.imageSize)) fail(structure, off, `${len} bytes run past the ${this.imageSize}-byte image`);
  }

  /** data read from device `dev` (0 = primary); `at` names the map entry that produced `pos` */
  private async devRead(dev: number, pos: number, len: number, structure: string, at: number): Promise<Uint8Array> {
    if (dev === 0) {
      this.checkPrimary(pos, len, structure, at);
      return len >= BIG_READ ? this.raw.read(pos, len) : this.source.read(pos, len);
    }
    const d = this.checkDevice(dev, pos, len, structure, at);
    return len >= BIG_READ ? d.inner.read(pos, len) : d.read(pos, len);
  }

  /** extra device `dev`, which must hold [pos, pos+len) */
  private checkDevice(dev: number, pos: number, len: number, structure: string, at: number): CachedSource {
    const d = this.devices[dev - 1];
    if (!d) throw new IoError(this.source.name, `extra device ${dev} of ${this.sb.extraDevices} was not supplied (pass the blob with --device)`);
    if (!(Number.isSafeInteger(pos) && pos >= 0 && pos + len <= d.size)) fail(structure, at, `data at byte ${pos} (+${len}) runs past device ${dev} (${d.name}, ${d.size} bytes)`);
    return d;
  }

  private checkPrimary(pos: number, len: number, structure: string, at: number): void {
    if (!(Number.isSafeInteger(pos) && pos >= 0 && pos + len <= this.imageSize)) fail(structure, at, `data at byte ${pos} (+${len}) runs past the ${this.imageSize}-byte image`);
  }

  /** like devRead, into `dest` (exactly dest.length bytes) */
  private async devReadInto(dev: number, pos: number, dest: Uint8Array, structure: string, at: number): Promise<void> {
    if (dev === 0) {
      this.checkPrimary(pos, dest.length, structure, at);
      // the caller's buffer is the cache here: file data read through the block cache would only
      // be copied twice and push out the metadata
      return readInto(this.raw, pos, dest);
    }
    dest.set(await this.devRead(dev, pos, dest.length, structure, at));
  }

  /** unified addressing: a primary-device block inside a device's mapped range belongs to that device */
  private mapDevice(dev: number, blkaddr: number): { dev: number; blkaddr: number } {
    if (dev === 0) {
      for (const d of this.sb.devices) {
        if (d.mappedBlkaddr && blkaddr >= d.mappedBlkaddr && blkaddr < d.mappedBlkaddr + d.blocks) return { dev: d.id, blkaddr: blkaddr - d.mappedBlkaddr };
      }
    }
    return { dev, blkaddr };
  }

  // ---- inodes --------------------------------------------------------------------------------

  inodeOffset(nid: number): number {
    return this.metaBase + nid * 32;
  }

  inode(nid: number): Promise<Inode> {
    return this.settle(() => this.inodeNow(nid));
  }

  /**
   * `keep: false` is for a walk (FsNow), which asks for each inode a few times in a row and never
   * again: the last inode answers those, and the cache is left alone (keeping 20k inodes in it
   * cost the walk cache upkeep and old-generation garbage).
   */
  private inodeNow(nid: number, keep = true): Inode | null {
    const last = this.lastInode;
    if (last?.nid === nid) return last;
    const hit = this.inodes.get(nid);
    if (hit) return hit;
    if (!Number.isSafeInteger(nid) || nid < 0 || nid > this.maxNid) throw new NotFoundError(`inode ${nid} (nids end at ${this.maxNid})`);
    const off = this.inodeOffset(nid);
    const len = Math.min(64, this.imageSize - off);
    const b = keep ? this.metaNow(off, len, 'erofs.inode') : this.metaDirect(off, len, 'erofs.inode');
    if (!b) return null;
    const inode = parseInode(this.sb, this.imageSize, nid, off, b);
    if (keep) this.inodes.set(nid, inode);
    this.lastInode = inode;
    return inode;
  }

  private attrOf(i: Inode): Attr {
    return { ino: i.nid, type: i.type, mode: i.mode, nlink: i.nlink, uid: i.uid, gid: i.gid, size: i.size, rdev: i.rdev, mtime: i.mtime, mtimeNsec: i.mtimeNsec };
  }

  async getattr(ino: number): Promise<Attr> {
    return this.attrOf(await this.inode(ino));
  }

  private getattrNow(ino: number): Attr | null {
    const i = this.inodeNow(ino, false);
    return i && this.attrOf(i);
  }

  // ---- data ----------------------------------------------------------------------------------

  /** FLAT_INLINE: the logical offset where the inline tail begins (every block but the last is plain) */
  private tailStart(i: Inode): number {
    return Math.max(0, Math.ceil(i.size / this.blockSize) - 1) * this.blockSize;
  }

  /** absolute offset of logical byte `pos` for flat layouts (-1 otherwise), for error messages */
  private flatOffset(i: Inode, pos: number): number {
    const bs = this.blockSize;
    if (i.layout === EROFS_INODE_FLAT_PLAIN) return i.iu === EROFS_NULL_ADDR ? -1 : i.iu * bs + pos;
    if (i.layout === EROFS_INODE_FLAT_INLINE) {
      const plainEnd = this.tailStart(i);
      return pos < plainEnd ? i.iu * bs + pos : i.dataOffset + (pos - plainEnd);
    }
    return -1;
  }

  /**
   * Bytes [offset, offset+len) of an inode's data; the caller has clipped the range to i_size.
   * The result may be a view into a cache unless `own` is set. With `into` (at least `len` bytes)
   * the flat and chunked layouts fill it and return a view of it.
   */
  private async readData(i: Inode, offset: number, len: number, own: boolean, into?: Uint8Array): Promise<Uint8Array> {
    if (len === 0) return new Uint8Array(0);
    const bs = this.blockSize;
    if (into && into.length >= len && (i.layout === EROFS_INODE_FLAT_PLAIN || i.layout === EROFS_INODE_FLAT_INLINE)) {
      const out = into.subarray(0, len);
      if (i.layout === EROFS_INODE_FLAT_PLAIN) {
        if (i.iu === EROFS_NULL_ADDR) out.fill(0);
        else await this.devReadInto(0, i.iu * bs + offset, out, 'erofs.inode', i.offset);
        return out;
      }
      const plainEnd = this.tailStart(i);
      const head = Math.max(0, Math.min(len, plainEnd - offset));
      if (head > 0) await this.devReadInto(0, i.iu * bs + offset, out.subarray(0, head), 'erofs.inode', i.offset);
      if (head < len) out.set(await this.meta(i.dataOffset + (offset + head - plainEnd), len - head, 'erofs.inode'), head);
      return out;
    }
    switch (i.layout) {
      case EROFS_INODE_FLAT_PLAIN: {
        if (i.iu === EROFS_NULL_ADDR) return new Uint8Array(len);
        const b = await this.devRead(0, i.iu * bs + offset, len, 'erofs.inode', i.offset);
        return own ? b.slice() : b;
      }
      case EROFS_INODE_FLAT_INLINE: {
        const plainEnd = this.tailStart(i);
        const end = offset + len;
        if (end <= plainEnd || offset >= plainEnd) {
          const b = end <= plainEnd
            ? await this.devRead(0, i.iu * bs + offset, len, 'erofs.inode', i.offset)
            : await this.meta(i.dataOffset + (offset - plainEnd), len, 'erofs.inode');
          return own ? b.slice() : b;
        }
        const out = new Uint8Array(len);
        out.set(await this.devRead(0, i.iu * bs + offset, plainEnd - offset, 'erofs.inode', i.offset), 0);
        out.set(await this.meta(i.dataOffset, end - plainEnd, 'erofs.inode'), plainEnd - offset);
        return out;
      }
      case EROFS_INODE_CHUNK_BASED:
        return this.readChunked(i, offset, len, into && into.length >= len ? into.subarray(0, len) : undefined);
      default:
        if (isCompressedLayout(i.layout)) return this.readCompressed(i, offset, len, into && into.length >= len ? into.subarray(0, len) : undefined);
        throw new FormatError('erofs.inode', i.offset, `nid ${i.nid}: unknown layout ${i.layout}`);
    }
  }

  private chunkMap(i: Inode): Promise<Uint8Array> {
    return this.settle(() => this.chunkMapNow(i));
  }

  /** `keep`: as zinfoNow (the map, right after the inode, then comes from the walk's window) */
  private chunkMapNow(i: Inode, keep = true): Uint8Array | null {
    const hit = this.chunkMaps.get(i.nid);
    if (hit) return hit;
    const c = i.chunk!;
    const len = c.count * c.entrySize;
    const S = c.indexes ? erofs_inode_chunk_index.name : erofs_blockmap_entry.name;
    const now = keep ? this.metaNow(c.mapOffset, len, S) : this.metaDirect(c.mapOffset, len, S);
    if (!now || !keep) return now;
    const bytes = now.slice();
    this.chunkMaps.set(i.nid, bytes, bytes.length + 64);
    return bytes;
  }

  /** physical location of chunk `ci`: null for a hole */
  private chunkAt(i: Inode, map: Uint8Array, ci: number): { dev: number; blkaddr: number; at: number } | null {
    const c = i.chunk!;
    const rel = ci * c.entrySize;
    const at = c.mapOffset + rel;
    const view = new DataView(map.buffer, map.byteOffset, map.byteLength);
    if (!c.indexes) {
      const blkaddr = view.getUint32(rel, true);
      return blkaddr === EROFS_NULL_ADDR ? null : { ...this.mapDevice(0, blkaddr), at };
    }
    const blkaddr = view.getUint32(rel + erofs_inode_chunk_index.f.blkaddr.offset, true);
    if (blkaddr === EROFS_NULL_ADDR) return null;
    const dev = view.getUint16(rel + erofs_inode_chunk_index.f.device_id.offset, true) & this.sb.deviceIdMask;
    if (!(dev <= this.sb.extraDevices)) fail(erofs_inode_chunk_index.name, at + 2, `device_id ${dev} but the image has ${this.sb.extraDevices} extra devices`);
    return { ...this.mapDevice(dev, blkaddr), at };
  }

  /** Runs of stored bytes for [offset, offset+len) of a chunked inode; holes are left out (`holes` hears of them). */
  private chunkPieces(i: Inode, map: Uint8Array, offset: number, len: number, holes?: (outPos: number, len: number) => void): Piece[] {
    const c = i.chunk!;
    const end = offset + len;
    const pieces: Piece[] = [];
    let run: Piece | null = null;
    const S = c.indexes ? erofs_inode_chunk_index.name : erofs_blockmap_entry.name;
    for (let ci = Math.floor(offset / c.chunkSize); ci < c.count && ci * c.chunkSize < end; ci++) {
      const cs = ci * c.chunkSize;
      const s = Math.max(offset, cs);
      const e = Math.min(end, cs + c.chunkSize);
      const loc = this.chunkAt(i, map, ci);
      if (!loc) {
        holes?.(s - offset, e - s);
        run = null;
        continue;
      }
      const pos = loc.blkaddr * this.blockSize + (s - cs);
      if (run && run.dev === loc.dev && run.pos + run.len === pos && run.outPos + run.len === s - offset && run.len + (e - s) <= MAX_RUN) {
        run.len += e - s;
      } else {
        run = { dev: loc.dev, pos, len: e - s, outPos: s - offset, structure: S, at: loc.at };
        pieces.push(run);
      }
    }
    return pieces;
  }

  private async readChunked(i: Inode, offset: number, len: number, into?: Uint8Array): Promise<Uint8Array> {
    const out = into ?? new Uint8Array(len);
    const map = await this.chunkMap(i);
    const pieces = this.chunkPieces(i, map, offset, len, into ? (at, n) => into.fill(0, at, at + n) : undefined);
    for (const p of pieces) await this.devReadInto(p.dev, p.pos, out.subarray(p.outPos, p.outPos + p.len), p.structure, p.at);
    return out;
  }

  zinfo(i: Inode): Promise<ZInfo> {
    return this.settle(() => this.zinfoNow(i));
  }

  /**
   * `keep: false`: for a walk, as inodeNow; the index is then a view of the walk's window (see
   * metaDirect), good only for the plan being made from it.
   */
  private zinfoNow(i: Inode, keep = true): ZInfo | null {
    const hit = this.zinfos.get(i.nid);
    if (hit) return hit;
    const hOff = zHeaderOffset(this.sb, i);
    const hLen = z_erofs_map_header.size;
    const h = hOff === null ? null : keep ? this.metaNow(hOff, hLen, z_erofs_map_header.name) : this.metaDirect(hOff, hLen, z_erofs_map_header.name);
    if (hOff !== null && !h) return null;
    const hdr = parseZHeader(this.sb, i, hOff, h);
    const lclusters = Math.ceil(i.size / 2 ** hdr.lclusterBits);
    const range = zIndexRange(i, hdr, lclusters);
    const inlineLen = hdr.advise & Z_EROFS_ADVISE_INLINE_PCLUSTER ? hdr.idataSize : 0;
    const total = range.end - range.start + inlineLen;
    // a walk's index is read where it lies (see metaDirect): mkfs.erofs 1.5 puts compressed
    // inodes among the data, so cache blocks around them are mostly compressed data
    const stored = keep ? this.metaNow(range.start, total, 'erofs.lcluster_index') : this.metaDirect(range.start, total, 'erofs.lcluster_index');
    if (!stored) return null;
    const index = keep ? stored.slice() : stored;
    const z: ZInfo = {
      nid: i.nid,
      layout: i.layout,
      size: i.size,
      headerOffset: hdr.headerOffset,
      advise: hdr.advise,
      algorithms: hdr.algorithms,
      lclusterBits: hdr.lclusterBits,
      lclusterSize: 2 ** hdr.lclusterBits,
      idataSize: inlineLen,
      lclusters,
      indexOffset: range.start,
      index,
      compacted4bInitial: range.c4i,
      compacted2b: range.c2b,
      blockSize: this.blockSize,
      idataOffset: range.end,
      tailHeadLcn: -1,
      maxPclusterBytes: this.sb.lz4MaxPclusterBlks * this.blockSize,
    };
    if (inlineLen && i.size > 0) zFindTail(z);
    if (keep) this.zinfos.set(i.nid, z, index.length + 256);
    return z;
  }

  /**
   * The plan's stored input is read first, physically contiguous pieces together, into a reused
   * buffer; the plan then runs over those bytes, straight into `out`.
   */
  private async readCompressed(i: Inode, offset: number, len: number, into?: Uint8Array): Promise<Uint8Array> {
    const plan = this.compressedPlan(i, await this.zinfo(i), offset, len);
    // the pieces cover every byte of the range, so a reused buffer needs no clearing
    const out = into ?? new Uint8Array(len);
    const stored: { pos: number; len: number }[] = [];
    for (const p of plan) {
      if (p.kind === 'copy') stored.push({ pos: p.pos, len: p.len });
      else if (p.kind === 'lz4' && !p.bytes) stored.push({ pos: p.pos, len: p.plen });
    }
    stored.sort((x, y) => x.pos - y.pos);
    let need = 0;
    for (const r of stored) need += r.len;
    if (!(need <= this.imageSize)) fail('erofs.lcluster_index', i.offset, `nid ${i.nid}: pclusters of ${need} bytes for one read exceed the image`);
    const input = this.takeScratch(need);
    const runs: { pos: number; bytes: Uint8Array }[] = [];
    try {
      for (let k = 0, at = 0; k < stored.length; ) {
        const first = stored[k]!;
        let stop = first.pos + first.len;
        let j = k + 1;
        while (j < stored.length && stored[j]!.pos === stop && stop + stored[j]!.len - first.pos <= MAX_RUN) stop += stored[j++]!.len;
        const bytes = input.subarray(at, at + (stop - first.pos));
        // big runs pass the block cache (CachedSource.readInto), small ones may be cached
        await readInto(this.source, first.pos, bytes);
        runs.push({ pos: first.pos, bytes });
        at += bytes.length;
        k = j;
      }
      // runs are in ascending position: the last one starting at or before `pos` holds it (a
      // linear search per piece made a big read over scattered pclusters quadratic); runPlan's
      // read-ahead may ask for pieces of two adjoining runs at once
      const readAt = (_: ByteSource, pos: number, dest: Uint8Array): void => {
        let lo = 0;
        for (let hi = runs.length - 1; lo < hi; ) {
          const mid = (lo + hi + 1) >> 1;
          if (runs[mid]!.pos <= pos) lo = mid;
          else hi = mid - 1;
        }
        for (let o = 0; o < dest.length; lo++) {
          const r = runs[lo];
          if (!r || r.pos > pos + o) throw new Error(`erofs: stored bytes at ${pos + o} were not read`);
          const part = r.bytes.subarray(pos + o - r.pos, pos - r.pos + dest.length);
          dest.set(part, o);
          o += part.length;
        }
      };
      // `out` is exactly the range: the plan fills it once and nothing is written out before
      this.decodeScratch = runPlan(plan, { readAt, write: () => {} }, out, this.decodeScratch);
    } finally {
      this.scratch = input;
    }
    return out;
  }

  /** The reusable input buffer, grown to `n`; a second read meanwhile (the page reads concurrently) gets its own. */
  private takeScratch(n: number): Uint8Array {
    let b = this.scratch;
    this.scratch = null;
    if (!b || b.length < n) b = new Uint8Array(Math.max(n, 256 << 10));
    return b;
  }

  /**
   * Pieces of a compressed inode's [offset, offset+len), first to last, each pcluster checked
   * against the image and its algorithm.
   */
  private compressedPlan(i: Inode, z: ZInfo, offset: number, len: number): DataPiece[] {
    const zeroPadding = (this.sb.featureIncompat & EROFS_FEATURE_INCOMPAT_ZERO_PADDING) !== 0;
    const plan: DataPiece[] = [];
    const steps = zSteps(i, z, offset, len);
    for (let k = steps.length - 1; k >= 0; k--) {
      const s = steps[k]!;
      // a copy: a walk's index lies in a reused buffer
      const inline = s.inline ? z.index.slice(s.pa - z.indexOffset, s.pa - z.indexOffset + s.plen) : null;
      const take = s.length - s.skip;
      if (s.algorithm === 'shifted') {
        if (!(s.length <= s.plen)) fail('erofs.pcluster', s.pa, `nid ${i.nid}: uncompressed extent of ${s.length} bytes does not fit its ${s.plen}-byte pcluster`);
        if (inline) plan.push({ kind: 'bytes', bytes: inline.subarray(s.skip, s.length) });
        else plan.push(this.copyPiece(0, s.pa + s.skip, take, 'erofs.lcluster_index', s.at));
        continue;
      }
      if (s.algorithm !== Z_EROFS_COMPRESSION_LZ4) {
        throw new UnsupportedError('erofs compression', `nid ${i.nid}: ${COMPRESSION_NAMES[s.algorithm] ?? `algorithm ${s.algorithm}`} pclusters are not supported`);
      }
      if (!inline) this.checkPrimary(s.pa, s.plen, 'erofs.lcluster_index', s.at);
      plan.push({ kind: 'lz4', source: inline ? null : this.raw, pos: s.pa, plen: s.plen, bytes: inline, length: s.length, skip: s.skip, take, zeroPadding, structure: 'erofs.pcluster', at: s.pa });
    }
    return plan;
  }

  /** stored bytes of device `dev` (0: the image), checked to lie inside it */
  private copyPiece(dev: number, pos: number, len: number, structure: string, at: number): DataPiece {
    if (dev === 0) {
      this.checkPrimary(pos, len, structure, at);
      return { kind: 'copy', source: this.raw, pos, len };
    }
    return { kind: 'copy', source: this.checkDevice(dev, pos, len, structure, at).inner, pos, len };
  }

  async read(ino: number, offset: number, size: number, into?: Uint8Array): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(size) || size < 0) throw new RangeError(`bad read range ${offset}+${size}`);
    const i = await this.inode(ino);
    if (i.type !== 'reg' && i.type !== 'dir' && i.type !== 'symlink') return new Uint8Array(0);
    if (i.dataError) throw i.dataError;
    const n = Math.max(0, Math.min(size, i.size - offset));
    // no defensive copy: ReadOnlyFs.read results are read-only views (see fs/types.ts)
    return this.readData(i, offset, n, false, into);
  }

  dataPlan(ino: number, offset: number, size: number): Promise<DataPiece[]> {
    return this.settle(() => this.dataPlanNow(ino, offset, size));
  }

  /** `keep`: as zinfoNow */
  private dataPlanNow(ino: number, offset: number, size: number, keep = true): DataPiece[] | null {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(size) || size < 0) throw new RangeError(`bad read range ${offset}+${size}`);
    const i = this.inodeNow(ino, keep);
    if (!i) return null;
    if (i.type !== 'reg' && i.type !== 'dir' && i.type !== 'symlink') return [];
    if (i.dataError) throw i.dataError;
    const len = Math.max(0, Math.min(size, i.size - offset));
    if (len === 0) return [];
    const bs = this.blockSize;
    switch (i.layout) {
      case EROFS_INODE_FLAT_PLAIN:
        return [i.iu === EROFS_NULL_ADDR ? { kind: 'zero', len } : this.copyPiece(0, i.iu * bs + offset, len, 'erofs.inode', i.offset)];
      case EROFS_INODE_FLAT_INLINE: {
        const plainEnd = this.tailStart(i);
        const head = Math.max(0, Math.min(len, plainEnd - offset));
        const plan: DataPiece[] = [];
        if (head > 0) plan.push(this.copyPiece(0, i.iu * bs + offset, head, 'erofs.inode', i.offset));
        // the tail is read where it lies, after the inode, not carried in the plan: extract's
        // walk would copy tens of MB of tails into fresh job memory, a page fault per 4 KiB
        if (head < len) plan.push(this.copyPiece(0, i.dataOffset + (offset + head - plainEnd), len - head, 'erofs.inode', i.offset));
        return plan;
      }
      case EROFS_INODE_CHUNK_BASED: {
        const map = this.chunkMapNow(i, keep);
        if (!map) return null;
        const plan: DataPiece[] = [];
        let at = 0;
        const zeroUpTo = (to: number): void => {
          if (to > at) plan.push({ kind: 'zero', len: to - at });
          at = to;
        };
        for (const p of this.chunkPieces(i, map, offset, len)) {
          zeroUpTo(p.outPos);
          plan.push(this.copyPiece(p.dev, p.pos, p.len, p.structure, p.at));
          at += p.len;
        }
        zeroUpTo(len);
        return plan;
      }
      default: {
        if (!isCompressedLayout(i.layout)) throw new FormatError('erofs.inode', i.offset, `nid ${i.nid}: unknown layout ${i.layout}`);
        const z = this.zinfoNow(i, keep);
        return z && this.compressedPlan(i, z, offset, len);
      }
    }
  }

  async readlink(ino: number): Promise<Uint8Array> {
    const i = this.symlinkInode(await this.inode(ino));
    return this.readData(i, 0, i.size, true);
  }

  /** a target stored in one run (as mkfs.erofs stores them: inline, or in a block of its own) at once, else null */
  private readlinkNow(ino: number): Uint8Array | null {
    const i = this.inodeNow(ino, false);
    if (!i) return null;
    this.symlinkInode(i);
    const at = this.flatOffset(i, 0);
    if (i.size === 0 || at < 0 || this.flatOffset(i, i.size - 1) !== at + i.size - 1) return null;
    // for a walk (FsNow only): through its window, as the inode; a copy, so the window may move
    return this.metaDirect(at, i.size, 'erofs.inode')?.slice() ?? null;
  }

  private symlinkInode(i: Inode): Inode {
    if (i.type !== 'symlink') throw new NotFoundError(`symlink ${i.nid} (it is a ${i.type})`);
    if (i.dataError) throw i.dataError;
    if (!(i.size <= PATH_MAX)) fail('erofs.inode', i.offset + 8, `symlink target of ${i.size} bytes is longer than ${PATH_MAX}`);
    return i;
  }

  // ---- directories ---------------------------------------------------------------------------

  private async dirInode(ino: number): Promise<Inode> {
    return this.checkDir(await this.inode(ino));
  }

  private checkDir(i: Inode): Inode {
    if (i.type !== 'dir') throw new NotFoundError(`directory ${i.nid} (it is a ${i.type})`);
    if (i.dataError) throw i.dataError;
    return i;
  }

  async dirBlock(i: Inode, blk: number): Promise<DirBlock> {
    const bs = this.blockSize;
    if (this.flatOffset(i, blk * bs) >= 0) return this.settle(() => this.dirBlockNow(i, blk));
    return this.dirBlocks.get(`${i.nid}:${blk}`) ?? this.keepDirBlock(i, blk, -1, await this.readData(i, blk * bs, Math.min(bs, i.size - blk * bs), true));
  }

  /**
   * A directory block of a flat directory at once, else null. `keep: false`: a walk reads each
   * directory once, so the block is not cached, and lies in the walk's window (see metaDirect).
   */
  private dirBlockNow(i: Inode, blk: number, keep = true): DirBlock | null {
    const hit = this.dirBlocks.get(`${i.nid}:${blk}`);
    if (hit) return hit;
    const bs = this.blockSize;
    const at = this.flatOffset(i, blk * bs);
    if (at < 0) return null;
    const len = Math.min(bs, i.size - blk * bs);
    // names are cut from the block before the walk reads the next one
    const now = keep ? this.metaNow(at, len, 'erofs.dirent') : this.metaDirect(at, len, 'erofs.dirent');
    if (!now) return null;
    // a kept block owns a copy: names are read from it, and it must not pin a whole cache block
    return keep ? this.keepDirBlock(i, blk, at, now.slice()) : parseDirBlock(now, at, this.maxNid);
  }

  private keepDirBlock(i: Inode, blk: number, at: number, bytes: Uint8Array): DirBlock {
    const b = parseDirBlock(bytes, at, this.maxNid);
    this.dirBlocks.set(`${i.nid}:${blk}`, b);
    return b;
  }

  async lookup(parent: number, name: Uint8Array): Promise<Attr | null> {
    const i = await this.dirInode(parent);
    let lo = 0;
    let hi = Math.ceil(i.size / this.blockSize) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = await this.dirBlock(i, mid);
      if (compareName(name, b, 0) < 0) hi = mid - 1;
      else if (compareName(name, b, b.count - 1) > 0) lo = mid + 1;
      else {
        const k = findInBlock(b, name);
        return k < 0 ? null : this.getattr(b.nids[k]!);
      }
    }
    return null;
  }

  async readdir(ino: number, offset = 0, limit = Number.MAX_SAFE_INTEGER): Promise<DirEntry[]> {
    const i = await this.dirInode(ino);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`bad readdir cookie ${offset}`);
    const bs = this.blockSize;
    const nblocks = Math.ceil(i.size / bs);
    const out: DirEntry[] = [];
    let idx = Math.ceil((offset % bs) / 12);
    for (let blk = Math.floor(offset / bs); blk < nblocks && out.length < limit; blk++, idx = 0) {
      const b = await this.dirBlock(i, blk);
      // an entry without a file type in its dirent takes its inode's
      for (let k = idx; k < b.count; k++) if (TYPE_OF_FT[b.types[k]!] === undefined) await this.inode(b.nids[k]!);
      // (the inode cache holds far more inodes than a block has entries)
      if (!this.blockEntries(i, blk, b, idx, out, limit)) throw new Error(`erofs: directory ${i.nid} block ${blk}: an entry's inode was not kept`);
    }
    return out;
  }

  /** Every entry of a directory at once (a walk over a local image), else null. */
  private readdirNow(ino: number): DirEntry[] | null {
    const d = this.inodeNow(ino, false);
    if (!d) return null;
    const i = this.checkDir(d);
    const nblocks = Math.ceil(i.size / this.blockSize);
    const out: DirEntry[] = [];
    for (let blk = 0; blk < nblocks; blk++) {
      const b = this.dirBlockNow(i, blk, false);
      if (!b || !this.blockEntries(i, blk, b, 0, out, Number.MAX_SAFE_INTEGER)) return null;
    }
    return out;
  }

  /** Entries k >= idx of a directory block onto `out`; false when an entry's type needs an inode not at hand. */
  private blockEntries(i: Inode, blk: number, b: DirBlock, idx: number, out: DirEntry[], limit: number): boolean {
    const bs = this.blockSize;
    const n = b.count;
    for (let k = idx; k < n && out.length < limit; k++) {
      const name = nameAt(b, k);
      if (isDotOrDotDot(name)) continue;
      const nid = b.nids[k]!;
      const type = TYPE_OF_FT[b.types[k]!] ?? this.inodeNow(nid)?.type;
      if (!type) return false;
      out.push({ name: name.slice(), ino: nid, type, next: k + 1 < n ? blk * bs + (k + 1) * 12 : (blk + 1) * bs });
    }
    return true;
  }

  // ---- xattrs --------------------------------------------------------------------------------

  /** Every xattr of an inode: shared ones first (on-disk order), then inline ones. */
  xattrs(ino: number): Promise<Xattr[]> {
    return this.settle(() => this.xattrsNow(ino));
  }

  private xattrsNow(ino: number): Xattr[] | null {
    if (this.lastXattrs?.nid === ino) return this.lastXattrs.list;
    const i = this.inodeNow(ino);
    if (!i) return null;
    const list: Xattr[] = [];
    if (i.xattrSize > 0) {
      const at = i.offset + i.isize;
      const area = this.metaNow(at, i.xattrSize, erofs_xattr_ibody_header.name);
      if (!area) return null;
      const hdr = parseIbodyHeader(area, at);
      const base = this.sb.xattrBlkaddr * this.blockSize;
      for (const id of hdr.sharedIds) {
        const off = base + id * 4;
        const h = this.metaNow(off, 4, 'erofs.xattr_entry');
        const e = h && entryHeader(h, 0, off);
        const body = e && this.metaNow(off + 4, e.nameLen + e.valueSize, 'erofs.xattr_entry');
        if (!e || !body) return null;
        list.push({ name: fullName(e.nameIndex, body.subarray(0, e.nameLen)), nameIndex: e.nameIndex, value: body.slice(e.nameLen), sharedId: id, offset: off });
      }
      for (const x of parseInlineEntries(area, hdr.inlineStart, at)) list.push(x);
    }
    this.lastXattrs = { nid: ino, list };
    return list;
  }

  async listxattr(ino: number): Promise<Uint8Array[]> {
    return (await this.xattrs(ino)).map((x) => x.name.slice());
  }

  async getxattr(ino: number, name: Uint8Array): Promise<Uint8Array | null> {
    const x = (await this.xattrs(ino)).find((e) => bytesEqual(e.name, name));
    return x ? x.value.slice() : null;
  }

  // ---- summaries -----------------------------------------------------------------------------

  /** f_blocks counts every extra device's blocks too, as the kernel's sbi->total_blocks does */
  async statfs(): Promise<StatFs> {
    const blocks = this.sb.devices.reduce((n, d) => n + d.blocks, this.sb.blocks);
    return { blockSize: this.blockSize, blocks, files: this.sb.inos, nameMax: 255 };
  }

  async info(): Promise<ImageInfo> {
    const sb = this.sb;
    const dec = new TextDecoder();
    return {
      format: this.format,
      imageSize: this.imageSize,
      blockSize: sb.blockSize,
      blocks: sb.blocks,
      truncated: sb.blocks * sb.blockSize > this.imageSize,
      inodes: sb.inos,
      rootNid: sb.rootNid,
      metaBlkaddr: sb.metaBlkaddr,
      xattrBlkaddr: sb.xattrBlkaddr,
      buildTime: sb.buildTime,
      buildTimeNsec: sb.buildTimeNsec,
      uuid: uuidString(sb.uuid),
      volumeName: dec.decode(sb.volumeName).replace(/\0+$/, ''),
      featureCompat: sb.featureCompat,
      featureIncompat: sb.featureIncompat,
      features: featureNames(sb.featureCompat, sb.featureIncompat),
      checksum: { present: sb.computedChecksum !== null, value: sb.checksum, verified: sb.computedChecksum !== null },
      superblockSize: sb.sbSize,
      compression: sb.comprCfgs.length || sb.featureIncompat & EROFS_FEATURE_INCOMPAT_ZERO_PADDING
        ? { algorithms: sb.comprCfgs.map((c) => c.name), lz4MaxDistance: sb.lz4MaxDistance, lz4MaxPclusterBlks: sb.lz4MaxPclusterBlks }
        : null,
      devices: sb.devices.map((d) => ({
        id: d.id,
        offset: d.offset,
        tag: Array.from(d.tag, (b) => b.toString(16).padStart(2, '0')).join('').replace(/(00)+$/, ''),
        blocks: d.blocks,
        mappedBlkaddr: d.mappedBlkaddr,
        supplied: this.devices[d.id - 1] !== undefined,
      })),
    };
  }

  async inodeDetails(ino: number): Promise<Record<string, unknown>> {
    const i = await this.inode(ino);
    const bs = this.blockSize;
    const xs = await this.xattrs(ino);
    const dec = new TextDecoder();
    const out: Record<string, unknown> = {
      nid: i.nid,
      offset: i.offset,
      version: i.extended ? 'extended' : 'compact',
      inodeSize: i.isize,
      format: i.format,
      layout: i.layout,
      layoutName: layoutName(i.layout),
      type: i.type,
      mode: i.mode,
      nlink: i.nlink,
      size: i.size,
      uid: i.uid,
      gid: i.gid,
      mtime: i.mtime,
      mtimeNsec: i.mtimeNsec,
      i_u: i.iu,
      i_ino: i.ino,
      xattr: {
        icount: i.xattrIcount,
        size: i.xattrSize,
        offset: i.xattrSize ? i.offset + i.isize : null,
        shared: xs.filter((x) => x.sharedId >= 0).map((x) => ({ id: x.sharedId, offset: x.offset, name: dec.decode(x.name), valueSize: x.value.length })),
        inline: xs.filter((x) => x.sharedId < 0).map((x) => ({ offset: x.offset, name: dec.decode(x.name), valueSize: x.value.length })),
      },
    };
    if (i.type === 'chr' || i.type === 'blk' || i.type === 'fifo' || i.type === 'sock') {
      out.data = { kind: 'none' };
      return out;
    }
    if (i.dataError) {
      out.data = { kind: 'invalid', error: i.dataError.message };
      return out;
    }
    if (i.layout === EROFS_INODE_FLAT_PLAIN || i.layout === EROFS_INODE_FLAT_INLINE) {
      const nblocks = Math.ceil(i.size / bs);
      const plainBlocks = i.layout === EROFS_INODE_FLAT_INLINE ? Math.max(0, nblocks - 1) : nblocks;
      const blocks = plainBlocks > 0 ? (i.iu === EROFS_NULL_ADDR ? [{ logical: 0, length: plainBlocks * bs, hole: true }] : [{ logical: 0, length: plainBlocks * bs, blkaddr: i.iu, offset: i.iu * bs, blocks: plainBlocks }]) : [];
      const tail = i.size - plainBlocks * bs;
      out.data = { kind: 'flat', blocks, inline: i.layout === EROFS_INODE_FLAT_INLINE && tail > 0 ? { logical: plainBlocks * bs, offset: i.dataOffset, length: tail } : null };
    } else if (i.layout === EROFS_INODE_CHUNK_BASED) {
      const c = i.chunk!;
      const map = await this.chunkMap(i);
      const chunks = [];
      for (let ci = 0; ci < Math.min(c.count, DETAIL_LIMIT); ci++) {
        const loc = this.chunkAt(i, map, ci);
        const logical = ci * c.chunkSize;
        const length = Math.min(c.chunkSize, Math.ceil((i.size - logical) / bs) * bs);
        chunks.push(loc ? { index: ci, logical, length, device: loc.dev, blkaddr: loc.blkaddr, entryOffset: loc.at } : { index: ci, logical, length, hole: true, entryOffset: c.mapOffset + ci * c.entrySize });
      }
      out.data = { kind: 'chunks', chunkSize: c.chunkSize, chunkBits: c.chunkBits, indexes: c.indexes, mapOffset: c.mapOffset, count: c.count, chunks, truncated: c.count > DETAIL_LIMIT };
    } else {
      const z = await this.zinfo(i);
      const { extents, truncated } = zExtents(z, DETAIL_LIMIT);
      out.data = {
        kind: 'compressed',
        headerOffset: z.headerOffset,
        advise: z.advise,
        algorithms: z.algorithms.map((a) => COMPRESSION_NAMES[a] ?? a),
        lclusterBits: z.lclusterBits,
        lclusters: z.lclusters,
        indexOffset: z.indexOffset,
        compacted4bInitial: z.compacted4bInitial,
        compacted2b: z.compacted2b,
        compressedBlocks: i.iu,
        inlinePcluster: z.tailHeadLcn >= 0 ? { offset: z.idataOffset, size: z.idataSize, headLcluster: z.tailHeadLcn } : null,
        extents: extents.map((e) => ({
          logical: e.la,
          length: e.end - e.la,
          headType: LCLUSTER_TYPE_NAMES[e.headType],
          algorithm: e.algorithm === 'shifted' ? 'none (shifted)' : COMPRESSION_NAMES[e.algorithm] ?? e.algorithm,
          pclusterBlkaddr: e.inline ? null : e.pa / bs,
          pclusterOffset: e.pa,
          compressedSize: e.plen,
          inline: e.inline,
        })),
        truncated,
      };
    }
    return out;
  }

  /** the superblock's fields with absolute offsets */
  describeSuperblock(): DescribedField[] {
    const b = new Uint8Array(EROFS_SUPER_OFFSET + EROFS_SUPER_SIZE);
    b.set(this.sb.raw.subarray(0, EROFS_SUPER_SIZE), EROFS_SUPER_OFFSET);
    return describeStruct(erofs_super_block, b, EROFS_SUPER_OFFSET, 0);
  }

  /** the inode core's fields with absolute offsets */
  async describeInode(nid: number): Promise<DescribedField[]> {
    const i = await this.inode(nid);
    const b = await this.meta(i.offset, i.isize, 'erofs.inode');
    return describeStruct(i.extended ? erofs_inode_extended : erofs_inode_compact, b, 0, i.offset);
  }

  /** every fixed structure of an inode (core, xattr header, compression map header) with absolute offsets */
  async describeInodeStructs(nid: number): Promise<{ struct: string; offset: number; fields: DescribedField[] }[]> {
    const i = await this.inode(nid);
    const out = [{ struct: i.extended ? erofs_inode_extended.name : erofs_inode_compact.name, offset: i.offset, fields: await this.describeInode(nid) }];
    if (i.xattrSize) {
      const at = i.offset + i.isize;
      out.push({ struct: erofs_xattr_ibody_header.name, offset: at, fields: describeStruct(erofs_xattr_ibody_header, await this.meta(at, erofs_xattr_ibody_header.size, erofs_xattr_ibody_header.name), 0, at) });
    }
    if (isCompressedLayout(i.layout)) {
      const h = zHeaderOffset(this.sb, i);
      if (h !== null) out.push({ struct: z_erofs_map_header.name, offset: h, fields: describeStruct(z_erofs_map_header, await this.meta(h, z_erofs_map_header.size, z_erofs_map_header.name), 0, h) });
    }
    return out;
  }

  /** the device table slots with absolute offsets */
  async describeDevices(): Promise<DescribedField[][]> {
    const out: DescribedField[][] = [];
    for (const d of this.sb.devices) out.push(describeStruct(erofs_deviceslot, await this.meta(d.offset, EROFS_DEVT_SLOT_SIZE, erofs_deviceslot.name), 0, d.offset));
    return out;
  }

  async close(): Promise<void> {
    await this.source.close();
    for (const d of this.devices) await d?.close();
  }
}

function cached(src: ByteSource, opts: ErofsOpenOptions): CachedSource {
  return src instanceof CachedSource ? src : new CachedSource(src, opts.cacheBlockSize ?? 64 * 1024, opts.cacheBytes ?? 32 * 1024 * 1024);
}

/** Open an EROFS image. `opts.devices` supplies the extra devices named by the device table. */
export async function openErofs(src: ByteSource, opts: ErofsOpenOptions = {}): Promise<ErofsFs> {
  const source = cached(src, opts);
  const size = source.size;
  let head = await source.read(0, Math.min(size, 4096));
  let sb = parseSuperblock(head, size);
  if ('needBytes' in sb) {
    head = await source.read(0, sb.needBytes);
    sb = parseSuperblock(head, size);
    if ('needBytes' in sb) throw new FormatError('erofs.superblock', EROFS_SUPER_OFFSET, 'superblock area is unreadable');
  }
  if (sb.extraDevices) {
    const start = sb.devtSlotoff * EROFS_DEVT_SLOT_SIZE;
    sb.devices = parseDeviceTable(sb, await source.read(start, sb.extraDevices * EROFS_DEVT_SLOT_SIZE));
  }
  const devices = (opts.devices ?? []).slice(0, sb.extraDevices).map((d) => cached(d, opts));
  const fs = new ErofsFs(sb, source, source.inner, devices, opts.format ?? 'erofs');
  const root = await fs.inode(sb.rootNid).catch((e: unknown) => {
    if (e instanceof NotFoundError) throw new FormatError('erofs.superblock', EROFS_SUPER_OFFSET + 14, `root nid ${sb.rootNid} is past the image end`);
    throw e;
  });
  if (!(root.type === 'dir')) fail('erofs.superblock', EROFS_SUPER_OFFSET + 14, `root nid ${sb.rootNid} is a ${root.type}, not a directory`);
  return fs;
}

/** Standalone forms of the structure-view helpers. */
export function describeSuperblock(fs: ErofsFs): DescribedField[] {
  return fs.describeSuperblock();
}
export function describeInode(fs: ErofsFs, nid: number): Promise<DescribedField[]> {
  return fs.describeInode(nid);
}
