import { IoError, NotFoundError } from '../../errors.ts';
import { byteString } from './names.ts';
import type { SourceInode, SourceTree } from '../tree.ts';
import { bytesEqual, modeOfType, type Attr, type DirEntry, type ImageInfo, type ReadOnlyFs, type StatFs } from '../types.ts';

/**
 * A SourceTree seen through the ReadOnlyFs interface, in memory: lets anything that consumes an
 * image (tar export, dumps, diffs, tests) consume a source tree too. Inode numbers are assigned in
 * depth-first order from 1 (the root); a SourceInode reached by several dirents (a hardlink) keeps
 * one number, and nlink counts its dirents (directories: 2 + subdirectories).
 */
export function treeFs(tree: SourceTree): ReadOnlyFs {
  const inodes: SourceInode[] = [tree.root];
  const inoOf = new Map<SourceInode, number>([[tree.root, 1]]);
  const nlink: number[] = [0, 2];
  const stack: SourceInode[] = [tree.root];
  while (stack.length) {
    const dir = stack.pop()!;
    for (const d of dir.children ?? []) {
      let ino = inoOf.get(d.inode);
      if (ino === undefined) {
        ino = inodes.length + 1;
        inodes.push(d.inode);
        inoOf.set(d.inode, ino);
        nlink[ino] = d.inode.type === 'dir' ? 2 : 1;
        if (d.inode.type === 'dir') stack.push(d.inode);
      } else if (d.inode.type !== 'dir') nlink[ino]!++;
      if (d.inode.type === 'dir') nlink[inoOf.get(dir)!]!++;
    }
  }
  const lookupIndex = new Map<number, Map<string, number>>();

  function node(ino: number): SourceInode {
    const n = Number.isSafeInteger(ino) && ino >= 1 ? inodes[ino - 1] : undefined;
    if (!n) throw new NotFoundError(`inode ${ino}`);
    return n;
  }
  function attr(ino: number): Attr {
    const n = node(ino);
    return {
      ino, type: n.type, mode: modeOfType(n.type) | (n.perm & 0o7777), nlink: nlink[ino]!, uid: n.uid, gid: n.gid,
      size: n.type === 'reg' ? n.size : n.type === 'symlink' ? (n.target?.length ?? n.size) : 0,
      rdev: n.rdev, mtime: n.mtime, mtimeNsec: n.mtimeNsec,
    };
  }
  function dirOf(ino: number): SourceInode {
    const n = node(ino);
    if (n.type !== 'dir') throw new NotFoundError(`inode ${ino} is not a directory`);
    return n;
  }
  const keyOf = byteString;

  const fs: ReadOnlyFs = {
    format: 'tree',
    rootIno: 1,
    async lookup(parent, name) {
      const dir = dirOf(parent);
      const kids = dir.children ?? [];
      if (kids.length > 16) {
        let idx = lookupIndex.get(parent);
        if (!idx) {
          idx = new Map();
          for (let i = 0; i < kids.length; i++) idx.set(keyOf(kids[i]!.name), inoOf.get(kids[i]!.inode)!);
          lookupIndex.set(parent, idx);
        }
        const ino = idx.get(keyOf(name));
        return ino === undefined ? null : attr(ino);
      }
      for (const d of kids) if (bytesEqual(d.name, name)) return attr(inoOf.get(d.inode)!);
      return null;
    },
    async getattr(ino) {
      return attr(ino);
    },
    async readdir(ino, offset = 0, limit = Infinity) {
      const kids = dirOf(ino).children ?? [];
      const out: DirEntry[] = [];
      for (let i = Math.max(0, offset); i < kids.length && out.length < limit; i++) {
        const d = kids[i]!;
        out.push({ name: d.name, ino: inoOf.get(d.inode)!, type: d.inode.type, next: i + 1 });
      }
      return out;
    },
    async read(ino, offset, size) {
      const n = node(ino);
      if (n.type !== 'reg') throw new IoError(`inode ${ino}`, `read of a ${n.type}`);
      if (offset >= n.size || size <= 0) return new Uint8Array(0);
      if (!n.content) throw new IoError(`inode ${ino}`, 'the source tree has no content for this file');
      const len = Math.min(size, n.size - offset);
      return n.content.read(offset, len);
    },
    async readlink(ino) {
      const n = node(ino);
      if (n.type !== 'symlink' || !n.target) throw new IoError(`inode ${ino}`, 'not a symlink');
      return n.target;
    },
    async listxattr(ino) {
      return node(ino).xattrs.map((x) => x.name);
    },
    async getxattr(ino, name) {
      return node(ino).xattrs.find((x) => bytesEqual(x.name, name))?.value ?? null;
    },
    async statfs(): Promise<StatFs> {
      let blocks = 0;
      for (const n of inodes) if (n.type === 'reg') blocks += Math.ceil(n.size / 4096);
      return { blockSize: 4096, blocks, files: inodes.length, nameMax: 255 };
    },
    async info(): Promise<ImageInfo> {
      return { format: 'tree', inodes: inodes.length, notes: tree.notes };
    },
    async inodeDetails(ino) {
      const n = node(ino);
      return { ino, type: n.type, content: n.content?.name ?? null, xattrs: n.xattrs.length, children: n.children?.length ?? null };
    },
  };
  return fs;
}
