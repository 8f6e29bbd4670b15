import type { ByteSource } from '../io/source.ts';
import type { FileType } from './types.ts';

/**
 * The source tree every builder consumes (EROFS, composefs, RAFS) and every input produces (a folder
 * on disk or dropped in the browser, a tar layer, a composefs dump, any image Layerscope reads).
 * Hardlinks are several dirents naming one SourceInode object: identity is object identity.
 */
export interface Xattr {
  name: Uint8Array;
  value: Uint8Array;
}

export interface SourceInode {
  type: FileType;
  /** permission bits and suid/sgid/sticky (mode & 0o7777); the type lives in `type` */
  perm: number;
  uid: number;
  gid: number;
  mtime: number;
  mtimeNsec: number;
  /**
   * regular files: content length; symlinks: target length; others 0 (a composefs dump may give a
   * device/fifo a SIZE: it is kept, builders other than composefs ignore it)
   */
  size: number;
  /** chr/blk: Linux new dev_t encoding (see makedev) */
  rdev: number;
  xattrs: Xattr[];
  /** symlinks */
  target?: Uint8Array;
  /** regular files: where the bytes are, when known (absent in a composefs dump without inline data) */
  content?: ByteSource;
  /**
   * composefs: true when `content` must be stored inside the image (a dump's CONTENT field) rather
   * than as a backing object; false forces a backing object; unset lets the builder decide by size
   */
  inline?: boolean;
  /** composefs: backing-file path relative to the object store ("xx/yyyy…") */
  payload?: Uint8Array;
  /** composefs: fs-verity SHA-256 digest of the content, when known without reading it */
  fsverityDigest?: Uint8Array;
  /** composefs dump: the NLINK field as given (else builders count dirents) */
  nlink?: number;
  /** directories: children in source order; builders sort as their format requires */
  children?: SourceDirent[];
}

export interface SourceDirent {
  name: Uint8Array;
  inode: SourceInode;
  /**
   * a hardlink entry (a dump's "@" line, a tar hardlink): the inode's primary name is another
   * dirent. Builders that order inodes by name (composefs) place the inode at its primary name.
   */
  link?: boolean;
}

export interface SourceTree {
  root: SourceInode;
  /** where the tree came from and what it could not carry (e.g. "browser folders carry no owners") */
  notes: string[];
}

/**
 * Every inode of a tree once (a hardlinked file is reached by several dirents, a corrupt tree may
 * even reach a directory twice), depth first in directory order.
 */
export function inodesOf(root: SourceInode): SourceInode[] {
  const out: SourceInode[] = [];
  const seen = new Set<SourceInode>();
  const stack: SourceInode[] = [root];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    out.push(n);
    if (n.children) for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]!.inode);
  }
  return out;
}

/**
 * Deepest path a source tree (from a tar, a dump) or a walk over an image accepts, in components.
 * Linux resolves at most PATH_MAX = 4096 bytes in one path, so no path deeper than 2048 components
 * can be opened by name; real layers stay far below this. The limit is what keeps deep nesting
 * from costing O(depth²): every entry of a tar or dump, and every path a walk yields, spells out
 * all of its ancestors, so a tree D deep costs D² path components to list (30,000 levels: 4.5e8).
 */
export const MAX_TREE_DEPTH = 4096;

export function newDir(perm = 0o755): SourceInode {
  return { type: 'dir', perm, uid: 0, gid: 0, mtime: 0, mtimeNsec: 0, size: 0, rdev: 0, xattrs: [], children: [] };
}
