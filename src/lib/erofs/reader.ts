/**
 * EROFS reader (specs: ../shared/docs/erofs-composefs-format.md §2, erofs-modern-format.md) for
 * every image erofs-utils 1.5 to 1.9.3 writes: compact/extended inodes (epoch-relative mtimes,
 * NLINK_1, 48-bit addresses), flat plain/inline (holes), chunk-based (block map, chunk indexes,
 * extra devices, holes), compressed with LZ4, MicroLZMA, DEFLATE and zstd (full and compact
 * indexes of any lcluster size, encoded extents, 0padding, big pclusters, ztailpacking, fragments
 * in the packed inode, dedupe, interlaced pclusters), compressed directories, the metabox,
 * multi-block directories (DOT_OMITTED), inline and shared xattrs with long name prefixes.
 *
 * Metadata goes through a bounded block cache; file data is read in large ranges (straight from the
 * underlying source for big ones) so extracting a whole image does not churn the cache.
 */
import { fail, FormatError, IoError, NotFoundError, UnsupportedError } from '../errors.ts';
import { decodePcluster, runPlan, type DataPiece, type DecodeAlgorithm } from '../fs/plan.ts';
import type { Attr, DirEntry, FormatId, FsNow, ImageInfo, ReadOnlyFs, StatFs } from '../fs/types.ts';
import { bytesEqual } from '../fs/types.ts';
import { hex } from '../bytes.ts';
import { nameText } from '../app/names.ts';
import { CachedSource } from '../io/cache.ts';
import { Lru } from '../lru.ts';
import { readInto, type ByteSource } from '../io/source.ts';
import { describeStruct, type DescribedField } from '../struct.ts';
import { compareName, findInBlock, isDotOrDotDot, nameAt, parseDirBlock, TYPE_OF_FT, type DirBlock } from './dir.ts';
import { isCompressedLayout, layoutName, parseInode, type Inode } from './inode.ts';
import {
  COMPRESSION_NAMES,
  EROFS_DEVT_SLOT_SIZE,
  EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX,
  EROFS_FEATURE_COMPAT_SHARED_EA_IN_METABOX,
  EROFS_FEATURE_INCOMPAT_FRAGMENTS,
  EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES,
  EROFS_FEATURE_INCOMPAT_ZERO_PADDING,
  EROFS_INODE_CHUNK_BASED,
  EROFS_INODE_FLAT_INLINE,
  EROFS_INODE_FLAT_PLAIN,
  EROFS_NULL_ADDR,
  EROFS_SUPER_OFFSET,
  EROFS_SUPER_SIZE,
  LCLUSTER_TYPE_NAMES,
  Z_EROFS_COMPRESSION_DEFLATE,
  Z_EROFS_COMPRESSION_LZ4,
  Z_EROFS_COMPRESSION_LZMA,
  Z_EROFS_COMPRESSION_ZSTD,
  erofs_blockmap_entry,
  erofs_deviceslot,
  erofs_inode_chunk_index,
  erofs_inode_compact,
  erofs_inode_extended,
  erofs_super_block,
  erofs_super_block_ext,
  erofs_xattr_entry,
  erofs_xattr_ibody_header,
  z_erofs_map_header,
} from './structs.ts';
import { featureNames, featureNames193, isMetaboxNid, METABOX_NID_BASE, nidLabel, parseDeviceTable, parseSuperblock, uuidString, type Superblock } from './superblock.ts';
import { entryHeader, fullName, parseIbodyHeader, parseInlineEntries, parseLongPrefixes, type LongPrefix, type Xattr } from './xattr.ts';
import { loadZInfo, zExtents, zHeaderOffset, zMap, type ZAlgorithm, type ZInfo } from './zmap.ts';

export interface ErofsOpenOptions {
  /** extra devices (blobs) in device-table order: devices[0] is device id 1 */
  devices?: ByteSource[];
  /** the format id to report (composefs images are EROFS too) */
  format?: FormatId;
  /** metadata cache block size and budget (when `src` is not already a CachedSource) */
  cacheBlockSize?: number;
  cacheBytes?: number;
  /**
   * dataPlan returns 'decode' pieces (MicroLZMA, DEFLATE, zstd pclusters) for the caller to run
   * (extract's worker threads decode them side by side). false: such pclusters are decoded while
   * the plan is made and carried as bytes (on the thread that makes plans).
   */
  planDecodePieces?: boolean;
}

/**
 * Offsets at and above this are bytes of the metabox inode's decoded data (METABOX images keep
 * inodes there): metadata reads take an offset in either space through one path. A multiple of
 * every block size, so block-boundary rules hold in the metabox as on the device.
 */
const METABOX_OFFSET = 2 ** 52;
/** the metabox is held in memory whole; past this it is refused as unsupported */
const METABOX_MAX = 256 << 20;
/** an offset as shown to people: bytes of the metabox as metabox byte offsets */
function shownOffset(off: number): number {
  return off >= METABOX_OFFSET ? off - METABOX_OFFSET : off;
}
/** the decoder each algorithm id's 'decode' pieces name (LZ4 has pieces of its own) */
const DECODE_ALGORITHMS: Record<number, DecodeAlgorithm> = {
  [Z_EROFS_COMPRESSION_LZMA]: 'lzma',
  [Z_EROFS_COMPRESSION_DEFLATE]: 'deflate',
  [Z_EROFS_COMPRESSION_ZSTD]: 'zstd',
};

/** reads at least this long skip the block cache */
const BIG_READ = 64 * 1024;
/** one extent's decompressed bytes held at once; mkfs 1.5 extents are < 1 MiB, later ones ≤ 4 MiB */
const MAX_EXTENT_DECODE = 32 << 20;
/** decoded packed-inode extents kept for fragments (see ErofsFs.packedExtents) */
const PACKED_EXTENT_CACHE_BYTES = 16 << 20;
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
interface ZStep { la: number; pa: number; plen: number; inline: boolean; algorithm: ZAlgorithm; partial: boolean; length: number; skip: number; outPos: number; at: number }

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
    // decoded extents are held whole; fragments, holes and stored bytes are not decoded here
    if (typeof e.algorithm === 'number' && !(length <= MAX_EXTENT_DECODE)) fail('erofs.lcluster_index', e.indexAt, `nid ${i.nid}: extent of ${length} bytes at ${e.la} is larger than ${MAX_EXTENT_DECODE}`);
    const skip = e.la < offset ? offset - e.la : 0;
    steps.push({ la: e.la, pa: e.pa, plen: e.plen, inline: e.inline, algorithm: e.algorithm, partial: e.partial, length, skip, outPos: e.la + skip - offset, at: e.indexAt });
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
  /** metabox nids (METABOX_NID_BASE + slot) above this cannot hold an inode in the metabox */
  private maxMetaboxNid = -1;
  /** METABOX: the metabox inode's decoded data, where inodes with bit 63 in their nid live */
  private metabox: Uint8Array | null = null;
  /** XATTR_PREFIXES: the long name prefixes */
  private prefixes: LongPrefix[] = [];
  private readonly planDecodePieces: boolean;
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
  /**
   * Which directory each stored directory block read so far belongs to (byte position -> nid).
   * mkfs.erofs gives every directory blocks of its own; in a damaged image many directories can
   * point at one block run, and a walk would list it once per directory (20,000 directories over
   * a 20,000-entry run: 400 million entries from a 1 MB image). One entry per block read.
   */
  private readonly dirBlockOwner = new Map<number, number>();
  /**
   * Entries the image can list: a dirent is 12 bytes and a name at least 1 (13 bytes of
   * directory data each), and compressed directory data expands at most 255 times (LZ4's bound;
   * flat directories are held to their own blocks by dirBlockOwner).
   */
  readonly maxEntries: number;
  private readonly zinfos = new Lru<number, ZInfo>(MAP_CACHE_BYTES);
  private readonly chunkMaps = new Lru<number, Uint8Array>(MAP_CACHE_BYTES);
  /**
   * Decoded extents of the packed inode, whole, by pcluster: the fragments of many files lie in
   * one pcluster, and each fragment's plan decoded the pcluster's prefix up to itself again (the
   * all-fragments LZMA fixture: ~64 KiB of LZMA per small file, ~6 s to extract).
   */
  private readonly packedExtents = new Lru<string, Uint8Array>(PACKED_EXTENT_CACHE_BYTES);
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
    planDecodePieces = false,
  ) {
    this.planDecodePieces = planDecodePieces;
    this.format = format;
    this.rootIno = sb.rootNid;
    this.blockSize = sb.blockSize;
    this.imageSize = source.size;
    this.metaBase = sb.metaBlkaddr * sb.blockSize;
    this.maxNid = Math.max(-1, Math.floor((this.imageSize - this.metaBase - 32) / 32));
    this.maxEntries = Math.ceil(this.imageSize / 13) * 255 + 1024;
  }

  // ---- byte access ---------------------------------------------------------------------------

  /** bounds-checked metadata read (a view into the cache: do not modify) */
  private meta(off: number, len: number, structure: string): Promise<Uint8Array> {
    this.checkMeta(off, len, structure);
    if (off >= METABOX_OFFSET) return Promise.resolve(this.metabox!.subarray(off - METABOX_OFFSET, off - METABOX_OFFSET + len));
    return this.source.read(off, len);
  }

  /**
   * meta without waiting, when the cache can answer at once (see CachedSource.readNow), else null;
   * the range is then in `missed`
   */
  private metaNow(off: number, len: number, structure: string): Uint8Array | null {
    this.checkMeta(off, len, structure);
    if (off >= METABOX_OFFSET) return this.metabox!.subarray(off - METABOX_OFFSET, off - METABOX_OFFSET + len);
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
    if (off >= METABOX_OFFSET) return this.metabox!.subarray(off - METABOX_OFFSET, off - METABOX_OFFSET + len);
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
    if (off >= METABOX_OFFSET) {
      const n = this.metabox?.length ?? 0;
      if (!(Number.isSafeInteger(off) && len >= 0 && off + len <= METABOX_OFFSET + n)) fail(structure, off - METABOX_OFFSET, `${len} bytes at metabox byte ${off - METABOX_OFFSET} run past the ${n}-byte metabox`);
      return;
    }
    if (!(Number.isSafeInteger(off) && off >= 0 && len >= 0 && off + len <= this.imageSize)) fail(structure, off, `${len} bytes run past the ${this.imageSize}-byte image`);
  }

  /** end of the metadata space an offset lies in */
  private metaEnd(off: number): number {
    return off >= METABOX_OFFSET ? METABOX_OFFSET + (this.metabox?.length ?? 0) : this.imageSize;
  }

  /** stored metadata bytes as a plan piece: a copy from the image, or bytes of the metabox */
  private metaPiece(off: number, len: number, structure: string, at: number): DataPiece {
    if (off >= METABOX_OFFSET) {
      this.checkMeta(off, len, structure);
      return { kind: 'bytes', bytes: this.metabox!.subarray(off - METABOX_OFFSET, off - METABOX_OFFSET + len) };
    }
    return this.copyPiece(0, off, len, structure, at);
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
    return isMetaboxNid(nid) ? METABOX_OFFSET + (nid - METABOX_NID_BASE) * 32 : this.metaBase + nid * 32;
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
    if (!Number.isSafeInteger(nid) || nid < 0 || (isMetaboxNid(nid) ? nid > this.maxMetaboxNid : nid > this.maxNid)) throw new NotFoundError(`inode ${nidLabel(nid)} (nids end at ${this.maxNid}${this.metabox ? `, metabox nids at ${nidLabel(this.maxMetaboxNid)}` : ''})`);
    const off = this.inodeOffset(nid);
    const end = this.metaEnd(off);
    const len = Math.min(64, end - off);
    const b = keep ? this.metaNow(off, len, 'erofs.inode') : this.metaDirect(off, len, 'erofs.inode');
    if (!b) return null;
    const inode = parseInode(this.sb, this.imageSize, nid, off, b, end);
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
    if (i.layout === EROFS_INODE_FLAT_PLAIN) return i.hole ? -1 : i.startBlk * bs + pos;
    if (i.layout === EROFS_INODE_FLAT_INLINE) {
      const plainEnd = this.tailStart(i);
      return pos < plainEnd ? i.startBlk * bs + pos : i.dataOffset + (pos - plainEnd);
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
        if (i.hole) out.fill(0);
        else await this.devReadInto(0, i.startBlk * bs + offset, out, 'erofs.inode', i.offset);
        return out;
      }
      const plainEnd = this.tailStart(i);
      const head = Math.max(0, Math.min(len, plainEnd - offset));
      if (head > 0) await this.devReadInto(0, i.startBlk * bs + offset, out.subarray(0, head), 'erofs.inode', i.offset);
      if (head < len) out.set(await this.meta(i.dataOffset + (offset + head - plainEnd), len - head, 'erofs.inode'), head);
      return out;
    }
    switch (i.layout) {
      case EROFS_INODE_FLAT_PLAIN: {
        if (i.hole) return new Uint8Array(len);
        const b = await this.devRead(0, i.startBlk * bs + offset, len, 'erofs.inode', i.offset);
        return own ? b.slice() : b;
      }
      case EROFS_INODE_FLAT_INLINE: {
        const plainEnd = this.tailStart(i);
        const end = offset + len;
        if (end <= plainEnd || offset >= plainEnd) {
          const b = end <= plainEnd
            ? await this.devRead(0, i.startBlk * bs + offset, len, 'erofs.inode', i.offset)
            : await this.meta(i.dataOffset + (offset - plainEnd), len, 'erofs.inode');
          return own ? b.slice() : b;
        }
        const out = new Uint8Array(len);
        out.set(await this.devRead(0, i.startBlk * bs + offset, plainEnd - offset, 'erofs.inode', i.offset), 0);
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
      const blkaddr = view.getUint32(rel + erofs_blockmap_entry.f.blkaddr.offset, true);
      return blkaddr === EROFS_NULL_ADDR ? null : { ...this.mapDevice(0, blkaddr), at };
    }
    const lo = view.getUint32(rel + erofs_inode_chunk_index.f.blkaddr.offset, true);
    // 48-bit chunk indexes keep bits 32-47 where 1.5 had "advise"; a hole is all ones under the mask
    const hi = c.wide ? view.getUint16(rel + erofs_inode_chunk_index.f.advise.offset, true) : 0;
    if (lo === EROFS_NULL_ADDR && (!c.wide || hi === 0xffff)) return null;
    const blkaddr = lo + hi * 0x1_0000_0000;
    const dev = view.getUint16(rel + erofs_inode_chunk_index.f.device_id.offset, true) & this.sb.deviceIdMask;
    if (!(dev <= this.sb.extraDevices)) fail(erofs_inode_chunk_index.name, at + erofs_inode_chunk_index.f.device_id.offset, `device_id ${dev} but the image has ${this.sb.extraDevices} extra devices`);
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
    // a walk's index is read where it lies (see metaDirect): mkfs.erofs 1.5 puts compressed
    // inodes among the data, so cache blocks around them are mostly compressed data
    const z = loadZInfo(this.sb, i, (off, len, structure) => (keep ? this.metaNow(off, len, structure) : this.metaDirect(off, len, structure)));
    if (!z) return null;
    if (keep) {
      z.index = z.index.slice();
      this.zinfos.set(i.nid, z, z.index.length + (z.extPa ? z.extPa.byteLength : 0) + 256);
    }
    return z;
  }

  /**
   * The plan's stored input is read first, physically contiguous pieces together, into a reused
   * buffer; the plan then runs over those bytes, straight into `out`.
   */
  private async readCompressed(i: Inode, offset: number, len: number, into?: Uint8Array): Promise<Uint8Array> {
    const plan = await this.settle(() => this.compressedPlanNow(i, offset, len, true, 0));
    // the pieces cover every byte of the range, so a reused buffer needs no clearing
    const out = into ?? new Uint8Array(len);
    const stored: { pos: number; len: number }[] = [];
    for (const p of plan) {
      if (p.kind === 'copy') stored.push({ pos: p.pos, len: p.len });
      else if ((p.kind === 'lz4' || p.kind === 'decode') && !p.bytes) stored.push({ pos: p.pos, len: p.plen });
    }
    stored.sort((x, y) => x.pos - y.pos);
    // overlapping ranges (a deduplicated pcluster, one block read twice) are read once
    const merged: { pos: number; len: number }[] = [];
    for (let k = 0; k < stored.length; ) {
      const first = stored[k]!;
      let stop = first.pos + first.len;
      let j = k + 1;
      while (j < stored.length && stored[j]!.pos <= stop && Math.max(stop, stored[j]!.pos + stored[j]!.len) - first.pos <= MAX_RUN) stop = Math.max(stop, stored[j]!.pos + stored[j++]!.len);
      merged.push({ pos: first.pos, len: stop - first.pos });
      k = j;
    }
    let need = 0;
    for (const r of merged) need += r.len;
    if (!(need <= this.imageSize)) fail('erofs.lcluster_index', i.offset, `nid ${i.nid}: pclusters of ${need} bytes for one read exceed the image`);
    const input = this.takeScratch(need);
    const runs: { pos: number; bytes: Uint8Array }[] = [];
    try {
      for (let k = 0, at = 0; k < merged.length; k++) {
        const first = merged[k]!;
        const bytes = input.subarray(at, at + first.len);
        // big runs pass the block cache (CachedSource.readInto), small ones may be cached
        await readInto(this.source, first.pos, bytes);
        runs.push({ pos: first.pos, bytes });
        at += bytes.length;
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

  /** the packed inode (fragments live in its data), or null when it is not at hand yet */
  private packedInodeNow(): Inode | null {
    const sb = this.sb;
    if (!(sb.featureIncompat & EROFS_FEATURE_INCOMPAT_FRAGMENTS && sb.packedNid)) fail('erofs.z_map_header', -1, 'a fragment, but the image has no packed inode');
    const p = this.inodeNow(sb.packedNid);
    if (p && p.type !== 'reg') fail('erofs.superblock', EROFS_SUPER_OFFSET + erofs_super_block.f.packed_nid.offset, `packed inode ${sb.packedNid} is a ${p.type}`);
    if (p?.dataError) throw p.dataError;
    return p;
  }

  /** Pieces of a compressed inode's [offset, offset+len); null while metadata must be fetched (see settle). */
  private compressedPlanNow(i: Inode, offset: number, len: number, keep: boolean, depth: number): DataPiece[] | null {
    const z = this.zinfoNow(i, keep);
    return z && this.compressedPlan(i, z, offset, len, keep, depth);
  }

  /**
   * Pieces of a compressed inode's [offset, offset+len), first to last, each pcluster checked
   * against the image and its algorithm. A fragment's bytes are the packed inode's pieces for
   * them (`depth` 1: the packed inode holds no fragments of its own). Null as compressedPlanNow.
   */
  private compressedPlan(i: Inode, z: ZInfo, offset: number, len: number, keep: boolean, depth: number): DataPiece[] | null {
    const zeroPadding = (this.sb.featureIncompat & EROFS_FEATURE_INCOMPAT_ZERO_PADDING) !== 0;
    const bs = this.blockSize;
    const plan: DataPiece[] = [];
    const steps = zSteps(i, z, offset, len);
    for (let k = steps.length - 1; k >= 0; k--) {
      const s = steps[k]!;
      // a copy: a walk's index lies in a reused buffer
      const inline = s.inline ? z.index.slice(s.pa - z.indexOffset, s.pa - z.indexOffset + s.plen) : null;
      const take = s.length - s.skip;
      if (take === 0) continue;
      switch (s.algorithm) {
        case 'zero':
          plan.push({ kind: 'zero', len: take });
          continue;
        case 'fragment': {
          if (!(depth === 0 && i.nid !== this.sb.packedNid)) fail('erofs.z_map_header', z.headerOffset, `nid ${i.nid}: the packed inode has a fragment of its own`);
          const packed = this.packedInodeNow();
          if (!packed) return null;
          if (packed.layout === EROFS_INODE_CHUNK_BASED) throw new UnsupportedError('erofs fragments', `nid ${i.nid}: a chunk-based packed inode`);
          const from = s.pa + s.skip;
          if (!(from + take <= packed.size)) fail('erofs.z_map_header', z.headerOffset, `nid ${i.nid}: fragment of ${s.length} bytes at ${s.pa} runs past the ${packed.size}-byte packed inode`);
          // the packed inode's map is kept (every fragment reads it), never a view of the walk's window
          const sub = this.planOfNow(packed, from, take, true, depth + 1);
          if (!sub) return null;
          for (const p of sub) plan.push(p);
          continue;
        }
        case 'shifted':
          if (!(s.length <= s.plen)) fail('erofs.pcluster', s.pa, `nid ${i.nid}: uncompressed extent of ${s.length} bytes does not fit its ${s.plen}-byte pcluster`);
          if (inline) plan.push({ kind: 'bytes', bytes: inline.subarray(s.skip, s.length) });
          else plan.push(this.copyPiece(0, s.pa + s.skip, take, 'erofs.lcluster_index', s.at));
          continue;
        case 'interlaced': {
          // one block, rotated so that each byte sits at its file offset's place in the block
          if (!(s.plen <= bs && s.length <= bs)) fail('erofs.pcluster', s.pa, `nid ${i.nid}: interlaced extent of ${s.length} bytes in a ${s.plen}-byte pcluster (one block at most)`);
          const r = (s.la + s.skip) % bs;
          const first = Math.min(bs - r, take);
          const parts: [number, number][] = first < take ? [[r, first], [0, take - first]] : [[r, first]];
          for (const [from, n] of parts) {
            if (!(from + n <= s.plen)) fail('erofs.pcluster', s.pa, `nid ${i.nid}: interlaced bytes at ${from} (+${n}) run past the ${s.plen}-byte pcluster`);
            if (inline) plan.push({ kind: 'bytes', bytes: inline.subarray(from, from + n) });
            else plan.push(this.copyPiece(0, s.pa + from, n, 'erofs.lcluster_index', s.at));
          }
          continue;
        }
      }
      if (!inline) this.checkPrimary(s.pa, s.plen, 'erofs.lcluster_index', s.at);
      if (depth > 0 && !s.partial) {
        // the packed inode, planned for a fragment: its extent decoded whole, once for all the fragments in it
        const whole = this.packedExtentNow(i, z, s, inline, zeroPadding);
        if (!whole) return null;
        plan.push({ kind: 'bytes', bytes: whole.subarray(s.skip, s.skip + take) });
        continue;
      }
      if (s.algorithm === Z_EROFS_COMPRESSION_LZ4) {
        plan.push({ kind: 'lz4', source: inline ? null : this.raw, pos: s.pa, plen: s.plen, bytes: inline, length: s.length, skip: s.skip, take, zeroPadding, structure: 'erofs.pcluster', at: s.pa });
        continue;
      }
      const { algorithm, dictSize } = this.codingOf(i, s.algorithm);
      plan.push({ kind: 'decode', algorithm, source: inline ? null : this.raw, pos: s.pa, plen: s.plen, bytes: inline, skip: s.skip, take, zeroPadding, dictSize, structure: 'erofs.pcluster', at: s.pa });
    }
    return plan;
  }

  /**
   * Pieces for [offset, offset+len) of any data-carrying inode (clipped by the caller), with
   * 'decode' pieces left for the caller to run; null while metadata must be fetched.
   */
  private planOfNow(i: Inode, offset: number, len: number, keep: boolean, depth: number): DataPiece[] | null {
    if (i.dataError) throw i.dataError;
    if (len === 0) return [];
    const bs = this.blockSize;
    switch (i.layout) {
      case EROFS_INODE_FLAT_PLAIN:
        return [i.hole ? { kind: 'zero', len } : this.copyPiece(0, i.startBlk * bs + offset, len, 'erofs.inode', i.offset)];
      case EROFS_INODE_FLAT_INLINE: {
        const plainEnd = this.tailStart(i);
        const head = Math.max(0, Math.min(len, plainEnd - offset));
        const plan: DataPiece[] = [];
        if (head > 0) plan.push(this.copyPiece(0, i.startBlk * bs + offset, head, 'erofs.inode', i.offset));
        // the tail is read where it lies, after the inode, not carried in the plan: extract's
        // walk would copy tens of MB of tails into fresh job memory, a page fault per 4 KiB
        if (head < len) plan.push(this.metaPiece(i.dataOffset + (offset + head - plainEnd), len - head, 'erofs.inode', i.offset));
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
      default:
        if (!isCompressedLayout(i.layout)) throw new FormatError('erofs.inode', i.offset, `nid ${i.nid}: unknown layout ${i.layout}`);
        return this.compressedPlanNow(i, offset, len, keep, depth);
    }
  }

  /**
   * 'decode' pieces run now and carried as bytes (see ErofsOpenOptions.planDecodePieces); null
   * while their stored bytes must be fetched.
   */
  private decodedNow(plan: DataPiece[], keep: boolean): DataPiece[] | null {
    if (this.planDecodePieces || !plan.some((p) => p.kind === 'decode')) return plan;
    const out: DataPiece[] = [];
    for (const p of plan) {
      if (p.kind !== 'decode') {
        out.push(p);
        continue;
      }
      const stored = p.bytes ?? (keep ? this.metaNow(p.pos, p.plen, p.structure) : this.metaDirect(p.pos, p.plen, p.structure));
      if (!stored) return null;
      const dest = new Uint8Array(p.skip + p.take);
      decodePcluster(p, stored, 0, stored.length, dest);
      out.push({ kind: 'bytes', bytes: dest.subarray(p.skip) });
    }
    return out;
  }

  /**
   * A compressed extent of the packed inode decoded whole (to its true end, which a mapping knows
   * only once it reaches the next extent's head), through packedExtents; null while its stored
   * bytes must be fetched.
   */
  private packedExtentNow(i: Inode, z: ZInfo, s: ZStep, inline: Uint8Array | null, zeroPadding: boolean): Uint8Array | null {
    let end = s.la + s.length;
    for (let guard = 0, at = zMap(z, end - 1); !at.fullMapped && at.end < z.size; guard++) {
      if (!(guard <= z.lclusters)) fail('erofs.lcluster_index', z.indexOffset, `nid ${i.nid}: extent at ${s.la} does not end`);
      const next = zMap(z, at.end);
      if (next.la !== s.la) break;
      at = next;
      end = next.end;
    }
    end = Math.max(s.la + s.length, Math.min(end, z.size));
    const length = end - s.la;
    if (!(length <= MAX_EXTENT_DECODE)) fail('erofs.lcluster_index', s.at, `nid ${i.nid}: extent of ${length} bytes at ${s.la} is larger than ${MAX_EXTENT_DECODE}`);
    const key = `${s.pa}:${s.plen}:${s.la}:${length}`;
    const hit = this.packedExtents.get(key);
    if (hit) return hit;
    const coding = s.algorithm === Z_EROFS_COMPRESSION_LZ4 ? { algorithm: 'lz4' as const, dictSize: 0 } : this.codingOf(i, s.algorithm);
    const stored = inline ?? this.metaNow(s.pa, s.plen, 'erofs.pcluster');
    if (!stored) return null;
    const out = new Uint8Array(length);
    decodePcluster({ ...coding, zeroPadding, structure: 'erofs.pcluster', at: s.pa }, stored, 0, stored.length, out);
    this.packedExtents.set(key, out, out.length);
    return out;
  }

  /** the decoder a pcluster of algorithm id `algorithm` (not LZ4) needs, and LZMA's dictionary size */
  private codingOf(i: Inode, algorithm: ZAlgorithm): { algorithm: DecodeAlgorithm; dictSize: number } {
    const name = typeof algorithm === 'number' ? DECODE_ALGORITHMS[algorithm] : undefined;
    if (!name) throw new UnsupportedError('erofs compression', `nid ${i.nid}: ${typeof algorithm === 'number' ? COMPRESSION_NAMES[algorithm] ?? `algorithm ${algorithm}` : algorithm} pclusters are not supported`);
    const dictSize = name === 'lzma' ? this.sb.algorithmConfig.lzmaDictSize : 0;
    if (name === 'lzma' && !dictSize) fail('erofs.superblock', EROFS_SUPER_OFFSET, `nid ${i.nid}: an LZMA pcluster, but the image has no LZMA config record`);
    return { algorithm: name, dictSize };
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
    const plan = this.planOfNow(i, offset, len, keep, 0);
    return plan && this.decodedNow(plan, keep);
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
    if (!(i.size <= PATH_MAX)) fail('erofs.inode', i.offset + erofs_inode_compact.f.i_size.offset, `symlink target of ${i.size} bytes is longer than ${PATH_MAX}`);
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
    const owner = this.dirBlockOwner.get(at);
    if (owner === undefined) this.dirBlockOwner.set(at, i.nid);
    else if (owner !== i.nid) fail('erofs.dirent', at, `directory block ${blk} of nid ${i.nid} is also a block of directory nid ${owner}: directories share their entries`);
    // names are cut from the block before the walk reads the next one
    const now = keep ? this.metaNow(at, len, 'erofs.dirent') : this.metaDirect(at, len, 'erofs.dirent');
    if (!now) return null;
    // a kept block owns a copy: names are read from it, and it must not pin a whole cache block
    return keep ? this.keepDirBlock(i, blk, at, now.slice()) : parseDirBlock(now, at, this.maxNid, this.maxMetaboxNid);
  }

  private keepDirBlock(i: Inode, blk: number, at: number, bytes: Uint8Array): DirBlock {
    const b = parseDirBlock(bytes, at, this.maxNid, this.maxMetaboxNid);
    this.dirBlocks.set(`${i.nid}:${blk}`, b);
    return b;
  }

  async lookup(parent: number, name: Uint8Array): Promise<Attr | null> {
    const i = await this.dirInode(parent);
    // DOT_OMITTED: "." is not stored, but the directory still has it
    if (i.dotOmitted && name.length === 1 && name[0] === 0x2e) return this.attrOf(i);
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
      // the shared area is on the device, or in the metabox with compat SHARED_EA_IN_METABOX
      const base = (this.sb.featureCompat & EROFS_FEATURE_COMPAT_SHARED_EA_IN_METABOX && this.metabox ? METABOX_OFFSET : 0) + this.sb.xattrBlkaddr * this.blockSize;
      const pfx = this.prefixes;
      for (const id of hdr.sharedIds) {
        const off = base + id * 4;
        const h = this.metaNow(off, erofs_xattr_entry.size, erofs_xattr_entry.name);
        const e = h && entryHeader(h, 0, off, pfx);
        const body = e && this.metaNow(off + erofs_xattr_entry.size, e.nameLen + e.valueSize, erofs_xattr_entry.name);
        if (!e || !body) return null;
        list.push({ name: fullName(e.nameIndex, body.subarray(0, e.nameLen), pfx), nameIndex: e.nameIndex, value: body.slice(e.nameLen), sharedId: id, offset: off });
      }
      for (const x of parseInlineEntries(area, hdr.inlineStart, at, pfx)) list.push(x);
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
      rootNid: isMetaboxNid(sb.rootNid) ? nidLabel(sb.rootNid) : sb.rootNid,
      metaBlkaddr: sb.metaBlkaddr,
      xattrBlkaddr: sb.xattrBlkaddr,
      buildTime: sb.buildTime,
      buildTimeNsec: sb.buildTimeNsec,
      epoch: sb.buildTime,
      fixedNsec: sb.buildTimeNsec,
      mkfsTime: sb.mkfsTime,
      packedNid: sb.featureIncompat & EROFS_FEATURE_INCOMPAT_FRAGMENTS && sb.packedNid ? sb.packedNid : null,
      metaboxNid: sb.metaboxNid >= 0 ? sb.metaboxNid : null,
      metaboxSize: this.metabox ? this.metabox.length : null,
      xattrPrefixes: this.prefixes.map((p) => ({ baseIndex: p.baseIndex, prefix: dec.decode(p.bytes) })),
      xattrPrefixStart: sb.xattrPrefixStart,
      xattrFilterReserved: sb.xattrFilterReserved,
      ishareXattrPrefixId: sb.ishareXattrPrefixId,
      uuid: uuidString(sb.uuid),
      volumeName: dec.decode(sb.volumeName).replace(/\0+$/, ''),
      featureCompat: sb.featureCompat,
      featureIncompat: sb.featureIncompat,
      features: featureNames(sb.featureCompat, sb.featureIncompat),
      featureNames193: featureNames193(sb.featureCompat, sb.featureIncompat),
      checksum: { present: sb.computedChecksum !== null, value: sb.checksum, verified: sb.computedChecksum !== null },
      superblockSize: sb.sbSize,
      compression: sb.comprCfgs.length || sb.featureIncompat & EROFS_FEATURE_INCOMPAT_ZERO_PADDING
        ? {
          algorithms: sb.comprCfgs.length ? sb.comprCfgs.map((c) => c.name) : ['lz4'],
          lz4MaxDistance: sb.lz4MaxDistance,
          lz4MaxPclusterBlks: sb.lz4MaxPclusterBlks,
          ...(sb.algorithmConfig.lzmaDictSize ? { lzmaDictSize: sb.algorithmConfig.lzmaDictSize } : {}),
          ...(sb.availableComprAlgs & (1 << Z_EROFS_COMPRESSION_DEFLATE) ? { deflateWindowBits: sb.algorithmConfig.deflateWindowBits } : {}),
          ...(sb.algorithmConfig.zstdWindowLog ? { zstdWindowLog: sb.algorithmConfig.zstdWindowLog } : {}),
        }
        : null,
      devices: sb.devices.map((d) => ({
        id: d.id,
        offset: d.offset,
        tag: hex(d.tag).replace(/(00)+$/, ''),
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
    // offsets in the metabox are shown as metabox byte offsets (inMetabox says so)
    const sh = shownOffset;
    const out: Record<string, unknown> = {
      nid: isMetaboxNid(i.nid) ? nidLabel(i.nid) : i.nid,
      inMetabox: isMetaboxNid(i.nid),
      offset: sh(i.offset),
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
        offset: i.xattrSize ? sh(i.offset + i.isize) : null,
        shared: xs.filter((x) => x.sharedId >= 0).map((x) => ({ id: x.sharedId, offset: sh(x.offset), name: nameText(x.name), valueSize: x.value.length })),
        inline: xs.filter((x) => x.sharedId < 0).map((x) => ({ offset: sh(x.offset), name: nameText(x.name), valueSize: x.value.length })),
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
      const blocks = plainBlocks > 0 ? (i.hole ? [{ logical: 0, length: plainBlocks * bs, hole: true }] : [{ logical: 0, length: plainBlocks * bs, blkaddr: i.startBlk, offset: i.startBlk * bs, blocks: plainBlocks }]) : [];
      const tail = i.size - plainBlocks * bs;
      out.data = { kind: 'flat', blocks, inline: i.layout === EROFS_INODE_FLAT_INLINE && tail > 0 ? { logical: plainBlocks * bs, offset: sh(i.dataOffset), length: tail } : null };
    } else if (i.layout === EROFS_INODE_CHUNK_BASED) {
      const c = i.chunk!;
      const map = await this.chunkMap(i);
      const chunks = [];
      for (let ci = 0; ci < Math.min(c.count, DETAIL_LIMIT); ci++) {
        const loc = this.chunkAt(i, map, ci);
        const logical = ci * c.chunkSize;
        const length = Math.min(c.chunkSize, Math.ceil((i.size - logical) / bs) * bs);
        chunks.push(loc ? { index: ci, logical, length, device: loc.dev, blkaddr: loc.blkaddr, entryOffset: sh(loc.at) } : { index: ci, logical, length, hole: true, entryOffset: sh(c.mapOffset + ci * c.entrySize) });
      }
      out.data = { kind: 'chunks', chunkSize: c.chunkSize, chunkBits: c.chunkBits, indexes: c.indexes, mapOffset: sh(c.mapOffset), count: c.count, chunks, truncated: c.count > DETAIL_LIMIT };
    } else {
      const z = await this.zinfo(i);
      const { extents, truncated } = zExtents(z, DETAIL_LIMIT);
      out.data = {
        kind: 'compressed',
        mapping: z.mode,
        headerOffset: z.headerOffset < 0 ? -1 : sh(z.headerOffset),
        advise: z.advise,
        algorithms: z.algorithms.map((a) => COMPRESSION_NAMES[a] ?? a),
        lclusterBits: z.lclusterBits,
        lclusters: z.lclusters,
        indexOffset: sh(z.indexOffset),
        compacted4bInitial: z.compacted4bInitial,
        compacted2b: z.compacted2b,
        compressedBlocks: i.iu + (i.extended || (i.format & 0x10) !== 0 ? i.nb * 0x1_0000_0000 : 0),
        extentRecordSize: z.mode === 'extents' ? z.recsz : null,
        inlinePcluster: z.tailHeadLcn >= 0 && z.idataSize > 0 ? { offset: sh(z.idataOffset), size: z.idataSize, headLcluster: z.tailHeadLcn } : null,
        fragment: z.fragment ? { packedNid: this.sb.packedNid, offset: z.fragmentOff, wholeFile: z.tailHeadLcn === 0 } : null,
        extents: extents.map((e) => ({
          logical: e.la,
          length: e.end - e.la,
          headType: z.mode === 'index' ? LCLUSTER_TYPE_NAMES[e.headType] : null,
          algorithm: typeof e.algorithm === 'number' ? COMPRESSION_NAMES[e.algorithm] ?? e.algorithm
            : e.algorithm === 'shifted' ? 'none (shifted)' : e.algorithm === 'interlaced' ? 'none (interlaced)' : e.algorithm,
          pclusterBlkaddr: e.inline || e.algorithm === 'fragment' || e.algorithm === 'zero' ? null : e.pa / bs,
          pclusterOffset: e.algorithm === 'fragment' || e.algorithm === 'zero' ? null : e.pa,
          fragmentOffset: e.algorithm === 'fragment' ? e.pa : null,
          compressedSize: e.plen,
          inline: e.inline,
          partial: e.partial,
        })),
        truncated,
      };
    }
    return out;
  }

  /** the superblock's fields with absolute offsets */
  describeSuperblock(): DescribedField[] {
    const b = new Uint8Array(EROFS_SUPER_OFFSET + this.sb.sbSize);
    b.set(this.sb.raw, EROFS_SUPER_OFFSET);
    const fields = describeStruct(erofs_super_block, b, EROFS_SUPER_OFFSET, 0);
    // the first extension slot (metabox_nid) when the superblock has one
    if (this.sb.sbSize >= EROFS_SUPER_SIZE + erofs_super_block_ext.size) fields.push(...describeStruct(erofs_super_block_ext, b, EROFS_SUPER_OFFSET + EROFS_SUPER_SIZE, 0));
    return fields;
  }

  /** the inode core's fields with absolute offsets */
  async describeInode(nid: number): Promise<DescribedField[]> {
    const i = await this.inode(nid);
    const b = await this.meta(i.offset, i.isize, 'erofs.inode');
    return describeStruct(i.extended ? erofs_inode_extended : erofs_inode_compact, b, 0, shownOffset(i.offset));
  }

  /** every fixed structure of an inode (core, xattr header, compression map header) with absolute offsets */
  async describeInodeStructs(nid: number): Promise<{ struct: string; offset: number; fields: DescribedField[] }[]> {
    const i = await this.inode(nid);
    const out = [{ struct: i.extended ? erofs_inode_extended.name : erofs_inode_compact.name, offset: shownOffset(i.offset), fields: await this.describeInode(nid) }];
    if (i.xattrSize) {
      const at = i.offset + i.isize;
      out.push({ struct: erofs_xattr_ibody_header.name, offset: shownOffset(at), fields: describeStruct(erofs_xattr_ibody_header, await this.meta(at, erofs_xattr_ibody_header.size, erofs_xattr_ibody_header.name), 0, shownOffset(at)) });
    }
    if (isCompressedLayout(i.layout)) {
      const h = zHeaderOffset(this.sb, i);
      if (h !== null) out.push({ struct: z_erofs_map_header.name, offset: shownOffset(h), fields: describeStruct(z_erofs_map_header, await this.meta(h, z_erofs_map_header.size, z_erofs_map_header.name), 0, shownOffset(h)) });
    }
    return out;
  }

  /** the device table slots with absolute offsets */
  async describeDevices(): Promise<DescribedField[][]> {
    const out: DescribedField[][] = [];
    for (const d of this.sb.devices) out.push(describeStruct(erofs_deviceslot, await this.meta(d.offset, EROFS_DEVT_SLOT_SIZE, erofs_deviceslot.name), 0, d.offset));
    return out;
  }

  /**
   * What metadata reads need besides the device, loaded once when the image is opened: the
   * metabox inode's data (METABOX: inodes with bit 63 in their nid live there) and the long
   * xattr name prefixes (wherever the table lives: the device, the metabox or the packed inode).
   */
  async loadMetaSpaces(): Promise<void> {
    const sb = this.sb;
    const S = 'erofs.superblock';
    const F = erofs_super_block.f;
    const inodeOf = async (nid: number, what: string, at: number): Promise<Inode> => {
      const i = await this.inode(nid).catch((e: unknown) => {
        if (e instanceof NotFoundError) throw new FormatError(S, at, `${what} nid ${nid} is past the image end`);
        throw e;
      });
      if (!(i.type === 'reg')) fail(S, at, `${what} nid ${nid} is a ${i.type}, not a regular file`);
      if (i.dataError) throw i.dataError;
      return i;
    };
    const dataOf = async (i: Inode, offset: number, len: number): Promise<Uint8Array> => {
      const out = new Uint8Array(len);
      const got = await this.read(i.nid, offset, len, out);
      if (got !== out) out.set(got.subarray(0, len));
      return out;
    };
    if (sb.metaboxNid >= 0) {
      const at = EROFS_SUPER_OFFSET + EROFS_SUPER_SIZE;
      const mb = await inodeOf(sb.metaboxNid, 'metabox', at);
      if (!(mb.size <= METABOX_MAX)) throw new UnsupportedError('erofs metabox', `metabox of ${mb.size} bytes (this reader holds at most ${METABOX_MAX} in memory)`);
      this.metabox = await dataOf(mb, 0, mb.size);
      this.maxMetaboxNid = METABOX_NID_BASE + Math.floor((mb.size - 32) / 32);
    }
    const count = sb.featureIncompat & EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES ? sb.xattrPrefixCount : 0;
    if (count > 0) {
      const at = EROFS_SUPER_OFFSET + F.xattr_prefix_count.offset;
      if (!(count <= 128)) fail(S, at, `${count} long xattr prefixes (128 at most)`);
      const start = sb.xattrPrefixStart * 4;
      // each entry is at most 2 + 256 bytes, aligned to 4
      const most = count * 260;
      let table: Uint8Array;
      let where: number;
      if (sb.featureCompat & EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX || (sb.metaboxNid < 0 && !(sb.featureIncompat & EROFS_FEATURE_INCOMPAT_FRAGMENTS && sb.packedNid))) {
        if (!(start < this.imageSize)) fail(S, EROFS_SUPER_OFFSET + F.xattr_prefix_start.offset, `xattr prefix table at byte ${start} is past the image end`);
        table = (await this.source.read(start, Math.min(most, this.imageSize - start))).slice();
        where = start;
      } else if (sb.metaboxNid >= 0) {
        const mb = this.metabox!;
        if (!(start < mb.length)) fail(S, EROFS_SUPER_OFFSET + F.xattr_prefix_start.offset, `xattr prefix table at byte ${start} is past the ${mb.length}-byte metabox`);
        table = mb.subarray(start, Math.min(mb.length, start + most));
        where = METABOX_OFFSET + start;
      } else {
        const packed = await inodeOf(sb.packedNid, 'packed inode', EROFS_SUPER_OFFSET + F.packed_nid.offset);
        if (!(start < packed.size)) fail(S, EROFS_SUPER_OFFSET + F.xattr_prefix_start.offset, `xattr prefix table at byte ${start} is past the ${packed.size}-byte packed inode`);
        table = await dataOf(packed, start, Math.min(most, packed.size - start));
        where = -1;
      }
      this.prefixes = parseLongPrefixes(count, (pos, len) => {
        if (!(pos + len <= table.length)) fail('erofs.xattr_long_prefix', where < 0 ? -1 : where + pos, `long xattr prefix table runs past its ${table.length} bytes`);
        return table.subarray(pos, pos + len);
      }, where);
    }
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
  const fs = new ErofsFs(sb, source, source.inner, devices, opts.format ?? 'erofs', opts.planDecodePieces ?? true);
  await fs.loadMetaSpaces();
  const root = await fs.inode(sb.rootNid).catch((e: unknown) => {
    if (e instanceof NotFoundError) throw new FormatError('erofs.superblock', EROFS_SUPER_OFFSET + 14, `root nid ${nidLabel(sb.rootNid)} is past the image end`);
    throw e;
  });
  if (!(root.type === 'dir')) fail('erofs.superblock', EROFS_SUPER_OFFSET + 14, `root nid ${nidLabel(sb.rootNid)} is a ${root.type}, not a directory`);
  return fs;
}

/** Standalone forms of the structure-view helpers. */
export function describeSuperblock(fs: ErofsFs): DescribedField[] {
  return fs.describeSuperblock();
}
export function describeInode(fs: ErofsFs, nid: number): Promise<DescribedField[]> {
  return fs.describeInode(nid);
}
