/** Pieces both bootstrap writers share: chunk infos, the blob table order, superblock flags. */
import { alignUp } from '../../bytes.ts';
import { modeOfType } from '../../fs/types.ts';
import { encodeStruct } from '../../struct.ts';
import { RAFS_CHUNK_INFO, SF, type Compressor, type Digester } from '../structs.ts';
import type { BNode } from './tree.ts';
import type { BlobRef, ChunkRef } from './types.ts';

/** Blob table of the output: blob → position. */
export class BlobTable {
  readonly list: BlobRef[] = [];
  private readonly pos = new Map<BlobRef, number>();
  private readonly byId = new Map<string, BlobRef>();
  add(b: BlobRef): number {
    let i = this.pos.get(b);
    if (i !== undefined) return i;
    const same = this.byId.get(b.blobId);
    if (same) {
      i = this.pos.get(same)!;
      this.pos.set(b, i);
      return i;
    }
    i = this.list.length;
    this.list.push(b);
    this.pos.set(b, i);
    this.byId.set(b.blobId, b);
    return i;
  }
  indexOf(b: BlobRef): number {
    const i = this.pos.get(b) ?? (this.byId.has(b.blobId) ? this.pos.get(this.byId.get(b.blobId)!) : undefined);
    if (i === undefined) throw new Error(`writer bug: blob ${b.blobId} is not in the blob table`);
    return i;
  }
}

export function superFlags(compressor: Compressor, digester: Digester, explicitUidGid: boolean, hasXattr: boolean): number {
  let f = { none: SF.COMPRESSION_NONE, lz4_block: SF.COMPRESSION_LZ4, gzip: SF.COMPRESSION_GZIP, zstd: SF.COMPRESSION_ZSTD }[compressor];
  f |= digester === 'blake3' ? SF.HASH_BLAKE3 : SF.HASH_SHA256;
  if (explicitUidGid) f |= SF.EXPLICIT_UID_GID;
  if (hasXattr) f |= SF.HAS_XATTR;
  return f;
}

export function encodeChunkInfo(out: Uint8Array, at: number, c: ChunkRef, blobIndex: number, fileOffset: number): void {
  encodeStruct(RAFS_CHUNK_INFO, {
    block_id: c.digest, blob_index: blobIndex, flags: c.flags, compressed_size: c.compressedSize, uncompressed_size: c.uncompressedSize,
    compressed_offset: c.compressedOffset, uncompressed_offset: c.uncompressedOffset, file_offset: fileOffset, index: c.index, crc32: c.crc32,
  }, out, at);
}

/** Type + permission bits. */
export function modeOf(n: BNode): number {
  return modeOfType(n.inode.type) | (n.inode.perm & 0o7777);
}

/** nydus forces the root's mtime to 0 (repeatable builds). */
export function mtimeOf(n: BNode): { s: number; ns: number } {
  return n.parent === null ? { s: 0, ns: 0 } : { s: n.inode.mtime, ns: n.inode.mtimeNsec };
}

export function symlinkTarget(n: BNode): Uint8Array {
  return n.inode.target ?? new Uint8Array(0);
}

export const align8 = (x: number): number => alignUp(x, 8);
export const align4k = (x: number): number => alignUp(x, 4096);
