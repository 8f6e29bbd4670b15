/**
 * Tarfs (nydus-image `create --type tar-tarfs`, builder/src/tarball.rs, core/node.rs, core/v6.rs): a
 * RAFS v6 bootstrap whose only data blob is the uncompressed layer tar itself, unchanged. Nothing
 * is written but the bootstrap. What nydus-image 2.4.4 writes, field by field:
 *  - EROFS block size 512 (`s_blkszbits` 9, tar's block): `s_meta_blkaddr`, directory/symlink
 *    block addresses and chunk block addresses count 512-byte blocks; dirents are packed in
 *    512-byte blocks; the meta area still starts on a 4 KiB boundary with the root at nid 128;
 *  - ext superblock: COMPRESSION_NONE | HASH_SHA256 (the CLI forces both), ENCRYPTION_NONE,
 *    TARTFS_MODE, EXPLICIT_UID_GID, HAS_XATTR when an inode has xattrs;
 *  - one blob: id = SHA-256 of the tar (unless an id is given), compressor none, digester sha256,
 *    features CAP_TAR_TOC | TARFS (no ALIGNED, no blob meta: `blob_meta_info_enabled` is off),
 *    compressed and uncompressed size = the tar's size, chunk_count = chunks allocated, device
 *    blocks = size / 512;
 *  - chunks: file data in place, cut at the chunk size: chunk i of a file starts at its data
 *    offset in the tar + i × chunk size; `compressed_offset` = `uncompressed_offset` = that
 *    offset, sizes = the piece's length, digest all zeros (no chunk id is computed), flags 0, index
 *    in tar order, never deduplicated; the chunk index's `c_blk_addr` = offset / 512;
 *  - the chunk table: nydus keys it by (digest, blob index + 1), and every tarfs chunk has the zero
 *    digest, so it holds a single row; here the first chunk in tar order, nydus' BTreeMap keeps the
 *    last one inserted in its BFS walk (readers never use it in tarfs mode);
 *  - inode fields as tarball.rs sets them: the tar header's mode/uid/gid and integer mtime, mtime
 *    nsec 0 (tar-rs reads the ustar field only), hardlinks share the target's inode.
 */
import { FormatError, UnsupportedError } from '../../errors.ts';
import type { SourceInode, SourceTree } from '../../fs/tree.ts';
import { inodesOf } from '../../fs/tree.ts';
import { treeFromTar } from '../../fs/sources/tar.ts';
import { SliceSource, type ByteSource } from '../../io/source.ts';
import { createSha256 } from '../../codec/sha256.ts';
import { hex } from '../../bytes.ts';
import { CHUNK_SIZE_MAX, CHUNK_SIZE_MIN, BF } from '../structs.ts';
import { isPow2 } from '../model.ts';
import { BlobTable } from './common.ts';
import { buildBTree } from './tree.ts';
import type { BlobRef, BuildStats, ChunkRef, RafsBuildResult, Sink } from './types.ts';
import { writeV6 } from './v6.ts';

const TAR_BLOCK = 512;

export interface TarfsBuildOptions {
  /** power of two in [4 KiB, 16 MiB] (default 1 MiB, nydus-image's) */
  chunkSize?: number;
  /** the blob id (nydus-image `--blob-id`); default the tar's SHA-256 */
  blobId?: string;
  /** store uid/gid and set EXPLICIT_UID_GID (default true) */
  explicitUidGid?: boolean;
  /** bytes per read while hashing the tar (default 4 MiB) */
  readSize?: number;
  signal?: AbortSignal;
}

/** SHA-256 of a whole source, read in pieces. */
export async function sha256OfSource(src: ByteSource, readSize = 4 << 20, signal?: AbortSignal): Promise<Uint8Array> {
  const h = createSha256();
  for (let off = 0; off < src.size; off += readSize) {
    signal?.throwIfAborted();
    h.update(await src.read(off, Math.min(readSize, src.size - off)));
  }
  return h.digest();
}

/** Where a regular file's data starts in the tar: its content must be a slice of that very tar. */
function dataOffset(n: SourceInode, tar: ByteSource): number {
  const c = n.content;
  if (n.size === 0) return 0;
  if (!(c instanceof SliceSource && c.inner === tar)) throw new UnsupportedError('tarfs build', `${c?.name ?? 'a regular file'}: its content is not a slice of the tar`);
  if (c.start % TAR_BLOCK !== 0) throw new FormatError('tar.data', c.start, `${c.name}: data at ${c.start} is not on a 512-byte block`);
  return c.start;
}

/**
 * Build a tarfs bootstrap for `tar` (an uncompressed tar in a random-access source): the tar is the
 * data blob, to be supplied beside the bootstrap (named by the returned blob id, or by matching size).
 */
export async function buildTarfs(tar: ByteSource, opts: TarfsBuildOptions, bootstrap: Sink): Promise<RafsBuildResult> {
  const chunkSize = opts.chunkSize ?? 0x10_0000;
  if (!isPow2(chunkSize) || chunkSize < CHUNK_SIZE_MIN || chunkSize > CHUNK_SIZE_MAX) throw new UnsupportedError('chunk size', `${chunkSize} is not a power of two from 4 KiB to 16 MiB`);
  if (tar.size >= 2) {
    const head = await tar.read(0, 2);
    if (head[0] === 0x1f && head[1] === 0x8b) throw new UnsupportedError('tarfs build', `${tar.name} is gzip-compressed: tarfs uses the uncompressed tar itself as its data blob`);
  }
  if (tar.size % TAR_BLOCK !== 0) throw new FormatError('tar', tar.size, `${tar.name}: ${tar.size} bytes is not a whole number of 512-byte tar blocks`);
  const tree: SourceTree = await treeFromTar(tar, opts.signal ? { signal: opts.signal } : {});
  const notes: string[] = [];
  const t = buildBTree(tree, notes);
  const blobId = opts.blobId ?? hex(await sha256OfSource(tar, opts.readSize, opts.signal));
  if (!/^[\x21-\x7e]{1,64}$/.test(blobId)) throw new UnsupportedError('tarfs build', `blob id ${JSON.stringify(blobId)} must be 1 to 64 printable ASCII characters`);
  const blob: BlobRef = {
    blobId, compressor: 'none', digester: 'sha256', chunkSize, features: BF.CAP_TAR_TOC | BF.TARFS,
    compressedSize: tar.size, uncompressedSize: tar.size, blobTocSize: 0, blobTocDigest: new Uint8Array(32), ciCompressor: 'none', ciOffset: 0,
    ciCompressedSize: 0, ciUncompressedSize: 0, blobMetaDigest: new Uint8Array(32), blobMetaSize: 0, cipherAlgo: 0, cipherIv: new Uint8Array(8),
  };
  // chunk indexes in tar order, as nydus allocates them while it reads the stream
  const files = [...t.files].sort((a, b) => dataOffset(a.inode, tar) - dataOffset(b.inode, tar));
  const chunks = new Map<(typeof files)[number], ChunkRef[]>();
  let index = 0;
  let bytes = 0;
  for (const f of files) {
    const size = f.inode.size;
    const start = dataOffset(f.inode, tar);
    const list: ChunkRef[] = [];
    for (let off = 0; off < size; off += chunkSize) {
      const len = Math.min(chunkSize, size - off);
      list.push({ digest: new Uint8Array(32), blob, flags: 0, compressedOffset: start + off, compressedSize: len, uncompressedOffset: start + off, uncompressedSize: len, index: index++, crc32: 0 });
    }
    chunks.set(f, list);
    bytes += size;
  }
  blob.chunkCount = index;
  const table = new BlobTable();
  table.add(blob);
  const explicitUidGid = opts.explicitUidGid ?? true;
  const { size } = await writeV6({ tree: t, chunks, blobs: table, chunkSize, compressor: 'none', digester: 'sha256', explicitUidGid, prefetch: [], blockBits: 9, tarfs: true }, bootstrap);
  const inodes = inodesOf(tree.root).length;
  const stats: BuildStats = {
    version: 6, entries: t.byIndex.length, inodes, files: t.files.length, bytes, chunksReferenced: index, chunksStored: 0, chunksDedupedInBuild: 0,
    chunksFromOtherBlobs: 0, chunksRaw: 0, blobDataSize: 0, blobSize: tar.size, bootstrapSize: size, blobs: 1,
  };
  notes.push(`tarfs: the data blob is ${tar.name} itself (${tar.size} bytes, id ${blobId}); supply it beside the bootstrap`);
  return { bootstrapSize: size, blobSize: tar.size, blobId, blobIds: [blobId], stats, notes };
}
