import { createSha256 } from '../codec/sha256.ts';
import { walk } from '../fs/path.ts';
import { bytesEqual, type Attr, type ReadOnlyFs } from '../fs/types.ts';
import { pathText } from '../app/names.ts';
import type { RafsFs } from '../rafs/model.ts';
import { hex } from '../bytes.ts';

export type Change = 'added' | 'removed' | 'changed';

export interface DiffEntry {
  path: string;
  change: Change;
  /** for 'changed': what differs (type, mode, uid, gid, size, mtime, rdev, target, xattrs, content) */
  fields?: string[];
  sizeBefore?: number;
  sizeAfter?: number;
}

export interface ImageDiff {
  added: number;
  removed: number;
  changed: number;
  unchanged: number;
  /** in path order */
  entries: DiffEntry[];
  /** both images Nydus: chunks (by digest) present in both, and their uncompressed bytes */
  sharedChunks?: { shared: number; sharedBytes: number; chunksA: number; chunksB: number };
}

interface Snap {
  attr: Attr;
  target?: Uint8Array;
  xattrs: string;
}

const isRafs = (fs: ReadOnlyFs): fs is RafsFs => fs.format === 'rafs-v5' || fs.format === 'rafs-v6';

async function snapshot(fs: ReadOnlyFs, signal?: AbortSignal): Promise<Map<string, Snap>> {
  const out = new Map<string, Snap>();
  for await (const { path, attr } of walk(fs)) {
    if (signal?.aborted) throw signal.reason ?? new Error('aborted');
    const names = await fs.listxattr(attr.ino);
    const xs: string[] = [];
    for (const n of names) xs.push(`${hex(n)}=${hex((await fs.getxattr(attr.ino, n)) ?? new Uint8Array())}`);
    const snap: Snap = { attr, xattrs: xs.sort().join(',') };
    if (attr.type === 'symlink') snap.target = await fs.readlink(attr.ino);
    // one rendering for every path shown (a lossy decoding would also pair two different names)
    out.set(pathText(path), snap);
  }
  return out;
}

/** What identifies a regular file's bytes: its chunk digests on Nydus, else a SHA-256 of the content. */
async function contentKey(fs: ReadOnlyFs, attr: Attr, bothRafs: boolean): Promise<string> {
  if (bothRafs) return (await (fs as RafsFs).fileChunks(attr.ino)).map((c) => hex(c.digest)).join(',');
  const h = createSha256();
  for (let off = 0; off < attr.size; ) {
    const b = await fs.read(attr.ino, off, Math.min(4 << 20, attr.size - off));
    if (b.length === 0) break;
    h.update(b);
    off += b.length;
  }
  return hex(h.digest());
}

/**
 * Paths added, removed and changed from image `a` to image `b` (any two formats), with the fields that
 * differ; content is compared when sizes agree (chunk digests when both are Nydus images, which also
 * gives the chunks they share).
 */
export async function diffImages(a: ReadOnlyFs, b: ReadOnlyFs, opts: { content?: boolean; signal?: AbortSignal } = {}): Promise<ImageDiff> {
  const content = opts.content ?? true;
  const [sa, sb] = [await snapshot(a, opts.signal), await snapshot(b, opts.signal)];
  const bothRafs = isRafs(a) && isRafs(b) && a.digester === b.digester;
  const diff: ImageDiff = { added: 0, removed: 0, changed: 0, unchanged: 0, entries: [] };
  const paths = [...new Set([...sa.keys(), ...sb.keys()])].sort();
  for (const path of paths) {
    const x = sa.get(path);
    const y = sb.get(path);
    if (!x) {
      diff.added++;
      diff.entries.push({ path, change: 'added', sizeAfter: y!.attr.size });
      continue;
    }
    if (!y) {
      diff.removed++;
      diff.entries.push({ path, change: 'removed', sizeBefore: x.attr.size });
      continue;
    }
    const fields: string[] = [];
    const p = x.attr, q = y.attr;
    if (p.type !== q.type) fields.push('type');
    if ((p.mode & 0o7777) !== (q.mode & 0o7777)) fields.push('mode');
    if (p.uid !== q.uid) fields.push('uid');
    if (p.gid !== q.gid) fields.push('gid');
    if (p.type !== 'dir' && p.size !== q.size) fields.push('size');
    if (p.mtime !== q.mtime || p.mtimeNsec !== q.mtimeNsec) fields.push('mtime');
    if (p.rdev !== q.rdev) fields.push('rdev');
    if (x.target && y.target && !bytesEqual(x.target, y.target)) fields.push('target');
    if (x.xattrs !== y.xattrs) fields.push('xattrs');
    if (content && p.type === 'reg' && q.type === 'reg' && p.size === q.size && (await contentKey(a, p, bothRafs)) !== (await contentKey(b, q, bothRafs))) fields.push('content');
    if (fields.length === 0) {
      diff.unchanged++;
      continue;
    }
    diff.changed++;
    diff.entries.push({ path, change: 'changed', fields, sizeBefore: p.size, sizeAfter: q.size });
  }
  if (isRafs(a) && isRafs(b)) diff.sharedChunks = await sharedChunks(a, b, sa, sb);
  return diff;
}

async function sharedChunks(a: RafsFs, b: RafsFs, sa: Map<string, Snap>, sb: Map<string, Snap>): Promise<NonNullable<ImageDiff['sharedChunks']>> {
  const chunksOf = async (fs: RafsFs, snaps: Map<string, Snap>): Promise<Map<string, number>> => {
    const m = new Map<string, number>();
    const seen = new Set<number>();
    for (const { attr } of snaps.values()) {
      if (attr.type !== 'reg' || seen.has(attr.ino)) continue;
      seen.add(attr.ino);
      for (const c of await fs.fileChunks(attr.ino)) m.set(hex(c.digest), c.uncompressedSize);
    }
    return m;
  };
  const [ca, cb] = [await chunksOf(a, sa), await chunksOf(b, sb)];
  let shared = 0, sharedBytes = 0;
  for (const [d, size] of ca) if (cb.has(d)) { shared++; sharedBytes += size; }
  return { shared, sharedBytes, chunksA: ca.size, chunksB: cb.size };
}
