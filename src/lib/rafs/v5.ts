/**
 * RAFS v5 bootstrap reader (spec §3): superblock, inode table, prefetch table, blob table and extended
 * blob table, then inode records read on demand through the inode table.
 */
import { fail, FormatError, NotFoundError } from '../errors.ts';
import { Lru } from '../lru.ts';
import { BytesSource, type ByteSource } from '../io/source.ts';
import { CachedSource } from '../io/cache.ts';
import { decodeStruct, readU64 } from '../struct.ts';
import { nameText } from '../app/names.ts';
import {
  compareBytes, fileTypeOfMode, bytesEqual,
  type Attr, type DirEntry, type FileType, type ImageInfo, type StatFs,
} from '../fs/types.ts';
import {
  CHUNK_SIZE_MAX, CHUNK_SIZE_MIN, CF, IF, INODE_FLAGS, RAFS_CHUNK_INFO, RAFS_V5_EXT_BLOB_ENTRY, RAFS_V5_INODE,
  RAFS_V5_MAGIC, RAFS_V5_SB_SIZE, RAFS_V5_SUPERBLOCK, RAFS_V5_VERSION, SF, SUPER_FLAGS, SUPER_FLAGS_KNOWN, BLOB_FEATURES,
  RAFS_V5_BLOB_ENTRY_HEAD, RAFS_V5_XATTR_PAIR_HEAD, RAFS_V5_XATTR_TABLE_HEAD, flagNames, type Compressor, type Digester,
} from './structs.ts';
import {
  align, chunkJson, hex, isPow2, pathString, throwIfAborted,
  type MetadataIssue, type RafsBlob, type RafsChunk, type RafsFs, type RafsOpenOptions,
} from './model.ts';
import { BlobStore, matchBlobs } from './blobstore.ts';
import { digestOf } from './blob.ts';
import { readFileRange } from './filedata.ts';

const decodeSb = (b: Uint8Array) => decodeStruct(RAFS_V5_SUPERBLOCK, b);
export type RafsV5Superblock = ReturnType<typeof decodeSb>;

export interface V5Xattr {
  name: Uint8Array;
  value: Uint8Array;
}

export interface V5Inode {
  /** 1-based slot in the inode table */
  index: number;
  /** absolute byte offset of the record */
  offset: number;
  recordSize: number;
  digest: Uint8Array;
  parent: number;
  ino: number;
  uid: number;
  gid: number;
  projid: number;
  mode: number;
  type: FileType;
  size: number;
  blocks: number;
  flags: number;
  nlink: number;
  childIndex: number;
  childCount: number;
  rdev: number;
  mtime: number;
  mtimeNsec: number;
  name: Uint8Array;
  symlink: Uint8Array | null;
  xattrs: V5Xattr[] | null;
  xattrOffset: number;
  chunksOffset: number;
  chunks: RafsChunk[];
}

function compressorOfFlags(flags: number): Compressor {
  if (flags & SF.COMPRESSION_NONE) return 'none';
  if (flags & SF.COMPRESSION_LZ4) return 'lz4_block';
  if (flags & SF.COMPRESSION_GZIP) return 'gzip';
  if (flags & SF.COMPRESSION_ZSTD) return 'zstd';
  return 'lz4_block';
}
export function digesterOfFlags(flags: number): Digester {
  if (flags & SF.HASH_BLAKE3) return 'blake3';
  if (flags & SF.HASH_SHA256) return 'sha256';
  return 'blake3';
}
export { compressorOfFlags };

/** Superblock checks of RafsV5SuperBlock::validate (§3.13). */
export function validateV5Superblock(sb: RafsV5Superblock, fileSize: number): void {
  const S = RAFS_V5_SUPERBLOCK.name;
  const f = RAFS_V5_SUPERBLOCK.f;
  if (!(sb.s_magic === RAFS_V5_MAGIC)) fail(S, f.s_magic.offset, `bad magic 0x${sb.s_magic.toString(16)}`);
  if (!(sb.s_fs_version === RAFS_V5_VERSION)) fail(S, f.s_fs_version.offset, `version 0x${sb.s_fs_version.toString(16)} is not 0x500`);
  if (!(sb.s_sb_size === RAFS_V5_SB_SIZE)) fail(S, f.s_sb_size.offset, `sb_size ${sb.s_sb_size} is not 8192`);
  if (!(fileSize > RAFS_V5_SB_SIZE)) fail(S, 0, `bootstrap of ${fileSize} bytes holds nothing after the superblock`);
  if (!(isPow2(sb.s_block_size) && sb.s_block_size >= CHUNK_SIZE_MIN && sb.s_block_size <= CHUNK_SIZE_MAX)) fail(S, f.s_block_size.offset, `chunk size ${sb.s_block_size} is not a power of two in [4 KiB, 16 MiB]`);
  if (!(sb.s_flags <= 0xffff_ffff && (sb.s_flags & ~SUPER_FLAGS_KNOWN) === 0)) fail(S, f.s_flags.offset, `unknown flag bits in 0x${sb.s_flags.toString(16)}`);
  if (!(sb.s_inode_table_entries >= 1)) fail(S, f.s_inode_table_entries.offset, 'empty inode table (no root)');
  if (!(sb.s_inodes_count <= sb.s_inode_table_entries)) fail(S, f.s_inodes_count.offset, `inodes_count ${sb.s_inodes_count} exceeds inode_table_entries ${sb.s_inode_table_entries}`);
  const ranges: [string, number, number, number][] = [
    ['inode table', sb.s_inode_table_offset, sb.s_inode_table_entries * 4, f.s_inode_table_offset.offset],
    ['prefetch table', sb.s_prefetch_table_offset, sb.s_prefetch_table_entries * 4, f.s_prefetch_table_offset.offset],
    ['blob table', sb.s_blob_table_offset, sb.s_blob_table_size, f.s_blob_table_offset.offset],
    ['extended blob table', sb.s_extended_blob_table_offset, sb.s_extended_blob_table_entries * RAFS_V5_EXT_BLOB_ENTRY.size, f.s_extended_blob_table_offset.offset],
  ];
  for (const [name, off, len, at] of ranges) {
    if (len === 0) continue;
    if (!(off % 8 === 0)) fail(S, at, `${name} offset ${off} is not 8-byte aligned`);
    if (!(off >= RAFS_V5_SB_SIZE && off <= fileSize && len <= fileSize - off)) fail(S, at, `${name} [${off}, +${len}) is outside the ${fileSize}-byte bootstrap`);
  }
  const live = ranges.filter((r) => r[2] > 0);
  for (let i = 0; i < live.length; i++) {
    for (let j = i + 1; j < live.length; j++) {
      const a = live[i]!;
      const b = live[j]!;
      if (!(a[1] + a[2] <= b[1] || b[1] + b[2] <= a[1])) fail(S, b[3], `${a[0]} [${a[1]}, +${a[2]}) overlaps ${b[0]} [${b[1]}, +${b[2]})`);
    }
  }
}

/** Parse the variable-length blob table (§3.5) and the extended blob table (§3.6). */
export function parseV5BlobTables(sb: RafsV5Superblock, table: Uint8Array, ext: Uint8Array): RafsBlob[] {
  const compressor = compressorOfFlags(sb.s_flags);
  const digester = digesterOfFlags(sb.s_flags);
  const blobs: RafsBlob[] = [];
  let p = 0;
  const HEAD = RAFS_V5_BLOB_ENTRY_HEAD.size;
  while (table.length - p > HEAD) {
    const head = decodeStruct(RAFS_V5_BLOB_ENTRY_HEAD, table, p);
    let q = p + HEAD;
    while (q < table.length && table[q] !== 0) q++;
    const idBytes = table.subarray(p + HEAD, q);
    let id = '';
    for (const b of idBytes) id += String.fromCharCode(b);
    if (!(idBytes.length > 0)) fail('rafs.v5.blob_entry', sb.s_blob_table_offset + p, 'empty blob id');
    blobs.push({
      index: blobs.length, blobId: id, compressor, digester, chunkSize: sb.s_block_size, features: 0,
      readaheadOffset: head.readahead_offset, readaheadSize: head.readahead_size,
    });
    p = q + 1;
  }
  const n = sb.s_extended_blob_table_entries;
  if (n > 0) {
    if (!(n === blobs.length)) fail(RAFS_V5_EXT_BLOB_ENTRY.name, sb.s_extended_blob_table_offset, `${n} extended blob entries for ${blobs.length} blobs`);
    for (let i = 0; i < n; i++) {
      const e = decodeStruct(RAFS_V5_EXT_BLOB_ENTRY, ext, i * RAFS_V5_EXT_BLOB_ENTRY.size);
      const b = blobs[i]!;
      b.chunkCount = e.chunk_count;
      // the loader truncates unknown feature bits
      b.features = e.features & 0x7fff_ffff;
      b.uncompressedSize = e.uncompressed_size;
      b.compressedSize = e.compressed_size;
    }
  }
  return blobs;
}

const ENC = new TextEncoder();
const XATTR_PREFIXES = ['user.', 'security.', 'trusted.', 'system.posix_acl_access', 'system.posix_acl_default'].map((s) => ENC.encode(s));

export class RafsV5 implements RafsFs {
  readonly format = 'rafs-v5' as const;
  readonly version = 5 as const;
  readonly rootIno = 1;
  readonly chunkSize: number;
  readonly digester: Digester;
  readonly compressor: Compressor;
  /** set when the bootstrap was read out of a data blob: where it came from */
  origin: Record<string, unknown> | null = null;
  private readonly inodes = new Lru<number, V5Inode>(65536);
  private links: Promise<Map<number, number[]>> | null = null;
  /**
   * Every inode record but the root is the child of one directory (hardlinks are records of their
   * own), so a walk lists at most one entry per record; more means children ranges overlap.
   */
  get maxEntries(): number {
    return this.table.length;
  }

  private constructor(
    readonly source: ByteSource,
    readonly sb: RafsV5Superblock,
    private readonly table: Uint32Array,
    private readonly prefetch: number[],
    readonly blobs: RafsBlob[],
    readonly store: BlobStore,
  ) {
    this.chunkSize = sb.s_block_size;
    this.digester = digesterOfFlags(sb.s_flags);
    this.compressor = compressorOfFlags(sb.s_flags);
  }

  static async open(input: ByteSource, opts: RafsOpenOptions = {}): Promise<RafsV5> {
    const src = input instanceof BytesSource || input instanceof CachedSource ? input : new CachedSource(input, 64 * 1024, 16 * 1024 * 1024);
    if (!(src.size >= RAFS_V5_SB_SIZE)) fail(RAFS_V5_SUPERBLOCK.name, 0, `${src.size}-byte file is shorter than the 8192-byte superblock`);
    const sb = decodeSb(await src.read(0, RAFS_V5_SB_SIZE));
    validateV5Superblock(sb, src.size);
    const n = sb.s_inode_table_entries;
    const tb = await src.read(sb.s_inode_table_offset, n * 4);
    const tv = new DataView(tb.buffer, tb.byteOffset, tb.byteLength);
    const table = new Uint32Array(n);
    for (let i = 0; i < n; i++) table[i] = tv.getUint32(i * 4, true);
    const prefetch: number[] = [];
    if (sb.s_prefetch_table_entries > 0) {
      const pb = await src.read(sb.s_prefetch_table_offset, sb.s_prefetch_table_entries * 4);
      const pv = new DataView(pb.buffer, pb.byteOffset, pb.byteLength);
      for (let i = 0; i < sb.s_prefetch_table_entries; i++) {
        const ino = pv.getUint32(i * 4, true);
        if (ino === 0) break;
        prefetch.push(ino);
      }
    }
    // empty tables may carry any offset: only ranges with bytes were validated
    const bt = sb.s_blob_table_size > 0 ? await src.read(sb.s_blob_table_offset, sb.s_blob_table_size) : new Uint8Array(0);
    const etSize = sb.s_extended_blob_table_entries * RAFS_V5_EXT_BLOB_ENTRY.size;
    const et = etSize > 0 ? await src.read(sb.s_extended_blob_table_offset, etSize) : new Uint8Array(0);
    const blobs = parseV5BlobTables(sb, bt, et);
    const store = new BlobStore(blobs, matchBlobs(blobs, opts.blobs ?? [], opts.container), { cache: opts.cache, verify: opts.verifyChunks ?? true });
    const fs = new RafsV5(src, sb, table, prefetch, blobs, store);
    const root = await fs.inodeAt(1);
    if (!(root.ino === 1 && root.type === 'dir')) fail(RAFS_V5_INODE.name, root.offset, `table slot 1 holds i_ino ${root.ino} (${root.type}), not the root directory`);
    return fs;
  }

  // ------------------------------------------------------------------------------------------
  // inode records

  get inodeTableEntries(): number {
    return this.table.length;
  }

  /** The record in inode table slot `index` (1-based). */
  async inodeAt(index: number): Promise<V5Inode> {
    const hit = this.inodes.get(index);
    if (hit) return hit;
    const S = RAFS_V5_INODE.name;
    const tableAt = this.sb.s_inode_table_offset + (index - 1) * 4;
    if (!(Number.isInteger(index) && index >= 1 && index <= this.table.length)) fail('rafs.v5.inode_table', this.sb.s_inode_table_offset, `index ${index} is outside the ${this.table.length}-entry inode table`);
    const slot = this.table[index - 1]!;
    if (!(slot > 1024 && slot < 1 << 29)) fail('rafs.v5.inode_table', tableAt, `entry ${slot} (offset ${slot * 8}) is not after the superblock`);
    const offset = slot * 8;
    const size = this.source.size;
    if (!(offset + RAFS_V5_INODE.size <= size)) fail(S, offset, `record at ${offset} runs past the ${size}-byte bootstrap`);
    const hb = await this.source.read(offset, RAFS_V5_INODE.size);
    const r = decodeStruct(RAFS_V5_INODE, hb);
    const type = fileTypeOfMode(r.i_mode);
    if (!(type !== undefined && r.i_mode <= 0xffff)) fail(S, offset + RAFS_V5_INODE.f.i_mode.offset, `mode 0o${r.i_mode.toString(8)} names no file type`);
    if (!(r.i_name_size > 0)) fail(S, offset + RAFS_V5_INODE.f.i_name_size.offset, 'empty name');
    if (!(r.i_ino !== 0 && r.i_ino <= this.table.length)) fail(S, offset + RAFS_V5_INODE.f.i_ino.offset, `i_ino ${r.i_ino} is outside [1, ${this.table.length}]`);
    if (!(index === 1 || r.i_parent !== 0)) fail(S, offset + RAFS_V5_INODE.f.i_parent.offset, 'non-root inode without a parent');
    if (!(r.i_parent <= this.table.length)) fail(S, offset + RAFS_V5_INODE.f.i_parent.offset, `i_parent ${r.i_parent} is outside the inode table`);
    for (const [name, v] of [['i_size', r.i_size], ['i_mtime', r.i_mtime], ['i_blocks', r.i_blocks], ['i_flags', r.i_flags]] as const) {
      if (!(Number.isSafeInteger(v))) fail(S, offset + RAFS_V5_INODE.f[name].offset, `${name} ${v} is beyond 2^53`);
    }
    const nameAt = offset + RAFS_V5_INODE.size;
    const symAt = nameAt + align(r.i_name_size, 8);
    let p = symAt + (r.i_symlink_size > 0 ? align(r.i_symlink_size, 8) : 0);
    const hasXattr = (r.i_flags & IF.XATTR) !== 0;
    const XT = RAFS_V5_XATTR_TABLE_HEAD;
    if (!(p + (hasXattr ? XT.size : 0) <= size)) fail(S, nameAt, `name/symlink of ${r.i_name_size}/${r.i_symlink_size} bytes run past the bootstrap`);
    const fixed = await this.source.read(nameAt, p + (hasXattr ? XT.size : 0) - nameAt);
    const name = fixed.slice(0, r.i_name_size);
    let symlink: Uint8Array | null = null;
    if (type === 'symlink') {
      if (!(r.i_symlink_size > 0)) fail(S, offset + RAFS_V5_INODE.f.i_symlink_size.offset, 'symlink without a target');
      symlink = fixed.slice(symAt - nameAt, symAt - nameAt + r.i_symlink_size);
    }
    let xattrs: V5Xattr[] | null = null;
    const xattrOffset = hasXattr ? p : 0;
    if (hasXattr) {
      const tv = new DataView(fixed.buffer, fixed.byteOffset, fixed.byteLength);
      const total = readU64(tv, p - nameAt + XT.f.total.offset);
      if (!(total <= size - p - XT.size)) fail(XT.name, p, `xattr table of ${total} bytes runs past the bootstrap`);
      const xb = await this.source.read(p + XT.size, total);
      xattrs = parseV5Xattrs(xb, p + XT.size);
      p += XT.size + align(total, 8);
    }
    const chunks: RafsChunk[] = [];
    const chunksOffset = p;
    if (type === 'reg') {
      const count = r.i_child_count;
      const holey = (r.i_flags & IF.HAS_HOLE) !== 0;
      const need = r.i_size === 0 ? 0 : Math.ceil(r.i_size / this.chunkSize);
      if (!(holey ? count <= need : count === need)) fail(S, offset + RAFS_V5_INODE.f.i_child_count.offset, `${count} chunks for a ${r.i_size}-byte file with ${this.chunkSize}-byte chunks (need ${need})`);
      if (!(count * RAFS_CHUNK_INFO.size <= size - p)) fail(S, p, `${count} chunk infos run past the bootstrap`);
      const cb = count > 0 ? await this.source.read(p, count * RAFS_CHUNK_INFO.size) : new Uint8Array(0);
      for (let i = 0; i < count; i++) chunks.push(this.parseChunk(cb, i, p));
      p += count * RAFS_CHUNK_INFO.size;
    } else if (type === 'dir' && r.i_child_count > 0) {
      if (!(r.i_child_index >= 2 && r.i_child_index - 1 + r.i_child_count <= this.table.length)) fail(S, offset + RAFS_V5_INODE.f.i_child_index.offset, `children [${r.i_child_index}, +${r.i_child_count}) are outside the ${this.table.length}-entry inode table`);
      if (!(r.i_child_index > index)) fail(S, offset + RAFS_V5_INODE.f.i_child_index.offset, `children start at index ${r.i_child_index}, not after the directory's own ${index}`);
    }
    const ino: V5Inode = {
      index, offset, recordSize: p - offset, digest: r.i_digest.slice(), parent: r.i_parent, ino: r.i_ino, uid: r.i_uid, gid: r.i_gid,
      projid: r.i_projid, mode: r.i_mode, type, size: r.i_size, blocks: r.i_blocks, flags: r.i_flags, nlink: r.i_nlink,
      childIndex: r.i_child_index, childCount: type === 'dir' ? r.i_child_count : 0, rdev: r.i_rdev, mtime: r.i_mtime, mtimeNsec: r.i_mtime_nsec,
      name, symlink, xattrs, xattrOffset, chunksOffset, chunks,
    };
    this.inodes.set(index, ino);
    return ino;
  }

  private parseChunk(cb: Uint8Array, i: number, base: number): RafsChunk {
    const at = base + i * RAFS_CHUNK_INFO.size;
    const c = decodeStruct(RAFS_CHUNK_INFO, cb, i * RAFS_CHUNK_INFO.size);
    const S = RAFS_CHUNK_INFO.name;
    if (!(c.blob_index < this.blobs.length)) fail(S, at + RAFS_CHUNK_INFO.f.blob_index.offset, `blob index ${c.blob_index} is outside the ${this.blobs.length}-entry blob table`);
    if (!(c.uncompressed_size <= this.chunkSize)) fail(S, at + RAFS_CHUNK_INFO.f.uncompressed_size.offset, `chunk of ${c.uncompressed_size} bytes exceeds the ${this.chunkSize}-byte chunk size`);
    if (!(c.compressed_size <= CHUNK_SIZE_MAX * 2)) fail(S, at + RAFS_CHUNK_INFO.f.compressed_size.offset, `compressed size ${c.compressed_size} is implausible`);
    for (const k of ['compressed_offset', 'uncompressed_offset', 'file_offset'] as const) {
      if (!(Number.isSafeInteger(c[k]))) fail(S, at + RAFS_CHUNK_INFO.f[k].offset, `${k} is beyond 2^53`);
    }
    return {
      digest: c.block_id.slice(), blobIndex: c.blob_index, flags: c.flags, compressed: (c.flags & CF.COMPRESSED) !== 0,
      compressedOffset: c.compressed_offset, compressedSize: c.compressed_size, uncompressedOffset: c.uncompressed_offset,
      uncompressedSize: c.uncompressed_size, fileOffset: c.file_offset, index: c.index, crc32: c.crc32,
    };
  }

  /** The primary record of inode number `ino` (the first entry of a hardlink group). */
  private async inode(ino: number): Promise<V5Inode> {
    if (!Number.isInteger(ino) || ino < 1 || ino > this.table.length) throw new NotFoundError(`inode ${ino}`);
    const r = await this.inodeAt(ino);
    if (!(r.ino === ino)) fail(RAFS_V5_INODE.name, r.offset + RAFS_V5_INODE.f.i_ino.offset, `inode table slot ${ino} holds i_ino ${r.ino}`);
    return r;
  }

  private attrOf(r: V5Inode): Attr {
    return { ino: r.ino, type: r.type, mode: r.mode, nlink: r.nlink, uid: r.uid, gid: r.gid, size: r.size, rdev: r.rdev, mtime: r.mtime, mtimeNsec: r.mtimeNsec };
  }

  // ------------------------------------------------------------------------------------------
  // ReadOnlyFs

  async getattr(ino: number): Promise<Attr> {
    return this.attrOf(await this.inode(ino));
  }

  async lookup(parent: number, name: Uint8Array): Promise<Attr | null> {
    const dir = await this.inode(parent);
    if (dir.type !== 'dir') throw new NotFoundError(`inode ${parent} is not a directory`);
    let lo = 0;
    let hi = dir.childCount - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = await this.inodeAt(dir.childIndex + mid);
      const cmp = compareBytes(c.name, name);
      if (cmp === 0) return c.ino === c.index ? this.attrOf(c) : this.getattr(c.ino);
      if (cmp < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return null;
  }

  async readdir(ino: number, offset = 0, limit = Infinity): Promise<DirEntry[]> {
    const dir = await this.inode(ino);
    if (dir.type !== 'dir') throw new NotFoundError(`inode ${ino} is not a directory`);
    const out: DirEntry[] = [];
    for (let i = Math.max(0, offset); i < dir.childCount && out.length < limit; i++) {
      const c = await this.inodeAt(dir.childIndex + i);
      out.push({ name: c.name, ino: c.ino, type: c.type, next: i + 1 });
    }
    return out;
  }

  async read(ino: number, offset: number, size: number): Promise<Uint8Array> {
    const r = await this.inode(ino);
    if (r.type !== 'reg') return new Uint8Array(0);
    return readFileRange(this.store, r.chunks, r.size, this.chunkSize, (r.flags & IF.HAS_HOLE) !== 0, offset, size, RAFS_V5_INODE.name, r.offset);
  }

  async readlink(ino: number): Promise<Uint8Array> {
    const r = await this.inode(ino);
    if (!r.symlink) throw new NotFoundError(`inode ${ino} is not a symlink`);
    return r.symlink;
  }

  async listxattr(ino: number): Promise<Uint8Array[]> {
    return ((await this.inode(ino)).xattrs ?? []).map((x) => x.name);
  }

  async getxattr(ino: number, name: Uint8Array): Promise<Uint8Array | null> {
    return ((await this.inode(ino)).xattrs ?? []).find((x) => bytesEqual(x.name, name))?.value ?? null;
  }

  async statfs(): Promise<StatFs> {
    let bytes = 0;
    for (const b of this.blobs) bytes += b.uncompressedSize ?? 0;
    return { blockSize: 512, blocks: Math.ceil(bytes / 512), files: this.sb.s_inodes_count, nameMax: 255 };
  }

  async fileChunks(ino: number): Promise<RafsChunk[]> {
    return (await this.inode(ino)).chunks;
  }

  prefetchInos(): number[] {
    return [...this.prefetch];
  }

  // ------------------------------------------------------------------------------------------
  // paths

  /** Components of the path of the entry in slot `index`, following i_parent. */
  async pathOfIndex(index: number): Promise<Uint8Array[]> {
    const comps: Uint8Array[] = [];
    let idx = index;
    for (let steps = 0; idx !== 1; steps++) {
      if (!(steps < this.table.length)) fail(RAFS_V5_INODE.name, -1, `parent chain of index ${index} does not reach the root`);
      const r = await this.inodeAt(idx);
      comps.push(r.name);
      const parent = await this.inodeAt(r.parent);
      if (!(parent.type === 'dir' && r.parent !== idx)) fail(RAFS_V5_INODE.name, r.offset + RAFS_V5_INODE.f.i_parent.offset, `i_parent ${r.parent} is not a directory`);
      idx = r.parent;
    }
    return comps.reverse();
  }

  /** Inode table slots of every entry of a hardlinked inode (one full table scan, then cached). */
  private hardlinkIndex(): Promise<Map<number, number[]>> {
    this.links ??= (async () => {
      const m = new Map<number, number[]>();
      for (let i = 1; i <= this.table.length; i++) {
        const r = await this.inodeAt(i);
        if (r.ino === i) continue;
        let l = m.get(r.ino);
        if (!l) m.set(r.ino, (l = [r.ino]));
        l.push(i);
      }
      return m;
    })();
    this.links.catch(() => (this.links = null));
    return this.links;
  }

  /** Slots of every directory entry of inode `ino`. */
  async entriesOf(ino: number): Promise<number[]> {
    const r = await this.inode(ino);
    if (r.type !== 'reg' || r.nlink <= 1) return [ino];
    return (await this.hardlinkIndex()).get(ino) ?? [ino];
  }

  async pathsOf(ino: number): Promise<Uint8Array[][]> {
    const out: Uint8Array[][] = [];
    for (const idx of await this.entriesOf(ino)) out.push(await this.pathOfIndex(idx));
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // inspection

  superblockJson(): Record<string, unknown> {
    const sb = this.sb;
    return {
      magic: sb.s_magic, version: sb.s_fs_version, sb_size: sb.s_sb_size, block_size: sb.s_block_size, flags: sb.s_flags,
      inodes_count: sb.s_inodes_count, inode_table_offset: sb.s_inode_table_offset, prefetch_table_offset: sb.s_prefetch_table_offset,
      blob_table_offset: sb.s_blob_table_offset, inode_table_entries: sb.s_inode_table_entries, prefetch_table_entries: sb.s_prefetch_table_entries,
      blob_table_size: sb.s_blob_table_size, extended_blob_table_entries: sb.s_extended_blob_table_entries,
      extended_blob_table_offset: sb.s_extended_blob_table_offset, flag_names: flagNames(SUPER_FLAGS, sb.s_flags),
    };
  }

  blobJson(b: RafsBlob): Record<string, unknown> {
    const bd = this.store.bindings[b.index]!;
    const o: Record<string, unknown> = {
      index: b.index, blob_id: b.blobId, prefetch_offset: b.readaheadOffset, prefetch_size: b.readaheadSize,
    };
    if (b.chunkCount !== undefined) {
      Object.assign(o, { chunk_count: b.chunkCount, features: b.features, uncompressed_size: b.uncompressedSize, compressed_size: b.compressedSize,
        feature_names: flagNames(BLOB_FEATURES, b.features) });
    }
    Object.assign(o, { compressor: b.compressor, digester: b.digester, chunk_size: b.chunkSize,
      file: bd.source?.name ?? null, matched_by: bd.matchedBy, effective_id: bd.effectiveId, kind: bd.kind });
    return o;
  }

  async info(): Promise<ImageInfo> {
    return {
      format: 'rafs-v5', version: 5, size: this.source.size, superblock: this.superblockJson(),
      compressor: this.compressor, digester: this.digester, chunk_size: this.chunkSize, root_ino: 1,
      prefetch: this.prefetchInos(), blobs: this.blobs.map((b) => this.blobJson(b)),
      unmatched_blob_files: this.store.unmatched.map((s) => s.name),
      missing_blobs: this.store.missing().map((b) => ({ index: b.index, blob_id: b.blobId })),
      ...(this.origin ? { inline_bootstrap: this.origin } : {}),
    };
  }

  /** One directory entry (slot) as JSON: what differs between hardlinks. */
  async entryJson(index: number): Promise<Record<string, unknown>> {
    const r = await this.inodeAt(index);
    return { index, path: pathString(await this.pathOfIndex(index)), parent: r.parent, inode_offset: r.offset, record_size: r.recordSize };
  }

  async inodeDetails(ino: number): Promise<Record<string, unknown>> {
    const r = await this.inode(ino);
    const links: Record<string, unknown>[] = [];
    for (const idx of await this.entriesOf(ino)) links.push(await this.entryJson(idx));
    const d: Record<string, unknown> = {
      format: 'rafs-v5', ino: r.ino, index: r.index, parent: r.parent, path: links[0]?.path, paths: links.map((l) => l.path),
      name: nameText(r.name), type: r.type, mode: (r.mode & 0o7777).toString(8).padStart(4, '0'), st_mode: r.mode,
      size: r.size, blocks: r.blocks, nlink: r.nlink, uid: r.uid, gid: r.gid, projid: r.projid, rdev: r.rdev,
      mtime: r.mtime, mtime_nsec: r.mtimeNsec, flags: r.flags, flag_names: flagNames(INODE_FLAGS, r.flags), digest: hex(r.digest),
      inode_offset: r.offset, record_size: r.recordSize, links,
    };
    if (r.type === 'dir') Object.assign(d, { child_index: r.childIndex, child_count: r.childCount });
    if (r.symlink) d.symlink = nameText(r.symlink);
    if (r.xattrs) {
      d.xattr_offset = r.xattrOffset;
      d.xattrs = r.xattrs.map((x) => ({ name: nameText(x.name), value_hex: hex(x.value), size: x.value.length }));
    }
    if (r.type === 'reg') {
      d.chunks_offset = r.chunksOffset;
      d.chunks = r.chunks.map((c) => chunkJson(c, this.blobs, (i) => this.store.blobIdOf(i)));
    }
    return d;
  }

  /**
   * Every record parsed; every inode digest recomputed from its children / chunks / target (§3.10);
   * parent pointers and child order checked. Returns the problems found.
   */
  async verifyMetadata(signal?: AbortSignal, onEntry?: () => void): Promise<MetadataIssue[]> {
    const issues: MetadataIssue[] = [];
    const H = (b: Uint8Array) => digestOf(this.digester, b);
    const where = async (idx: number): Promise<string | undefined> => {
      try {
        return pathString(await this.pathOfIndex(idx));
      } catch {
        return undefined;
      }
    };
    for (let idx = 1; idx <= this.table.length; idx++) {
      throwIfAborted(signal);
      onEntry?.();
      let r: V5Inode;
      try {
        r = await this.inodeAt(idx);
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        issues.push({ ino: idx, structure: e.structure, offset: e.offset, detail: `inode table slot ${idx}: ${e.detail}` });
        continue;
      }
      const report = async (detail: string, offset = r.offset) =>
        issues.push({ path: await where(idx), ino: r.ino, structure: RAFS_V5_INODE.name, offset, detail });
      try {
        let want: Uint8Array;
        if (r.type === 'reg') {
          const cat = new Uint8Array(32 * r.chunks.length);
          r.chunks.forEach((c, i) => cat.set(c.digest, 32 * i));
          want = await H(cat);
          for (const [i, c] of r.chunks.entries()) {
            const b = this.blobs[c.blobIndex]!;
            if (b.compressedSize !== undefined && c.compressedOffset + c.compressedSize > b.compressedSize) {
              await report(`chunk ${i} [${c.compressedOffset}, +${c.compressedSize}) is outside blob ${b.blobId} (${b.compressedSize} bytes)`, r.chunksOffset + i * 80);
            }
            if (b.chunkCount !== undefined && c.index >= b.chunkCount) await report(`chunk ${i} has index ${c.index} but blob ${b.blobId} has ${b.chunkCount} chunks`, r.chunksOffset + i * 80);
          }
        } else if (r.type === 'symlink') {
          want = await H(r.symlink!);
        } else if (r.type === 'dir') {
          const cat = new Uint8Array(32 * r.childCount);
          let prev: Uint8Array | null = null;
          for (let i = 0; i < r.childCount; i++) {
            const c = await this.inodeAt(r.childIndex + i);
            cat.set(c.digest, 32 * i);
            if (c.parent !== r.ino) await report(`child ${pathString([c.name])} (index ${c.index}) names parent ${c.parent}, not ${r.ino}`, c.offset);
            if (prev && compareBytes(prev, c.name) >= 0) await report(`children are not sorted by name at index ${c.index}`, c.offset);
            prev = c.name;
          }
          want = await H(cat);
        } else {
          want = await H(new Uint8Array(0));
        }
        if (!bytesEqual(want, r.digest)) await report(`i_digest ${hex(r.digest)} differs from the recomputed ${hex(want)}`);
        if (r.ino !== idx) {
          const primary = await this.inodeAt(r.ino);
          if (primary.ino !== r.ino || primary.type !== 'reg') await report(`hardlink entry names inode ${r.ino}, whose slot holds i_ino ${primary.ino} (${primary.type})`);
        }
        if (r.xattrs) for (const x of r.xattrs) {
          if (!XATTR_PREFIXES.some((p) => x.name.length >= p.length && bytesEqual(x.name.subarray(0, p.length), p))) {
            await report(`xattr ${nameText(x.name)} has a prefix RAFS does not allow`, r.xattrOffset);
          }
        }
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        issues.push({ path: await where(idx), ino: r.ino, structure: e.structure, offset: e.offset, detail: e.detail });
      }
    }
    return issues;
  }
}

/** Pairs `u32 pair_size | name NUL value` in [0, total) of `b` (b starts at absolute `base`). */
export function parseV5Xattrs(b: Uint8Array, base: number): V5Xattr[] {
  const out: V5Xattr[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const H = RAFS_V5_XATTR_PAIR_HEAD;
  let p = 0;
  while (p < b.length) {
    if (!(p + H.size <= b.length)) fail(H.name, base + p, 'truncated pair header');
    const n = v.getUint32(p + H.f.pair_size.offset, true);
    if (!(n <= b.length - p - H.size)) fail(H.name, base + p, `pair of ${n} bytes runs past the xattr table`);
    const pair = b.subarray(p + H.size, p + H.size + n);
    const nul = pair.indexOf(0);
    if (!(nul > 0)) fail(H.name, base + p, 'xattr name without a NUL terminator');
    out.push({ name: pair.slice(0, nul), value: pair.slice(nul + 1) });
    p += H.size + n;
  }
  return out;
}

export function isV5(head: Uint8Array): boolean {
  const F = RAFS_V5_SUPERBLOCK.f;
  if (head.length < F.s_fs_version.offset + F.s_fs_version.size) return false;
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  return v.getUint32(F.s_magic.offset, true) === RAFS_V5_MAGIC && v.getUint32(F.s_fs_version.offset, true) === RAFS_V5_VERSION;
}
