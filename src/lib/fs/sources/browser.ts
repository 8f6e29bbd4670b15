import { BlobSource } from '../../io/source.ts';
import { newDir, type SourceInode, type SourceTree } from '../tree.ts';
import { byteString, unsafeComponent } from './names.ts';

/**
 * A folder dropped on or picked in a page, as a SourceTree. Browsers give names, sizes and
 * lastModified only: no modes, owners, xattrs, symlinks (skipped), hardlinks or devices. Files get
 * 0644, directories 0755, owner 0:0, file mtimes from lastModified (ms), directory mtimes 0; empty
 * directories are kept when the browser delivers them (drops and directory handles do, a
 * `<input webkitdirectory>` FileList does not). Content is a BlobSource over the File (lazy).
 *
 * The pure part, `treeFromBrowserItems`, builds the tree from a list of paths; the DOM glue below
 * only turns handles, entries and FileLists into that list.
 */

export type BrowserItem =
  | { kind: 'file'; path: string; file: Blob; lastModified?: number }
  | { kind: 'dir'; path: string };

export interface BrowserTreeOptions {
  /** when every item lies under one top-level folder, make that folder the root (default true) */
  stripSingleRoot?: boolean;
  /** for the notes: "drop", "directory picker", "file input" */
  via?: string;
}

const enc = new TextEncoder();

export function treeFromBrowserItems(items: Iterable<BrowserItem>, opts: BrowserTreeOptions = {}): SourceTree {
  const list = [...items].map((it) => ({ it, comps: it.path.split('/').filter((c) => c !== '' && c !== '.') }));
  const notes: string[] = [];
  let strip = 0;
  if (opts.stripSingleRoot !== false && list.length) {
    const first = list[0]!.comps[0];
    const single = first !== undefined && list.every(({ it, comps }) => comps[0] === first && (comps.length > 1 || it.kind === 'dir'));
    if (single) {
      strip = 1;
      notes.push(`folder ${JSON.stringify(first)}${opts.via ? ` (${opts.via})` : ''}`);
    }
  }
  if (!strip) notes.push(`${list.length} items${opts.via ? ` (${opts.via})` : ''}`);
  notes.push('a browser gives no modes, owners, xattrs, symlinks, hardlinks or devices: files are 0644, directories 0755, owner 0:0; file mtimes come from lastModified (ms), directory mtimes are 0');

  const root = newDir(0o755);
  const dirs = new Map<string, SourceInode>([['', root]]);
  const slots = new Map<SourceInode, Map<string, number>>([[root, new Map()]]);
  let skipped = 0;
  let files = 0;
  let dirItems = 0;

  const place = (dir: SourceInode, name: Uint8Array, inode: SourceInode): void => {
    const m = slots.get(dir)!;
    const k = byteString(name);
    const at = m.get(k);
    if (at === undefined) {
      m.set(k, dir.children!.length);
      dir.children!.push({ name, inode });
    } else dir.children![at] = { name, inode };
  };
  const dirAt = (comps: Uint8Array[]): SourceInode | null => {
    let cur = root;
    let key = '';
    for (const c of comps) {
      key += '/' + byteString(c);
      let d = dirs.get(key);
      if (!d) {
        const k = byteString(c);
        const existing = slots.get(cur)!.get(k);
        if (existing !== undefined) return null; // a file is in the way
        d = newDir(0o755);
        place(cur, c, d);
        dirs.set(key, d);
        slots.set(d, new Map());
      }
      cur = d;
    }
    return cur;
  };

  for (const { it, comps: raw } of list) {
    const comps = raw.slice(strip).map((c) => enc.encode(c));
    if (comps.some((c) => unsafeComponent(c))) {
      skipped++;
      continue;
    }
    if (it.kind === 'dir') {
      if (dirAt(comps)) dirItems++;
      else skipped++;
      continue;
    }
    if (comps.length === 0) {
      skipped++;
      continue;
    }
    const parent = dirAt(comps.slice(0, -1));
    const name = comps[comps.length - 1]!;
    if (!parent || dirs.has('/' + comps.map(byteString).join('/'))) {
      skipped++;
      continue;
    }
    const ms = it.lastModified ?? (it.file as File).lastModified ?? 0;
    const sec = Math.floor(ms / 1000);
    const inode: SourceInode = {
      type: 'reg', perm: 0o644, uid: 0, gid: 0, mtime: sec, mtimeNsec: Math.round((ms - sec * 1000) * 1e6), size: it.file.size, rdev: 0, xattrs: [],
      content: new BlobSource(it.file, it.path),
    };
    place(parent, name, inode);
    files++;
  }
  notes.push(`${files} files, ${dirs.size - 1} directories`);
  if (dirItems === 0) notes.push('no directory entries were given: empty directories, if any, are missing');
  if (skipped) notes.push(`${skipped} items skipped (unsafe names or a file and a directory at one path)`);
  return { root, notes };
}

// ---------------------------------------------------------------------------------------------
// DOM glue. The structural types below are the parts of the File System Access API and the
// Entries API that are used (TypeScript's DOM lib lacks the async iteration of directory handles).

export interface FileHandleLike {
  readonly kind: 'file';
  readonly name: string;
  getFile(): Promise<File>;
}
export interface DirectoryHandleLike {
  readonly kind: 'directory';
  readonly name: string;
  values(): AsyncIterable<FileHandleLike | DirectoryHandleLike>;
}
export interface FileEntryLike {
  readonly isFile: true;
  readonly isDirectory: false;
  readonly name: string;
  file(ok: (f: File) => void, fail?: (e: unknown) => void): void;
}
export interface DirectoryEntryLike {
  readonly isFile: false;
  readonly isDirectory: true;
  readonly name: string;
  createReader(): { readEntries(ok: (batch: (FileEntryLike | DirectoryEntryLike)[]) => void, fail?: (e: unknown) => void): void };
}

/** Walk a FileSystemDirectoryHandle (picker or drop), directories included. */
export async function itemsFromDirectoryHandle(dir: DirectoryHandleLike, prefix = dir.name): Promise<BrowserItem[]> {
  const out: BrowserItem[] = [{ kind: 'dir', path: prefix }];
  const stack: [DirectoryHandleLike, string][] = [[dir, prefix]];
  while (stack.length) {
    const [d, p] = stack.pop()!;
    const files: Promise<BrowserItem>[] = [];
    for await (const h of d.values()) {
      const path = `${p}/${h.name}`;
      if (h.kind === 'directory') {
        out.push({ kind: 'dir', path });
        stack.push([h, path]);
      } else files.push(h.getFile().then((file) => ({ kind: 'file', path, file, lastModified: file.lastModified })));
    }
    out.push(...(await Promise.all(files)));
  }
  return out;
}

/** Walk a webkitGetAsEntry() entry; readEntries returns batches until an empty one. */
export async function itemsFromEntry(entry: FileEntryLike | DirectoryEntryLike, prefix = entry.name): Promise<BrowserItem[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((ok, fail) => entry.file(ok, fail));
    return [{ kind: 'file', path: prefix, file, lastModified: file.lastModified }];
  }
  const out: BrowserItem[] = [{ kind: 'dir', path: prefix }];
  const stack: [DirectoryEntryLike, string][] = [[entry, prefix]];
  while (stack.length) {
    const [d, p] = stack.pop()!;
    const reader = d.createReader();
    const files: Promise<BrowserItem>[] = [];
    for (;;) {
      const batch = await new Promise<(FileEntryLike | DirectoryEntryLike)[]>((ok, fail) => reader.readEntries(ok, fail));
      if (batch.length === 0) break;
      for (const e of batch) {
        const path = `${p}/${e.name}`;
        if (e.isDirectory) {
          out.push({ kind: 'dir', path });
          stack.push([e, path]);
        } else files.push(new Promise<File>((ok, fail) => e.file(ok, fail)).then((file) => ({ kind: 'file', path, file, lastModified: file.lastModified })));
      }
    }
    out.push(...(await Promise.all(files)));
  }
  return out;
}

/** `<input type=file webkitdirectory>`: files only, named by webkitRelativePath. */
export function itemsFromFileList(files: ArrayLike<File>): BrowserItem[] {
  const out: BrowserItem[] = [];
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    out.push({ kind: 'file', path: (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name, file: f, lastModified: f.lastModified });
  }
  return out;
}

/** What a drop handler must grab before its first await. */
export interface DropCapture {
  items: { handle: Promise<unknown> | null; entry: unknown; file: File | null }[];
}

/** Call synchronously inside the `drop` event handler (the DataTransfer empties after it returns). */
export function captureDrop(dt: DataTransfer): DropCapture {
  const items: DropCapture['items'] = [];
  for (const item of Array.from(dt.items)) {
    if (item.kind !== 'file') continue;
    const it = item as DataTransferItem & { getAsFileSystemHandle?: () => Promise<unknown> };
    let handle: Promise<unknown> | null = null;
    try {
      handle = it.getAsFileSystemHandle?.() ?? null;
      handle?.catch(() => {});
    } catch {
      handle = null;
    }
    items.push({ handle, entry: it.webkitGetAsEntry?.() ?? null, file: it.getAsFile() });
  }
  return { items };
}

/** Items of a captured drop: directory handles first choice, then entries, then plain files. */
export async function itemsFromDrop(c: DropCapture): Promise<BrowserItem[]> {
  const out: BrowserItem[] = [];
  for (const { handle, entry, file } of c.items) {
    const h = handle ? ((await handle.catch(() => null)) as FileHandleLike | DirectoryHandleLike | null) : null;
    if (h && h.kind === 'directory') out.push(...(await itemsFromDirectoryHandle(h)));
    else if (h && h.kind === 'file') {
      const f = await h.getFile();
      out.push({ kind: 'file', path: h.name, file: f, lastModified: f.lastModified });
    } else if (entry) out.push(...(await itemsFromEntry(entry as FileEntryLike | DirectoryEntryLike)));
    else if (file) out.push({ kind: 'file', path: file.name, file, lastModified: file.lastModified });
  }
  return out;
}

export async function treeFromDrop(c: DropCapture): Promise<SourceTree> {
  return treeFromBrowserItems(await itemsFromDrop(c), { via: 'drop' });
}
export async function treeFromDirectoryHandle(dir: DirectoryHandleLike): Promise<SourceTree> {
  return treeFromBrowserItems(await itemsFromDirectoryHandle(dir), { via: 'directory handle' });
}
export function treeFromFileList(files: ArrayLike<File>): SourceTree {
  return treeFromBrowserItems(itemsFromFileList(files), { via: 'file input' });
}
