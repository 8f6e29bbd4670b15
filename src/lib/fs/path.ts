import { NotFoundError } from '../errors.ts';
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

export interface WalkEntry {
  /** components from the root; [] for the root itself */
  path: Uint8Array[];
  attr: Attr;
}

/**
 * Depth-first walk in directory order. A directory inode met twice (a corrupt image with a cycle or
 * a directory hardlink) is yielded but not entered again, so the walk always terminates. Entries
 * are fetched a page at a time, so the first ones of a huge directory come out at once.
 */
export async function* walk(fs: ReadOnlyFs, startIno = fs.rootIno, prefix: Uint8Array[] = []): AsyncGenerator<WalkEntry> {
  const root = await fs.getattr(startIno);
  yield { path: prefix, attr: root };
  if (root.type !== 'dir') return;
  const seenDirs = new Set<number>([root.ino]);
  type Dir = { ino: number; path: Uint8Array[]; page: DirEntry[]; i: number; cookie: number; done: boolean };
  const stack: Dir[] = [{ ino: root.ino, path: prefix, page: [], i: 0, cookie: 0, done: false }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.i >= top.page.length) {
      if (top.done) {
        stack.pop();
        continue;
      }
      top.page = await fs.readdir(top.ino, top.cookie, WALK_PAGE);
      top.i = 0;
      const next = top.page.length ? top.page[top.page.length - 1]!.next : top.cookie;
      // an empty page, or a cookie that does not advance (it would loop for ever), ends the directory
      top.done = top.page.length === 0 || next <= top.cookie;
      top.cookie = next;
      continue;
    }
    const e = top.page[top.i++]!;
    const attr = await fs.getattr(e.ino);
    const path = [...top.path, e.name];
    yield { path, attr };
    if (attr.type === 'dir' && !seenDirs.has(attr.ino)) {
      seenDirs.add(attr.ino);
      stack.push({ ino: attr.ino, path, page: [], i: 0, cookie: 0, done: false });
    }
  }
}

const WALK_PAGE = 4096;

/** Whole file content; refuses sizes beyond `max` rather than allocating from an untrusted size. */
export async function readAll(fs: ReadOnlyFs, ino: number, max = 1 << 30): Promise<Uint8Array> {
  const attr = await fs.getattr(ino);
  if (attr.size > max) throw new RangeError(`file of ${attr.size} bytes is larger than the ${max}-byte limit for a whole read`);
  return fs.read(ino, 0, attr.size);
}
