import { FormatError, NotFoundError } from '../errors.ts';
import { showPath } from './sources/names.ts';
import { MAX_TREE_DEPTH } from './tree.ts';
import { DirectoryNames, EntryBudget } from './entries.ts';
import { bytes, type Attr, type DirEntry, type ReadOnlyFs } from './types.ts';

/** Split "/a/b/" into its components; "." is dropped, ".." is kept for the walker to refuse. */
export function splitPath(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

/** Resolve an absolute path without following symlinks (like lstat). */
export async function resolvePath(fs: ReadOnlyFs, path: string): Promise<Attr> {
  let attr = await fs.getattr(fs.rootIno);
  const stack: Attr[] = [];
  for (const comp of splitPath(path)) {
    if (comp === '..') {
      attr = stack.pop() ?? attr;
      continue;
    }
    if (attr.type !== 'dir') throw new NotFoundError(`${path}: a component is not a directory`);
    const next = await fs.lookup(attr.ino, bytes(comp));
    if (!next) throw new NotFoundError(path);
    stack.push(attr);
    attr = next;
  }
  return attr;
}

/** Every entry of a directory, following readdir cookies. */
export async function readdirAll(fs: ReadOnlyFs, ino: number): Promise<DirEntry[]> {
  const all: DirEntry[] = [];
  let off = 0;
  for (;;) {
    const batch = await fs.readdir(ino, off, 4096);
    if (batch.length === 0) return all;
    for (const e of batch) all.push(e);
    const next = batch[batch.length - 1]!.next;
    if (next <= off) return all; // a cookie that does not advance would loop forever
    off = next;
  }
}

export interface WalkOptions {
  /**
   * An entry left out: its name is not one plain path component, or the directory listed it
   * before (see DirectoryNames; the first entry of a name is the one walked). Default: left out
   * silently (check reports such names as damage).
   */
  onRefused?(path: Uint8Array[], reason: string): void;
}

export interface WalkEntry {
  /** components from the root; [] for the root itself */
  path: Uint8Array[];
  attr: Attr;
}

/**
 * Depth-first walk in directory order. A directory inode met twice (a corrupt image with a cycle or
 * a directory hardlink) is yielded but not entered again, so the walk always terminates; it counts
 * the entries it lists against what the image can hold (EntryBudget), and yields only names that
 * can be written as paths, each once per directory (see WalkOptions.onRefused). Entries
 * are fetched a page at a time, so the first ones of a huge directory come out at once.
 *
 * Memory is O(depth + page): the walk keeps one array of the names from the start to the current
 * directory (not a path array per open directory, which is O(depth²) for a deep chain: 30,000 levels
 * would hold 4.5e8 references, 3.6 GB); each entry gets its own fresh `path`. Paths deeper than MAX_TREE_DEPTH below the
 * start are refused with a FormatError, so the O(depth) work per yielded path stays bounded.
 */
export async function* walk(fs: ReadOnlyFs, startIno = fs.rootIno, prefix: Uint8Array[] = [], opts: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  const root = await fs.getattr(startIno);
  yield { path: prefix, attr: root };
  if (root.type !== 'dir') return;
  const seenDirs = new Set<number>([root.ino]);
  const budget = EntryBudget.of(fs);
  type Dir = { ino: number; page: DirEntry[]; i: number; cookie: number; done: boolean; names: DirectoryNames };
  const stack: Dir[] = [{ ino: root.ino, page: [], i: 0, cookie: 0, done: false, names: new DirectoryNames() }];
  // names from the start to the directory on top of the stack: stack[k] (k >= 1) is names[prefix.length + k - 1]
  const names: Uint8Array[] = [...prefix];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.i >= top.page.length) {
      if (top.done) {
        stack.pop();
        if (stack.length) names.pop();
        continue;
      }
      top.page = await fs.readdir(top.ino, top.cookie, WALK_PAGE);
      budget.take(top.page.length, top.ino);
      top.i = 0;
      const next = top.page.length ? top.page[top.page.length - 1]!.next : top.cookie;
      // an empty page, or a cookie that does not advance (it would loop for ever), ends the directory
      top.done = top.page.length === 0 || next <= top.cookie;
      top.cookie = next;
      continue;
    }
    const e = top.page[top.i++]!;
    const refused = top.names.refuse(e.name);
    if (refused) {
      opts.onRefused?.([...names, e.name], refused);
      continue;
    }
    const attr = await fs.getattr(e.ino);
    if (stack.length > MAX_TREE_DEPTH) {
      throw new FormatError('directory tree', -1, `${showPath([...names.slice(0, prefix.length + 8), enc.encode('...')])} has entries more than ${MAX_TREE_DEPTH} directories deep (the limit on path depth)`);
    }
    const path = names.slice();
    path.push(e.name);
    yield { path, attr };
    if (attr.type === 'dir' && !seenDirs.has(attr.ino)) {
      seenDirs.add(attr.ino);
      stack.push({ ino: attr.ino, page: [], i: 0, cookie: 0, done: false, names: new DirectoryNames() });
      names.push(e.name);
    }
  }
}

const enc = new TextEncoder();
const WALK_PAGE = 4096;

/** Whole file content; refuses sizes beyond `max` rather than allocating from an untrusted size. */
export async function readAll(fs: ReadOnlyFs, ino: number, max = 1 << 30): Promise<Uint8Array> {
  const attr = await fs.getattr(ino);
  if (attr.size > max) throw new RangeError(`file of ${attr.size} bytes is larger than the ${max}-byte limit for a whole read`);
  return fs.read(ino, 0, attr.size);
}
