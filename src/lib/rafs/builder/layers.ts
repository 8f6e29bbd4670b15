/**
 * Layers (what nydus-image's `Bootstrap::apply` and `merge` do): an existing bootstrap read back as
 * a source tree whose regular files are already chunked (their chunks stay in the parent's blobs),
 * and an upper tree applied onto a lower one with OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) and
 * overlayfs whiteouts (char device 0:0, `trusted.overlay.opaque=y`).
 */
import { OPAQUE_WHITEOUT_BYTES, WHITEOUT_PREFIX_BYTES } from '../../fs/whiteout.ts';
import { UnsupportedError } from '../../errors.ts';
import { imageContent } from '../../fs/sources/image.ts';
import { walk } from '../../fs/path.ts';
import { newDir, type SourceDirent, type SourceInode, type SourceTree, type Xattr } from '../../fs/tree.ts';
import { bytesEqual } from '../../fs/types.ts';
import type { RafsFs } from '../model.ts';
import type { ChunkMap } from './tree.ts';
import type { BlobRef, ChunkRef, WhiteoutSpec } from './types.ts';
import { startsWith } from '../../bytes.ts';

export interface LoadedImage {
  tree: SourceTree;
  /** regular files → their chunks (in the image's blobs) */
  chunks: ChunkMap;
  /** the image's blob table, in order */
  blobs: BlobRef[];
  fs: RafsFs;
}

export function blobRefsOf(fs: RafsFs): BlobRef[] {
  return fs.blobs.map((b) => {
    const { index: _index, ...rest } = b;
    const src = fs.store.bindings[b.index]?.source ?? undefined;
    const ref: BlobRef = { ...rest, blobId: fs.store.blobIdOf(b.index) || b.blobId };
    if (src && fs.store.bindings[b.index]!.kind === 'blob') ref.source = src;
    return ref;
  });
}

/** Read a whole bootstrap into a source tree plus each file's chunk list. */
export async function loadRafsImage(fs: RafsFs, signal?: AbortSignal): Promise<LoadedImage> {
  const blobs = blobRefsOf(fs);
  const chunks: ChunkMap = new Map();
  const byIno = new Map<number, SourceInode>();
  const dirs = new Map<string, SourceInode>();
  let root: SourceInode | null = null;
  const key = (p: Uint8Array[]) => p.map((c) => Array.from(c).join(',')).join('/');
  for await (const { path, attr } of walk(fs)) {
    signal?.throwIfAborted();
    let inode = attr.type !== 'dir' && attr.nlink > 1 ? byIno.get(attr.ino) : undefined;
    if (!inode) {
      const xattrs: Xattr[] = [];
      for (const name of await fs.listxattr(attr.ino)) {
        const value = await fs.getxattr(attr.ino, name);
        if (value) xattrs.push({ name, value });
      }
      inode = {
        type: attr.type, perm: attr.mode & 0o7777, uid: attr.uid, gid: attr.gid, mtime: attr.mtime, mtimeNsec: attr.mtimeNsec, size: 0,
        rdev: attr.type === 'chr' || attr.type === 'blk' ? attr.rdev : 0, xattrs,
      };
      if (attr.type === 'dir') inode.children = [];
      else if (attr.type === 'symlink') {
        inode.target = await fs.readlink(attr.ino);
        inode.size = inode.target.length;
      } else if (attr.type === 'reg') {
        inode.size = attr.size;
        inode.content = imageContent(fs, attr.ino, attr.size, `${fs.format}:ino ${attr.ino}`);
        const cs = await fs.fileChunks(attr.ino);
        chunks.set(inode, cs.map((c): ChunkRef => ({
          digest: c.digest, blob: blobs[c.blobIndex]!, flags: c.flags, compressedOffset: c.compressedOffset, compressedSize: c.compressedSize,
          uncompressedOffset: c.uncompressedOffset, uncompressedSize: c.uncompressedSize, index: c.index, crc32: c.crc32,
        })));
      }
      if (attr.type !== 'dir' && attr.nlink > 1) byIno.set(attr.ino, inode);
    }
    if (path.length === 0) {
      root = inode;
      dirs.set('', inode);
      continue;
    }
    const parent = dirs.get(key(path.slice(0, -1)));
    if (!parent) continue;
    parent.children!.push({ name: path[path.length - 1]!.slice(), inode });
    if (attr.type === 'dir') dirs.set(key(path), inode);
  }
  if (!root) throw new UnsupportedError('rafs layers', 'the image has no root directory');
  return { tree: { root, notes: [`${fs.format} bootstrap`] }, chunks, blobs, fs };
}

const WH = WHITEOUT_PREFIX_BYTES;
const OPQ = OPAQUE_WHITEOUT_BYTES;
const OVL_OPAQUE = new TextEncoder().encode('trusted.overlay.opaque');


function oci(spec: WhiteoutSpec): boolean {
  return spec === 'oci' || spec === 'both';
}
function ovl(spec: WhiteoutSpec): boolean {
  return spec === 'overlayfs' || spec === 'both';
}

/** the NAME an entry whites out, or null when it is not a whiteout */
function whiteoutTarget(d: SourceDirent, spec: WhiteoutSpec): Uint8Array | null {
  if (oci(spec) && startsWith(d.name, WH) && !bytesEqual(d.name, OPQ)) return d.name.subarray(WH.length);
  if (ovl(spec) && d.inode.type === 'chr' && d.inode.rdev === 0) return d.name;
  return null;
}

function isOpaque(dir: SourceInode, spec: WhiteoutSpec): boolean {
  if (oci(spec) && (dir.children ?? []).some((c) => bytesEqual(c.name, OPQ))) return true;
  if (ovl(spec) && dir.xattrs.some((x) => bytesEqual(x.name, OVL_OPAQUE) && x.value.length === 1 && x.value[0] === 0x79)) return true;
  return false;
}

function withoutOpaqueXattr(x: Xattr[], spec: WhiteoutSpec): Xattr[] {
  return ovl(spec) ? x.filter((e) => !bytesEqual(e.name, OVL_OPAQUE)) : x;
}

/** An upper directory with nothing below it: whiteouts dropped (they hide nothing), recursively. */
function cleanDir(dir: SourceInode, spec: WhiteoutSpec, done = new Map<SourceInode, SourceInode>()): SourceInode {
  const out: SourceInode = { ...dir, xattrs: withoutOpaqueXattr(dir.xattrs, spec), children: [] };
  for (const c of dir.children ?? []) {
    if (spec !== 'none' && (bytesEqual(c.name, OPQ) && oci(spec) || whiteoutTarget(c, spec))) continue;
    out.children!.push({ name: c.name, inode: c.inode.type === 'dir' ? cleanDir(c.inode, spec, done) : c.inode, ...(c.link ? { link: true } : {}) });
  }
  return out;
}

/**
 * `upper` applied onto `lower` (neither is modified): an upper directory over a lower directory
 * merges (upper attributes win; an opaque upper hides everything below); anything else replaces;
 * whiteouts remove the lower entry and are not kept.
 */
export function applyLayer(lower: SourceTree, upper: SourceTree, spec: WhiteoutSpec = 'both'): SourceTree {
  const merge = (lo: SourceInode, up: SourceInode): SourceInode => {
    const out: SourceInode = { ...up, xattrs: withoutOpaqueXattr(up.xattrs, spec), children: [] };
    const kids = new Map<string, SourceDirent>();
    const k = (n: Uint8Array) => Array.from(n).join(',');
    if (!(spec !== 'none' && isOpaque(up, spec))) for (const c of lo.children ?? []) kids.set(k(c.name), c);
    const ups = up.children ?? [];
    for (const c of ups) {
      if (spec === 'none') break;
      if (oci(spec) && bytesEqual(c.name, OPQ)) continue;
      const t = whiteoutTarget(c, spec);
      if (t) kids.delete(k(t));
    }
    for (const c of ups) {
      if (spec !== 'none' && ((oci(spec) && bytesEqual(c.name, OPQ)) || whiteoutTarget(c, spec))) continue;
      const prev = kids.get(k(c.name));
      let inode: SourceInode;
      if (c.inode.type === 'dir') inode = prev && prev.inode.type === 'dir' ? merge(prev.inode, c.inode) : cleanDir(c.inode, spec);
      else inode = c.inode;
      kids.set(k(c.name), { name: c.name, inode, ...(c.link ? { link: true } : {}) });
    }
    out.children = [...kids.values()];
    return out;
  };
  return { root: merge(lower.root, upper.root), notes: [...lower.notes, ...upper.notes, 'layer applied'] };
}

/** An empty lower layer (the first layer of a merge applies onto it). */
export function emptyTree(): SourceTree {
  return { root: newDir(0o755), notes: [] };
}
