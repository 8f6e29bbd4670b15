import { isTypedError } from '../errors.ts';
import { readdirAll } from './path.ts';
import { utf8, type DirEntry, type FileType, type ReadOnlyFs } from './types.ts';

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
  errors: { path: string; error: string }[];
  counts: Record<FileType, number>;
}

/**
 * Reads every directory, inode, symlink, xattr and every byte of every file, collecting the errors
 * instead of stopping at the first: what `check` does for formats without chunk digests (EROFS,
 * composefs). Untyped errors are bugs and propagate.
 */
export async function checkTree(fs: ReadOnlyFs, opts: { signal?: AbortSignal; onProgress?: (p: TreeCheckProgress) => void; piece?: number } = {}): Promise<TreeCheckReport> {
  const piece = opts.piece ?? 4 << 20;
  const report: TreeCheckReport = { ok: true, entries: 0, files: 0, bytes: 0, errors: [], counts: { reg: 0, dir: 0, symlink: 0, chr: 0, blk: 0, fifo: 0, sock: 0 } };
  const seen = new Set<number>();
  const fail = (path: string, e: unknown): void => {
    if (!isTypedError(e)) throw e;
    report.ok = false;
    report.errors.push({ path, error: `${e.name}: ${e.message}` });
  };
  const stack: { path: string; ino: number }[] = [{ path: '/', ino: fs.rootIno }];
  seen.add(fs.rootIno);
  while (stack.length) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
    const { path, ino } = stack.pop()!;
    let entries: DirEntry[];
    try {
      entries = await readdirAll(fs, ino);
    } catch (e) {
      fail(path, e);
      continue;
    }
    for (const ent of entries) {
      const p = (path === '/' ? '/' : path + '/') + utf8(ent.name);
      report.entries++;
      try {
        const attr = await fs.getattr(ent.ino);
        report.counts[attr.type]++;
        await fs.listxattr(attr.ino).then((names) => Promise.all(names.map((n) => fs.getxattr(attr.ino, n))));
        if (attr.type === 'dir') {
          if (!seen.has(attr.ino)) {
            seen.add(attr.ino);
            stack.push({ path: p, ino: attr.ino });
          }
        } else if (attr.type === 'symlink') {
          await fs.readlink(attr.ino);
        } else if (attr.type === 'reg' && !seen.has(attr.ino)) {
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
