import { FormatError, IoError } from '../../errors.ts';
import { checkRange, type ByteSource } from '../../io/source.ts';
import { walk } from '../path.ts';
import type { SourceInode, SourceTree } from '../tree.ts';
import type { Attr, ReadOnlyFs } from '../types.ts';
import { markHardlinks, showPath } from './names.ts';

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
  const linked = new Map<number, SourceInode>();
  const dirInos = new Set<number>();
  // the walk is depth first and yields a directory before what it holds: the parent of an entry
  // `depth` components deep is the directory last yielded at depth - 1 (no whole-path keys, which
  // cost O(depth²) on a deep image)
  const dirAtDepth: (SourceInode | null)[] = [];
  let root: SourceInode | null = null;
  let skipped = 0;
  let hardlinks = 0;
  // names the walk leaves out: unsafe ones (refused unless told to skip them) and repeats of a name
  const refused = (path: Uint8Array[], reason: string): void => {
    if (opts.unsafeNames !== 'skip' && !reason.startsWith('duplicate')) throw new FormatError('image', -1, `unsafe name in the image at ${showPath(path)}: ${reason}`);
    notes.push(`skipped ${showPath(path)}: ${reason}`);
    skipped++;
  };

  for await (const { path, attr } of walk(fs, startIno, [], { onRefused: refused })) {
    opts.signal?.throwIfAborted();
    if (path.length === 0) {
      if (attr.type !== 'dir') throw new FormatError('image', -1, `inode ${startIno} is a ${attr.type}; a source tree starts at a directory`);
      root = await inodeOf(fs, attr, []);
      dirAtDepth[0] = root;
      dirInos.add(attr.ino);
      continue;
    }
    const parent = dirAtDepth[path.length - 1];
    if (!parent) continue; // below a directory met twice
    const name = path[path.length - 1]!;
    let inode: SourceInode;
    if (attr.type === 'dir') {
      // walk yields a directory inode met a second time (a cycle) without entering it
      if (dirInos.has(attr.ino)) {
        notes.push(`skipped ${showPath(path)}: directory inode ${attr.ino} appears twice`);
        skipped++;
        dirAtDepth[path.length] = null;
        continue;
      }
      inode = await inodeOf(fs, attr, path);
      dirAtDepth[path.length] = inode;
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
