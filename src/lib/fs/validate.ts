// The one check every builder (EROFS, composefs, RAFS v5 and v6) runs on its source tree before it
// plans anything: a tree one writer refuses, every writer refuses, with the same FormatError.
import { FormatError, UnsupportedError } from '../errors.ts';
import { badSymlinkTarget, DirectoryNames } from './entries.ts';
import { showPath, unsafeComponent } from './sources/names.ts';
import type { SourceInode, SourceTree } from './tree.ts';

/** The FormatError structure of every refusal, whatever the writer. */
export const TREE_STRUCTURE = 'source tree';

/**
 * NAME_MAX of Linux, and what EROFS (EROFS_NAME_LEN), composefs (on EROFS) and RAFS (nydus
 * NAME_MAX) can hold in one directory entry.
 */
export const NAME_MAX = 255;

/** A directory being checked, with the way to it (for the message only). */
interface Frame {
  dir: SourceInode;
  parent: Frame | null;
  name: Uint8Array;
}

function pathOf(f: Frame | null, last?: Uint8Array): Uint8Array[] {
  const comps: Uint8Array[] = last ? [last] : [];
  for (let k = f; k && k.parent; k = k.parent) comps.push(k.name);
  return comps.reverse();
}

function refuse(f: Frame | null, last: Uint8Array | undefined, why: string): never {
  throw new FormatError(TREE_STRUCTURE, -1, `${showPath(pathOf(f, last))}: ${why}`);
}

/** an owner id every format holds: EROFS, composefs and RAFS inodes keep 32-bit ids */
const idFits = (id: number): boolean => Number.isInteger(id) && id >= 0 && id <= 0xffffffff;

/**
 * A tar can carry owner ids no image can hold (base-256 and PAX allow 2^40, or negatives): refused
 * as unsupported, naming the path, rather than stored cut to 32 bits (or to 16 in a compact EROFS inode).
 */
function checkIds(f: Frame | null, last: Uint8Array | undefined, n: SourceInode): void {
  if (idFits(n.uid) && idFits(n.gid)) return;
  throw new UnsupportedError('owner ids over 32 bits', `${showPath(pathOf(f, last))} has uid ${n.uid}, gid ${n.gid}: EROFS, composefs and RAFS inodes hold 0-4294967295`);
}

/**
 * Refuses, as a FormatError naming the path, a tree no writer can store: a root that is not a
 * directory; a name that is empty, ".", "..", holds "/" or NUL, or is longer than 255 bytes; two
 * entries of one name in a directory; a directory reached twice (a hardlinked directory, or a
 * cycle); a symlink whose target is missing, empty, holds NUL or is longer than PATH_MAX − 1
 * (4095) bytes; and (UnsupportedError) an owner id outside 0-4294967295. The limits are the tightest of the formats and the system calls that make such a
 * tree (symlink(2), mkcomposefs): EROFS, composefs and RAFS v6 readers accept targets up to 4096
 * bytes, RAFS v5 up to 65535, but no Linux directory or mkcomposefs dump holds one over 4095.
 * Iterative, so a deep tree cannot overflow the stack; every directory entry is looked at once.
 */
export function validateTree(tree: SourceTree | SourceInode): void {
  const root = 'root' in tree ? tree.root : tree;
  if (root.type !== 'dir') refuse(null, undefined, `the root is a ${root.type}, not a directory`);
  checkIds(null, undefined, root);
  const seenDirs = new Set<SourceInode>([root]);
  const stack: Frame[] = [{ dir: root, parent: null, name: new Uint8Array(0) }];
  while (stack.length) {
    const f = stack.pop()!;
    const names = new DirectoryNames();
    for (const c of f.dir.children ?? []) {
      const name = c.name;
      const unsafe = unsafeComponent(name);
      if (unsafe) refuse(f, name, unsafe === 'empty name' ? 'empty name' : `name ${unsafe}`);
      if (name.length > NAME_MAX) refuse(f, name, `name of ${name.length} bytes (at most ${NAME_MAX})`);
      if (names.refuse(name) !== null) refuse(f, name, 'duplicate name in one directory');
      const n = c.inode;
      checkIds(f, name, n);
      if (n.type === 'dir') {
        if (seenDirs.has(n)) refuse(f, name, 'a directory reached twice (hardlinked directory)');
        seenDirs.add(n);
        stack.push({ dir: n, parent: f, name });
      } else if (n.type === 'symlink') {
        const why = n.target === undefined ? 'symlink without a target' : badSymlinkTarget(n.target);
        if (why) refuse(f, name, why);
      }
    }
  }
}
