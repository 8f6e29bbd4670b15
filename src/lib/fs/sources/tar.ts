import { FormatError } from '../../errors.ts';
import { BlobSource, BytesSource, SliceSource, type ByteSource } from '../../io/source.ts';
import { GunzipRangeSource, GunzipReplay, gunzipChunks, type GunzipOptions } from '../../tar/gunzip.ts';
import { chunkInput, readTar, sourceInput, type TarEntry, type TarReadOptions } from '../../tar/reader.ts';
import { MAX_TREE_DEPTH, newDir, type SourceInode, type SourceTree } from '../tree.ts';
import { makedev } from '../types.ts';
import { byteString, markHardlinks, showBytes, splitRawPath } from './names.ts';

/**
 * Tar archives as SourceTrees. Entries are applied in archive order the way an extracting tar
 * would: a later entry for the same path replaces the earlier one (two directories merge, the later
 * metadata wins), missing parents are created as 0755 root-owned directories, hardlinks name the
 * SourceInode of an earlier entry. OCI whiteouts (".wh.NAME", ".wh..wh..opq") are ordinary
 * entries here; the layer builder interprets them.
 */

export interface TarTreeBuilder {
  add(entry: TarEntry, content?: ByteSource): void;
  finish(): SourceTree;
}

export function tarTreeBuilder(archiveName: string): TarTreeBuilder {
  const root = newDir(0o755);
  // Each directory's children by name (-> index in `children`). Paths are resolved one component at
  // a time through these, never through a map keyed by whole paths: such a map costs O(depth²)
  // for a deep tree, and replacing a directory had to scan it for everything below. A WeakMap, so
  // the index of a replaced directory's subtree goes with the subtree.
  const index = new WeakMap<SourceInode, Map<string, number>>([[root, new Map()]]);
  let implicitDirs = 0;
  let entries = 0;
  let absolute = 0;
  let replaced = 0;
  let firstReplaced = '';
  // The directory the previous entry went into, or the previous entry itself when it was a
  // directory: archives list siblings together and a directory's entries right after it, so most
  // entries find their parent here by comparing components, without a lookup per component.
  // Dropped whenever an entry replaces another (the cached directory may be the one replaced).
  let cachedComps: Uint8Array[] | null = null;
  let cachedDir: SourceInode = root;

  function components(raw: Uint8Array, e: TarEntry, what: string): Uint8Array[] {
    if (raw[0] === 0x2f) absolute++;
    const comps = splitRawPath(raw);
    if (comps.length > MAX_TREE_DEPTH) {
      throw new FormatError('tar.header', e.headerOffset, `${what} of ${comps.length} components is deeper than the ${MAX_TREE_DEPTH}-component limit (${showBytes(raw.subarray(0, 64))}...)`);
    }
    for (const c of comps) {
      if (c.length === 2 && c[0] === 0x2e && c[1] === 0x2e) throw new FormatError('tar.header', e.headerOffset, `${what} ${showBytes(raw)} contains ".." (refused: it would escape the tree)`);
      if (c.includes(0)) throw new FormatError('tar.header', e.headerOffset, `${what} ${showBytes(raw)} contains a NUL byte`);
    }
    return comps;
  }

  function childOf(dir: SourceInode, name: Uint8Array): SourceInode | undefined {
    const at = index.get(dir)?.get(byteString(name));
    return at === undefined ? undefined : dir.children![at]!.inode;
  }

  /** the node `comps` names now, or undefined (nothing is created) */
  function lookup(comps: Uint8Array[]): SourceInode | undefined {
    let node: SourceInode | undefined = root;
    for (let i = 0; i < comps.length && node; i++) node = node.type === 'dir' ? childOf(node, comps[i]!) : undefined;
    return node;
  }

  /** the directory `comps[0, n)` names, creating missing ones */
  function dirAt(comps: Uint8Array[], n: number, e: TarEntry): SourceInode {
    if (cachedComps && sameComponents(cachedComps, cachedComps.length, comps, n)) return cachedDir;
    let dir = root;
    for (let i = 0; i < n; i++) {
      let node = childOf(dir, comps[i]!);
      if (!node) {
        node = newDir(0o755);
        implicitDirs++;
        link(dir, comps[i]!, node);
        index.set(node, new Map());
      } else if (node.type !== 'dir') {
        throw new FormatError('tar.header', e.headerOffset, `${showBytes(e.path)}: parent ${JSON.stringify(comps.slice(0, i + 1).map(byteString).join('/'))} is not a directory in the archive`);
      }
      dir = node;
    }
    return dir;
  }

  /** put `inode` at `name` in `dir`, replacing what is there */
  function link(dir: SourceInode, name: Uint8Array, inode: SourceInode): void {
    const idx = index.get(dir)!;
    const k = byteString(name);
    const at = idx.get(k);
    if (at === undefined) {
      idx.set(k, dir.children!.length);
      dir.children!.push({ name: name.slice(), inode });
    } else dir.children![at] = { name: dir.children![at]!.name, inode };
  }

  function noteReplaced(comps: Uint8Array[]): void {
    if (replaced++ === 0) firstReplaced = comps.map(byteString).join('/');
    cachedComps = null;
  }

  function add(e: TarEntry, content?: ByteSource): void {
    entries++;
    const comps = components(e.path, e, 'path');
    const n = comps.length;

    if (e.type === 'hardlink') {
      const tcomps = components(e.linkname, e, 'hardlink target');
      const target = lookup(tcomps);
      if (!target) throw new FormatError('tar.header', e.headerOffset, `hardlink ${showBytes(e.path)} names ${showBytes(e.linkname)}, which is not an earlier entry of the archive`);
      if (target.type === 'dir') throw new FormatError('tar.header', e.headerOffset, `hardlink ${showBytes(e.path)} names the directory ${showBytes(e.linkname)}`);
      if (sameComponents(tcomps, tcomps.length, comps, n)) return;
      if (n === 0) throw new FormatError('tar.header', e.headerOffset, 'a hardlink cannot be the root directory');
      const parent = dirAt(comps, n - 1, e);
      if (childOf(parent, comps[n - 1]!)) noteReplaced(comps);
      link(parent, comps[n - 1]!, target);
      cachedComps = comps.slice(0, n - 1);
      cachedDir = parent;
      return;
    }

    const inode: SourceInode = {
      type: e.type, perm: e.perm, uid: e.uid, gid: e.gid, mtime: e.mtime, mtimeNsec: e.mtimeNsec,
      size: 0, rdev: 0, xattrs: e.xattrs,
    };
    switch (e.type) {
      case 'reg':
        inode.size = e.size;
        if (content) inode.content = content;
        break;
      case 'symlink':
        inode.target = e.linkname;
        inode.size = e.linkname.length;
        break;
      case 'chr':
      case 'blk':
        inode.rdev = makedev(e.devmajor, e.devminor);
        break;
      case 'dir':
        break;
      default:
        break;
    }

    if (n === 0) {
      if (e.type !== 'dir') throw new FormatError('tar.header', e.headerOffset, `the archive root ${showBytes(e.path)} is a ${e.type}, not a directory`);
      Object.assign(root, { perm: inode.perm, uid: inode.uid, gid: inode.gid, mtime: inode.mtime, mtimeNsec: inode.mtimeNsec, xattrs: inode.xattrs });
      return;
    }
    const parent = dirAt(comps, n - 1, e);
    const existing = childOf(parent, comps[n - 1]!);
    if (existing && existing.type === 'dir' && e.type === 'dir') {
      // a directory entry after its children (or twice): update in place, keep the children
      Object.assign(existing, { perm: inode.perm, uid: inode.uid, gid: inode.gid, mtime: inode.mtime, mtimeNsec: inode.mtimeNsec, xattrs: inode.xattrs });
      cachedComps = comps;
      cachedDir = existing;
      return;
    }
    if (e.type === 'dir') inode.children = [];
    if (existing) noteReplaced(comps);
    link(parent, comps[n - 1]!, inode);
    if (inode.type === 'dir') {
      index.set(inode, new Map());
      cachedComps = comps;
      cachedDir = inode;
    } else {
      cachedComps = comps.slice(0, n - 1);
      cachedDir = parent;
    }
  }

  function finish(): SourceTree {
    markHardlinks(root);
    const notes = [`tar ${archiveName}: ${entries} entries`];
    if (implicitDirs) notes.push(`${implicitDirs} parent directories absent from the archive were created as 0755 root:root with mtime 0`);
    if (absolute) notes.push(`${absolute} absolute paths were made relative to the root`);
    if (replaced) notes.push(`${replaced} paths appear more than once; the last entry wins (first: ${JSON.stringify(firstReplaced)})`);
    return { root, notes };
  }

  return { add, finish };
}

/** a[0, an) and b[0, bn) are the same components */
function sameComponents(a: Uint8Array[], an: number, b: Uint8Array[], bn: number): boolean {
  if (an !== bn) return false;
  for (let i = an - 1; i >= 0; i--) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.length !== y.length) return false;
    for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) return false;
  }
  return true;
}

const dec = new TextDecoder('utf-8', { fatal: false });
function contentName(archive: string, e: TarEntry): string {
  return `${archive}:${dec.decode(e.path)}`;
}

/**
 * A tar held in a random-access source (File, Node file, HTTP, memory). Only headers are read;
 * each file's content is a SliceSource into the archive (zero copy).
 */
export async function treeFromTar(src: ByteSource, opts: TarReadOptions = {}): Promise<SourceTree> {
  const b = tarTreeBuilder(src.name);
  for await (const { entry } of readTar(sourceInput(src), opts)) {
    b.add(entry, entry.type === 'reg' ? new SliceSource(src, entry.dataOffset, entry.size, contentName(src.name, entry)) : undefined);
  }
  return b.finish();
}

/** Where a .tar.gz keeps content that does not stay in memory. */
export interface ContentSpill {
  /** Consume exactly `size` bytes from `chunks`; the returned source may be read only after finish(). */
  store(size: number, chunks: AsyncIterable<Uint8Array>, name: string): Promise<ByteSource>;
  finish?(): Promise<void>;
  readonly description: string;
}

/**
 * Spill to Blobs: a browser's blob store pages large blobs to disk, so this keeps big layers out
 * of the JS heap there. (Node's Blob lives in memory: use tempFileSpill from node.ts in Node.)
 */
export function blobSpill(): ContentSpill {
  return {
    description: 'Blobs',
    async store(size, chunks, name) {
      let blob = new Blob([]);
      let parts: Uint8Array[] = [];
      let pending = 0;
      let got = 0;
      for await (const c of chunks) {
        parts.push(c);
        pending += c.length;
        got += c.length;
        if (pending >= 16 << 20) {
          blob = new Blob([blob, ...(parts as Uint8Array<ArrayBuffer>[])]);
          parts = [];
          pending = 0;
        }
      }
      if (got !== size) throw new FormatError('tar.data', -1, `${name}: ${got} of ${size} content bytes`);
      blob = new Blob([blob, ...(parts as Uint8Array<ArrayBuffer>[])]);
      return new BlobSource(blob, name);
    },
  };
}

export interface TarGzOptions extends TarReadOptions, GunzipOptions {
  /** total bytes of file content kept in memory (default 256 MiB) */
  memoryBudget?: number;
  /** larger files never go to memory, so one big file cannot crowd out thousands of small ones (default 8 MiB) */
  maxMemoryFile?: number;
  /** where content beyond the memory budget goes; without one it is re-read by decompressing again */
  spill?: ContentSpill;
}

/**
 * A gzip-compressed tar. A gzip stream cannot be sliced, so the archive is decompressed once, in a
 * stream, and each file's content goes, in archive order, to:
 *  1. memory, if the file is at most `maxMemoryFile` and fits the remaining `memoryBudget`;
 *  2. else the `spill` store, when given (temp file in Node, Blobs in a browser);
 *  3. else a GunzipReplay source: reading it decompresses the .gz again from the start up to the
 *     file (one shared cursor, so reading such files in archive order costs one extra pass).
 */
export async function treeFromTarGz(src: ByteSource, opts: TarGzOptions = {}): Promise<SourceTree> {
  const budget = opts.memoryBudget ?? 256 << 20;
  const maxFile = opts.maxMemoryFile ?? 8 << 20;
  const gz: GunzipOptions = {};
  if (opts.impl) gz.impl = opts.impl;
  if (opts.readSize) gz.readSize = opts.readSize;
  if (opts.signal) gz.signal = opts.signal;
  const b = tarTreeBuilder(src.name);
  let replay: GunzipReplay | null = null;
  const stat = { memFiles: 0, memBytes: 0, spillFiles: 0, spillBytes: 0, replayFiles: 0, replayBytes: 0 };

  for await (const rec of readTar(chunkInput(gunzipChunks(src, gz), src.name), opts)) {
    const e = rec.entry;
    if (e.type !== 'reg') {
      b.add(e);
      continue;
    }
    const name = contentName(src.name, e);
    let content: ByteSource;
    if (e.size <= maxFile && stat.memBytes + e.size <= budget) {
      const buf = new Uint8Array(e.size);
      let o = 0;
      for await (const c of rec.content()) {
        buf.set(c, o);
        o += c.length;
      }
      content = new BytesSource(buf, name);
      stat.memFiles++;
      stat.memBytes += e.size;
    } else if (opts.spill) {
      content = await opts.spill.store(e.size, rec.content(), name);
      stat.spillFiles++;
      stat.spillBytes += e.size;
    } else {
      replay ??= new GunzipReplay(src, gz);
      content = new GunzipRangeSource(replay, e.dataOffset, e.size, name);
      stat.replayFiles++;
      stat.replayBytes += e.size;
    }
    b.add(e, content);
  }
  await opts.spill?.finish?.();
  const tree = b.finish();
  tree.notes.push(`gzip: content decompressed once; ${stat.memFiles} files (${stat.memBytes} bytes) kept in memory`);
  if (stat.spillFiles) tree.notes.push(`${stat.spillFiles} files (${stat.spillBytes} bytes) spilled to ${opts.spill!.description}`);
  if (stat.replayFiles) tree.notes.push(`${stat.replayFiles} files (${stat.replayBytes} bytes) beyond the memory budget are read by decompressing the archive again (slow when read out of archive order)`);
  return tree;
}

const isGzip = (head: Uint8Array): boolean => head[0] === 0x1f && head[1] === 0x8b;

/** A tar or tar.gz by its bytes: the gzip magic, or a first header whose checksum holds. */
export async function looksLikeTarball(src: ByteSource): Promise<boolean> {
  const head = await src.read(0, Math.min(src.size, 512));
  return isGzip(head) || isTarHeader(head);
}

function isTarHeader(h: Uint8Array): boolean {
  if (h.length < 512) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  const stored = parseInt(new TextDecoder().decode(h.subarray(148, 156)).replace(/\0.*$/s, '').trim(), 8);
  return stored === sum;
}

/** gzip magic 1f 8b decides; anything else is read as a plain tar. */
export async function treeFromTarball(src: ByteSource, opts: TarGzOptions = {}): Promise<SourceTree> {
  const head = src.size >= 2 ? await src.read(0, 2) : new Uint8Array(0);
  return isGzip(head) ? treeFromTarGz(src, opts) : treeFromTar(src, opts);
}
