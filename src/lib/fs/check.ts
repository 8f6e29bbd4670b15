import { FormatError, isTypedError } from '../errors.ts';
import { badSymlinkTarget, EntryBudget, plainEntries } from './entries.ts';
import { readdirAll } from './path.ts';
import type { DirEntry, FileType, ReadOnlyFs } from './types.ts';
import { childText } from '../app/names.ts';

export interface TreeCheckProgress {
  entries: number;
  bytes: number;
  path: string;
}

export interface TreeCheckReport {
  ok: boolean;
  entries: number;
  files: number;
  bytes: number;
  /** every entry that could not be read, with the typed error's message (structure and offset) */
  errors: { path: string; error: string; structure: string; offset: number; detail: string }[];
  counts: Record<FileType, number>;
}

/**
 * Reads every directory, inode, symlink, xattr and every byte of every file, collecting the errors
 * instead of stopping at the first: what `check` does for formats without chunk digests (EROFS,
 * composefs). Untyped errors are bugs and propagate.
 *
 * Besides what the readers refuse, a tree no mkfs writes and no kernel should be handed is an
 * error: a name that is not one plain path component or that a directory lists twice, a directory
 * entry whose type disagrees with its inode's, a directory reached twice (a directory hardlink, or
 * a cycle), a symlink target symlink(2) cannot hold (empty, NUL, longer than PATH_MAX), and
 * directories that share their entries (EntryBudget).
 */
export async function checkTree(fs: ReadOnlyFs, opts: { signal?: AbortSignal; onProgress?: (p: TreeCheckProgress) => void; piece?: number; /** false: metadata only (RAFS checks chunks by digest instead) */ data?: boolean } = {}): Promise<TreeCheckReport> {
  const piece = opts.piece ?? 4 << 20;
  const report: TreeCheckReport = { ok: true, entries: 0, files: 0, bytes: 0, errors: [], counts: { reg: 0, dir: 0, symlink: 0, chr: 0, blk: 0, fifo: 0, sock: 0 } };
  const seen = new Set<number>();
  const fail = (path: string, e: unknown): void => {
    if (!isTypedError(e)) throw e;
    report.ok = false;
    const where = e instanceof FormatError ? { structure: e.structure, offset: e.offset, detail: e.detail } : { structure: e.name, offset: -1, detail: e.message };
    report.errors.push({ path, error: `${e.name}: ${e.message}`, ...where });
  };
  const stack: { path: string; ino: number }[] = [{ path: '/', ino: fs.rootIno }];
  seen.add(fs.rootIno);
  const budget = EntryBudget.of(fs);
  const damaged = (path: string, detail: string): void => fail(path, new FormatError('directory tree', -1, detail));
  while (stack.length) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
    const { path, ino } = stack.pop()!;
    let entries: DirEntry[];
    try {
      entries = await readdirAll(fs, ino);
      // directories sharing entries would make this walk run for hours: the tree is not read further
      budget.take(entries.length, ino);
    } catch (e) {
      fail(path, e);
      if (e instanceof FormatError && e.structure === 'directory tree') break;
      continue;
    }
    const { kept, refused } = plainEntries(entries);
    for (const r of refused) damaged(childText(path, r.entry.name), r.reason);
    for (const ent of kept) {
      const p = childText(path, ent.name);
      report.entries++;
      try {
        const attr = await fs.getattr(ent.ino);
        report.counts[attr.type]++;
        if ((ent.type === 'dir') !== (attr.type === 'dir')) damaged(p, `the directory lists a ${ent.type} whose inode ${attr.ino} is a ${attr.type}`);
        await fs.listxattr(attr.ino).then((names) => Promise.all(names.map((n) => fs.getxattr(attr.ino, n))));
        if (attr.type === 'dir') {
          if (!seen.has(attr.ino)) {
            seen.add(attr.ino);
            stack.push({ path: p, ino: attr.ino });
          } else damaged(p, `directory inode ${attr.ino} is reached a second time (a directory hardlink or a cycle)`);
        } else if (attr.type === 'symlink') {
          const why = badSymlinkTarget(await fs.readlink(attr.ino));
          if (why) damaged(p, why);
        } else if (attr.type === 'reg' && opts.data !== false && !seen.has(attr.ino)) {
          seen.add(attr.ino);
          report.files++;
          for (let off = 0; off < attr.size; ) {
            const b = await fs.read(attr.ino, off, Math.min(piece, attr.size - off));
            if (b.length === 0) throw new RangeError(`read returned nothing at ${off} of ${attr.size}`);
            off += b.length;
            report.bytes += b.length;
          }
        }
        opts.onProgress?.({ entries: report.entries, bytes: report.bytes, path: p });
      } catch (e) {
        fail(p, e);
      }
    }
  }
  return report;
}

