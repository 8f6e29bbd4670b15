import { FormatError, IoError } from '../../errors.ts';
import { checkRange, type ByteSource } from '../../io/source.ts';
import { walk } from '../path.ts';
import type { SourceInode, SourceTree } from '../tree.ts';
import type { Attr, ReadOnlyFs } from '../types.ts';
import { byteString, markHardlinks, showPath, unsafeComponent } from './names.ts';

/**
 * Any image Layerscope reads (EROFS, composefs, RAFS), or a subtree of it, as a SourceTree, so an
 * image can be rebuilt in another format. Metadata, symlink targets and xattrs are read while
 * walking; file content stays in the image and is read through fs.read when a builder asks.
 * Hardlinks (non-directories with nlink > 1 sharing an inode number) become one SourceInode.
 * Names are untrusted: an empty, ".", ".." or "/"/NUL-containing name is refused (or skipped).
 */
export interface ImageTreeOptions {
  /** 'error' (default) or 'skip' (the entry and its subtree are left out and noted) */
  unsafeNames?: 'error' | 'skip';
  signal?: AbortSignal;
}

export async function treeFromImage(fs: ReadOnlyFs, startIno = fs.rootIno, opts: ImageTreeOptions = {}): Promise<SourceTree> {
  const notes: string[] = [`image (${fs.format}), from inode ${startIno}`];
  const dirs = new Map<string, SourceInode>();
  const linked = new Map<number, SourceInode>();
  const dirInos = new Set<number>();
  const seen = new Set<string>();
  let root: SourceInode | null = null;
  let skipped = 0;
  let hardlinks = 0;

  for await (const { path, attr } of walk(fs, startIno)) {
    opts.signal?.throwIfAborted();
    if (path.length === 0) {
      if (attr.type !== 'dir') throw new FormatError('image', -1, `inode ${startIno} is a ${attr.type}; a source tree starts at a directory`);
      root = await inodeOf(fs, attr, []);
      dirs.set('', root);
      dirInos.add(attr.ino);
      continue;
    }
    const name = path[path.length - 1]!;
    const why = unsafeComponent(name);
    const parentKey = path.slice(0, -1).map(byteString).join('/');
    const parent = dirs.get(parentKey);
    if (!parent) continue; // below a skipped entry
    if (why) {
      if (opts.unsafeNames !== 'skip') throw new FormatError('image', -1, `unsafe name in the image at ${showPath(path)}: ${why}`);
      notes.push(`skipped ${showPath(path)}: ${why}`);
      skipped++;
      continue;
    }
    const key = parentKey ? `${parentKey}/${byteString(name)}` : byteString(name);
    if (seen.has(key)) {
      notes.push(`skipped ${showPath(path)}: the name appears twice in its directory`);
      skipped++;
      continue;
    }
    seen.add(key);
    let inode: SourceInode;
    if (attr.type === 'dir') {
      // walk yields a directory inode met a second time (a cycle) without entering it
      if (dirInos.has(attr.ino)) {
        notes.push(`skipped ${showPath(path)}: directory inode ${attr.ino} appears twice`);
        skipped++;
        continue;
      }
      inode = await inodeOf(fs, attr, path);
      dirs.set(key, inode);
      dirInos.add(attr.ino);
    } else if (attr.nlink > 1 && linked.has(attr.ino)) {
      inode = linked.get(attr.ino)!;
      hardlinks++;
    } else {
      inode = await inodeOf(fs, attr, path);
      if (attr.nlink > 1) linked.set(attr.ino, inode);
    }
    parent.children!.push({ name: name.slice(), inode });
  }
  markHardlinks(root!);
  if (hardlinks) notes.push(`${hardlinks} extra hardlinks`);
  if (skipped) notes.push(`${skipped} entries skipped`);
  return { root: root!, notes };
}

async function inodeOf(fs: ReadOnlyFs, attr: Attr, path: Uint8Array[]): Promise<SourceInode> {
  const xattrs = [];
  for (const name of await fs.listxattr(attr.ino)) {
    const value = await fs.getxattr(attr.ino, name);
    if (value) xattrs.push({ name, value });
  }
  const inode: SourceInode = {
    type: attr.type, perm: attr.mode & 0o7777, uid: attr.uid, gid: attr.gid, mtime: attr.mtime, mtimeNsec: attr.mtimeNsec,
    size: 0, rdev: attr.type === 'chr' || attr.type === 'blk' ? attr.rdev : 0, xattrs,
  };
  switch (attr.type) {
    case 'dir':
      inode.children = [];
      break;
    case 'reg':
      inode.size = attr.size;
      inode.content = imageContent(fs, attr.ino, attr.size, `${fs.format}:${showPath(path)}`);
      break;
    case 'symlink':
      inode.target = await fs.readlink(attr.ino);
      inode.size = inode.target.length;
      break;
    default:
      break;
  }
  return inode;
}

/** A file of an image as a ByteSource; fs.read may return less than asked only at end of file. */
export function imageContent(fs: ReadOnlyFs, ino: number, size: number, name: string): ByteSource {
  const src: ByteSource = {
    size,
    name,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(src, offset, length);
      if (length === 0) return new Uint8Array(0);
      const first = await fs.read(ino, offset, length);
      if (first.length === length) return first;
      if (first.length > length) return first.subarray(0, length);
      const out = new Uint8Array(length);
      out.set(first);
      let done = first.length;
      while (done < length) {
        const b = await fs.read(ino, offset + done, length - done);
        if (b.length === 0) throw new IoError(name, `file ends at ${offset + done}, before its size ${size}`);
        const n = Math.min(b.length, length - done);
        out.set(b.subarray(0, n), done);
        done += n;
      }
      return out;
    },
  };
  return src;
}
