// What a walk may take from a directory listing, and how much listing a walk may read. Every walk
// that writes or reports a tree (extract, export, check) goes through these two, so a hostile image
// cannot make one of them escape, and none of them hang, where the others would not.
import { FormatError } from '../errors.ts';
import { unsafeComponent } from './sources/names.ts';
import { bytesEqual, compareBytes, type DirEntry, type ReadOnlyFs } from './types.ts';

/** An entry a walk leaves out, and why (`unsafeComponent`'s words, or "duplicate name"). */
export interface RefusedEntry {
  entry: DirEntry;
  reason: string;
}

export interface PlainEntries {
  /** entries whose names are plain path components, each name once, in listing order */
  kept: DirEntry[];
  refused: RefusedEntry[];
}

/**
 * The entries of one directory that can be written as paths: a name that is empty, ".", "..",
 * or holds "/" or NUL is refused, and so is every entry after the first of the same name. Only a
 * damaged image lists a name twice (mkfs.erofs, mkcomposefs and nydus-image never do); the first
 * one in directory order is the one kept, so a later entry can never replace what an earlier one
 * created (a symlink named like a directory, a device named like a symlink: both once led extract
 * outside its destination), and export never writes a name under one it already wrote.
 */
export function plainEntries(entries: readonly DirEntry[]): PlainEntries {
  const kept: DirEntry[] = [];
  const refused: RefusedEntry[] = [];
  const names = new DirectoryNames();
  for (const entry of entries) {
    const reason = names.refuse(entry.name);
    if (reason) refused.push({ entry, reason });
    else kept.push(entry);
  }
  return { kept, refused };
}

/**
 * plainEntries one entry at a time, for a walk that reads a directory a page at a time: one per
 * directory, fed its names in listing order.
 */
export class DirectoryNames {
  // Names in ascending byte order cannot repeat: EROFS, composefs and RAFS v6 list them so, and a
  // comparison with the previous name is all they cost (a set of 500,000 names took ~1 s). The
  // first name out of order switches to a set of every name kept.
  private prev: Uint8Array | null = null;
  private seen: NameSet | null = null;
  private kept: Uint8Array[] | null = [];

  /** why the name cannot be written as a path component here, or null (it is then taken) */
  refuse(name: Uint8Array): string | null {
    const why = unsafeComponent(name);
    if (why) return why === 'empty name' ? why : `name ${why}`;
    if (this.seen === null) {
      if (this.prev === null || compareBytes(this.prev, name) < 0) {
        this.prev = name;
        this.kept!.push(name);
        return null;
      }
      this.seen = new NameSet();
      for (const k of this.kept!) this.seen.add(k);
      this.kept = null;
    }
    return this.seen.add(name) ? null : 'duplicate name (the first entry of this name is kept)';
  }
}

/**
 * A set of byte strings keyed by a 32-bit FNV-1a hash, names compared on a collision: a Set of
 * strings made from 500,000 names took ~1.2 s, building the strings and hashing them again.
 */
class NameSet {
  private readonly byHash = new Map<number, Uint8Array | Uint8Array[]>();

  /** false when the name was there already */
  add(name: Uint8Array): boolean {
    let h = 0x811c9dc5;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name[i]!, 0x01000193);
    const at = this.byHash.get(h);
    if (at === undefined) {
      this.byHash.set(h, name);
      return true;
    }
    const list = Array.isArray(at) ? at : [at];
    for (const other of list) if (bytesEqual(other, name)) return false;
    list.push(name);
    if (list.length === 2) this.byHash.set(h, list);
    return true;
  }
}

/**
 * A walk's count of directory entries, against the most the image's bytes can hold
 * (`ReadOnlyFs.maxEntries`). Directories of a damaged image can share one run of entries (20,000
 * directories over one 20,000-entry block run list 400 million entries from 1 MB); a walk that
 * counts stops at the bound with a FormatError instead of running for hours.
 */
export class EntryBudget {
  private used = 0;
  constructor(private readonly max: number = Number.POSITIVE_INFINITY) {}

  static of(fs: ReadOnlyFs): EntryBudget {
    return new EntryBudget(fs.maxEntries ?? Number.POSITIVE_INFINITY);
  }

  /** counts `n` entries of the directory `ino`; throws past the bound */
  take(n: number, ino: number): void {
    this.used += n;
    if (this.used > this.max) {
      throw new FormatError('directory tree', -1,
        `directories list more than ${this.max} entries, more than the image's bytes can hold (reached in directory ${ino}): directories share their entries`);
    }
  }
}

/** Linux's PATH_MAX, the terminating NUL included: no longer path or symlink target reaches a system call. */
export const PATH_MAX = 4096;

/** Why a symlink target is one symlink(2) cannot make (so no Linux system holds it), or null. */
export function badSymlinkTarget(target: Uint8Array): string | null {
  if (target.length === 0) return 'empty symlink target';
  if (target.length > PATH_MAX - 1) return `symlink target of ${target.length} bytes (PATH_MAX allows ${PATH_MAX - 1})`;
  if (target.includes(0)) return 'symlink target contains NUL';
  return null;
}
