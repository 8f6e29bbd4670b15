/**
 * What `ls`, `stat` and `paths` report about entries and inodes, built here once so the CLI only
 * parses arguments and prints: names, symlink targets and xattrs by nameText, paths by pathText.
 */
import { resolvePath, walk } from '../fs/path.ts';
import type { Attr, FileType, ReadOnlyFs } from '../fs/types.ts';
import { MAX_PAGE } from './browse.ts';
import { isRafs } from './capabilities.ts';
import { nameText, pathText } from './names.ts';

export interface ListedEntry {
  name: Uint8Array;
  attr: Attr;
}

/**
 * The entries of the directory at `path`, a page at a time as they are read (memory stays a page,
 * not the directory: a 300,000-entry dump took 200 MB more holding every row and its pending
 * getattr); a path naming anything else lists that one entry under its last component.
 */
export async function* listEntries(fs: ReadOnlyFs, path: string): AsyncGenerator<ListedEntry> {
  const dir = await resolvePath(fs, path);
  if (dir.type !== 'dir') {
    yield { name: new TextEncoder().encode(path.split('/').filter(Boolean).pop() ?? ''), attr: dir };
    return;
  }
  for (let off = 0; ;) {
    const page = await fs.readdir(dir.ino, off, MAX_PAGE);
    if (page.length === 0) return;
    for (const e of page) yield { name: e.name, attr: await fs.getattr(e.ino) };
    const next = page[page.length - 1]!.next;
    // a cookie that does not move forward would list the same page forever
    if (next <= off) return;
    off = next;
  }
}

export type EntryRecord = { name: string } & Attr & { target?: string };

/** One entry as `ls --json` lists it: its name, every attribute, a symlink's target. */
export async function entryRecord(fs: ReadOnlyFs, e: ListedEntry): Promise<EntryRecord> {
  return { name: nameText(e.name), ...e.attr, ...(e.attr.type === 'symlink' ? { target: nameText(await fs.readlink(e.attr.ino)) } : {}) };
}

export type StatRecord = { path: string } & Attr & {
  target?: string;
  xattrs: { name: string; value: string }[];
  /** the format's own view of the inode (inodeDetails) */
  layout: Record<string, unknown>;
};

/** Every field of the inode at `path`: attributes, symlink target, xattrs and the format's layout. */
export async function statRecord(fs: ReadOnlyFs, path: string): Promise<StatRecord> {
  const attr = await resolvePath(fs, path);
  const xattrs: { name: string; value: string }[] = [];
  for (const n of await fs.listxattr(attr.ino)) xattrs.push({ name: nameText(n), value: nameText((await fs.getxattr(attr.ino, n)) ?? new Uint8Array()) });
  return {
    path,
    ...attr,
    ...(attr.type === 'symlink' ? { target: nameText(await fs.readlink(attr.ino)) } : {}),
    xattrs,
    layout: await fs.inodeDetails(attr.ino),
  };
}

export interface InodePaths {
  ino: number;
  type: FileType;
  size: number;
  nlink: number;
  /** every path naming the inode (its hardlinks), in walk order */
  paths: string[];
}

/** Every path of an inode: RAFS keeps a path table (no walk); other formats are walked. */
export async function inodePaths(fs: ReadOnlyFs, ino: number): Promise<InodePaths> {
  const attr = await fs.getattr(ino);
  const paths: string[] = [];
  if (isRafs(fs)) for (const p of await fs.pathsOf(ino)) paths.push(pathText(p));
  else for await (const e of walk(fs)) if (e.attr.ino === ino) paths.push(pathText(e.path));
  return { ino, type: attr.type, size: attr.size, nlink: attr.nlink, paths };
}
