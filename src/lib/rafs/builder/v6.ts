/**
 * RAFS v6 bootstrap writer (§4): an EROFS image whose regular files are chunk-based with 8-byte
 * chunk indexes pointing into the blobs' uncompressed address spaces (extra devices).
 *
 * Layout: block 0 (superblock at 1024, RAFS ext superblock at 1152, device slots at 1408), blob
 * table at the next 4 KiB boundary, prefetch table after it, then the meta area (first 4096 bytes
 * unused so the root is nid 128) holding every inode (extended), its inline xattrs and either its
 * inline tail (directories, symlinks) or its chunk index array, in index order; then, block
 * aligned, directory/symlink blocks that are not inline; then the chunk table; padded to 4 KiB.
 * An inode with its xattrs and inline tail never crosses a block boundary.
 *
 * The layout is computed first (`layoutV6`), then `emitV6` writes it front to back through one
 * Output: a CountingOutput pass checks the size, a StreamOutput pass writes.
 */
import {
  EROFS_CHUNK_FORMAT_INDEXES, EROFS_FEATURE_INCOMPAT_CHUNKED_FILE, EROFS_FEATURE_INCOMPAT_DEVICE_TABLE, EROFS_INODE_CHUNK_BASED,
  EROFS_INODE_FLAT_INLINE, EROFS_INODE_FLAT_PLAIN, EROFS_MAGIC, EROFS_SLOTSIZE, erofs_deviceslot, erofs_inode_chunk_index, erofs_super_block,
} from '../../erofs/structs.ts';
import {
  compareBytes, direntBlocks, emitDirentsOf, xattrIcount, type InodeCore,
} from '../../erofs/writer-common.ts';
import type { FileType } from '../../fs/types.ts';
import { assignBlocks, emitDirBlocks, emitInodeAreaSync, type InodeRecords } from '../../erofs/writer-model.ts';
import { planXattrs } from '../../erofs/writer-xattrs.ts';
import { expectAt, measureThenWrite, type Output, type Sink } from '../../erofs/writer-output.ts';
import { encodeStruct } from '../../struct.ts';
import {
  BF, COMPRESSORS, DIGESTERS, EROFS_FEATURE_COMPAT_RAFS_V6, RAFS_CHUNK_INFO, RAFS_V6_BLOB, RAFS_V6_DEVT_OFFSET, RAFS_V6_EXT_SB_OFFSET,
  RAFS_V6_EXT_SUPERBLOCK, RAFS_V6_SB_OFFSET, SF, type Compressor, type Digester,
} from '../structs.ts';
import { alignUp } from '../../bytes.ts';
import { align4k, BlobTable, encodeChunkInfo, modeOf, mtimeOf, superFlags, symlinkTarget } from './common.ts';
import type { BNode, BTree } from './tree.ts';
import type { ChunkRef } from './types.ts';

const INODE = 64;
const ENC = new TextEncoder();
const DOT = ENC.encode('.');
const DOTDOT = ENC.encode('..');
/** EROFS_FEATURE_INCOMPAT_CHUNKED_FILE | DEVICE_TABLE, exactly (§4.2) */
const INCOMPAT = EROFS_FEATURE_INCOMPAT_CHUNKED_FILE | EROFS_FEATURE_INCOMPAT_DEVICE_TABLE;
const ENCRYPTION_NONE = 0x0100_0000;
/** flattened-disk alignment of each blob (§4.4) */
const MAPPED_ALIGN = 512 * 1024;

export interface V6Input {
  tree: BTree;
  /** chunks of each regular-file primary */
  chunks: Map<BNode, ChunkRef[]>;
  blobs: BlobTable;
  chunkSize: number;
  compressor: Compressor;
  digester: Digester;
  explicitUidGid: boolean;
  prefetch: BNode[];
  /**
   * EROFS block bits: 12 (4 KiB), or 9 for tarfs, whose data blob is the layer tar itself and whose
   * chunk addresses are 512-byte tar blocks (nydus-image `--type tar-tarfs`, §4.2)
   */
  blockBits?: 9 | 12;
  /** tarfs (TARTFS_MODE): the root keeps the tar's mtime (its tree was read from the tar) */
  tarfs?: boolean;
  /** this build encrypts its blob: ENCRYPTION_ASE_128_XTS instead of ENCRYPTION_NONE (nydus ext_sb.set_cipher) */
  encrypted?: boolean;
}

interface V6Node {
  n: BNode;
  offset: number;
  nid: number;
  layout: number;
  xsize: number;
  size: number;
  /** directories: entry names (incl. . and ..) sorted, their nodes, block starts */
  names?: Uint8Array[];
  targets?: BNode[];
  starts?: number[];
  lastSize?: number;
  /** data blocks outside the meta area and where they start */
  nBlocks: number;
  blkaddr: number;
  /** bytes stored right after inode + xattrs (tail, or 8-aligned padding + chunk indexes) */
  inlineLen: number;
  chunkBits: number;
}

export interface V6Layout {
  input: V6Input;
  /** EROFS block size: dirent blocks, data block addresses, chunk block addresses */
  B: number;
  nodes: V6Node[];
  nodeOf: Map<BNode, V6Node>;
  /** inode records as placed, in emission order (index k = nodes[k]) */
  records: InodeRecords;
  blobTableOffset: number;
  prefetchOffset: number;
  prefetchNids: number[];
  metaAddr: number;
  dataStart: number;
  chunkTableOffset: number;
  chunkRows: { c: ChunkRef; blobIndex: number }[];
  size: number;
  flags: number;
}

function dirEntries(n: BNode): { names: Uint8Array[]; targets: BNode[] } {
  const all: [Uint8Array, BNode][] = [[DOT, n], [DOTDOT, n.parent ?? n], ...n.children.map((c) => [c.name, c] as [Uint8Array, BNode])];
  all.sort((a, b) => compareBytes(a[0], b[0]));
  return { names: all.map((e) => e[0]), targets: all.map((e) => e[1]) };
}

function contiguous(chunks: ChunkRef[], chunkSize: number): boolean {
  for (let i = 1; i < chunks.length; i++) {
    if (chunks[i]!.blob !== chunks[0]!.blob || chunks[i]!.uncompressedOffset !== chunks[i - 1]!.uncompressedOffset + chunkSize) return false;
  }
  return true;
}

export function layoutV6(input: V6Input): V6Layout {
  const { tree, chunks, blobs, chunkSize } = input;
  const B = 2 ** (input.blockBits ?? 12);
  const nb = blobs.list.length;
  const blobTableOffset = align4k(RAFS_V6_DEVT_OFFSET + 128 * nb);
  const prefetchCount = nb > 0 ? input.prefetch.length : 0;
  const prefetchOffset = blobTableOffset + RAFS_V6_BLOB.size * nb;
  const metaAddr = align4k(prefetchOffset + 4 * prefetchCount);
  // the meta area's first 4096 bytes stay unused whatever the block size, so the root is nid 128
  let cur = metaAddr + 4096;
  const nodes: V6Node[] = [];
  const nodeOf = new Map<BNode, V6Node>();
  const chunkBitsBase = Math.log2(chunkSize);
  // nydus shares no xattrs and writes no name filter: every entry inline, in the tree's order
  const primaries = tree.byIndex.filter((n) => n.primary === n);
  const xp = planXattrs(primaries.map((n) => n.xattrs), { order: 'mkfs', minUses: Infinity, nameFilter: false });
  const hasXattr = xp.any;
  for (let k = 0; k < primaries.length; k++) {
    const n = primaries[k]!;
    const xsize = xp.xsize[k]!;
    const v: V6Node = { n, offset: 0, nid: 0, layout: EROFS_INODE_FLAT_PLAIN, xsize, size: 0, nBlocks: 0, blkaddr: 0, inlineLen: 0, chunkBits: 0 };
    let head = INODE + xsize;
    const t = n.inode.type;
    if (t === 'dir' || t === 'symlink') {
      let dsize: number;
      if (t === 'dir') {
        const { names, targets } = dirEntries(n);
        const { starts, lastSize } = direntBlocks(names, B);
        v.names = names;
        v.targets = targets;
        v.starts = starts;
        v.lastSize = lastSize;
        dsize = (starts.length - 2) * B + lastSize;
      } else dsize = symlinkTarget(n).length;
      v.size = dsize;
      const tail = dsize % B;
      if (tail !== 0 && head + tail <= B) {
        v.layout = EROFS_INODE_FLAT_INLINE;
        v.inlineLen = tail;
        v.nBlocks = Math.floor(dsize / B);
        head += tail;
      } else {
        v.nBlocks = Math.ceil(dsize / B);
      }
      if ((cur % B) + head > B) cur = alignUp(cur, B);
      v.offset = cur;
      cur += head;
    } else if (t === 'reg') {
      v.layout = EROFS_INODE_CHUNK_BASED;
      v.size = n.inode.size;
      const cs = chunks.get(n) ?? [];
      let bits = chunkBitsBase;
      if (n.inode.size > chunkSize && cs.length > 1 && contiguous(cs, chunkSize)) bits = Math.ceil(Math.log2(n.inode.size));
      v.chunkBits = bits;
      if ((cur % B) + head > B) cur = alignUp(cur, B);
      v.offset = cur;
      const idx = Math.ceil((cur + head) / 8) * 8;
      v.inlineLen = idx - (cur + head) + cs.length * erofs_inode_chunk_index.size;
      cur += head + v.inlineLen;
    } else {
      if ((cur % B) + head > B) cur = alignUp(cur, B);
      v.offset = cur;
      cur += head;
    }
    cur = Math.ceil(cur / EROFS_SLOTSIZE) * EROFS_SLOTSIZE;
    v.nid = (v.offset - metaAddr) / EROFS_SLOTSIZE;
    nodes.push(v);
    nodeOf.set(n, v);
  }
  const dataStart = alignUp(cur, B);
  // the record the emission follows (nothing shared: the xattr "table" is empty)
  const records: InodeRecords = {
    order: Uint32Array.from({ length: nodes.length }, (_, k) => k), ipos: nodes.map((v) => v.offset), coreSize: () => INODE,
    tailLen: nodes.map((v) => v.inlineLen), xattrs: xp, inodesEnd: cur, dataStart, bs: B,
  };
  const blkaddr = new Float64Array(nodes.length);
  const blk = assignBlocks(nodes.map((v) => v.nBlocks), dataStart / B, blkaddr);
  nodes.forEach((v, k) => (v.blkaddr = blkaddr[k]!));
  // the chunk table starts on a 4 KiB boundary whatever the block size (nydus v6_align_to_4k)
  const chunkTableOffset = align4k(blk * B);
  // distinct chunks, sorted by (digest, blob index + 1)
  const rows = new Map<string, { c: ChunkRef; blobIndex: number }>();
  for (const [, cs] of chunks) {
    for (const c of cs) {
      const bi = blobs.indexOf(c.blob);
      let k = '';
      for (const x of c.digest) k += x.toString(16).padStart(2, '0');
      k += ':' + bi.toString(16).padStart(8, '0');
      if (!rows.has(k)) rows.set(k, { c, blobIndex: bi });
    }
  }
  const chunkRows = [...rows.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
  const size = align4k(chunkTableOffset + chunkRows.length * RAFS_CHUNK_INFO.size);
  let flags = superFlags(input.compressor, input.digester, input.explicitUidGid, hasXattr) | (input.encrypted ? SF.ENCRYPTION_ASE_128_XTS : ENCRYPTION_NONE);
  if (nb > 0 && blobs.list.every((b) => (b.features & BF.INLINED_CHUNK_DIGEST) !== 0)) flags |= SF.INLINED_CHUNK_DIGEST;
  if (input.tarfs) flags |= SF.TARTFS_MODE;
  const prefetchNids = prefetchCount ? input.prefetch.map((p) => nodeOf.get(p.primary)!.nid) : [];
  return { input, B, nodes, nodeOf, records, blobTableOffset, prefetchOffset, prefetchNids, metaAddr, dataStart, chunkTableOffset, chunkRows, size, flags };
}

function emitBlock0(out: Output, L: V6Layout): void {
  const { blobs } = L.input;
  const B = L.B;
  const nb = blobs.list.length;
  const head = new Uint8Array(RAFS_V6_DEVT_OFFSET + 128 * nb);
  let sBlocks = 0;
  let prevEnd = L.size;
  for (let i = 0; i < nb; i++) {
    const b = blobs.list[i]!;
    const blocks = Math.ceil((b.uncompressedSize ?? 0) / B);
    const start = Math.ceil(prevEnd / MAPPED_ALIGN) * MAPPED_ALIGN;
    encodeStruct(erofs_deviceslot, { tag: ENC.encode(b.blobId).subarray(0, 64), blocks, mapped_blkaddr: start / B }, head, RAFS_V6_DEVT_OFFSET + 128 * i);
    prevEnd = start + blocks * B;
    sBlocks += blocks;
  }
  encodeStruct(erofs_super_block, {
    magic: EROFS_MAGIC, checksum: 0, feature_compat: EROFS_FEATURE_COMPAT_RAFS_V6, blkszbits: Math.log2(B), sb_extslots: 0, root_nid: L.nodeOf.get(L.input.tree.root)!.nid,
    inos: L.input.tree.byIndex.length, blocks: sBlocks, meta_blkaddr: L.metaAddr / B, feature_incompat: INCOMPAT, extra_devices: nb,
    devt_slotoff: RAFS_V6_DEVT_OFFSET / 128,
  }, head, RAFS_V6_SB_OFFSET);
  encodeStruct(RAFS_V6_EXT_SUPERBLOCK, {
    s_flags: L.flags, s_blob_table_offset: L.blobTableOffset, s_blob_table_size: RAFS_V6_BLOB.size * nb, s_chunk_size: L.input.chunkSize,
    s_chunk_table_offset: L.chunkTableOffset, s_chunk_table_size: L.chunkRows.length * RAFS_CHUNK_INFO.size,
    s_prefetch_table_offset: L.prefetchNids.length ? L.prefetchOffset : 0, s_prefetch_table_size: L.prefetchNids.length * 4,
  }, head, RAFS_V6_EXT_SB_OFFSET);
  out.bytes(head);
  out.padTo(L.blobTableOffset);
  const bt = new Uint8Array(RAFS_V6_BLOB.size * nb);
  for (let i = 0; i < nb; i++) {
    const b = blobs.list[i]!;
    encodeStruct(RAFS_V6_BLOB, {
      blob_id: ENC.encode(b.blobId).subarray(0, 64), blob_index: i, chunk_size: L.input.chunkSize, chunk_count: b.chunkCount ?? 0,
      compression_algo: COMPRESSORS.indexOf(b.compressor), digest_algo: DIGESTERS.indexOf(b.digester), features: b.features,
      compressed_size: b.compressedSize ?? 0, uncompressed_size: b.uncompressedSize ?? 0, blob_toc_size: b.blobTocSize ?? 0,
      ci_compressor: COMPRESSORS.indexOf(b.ciCompressor ?? 'none'), ci_offset: b.ciOffset ?? 0, ci_compressed_size: b.ciCompressedSize ?? 0,
      ci_uncompressed_size: b.ciUncompressedSize ?? 0, blob_toc_digest: b.blobTocDigest ?? new Uint8Array(32), blob_meta_digest: b.blobMetaDigest ?? new Uint8Array(32),
      blob_meta_size: b.blobMetaSize ?? 0, cipher_iv: b.cipherIv ?? new Uint8Array(8), cipher_algo: b.cipherAlgo ?? 0,
    }, bt, i * RAFS_V6_BLOB.size);
    // an encrypted blob's IV fills blob_meta_size and cipher_iv (16 random bytes, not a number)
    if (b.cipherIvFull) bt.set(b.cipherIvFull, i * RAFS_V6_BLOB.size + RAFS_V6_BLOB.f.blob_meta_size.offset);
  }
  out.bytes(bt);
  if (L.prefetchNids.length) {
    const p = new Uint8Array(4 * L.prefetchNids.length);
    const dv = new DataView(p.buffer);
    L.prefetchNids.forEach((nid, i) => dv.setUint32(i * 4, nid, true));
    out.bytes(p);
  }
}

/** a directory's entries as the shared emitters take them: entry k names "node" k, whose nid and type are the entry's */
function dirTargets(L: V6Layout, v: V6Node): { targets: Uint32Array; nids: number[]; typeOf: (k: number) => FileType } {
  const ts = v.targets!;
  return { targets: Uint32Array.from({ length: ts.length }, (_, k) => k), nids: ts.map((t) => L.nodeOf.get(t.primary)!.nid), typeOf: (k) => ts[k]!.inode.type };
}

const W = 'RAFS v6';
function where(v: V6Node): string {
  const comps: string[] = [];
  for (let n: BNode | null = v.n; n && n.parent; n = n.parent) comps.push(new TextDecoder().decode(n.name));
  return `inode ${v.n.index} (nid ${v.nid}, ${JSON.stringify('/' + comps.reverse().join('/'))})`;
}

function coreOf(L: V6Layout, v: V6Node): InodeCore {
  const n = v.n;
  const { explicitUidGid } = L.input;
  let iu = 0;
  const t = n.inode.type;
  if (t === 'reg') iu = EROFS_CHUNK_FORMAT_INDEXES | (v.chunkBits - Math.log2(L.B));
  else if (t === 'chr' || t === 'blk') iu = n.inode.rdev;
  else if (v.nBlocks > 0) iu = v.blkaddr;
  // tarfs: tar-rs gives whole seconds (the ustar field), nydus writes nsec 0
  const m = L.input.tarfs ? { s: n.inode.mtime, ns: 0 } : mtimeOf(n);
  return {
    compact: false, layout: v.layout, xattrIcount: xattrIcount(v.xsize), mode: modeOf(n), nlink: n.nlink, size: v.size, iu, ino: n.index,
    uid: explicitUidGid ? n.inode.uid : 0, gid: explicitUidGid ? n.inode.gid : 0, mtime: m.s, mtimeNsec: m.ns,
  };
}

/** what follows the xattr area: 8-aligned chunk indexes, or the inline directory block / symlink tail */
function emitTail(out: Output, L: V6Layout, v: V6Node): void {
  const n = v.n;
  const B = L.B;
  const t = n.inode.type;
  if (t === 'reg') {
    const cs = L.input.chunks.get(n) ?? [];
    out.padTo(Math.ceil(out.pos / 8) * 8);
    const b = new Uint8Array(cs.length * 8);
    const dv = new DataView(b.buffer);
    cs.forEach((c, i) => {
      const bi = L.input.blobs.indexOf(c.blob);
      dv.setUint16(i * 8, c.index & 0xffff, true);
      dv.setUint16(i * 8 + 2, ((bi + 1) & 0xff) | (((c.index >>> 16) & 0xff) << 8), true);
      dv.setUint32(i * 8 + 4, Math.floor(c.uncompressedOffset / B), true);
    });
    out.bytes(b);
  } else if (v.layout === EROFS_INODE_FLAT_INLINE) {
    if (t === 'dir') {
      // the last block, inline
      const d = dirTargets(L, v);
      const first = v.starts![v.starts!.length - 2]!;
      emitDirentsOf(out, v.names!, d.targets, d.nids, d.typeOf, first, v.names!.length);
    }
    else out.bytes(symlinkTarget(n).subarray(v.nBlocks * B));
  }
}

export function emitV6(out: Output, L: V6Layout): void {
  const B = L.B;
  emitBlock0(out, L);
  out.padTo(L.metaAddr + 4096);
  const whereK = (k: number) => where(L.nodes[k]!);
  emitInodeAreaSync(out, L.records, (k) => coreOf(L, L.nodes[k]!), (k) => emitTail(out, L, L.nodes[k]!), W, whereK);
  for (const v of L.nodes) {
    if (v.nBlocks === 0) continue;
    expectAt(out, v.blkaddr * B, W, () => `${where(v)}: data block 0`);
    if (v.n.inode.type === 'dir') {
      const d = dirTargets(L, v);
      emitDirBlocks(out, v.blkaddr * B, B, v.names!, d.targets, v.starts!, v.nBlocks, d.nids, d.typeOf, W, () => where(v));
    } else {
      const tgt = symlinkTarget(v.n).subarray(0, v.nBlocks * B);
      out.bytes(tgt);
      expectAt(out, v.blkaddr * B + tgt.length, W, () => `${where(v)}: data end`);
      out.padTo(v.blkaddr * B + v.nBlocks * B);
    }
    expectAt(out, (v.blkaddr + v.nBlocks) * B, W, () => `${where(v)}: end of its ${v.nBlocks} data blocks`);
  }
  out.padTo(L.chunkTableOffset);
  const rows = new Uint8Array(L.chunkRows.length * RAFS_CHUNK_INFO.size);
  L.chunkRows.forEach((r, i) => encodeChunkInfo(rows, i * RAFS_CHUNK_INFO.size, r.c, r.blobIndex, 0));
  out.bytes(rows);
  out.padTo(L.size);
}

/** Lay out, measure, then stream the bootstrap to `sink`; returns its size. */
export async function writeV6(input: V6Input, sink: Sink): Promise<{ size: number; layout: V6Layout }> {
  const L = layoutV6(input);
  await measureThenWrite((out) => emitV6(out, L), L.size, sink, 'v6 bootstrap');
  return { size: L.size, layout: L };
}
