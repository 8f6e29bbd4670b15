/**
 * Structure views for the page and `--json` dumps: every on-disk field with its absolute offset,
 * size and value, straight from the struct declarations.
 */
import { describeStruct, type DescribedField } from '../struct.ts';
import { EROFS_DEVT_SLOT_SIZE, EROFS_SUPER_OFFSET, erofs_deviceslot, erofs_inode_compact, erofs_inode_extended, erofs_super_block } from '../erofs/structs.ts';
import { RAFS_CHUNK_INFO, RAFS_V5_EXT_BLOB_ENTRY, RAFS_V5_INODE, RAFS_V5_SUPERBLOCK, RAFS_V6_BLOB, RAFS_V6_DEVT_OFFSET, RAFS_V6_EXT_SB_OFFSET, RAFS_V6_EXT_SUPERBLOCK } from './structs.ts';
import type { RafsChunk, RafsFs } from './model.ts';
import { BF, CI2_FLAGS } from './structs.ts';
import { batchContext, ciEntry, type BlobMeta } from './blob.ts';
import { zranChunk, zranContextChunks, zranTable, type ZranTable } from './zran.ts';
import { RafsV5 } from './v5.ts';
import { RafsV6 } from './v6.ts';

const noReserved = (f: DescribedField) => !/reserved/.test(f.name);

/** Superblock(s) and fixed tables: v5 superblock + extended blob entries; v6 superblocks, device slots, blob entries. */
export async function describeRafsHeader(fs: RafsFs): Promise<Record<string, DescribedField[] | DescribedField[][]>> {
  const src = fs.source;
  if (fs instanceof RafsV5) {
    const sb = await src.read(0, RAFS_V5_SUPERBLOCK.size);
    const n = fs.sb.s_extended_blob_table_entries;
    const at = fs.sb.s_extended_blob_table_offset;
    const ext = n > 0 ? await src.read(at, n * RAFS_V5_EXT_BLOB_ENTRY.size) : new Uint8Array(0);
    return {
      superblock: describeStruct(RAFS_V5_SUPERBLOCK, sb).filter(noReserved),
      ext_blob_table: Array.from({ length: n }, (_, i) => describeStruct(RAFS_V5_EXT_BLOB_ENTRY, ext, i * 64, at).filter(noReserved)),
    };
  }
  const v6 = fs as RafsV6;
  const head = await src.read(0, 4096);
  const n = v6.blobs.length;
  const dev = await src.read(RAFS_V6_DEVT_OFFSET, n * EROFS_DEVT_SLOT_SIZE);
  const bt = n > 0 ? await src.read(v6.ext.s_blob_table_offset, n * RAFS_V6_BLOB.size) : new Uint8Array(0);
  return {
    superblock: describeStruct(erofs_super_block, head, EROFS_SUPER_OFFSET),
    ext_superblock: describeStruct(RAFS_V6_EXT_SUPERBLOCK, head, RAFS_V6_EXT_SB_OFFSET).filter(noReserved),
    devices: Array.from({ length: n }, (_, i) => describeStruct(erofs_deviceslot, dev, i * EROFS_DEVT_SLOT_SIZE, RAFS_V6_DEVT_OFFSET).filter(noReserved)),
    blobs: Array.from({ length: n }, (_, i) => describeStruct(RAFS_V6_BLOB, bt, i * RAFS_V6_BLOB.size, v6.ext.s_blob_table_offset).filter(noReserved)),
  };
}

/** The inode record (v5, with its chunk infos) or EROFS inode core (v6) of `ino`. */
export async function describeRafsInode(fs: RafsFs, ino: number): Promise<{ inode: DescribedField[]; chunks?: DescribedField[][] }> {
  const src = fs.source;
  if (fs instanceof RafsV5) {
    const r = await fs.inodeAt(ino);
    const b = await src.read(r.offset, RAFS_V5_INODE.size);
    const inode = describeStruct(RAFS_V5_INODE, b, 0, r.offset);
    if (r.type !== 'reg' || r.chunks.length === 0) return { inode };
    const cb = await src.read(r.chunksOffset, r.chunks.length * RAFS_CHUNK_INFO.size);
    return { inode, chunks: r.chunks.map((_, i) => describeStruct(RAFS_CHUNK_INFO, cb, i * RAFS_CHUNK_INFO.size, r.chunksOffset)) };
  }
  const r = await (fs as RafsV6).inodeAt(ino);
  const def = r.extended ? erofs_inode_extended : erofs_inode_compact;
  return { inode: describeStruct(def, await src.read(r.offset, def.size), 0, r.offset) };
}

/**
 * Where a chunk's bytes come from when they are not a chunk of their own (RAFS v6, CI v2 rows): a
 * batch (its context: where the batch is stored and how big it is, and the chunk's offset in it) or a
 * ZRAN checkpoint of a gzip layer (the inflate context: input range, output range, window size and
 * primed bits, and the chunks that share it). Fields as the blob meta holds them (§5.5, §5.6).
 */
export type ChunkContextInfo =
  | { kind: 'batch'; index: number; offsetInBatch: number; batchOffset: number; batchStoredSize: number; batchSize: number; batchCompressed: boolean }
  | {
    kind: 'zran'; index: number; offsetInOutput: number; inOffset: number; inLen: number; outOffset: number; outLen: number; dictSize: number;
    ctxBits: number; ctxByte: number; firstChunk: number; lastChunk: number;
  };

const zranTables = new WeakMap<BlobMeta, ZranTable>();

/** The batch or ZRAN context of `c`, or null when it has none (or its blob, holding the blob meta, is not supplied). */
export async function chunkContextOf(fs: RafsFs, c: RafsChunk): Promise<ChunkContextInfo | null> {
  const blob = fs.blobs[c.blobIndex];
  if (fs.version !== 6 || !blob || !(blob.features & (BF.BATCH | BF.ZRAN))) return null;
  if (!fs.store.bindings[c.blobIndex]?.source) return null;
  const { meta } = await fs.store.blobDetails(c.blobIndex);
  if (!meta || meta.version !== 2) return null;
  const e = ciEntry(meta, c.index);
  if (e.flags & CI2_FLAGS.BATCH) {
    const b = batchContext(meta, e.dataHi);
    return {
      kind: 'batch', index: e.dataHi, offsetInBatch: e.dataLo, batchOffset: e.compressedOffset, batchStoredSize: b.compressedSize, batchSize: b.uncompressedBatchSize,
      // as the reader decides (blobstore.ts): stored and uncompressed sizes differ (plain blobs)
      batchCompressed: b.compressedSize !== b.uncompressedBatchSize,
    };
  }
  if (e.flags & CI2_FLAGS.ZRAN) {
    let t = zranTables.get(meta);
    if (!t) zranTables.set(meta, (t = zranTable(meta)));
    const z = zranChunk(meta, t, c.index);
    const [firstChunk, lastChunk] = zranContextChunks(meta, c.index);
    const x = z.context;
    return {
      kind: 'zran', index: x.index, offsetInOutput: z.offset, inOffset: x.inOffset, inLen: x.inLen, outOffset: x.outOffset, outLen: x.outLen,
      dictSize: x.dictSize, ctxBits: x.ctxBits, ctxByte: x.ctxByte, firstChunk, lastChunk,
    };
  }
  return null;
}
