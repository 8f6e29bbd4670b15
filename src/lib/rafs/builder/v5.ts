/**
 * RAFS v5 bootstrap writer (§3): superblock, inode table (by index), prefetch table, blob table,
 * extended blob table, then one record per entry (hardlink entries included) in index order
 * (as the sha256-nocompress-repeatable fixture is laid out):
 * inode, name, symlink target, xattr table, chunk infos. Inode digests are computed bottom-up
 * (§3.10) before anything is laid out; `layoutV5` computes every offset, `emitV5` writes through one
 * Output (a measuring pass, then the streaming pass).
 */
import { blake3 } from '../../codec/blake3.ts';
import { sha256 } from '../../codec/sha256.ts';
import { measureThenWrite, type Output, type Sink } from '../../erofs/writer-output.ts';
import { encodeStruct, writeU64 } from '../../struct.ts';
import {
  IF, RAFS_CHUNK_INFO, RAFS_V5_EXT_BLOB_ENTRY, RAFS_V5_INODE, RAFS_V5_MAGIC, RAFS_V5_SB_SIZE, RAFS_V5_SUPERBLOCK, RAFS_V5_VERSION,
  type Compressor, type Digester,
} from '../structs.ts';
import { align4k, align8, BlobTable, encodeChunkInfo, modeOf, mtimeOf, superFlags, symlinkTarget } from './common.ts';
import { preorder, type BNode, type BTree } from './tree.ts';
import type { ChunkRef } from './types.ts';

export interface V5Input {
  tree: BTree;
  chunks: Map<BNode, ChunkRef[]>;
  blobs: BlobTable;
  chunkSize: number;
  compressor: Compressor;
  digester: Digester;
  explicitUidGid: boolean;
  prefetch: BNode[];
}

interface V5Rec {
  n: BNode;
  offset: number;
  size: number;
  digest: Uint8Array;
  isize: number;
  xattrTotal: number;
}

export interface V5Layout {
  input: V5Input;
  recs: V5Rec[];
  recOf: Map<BNode, V5Rec>;
  prefetchOffset: number;
  blobTableOffset: number;
  blobTableSize: number;
  extOffset: number;
  size: number;
  flags: number;
}

const ENC = new TextEncoder();

function xattrTotal(n: BNode): number {
  let t = 0;
  for (const x of n.xattrs) t += 4 + x.name.length + 1 + x.value.length;
  return t;
}

function nameOf(n: BNode): Uint8Array {
  return n.parent === null ? ENC.encode('/') : n.name;
}

/** i_digest of every entry, post-order (§3.10). */
function digests(t: BTree, chunks: Map<BNode, ChunkRef[]>, digester: Digester): Map<BNode, Uint8Array> {
  const H = digester === 'blake3' ? (b: Uint8Array) => blake3(b) : (b: Uint8Array) => sha256(b);
  const out = new Map<BNode, Uint8Array>();
  const order = preorder(t.root);
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    let d: Uint8Array;
    switch (n.inode.type) {
      case 'reg': {
        const cs = chunks.get(n.primary) ?? [];
        const b = new Uint8Array(32 * cs.length);
        cs.forEach((c, k) => b.set(c.digest, 32 * k));
        d = H(b);
        break;
      }
      case 'symlink': d = H(symlinkTarget(n)); break;
      case 'dir': {
        const b = new Uint8Array(32 * n.children.length);
        n.children.forEach((c, k) => b.set(out.get(c)!, 32 * k));
        d = H(b);
        break;
      }
      default: d = H(new Uint8Array(0));
    }
    out.set(n, d);
  }
  return out;
}

function isizeOf(n: BNode): number {
  switch (n.inode.type) {
    case 'dir': {
      if (n.children.length === 0) return 4096;
      let s = 0;
      for (const c of n.children) s += c.name.length + 8;
      return align4k(s);
    }
    case 'reg': return n.inode.size;
    case 'symlink': return symlinkTarget(n).length;
    default: return 0;
  }
}

export function layoutV5(input: V5Input): V5Layout {
  const { tree, blobs } = input;
  const entries = tree.byIndex.length;
  const prefetchOffset = RAFS_V5_SB_SIZE + align8(4 * entries);
  const blobTableOffset = prefetchOffset + align8(4 * input.prefetch.length);
  let bt = 0;
  for (const b of blobs.list) bt += 8 + ENC.encode(b.blobId).length + 1;
  const blobTableSize = blobs.list.length ? align8(bt - 1) : 0;
  const extOffset = blobTableOffset + blobTableSize;
  let cur = extOffset + RAFS_V5_EXT_BLOB_ENTRY.size * blobs.list.length;
  const dig = digests(tree, input.chunks, input.digester);
  const recs: V5Rec[] = [];
  const recOf = new Map<BNode, V5Rec>();
  let hasXattr = false;
  // records in index order: what the 2023 fixture shows (§3.12 says pre-order DFS; the fixture wins)
  for (const n of tree.byIndex) {
    const xt = xattrTotal(n);
    if (n.xattrs.length) hasXattr = true;
    let size = RAFS_V5_INODE.size + align8(nameOf(n).length);
    if (n.inode.type === 'symlink') size += align8(symlinkTarget(n).length);
    if (n.xattrs.length) size += 8 + align8(xt);
    if (n.inode.type === 'reg') size += RAFS_CHUNK_INFO.size * (input.chunks.get(n.primary)?.length ?? 0);
    const r: V5Rec = { n, offset: cur, size, digest: dig.get(n)!, isize: isizeOf(n), xattrTotal: xt };
    recs.push(r);
    recOf.set(n, r);
    cur += size;
  }
  const flags = superFlags(input.compressor, input.digester, input.explicitUidGid, hasXattr);
  return { input, recs, recOf, prefetchOffset, blobTableOffset, blobTableSize, extOffset, size: cur, flags };
}

function emitRecord(out: Output, L: V5Layout, r: V5Rec): void {
  const { n } = r;
  const inp = L.input;
  const t = n.inode.type;
  const cs = t === 'reg' ? (inp.chunks.get(n.primary) ?? []) : [];
  const name = nameOf(n);
  const target = t === 'symlink' ? symlinkTarget(n) : new Uint8Array(0);
  const hasX = n.xattrs.length > 0;
  const m = mtimeOf(n);
  const head = new Uint8Array(RAFS_V5_INODE.size);
  encodeStruct(RAFS_V5_INODE, {
    i_digest: r.digest, i_parent: n.parent ? n.parent.index : 0, i_ino: n.primary.index, i_uid: inp.explicitUidGid ? n.inode.uid : 0,
    i_gid: inp.explicitUidGid ? n.inode.gid : 0, i_projid: 0, i_mode: modeOf(n), i_size: r.isize,
    i_blocks: Math.ceil((r.isize + (hasX ? align8(r.xattrTotal) : 0)) / 512),
    i_flags: (t === 'symlink' ? IF.SYMLINK : 0) | (hasX ? IF.XATTR : 0), i_nlink: n.nlink,
    i_child_index: t === 'dir' ? n.childIndex : 0, i_child_count: t === 'dir' ? n.children.length : t === 'reg' ? cs.length : 0,
    i_name_size: name.length, i_symlink_size: target.length, i_rdev: t === 'chr' || t === 'blk' ? n.inode.rdev >>> 0 : 0,
    i_mtime_nsec: m.ns, i_mtime: m.s,
  }, head);
  out.bytes(head);
  out.bytes(name);
  out.fill(align8(name.length) - name.length);
  if (target.length) {
    out.bytes(target);
    out.fill(align8(target.length) - target.length);
  }
  if (hasX) {
    const x = new Uint8Array(8 + align8(r.xattrTotal));
    const dv = new DataView(x.buffer);
    writeU64(dv, 0, r.xattrTotal);
    let p = 8;
    for (const e of n.xattrs) {
      dv.setUint32(p, e.name.length + 1 + e.value.length, true);
      x.set(e.name, p + 4);
      x.set(e.value, p + 4 + e.name.length + 1);
      p += 4 + e.name.length + 1 + e.value.length;
    }
    out.bytes(x);
  }
  if (cs.length) {
    const b = new Uint8Array(RAFS_CHUNK_INFO.size * cs.length);
    cs.forEach((c, i) => encodeChunkInfo(b, i * RAFS_CHUNK_INFO.size, c, inp.blobs.indexOf(c.blob), i * inp.chunkSize));
    out.bytes(b);
  }
}

export function emitV5(out: Output, L: V5Layout): void {
  const inp = L.input;
  const entries = inp.tree.byIndex.length;
  let inodes = 0;
  for (const n of inp.tree.byIndex) if (!(n.inode.type === 'reg' && n.nlink > 1)) inodes++;
  const sb = new Uint8Array(RAFS_V5_SB_SIZE);
  encodeStruct(RAFS_V5_SUPERBLOCK, {
    s_magic: RAFS_V5_MAGIC, s_fs_version: RAFS_V5_VERSION, s_sb_size: RAFS_V5_SB_SIZE, s_block_size: inp.chunkSize, s_flags: L.flags,
    s_inodes_count: inodes, s_inode_table_offset: RAFS_V5_SB_SIZE, s_prefetch_table_offset: L.prefetchOffset, s_blob_table_offset: L.blobTableOffset,
    s_inode_table_entries: entries, s_prefetch_table_entries: inp.prefetch.length, s_blob_table_size: L.blobTableSize,
    s_extended_blob_table_entries: inp.blobs.list.length, s_extended_blob_table_offset: L.extOffset,
  }, sb);
  out.bytes(sb);
  const table = new Uint8Array(align8(4 * entries));
  const tv = new DataView(table.buffer);
  inp.tree.byIndex.forEach((n, i) => tv.setUint32(i * 4, L.recOf.get(n)!.offset / 8, true));
  out.bytes(table);
  const pf = new Uint8Array(align8(4 * inp.prefetch.length));
  const pv = new DataView(pf.buffer);
  inp.prefetch.forEach((n, i) => pv.setUint32(i * 4, n.primary.index, true));
  out.bytes(pf);
  inp.blobs.list.forEach((b, i) => {
    out.fill(8);
    out.bytes(ENC.encode(b.blobId));
    if (i < inp.blobs.list.length - 1) out.fill(1);
  });
  out.padTo(L.extOffset);
  const ext = new Uint8Array(RAFS_V5_EXT_BLOB_ENTRY.size * inp.blobs.list.length);
  inp.blobs.list.forEach((b, i) => encodeStruct(RAFS_V5_EXT_BLOB_ENTRY, {
    chunk_count: b.chunkCount ?? 0, features: b.features, uncompressed_size: b.uncompressedSize ?? 0, compressed_size: b.compressedSize ?? 0,
  }, ext, i * RAFS_V5_EXT_BLOB_ENTRY.size));
  out.bytes(ext);
  for (const r of L.recs) {
    if (out.pos !== r.offset) throw new Error(`writer bug: v5 record of index ${r.n.index} at ${out.pos}, planned ${r.offset}`);
    emitRecord(out, L, r);
  }
}

export async function writeV5(input: V5Input, sink: Sink): Promise<{ size: number; layout: V5Layout }> {
  const L = layoutV5(input);
  await measureThenWrite((out) => emitV5(out, L), L.size, sink, 'v5 bootstrap');
  return { size: L.size, layout: L };
}
