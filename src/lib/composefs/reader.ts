/**
 * composefs image reader (erofs-composefs-format.md §3): the EROFS reader underneath, seen the way
 * libcomposefs' own reader (and so `composefs-info`) sees it:
 *
 * - regular files with a CHUNK_BASED layout keep their data in a backing object named by the
 *   `trusted.overlay.redirect` xattr ("/xx/yyyy…"); `read` resolves it through `objectStore`;
 * - the 256 whiteout stubs (chardev 0:0) are hidden; a regular file marked
 *   `trusted.overlay.overlay.whiteout` is shown as the whiteout (chardev 0:0) it stands for;
 * - xattrs are listed inline entries first, then shared ones; `trusted.overlay.overlay.X` is
 *   unescaped to `trusted.overlay.X`; metacopy, redirect, the whiteout markers and every other
 *   `trusted.overlay.*` are hidden.
 */
import { FormatError, IoError, NotFoundError } from '../errors.ts';
import type { DataPiece } from '../fs/plan.ts';
import type { Attr, DirEntry, ImageInfo, ReadOnlyFs, StatFs } from '../fs/types.ts';
import { S_IFCHR, bytesEqual } from '../fs/types.ts';
import { readInto, type ByteSource } from '../io/source.ts';
import { decodeStruct } from '../struct.ts';
import { openErofs, type ErofsFs } from '../erofs/reader.ts';
import { EROFS_INODE_CHUNK_BASED, EROFS_INODE_FLAT_INLINE, EROFS_INODE_FLAT_PLAIN } from '../erofs/structs.ts';
import { COMPOSEFS_MAGIC, LCFS_EROFS_VERSION, composefs_header, ovl_metacopy } from './structs.ts';
import type { DumpEntry } from './dump.ts';
import type { Xattr } from '../fs/tree.ts';
import { XattrSet, XATTR_VALUE_MAX } from './xattrs.ts';
import { hex, startsWith } from '../bytes.ts';

export interface ComposefsOpenOptions {
  /** resolve a backing path ("xx/yyyy…", as in the redirect xattr without its leading "/") */
  objectStore?: (payload: string) => Promise<ByteSource | null>;
  /** EROFS reader cache settings */
  cacheBlockSize?: number;
  cacheBytes?: number;
}

const ENC = new TextEncoder();
const DEC = new TextDecoder();
const K = {
  overlayPrefix: ENC.encode('trusted.overlay.'),
  escapePrefix: ENC.encode('trusted.overlay.overlay.'),
  metacopy: ENC.encode('trusted.overlay.metacopy'),
  redirect: ENC.encode('trusted.overlay.redirect'),
  escWhiteout: ENC.encode('trusted.overlay.overlay.whiteout'),
  escWhiteouts: ENC.encode('trusted.overlay.overlay.whiteouts'),
  userWhiteout: ENC.encode('user.overlay.whiteout'),
  userWhiteouts: ENC.encode('user.overlay.whiteouts'),
};


/** "composefs header magic at byte 0, then EROFS" */
export function probeComposefs(head: Uint8Array): boolean {
  const F = composefs_header.f;
  if (head.length < F.magic.offset + F.magic.size) return false;
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  return v.getUint32(F.magic.offset, true) === COMPOSEFS_MAGIC;
}

/** What libcomposefs makes of one inode. */
export interface ComposefsInode {
  attr: Attr;
  /** backing path from the redirect (regular files), or null */
  payload: Uint8Array | null;
  /** fs-verity digest from a 36-byte metacopy (regular files), or null */
  digest: Uint8Array | null;
  /** data lives in a backing object (CHUNK_BASED layout) */
  external: boolean;
  /** visible xattrs, in composefs-info order */
  xattrs: Xattr[];
  /** a chardev 0:0 in the image: a whiteout stub, not shown */
  hidden: boolean;
}

/** backing objects kept open at most (see ComposefsFs.withObject) */
const OPEN_OBJECTS = 256;

export class ComposefsFs implements ReadOnlyFs {
  readonly format = 'composefs' as const;
  readonly rootIno: number;
  private last: { ino: number; v: ComposefsInode } | null = null;
  /** open backing objects, least recently used first, with how many operations hold each (see withObject) */
  private readonly objects = new Map<string, { source: Promise<ByteSource | null>; users: number }>();
  get maxEntries(): number {
    return this.erofs.maxEntries;
  }

  constructor(
    readonly erofs: ErofsFs,
    readonly header: { magic: number; version: number; flags: number; composefs_version: number },
    private readonly objectStore: ComposefsOpenOptions['objectStore'],
  ) {
    this.rootIno = erofs.rootIno;
  }

  /** The inode as libcomposefs reads it (cached for the last inode asked). */
  async inode(ino: number): Promise<ComposefsInode> {
    if (this.last?.ino === ino) return this.last.v;
    const attr = { ...(await this.erofs.getattr(ino)) };
    const ei = await this.erofs.inode(ino);
    const raw = ei.xattrSize > 0 ? await this.erofs.xattrs(ino) : [];
    const layout = ei.layout;
    const hidden = attr.type === 'chr' && attr.rdev === 0;
    const set = new XattrSet();
    let payload: Uint8Array | null = null;
    let digest: Uint8Array | null = null;
    // libcomposefs walks the inline entries first, then the shared ones
    const ordered = [...raw.filter((x) => x.sharedId < 0), ...raw.filter((x) => x.sharedId >= 0)];
    for (const x of ordered) {
      let name = x.name;
      const value = x.value;
      if (bytesEqual(name, K.redirect)) {
        if (attr.type === 'reg') {
          let v = value;
          if (v.length > 1 && v[0] === 0x2f) v = v.subarray(1);
          const z = v.indexOf(0);
          payload = (z < 0 ? v : v.subarray(0, z)).slice();
        }
        continue;
      }
      if (bytesEqual(name, K.metacopy)) {
        if (attr.type === 'reg' && value.length === ovl_metacopy.size) digest = value.slice(ovl_metacopy.f.digest.offset);
        continue;
      }
      if (bytesEqual(name, K.escWhiteout) && attr.type === 'reg') {
        attr.type = 'chr';
        attr.mode = (attr.mode & 0o7777) | S_IFCHR;
        attr.rdev = 0;
        attr.size = 0;
        continue;
      }
      if (bytesEqual(name, K.escWhiteouts) || bytesEqual(name, K.userWhiteout) || bytesEqual(name, K.userWhiteouts)) continue;
      if (startsWith(name, K.overlayPrefix)) {
        if (!startsWith(name, K.escapePrefix)) continue;
        const un = new Uint8Array(name.length - (K.escapePrefix.length - K.overlayPrefix.length));
        un.set(K.overlayPrefix);
        un.set(name.subarray(K.escapePrefix.length), K.overlayPrefix.length);
        name = un;
      }
      // names are C strings there
      const z = name.indexOf(0);
      if (z >= 0) name = name.subarray(0, z);
      if (!set.set(name, value, XATTR_VALUE_MAX)) {
        throw new FormatError('erofs.xattr_entry', x.offset, `inode ${ino}: xattr ${DEC.decode(name)} cannot be represented (libcomposefs refuses the image)`);
      }
    }
    const v: ComposefsInode = { attr, payload, digest, external: attr.type === 'reg' && layout === EROFS_INODE_CHUNK_BASED, xattrs: set.list, hidden };
    this.last = { ino, v };
    return v;
  }

  async getattr(ino: number): Promise<Attr> {
    return (await this.inode(ino)).attr;
  }

  async lookup(parent: number, name: Uint8Array): Promise<Attr | null> {
    const a = await this.erofs.lookup(parent, name);
    if (!a) return null;
    const c = await this.inode(a.ino);
    return c.hidden ? null : c.attr;
  }

  async readdir(ino: number, offset = 0, limit = Number.MAX_SAFE_INTEGER): Promise<DirEntry[]> {
    const out: DirEntry[] = [];
    let off = offset;
    // hidden stubs are dropped, so keep going until something is visible or the directory ends
    while (out.length === 0) {
      const batch = await this.erofs.readdir(ino, off, limit);
      if (batch.length === 0) break;
      for (const e of batch) {
        if (e.type === 'reg' || e.type === 'chr') {
          const c = await this.inode(e.ino);
          if (c.hidden) continue;
          out.push({ ...e, type: c.attr.type });
        } else out.push(e);
      }
      const next = batch[batch.length - 1]!.next;
      if (next <= off) break;
      off = next;
    }
    return out;
  }

  /** `use` given the file's backing object, which stays open while it runs */
  private backing<T>(ino: number, c: ComposefsInode, use: (src: ByteSource) => T | Promise<T>): Promise<T> {
    if (!c.payload) throw new NotFoundError(`inode ${ino}: a file without a redirect has no backing object`);
    const key = DEC.decode(c.payload);
    if (!this.objectStore) throw new NotFoundError(`backing object ${key} (no object store given)`);
    return this.withObject(key, (src) => {
      if (!src) throw new NotFoundError(`backing object ${key}`);
      return use(src);
    });
  }

  /**
   * `use` given the store's object `key` (null: the store has none). At most OPEN_OBJECTS stay
   * open: an extract or a check meets one per file, each holding a file descriptor, and a
   * 20k-file image ran out of them. An object is closed only when nothing holds it.
   */
  private async withObject<T>(key: string, use: (src: ByteSource | null) => T | Promise<T>): Promise<T> {
    let e = this.objects.get(key);
    if (e) this.objects.delete(key);
    else e = { source: this.objectStore!(key), users: 0 };
    this.objects.set(key, e);
    e.users++;
    this.trimObjects();
    try {
      return await use(await e.source);
    } finally {
      e.users--;
      this.trimObjects();
    }
  }

  private trimObjects(): void {
    for (const [key, e] of this.objects) {
      if (this.objects.size <= OPEN_OBJECTS) return;
      if (e.users > 0) continue;
      this.objects.delete(key);
      void e.source.then((src) => src?.close?.(), () => {});
    }
  }

  async read(ino: number, offset: number, size: number, into?: Uint8Array): Promise<Uint8Array> {
    const c = await this.inode(ino);
    if (!c.external) {
      if (c.attr.type === 'chr') return new Uint8Array(0);
      return this.erofs.read(ino, offset, size, into);
    }
    const n = Math.max(0, Math.min(size, c.attr.size - offset));
    if (n === 0) return new Uint8Array(0);
    return this.backing(ino, c, async (src) => {
      this.checkBacking(src, c, offset + n);
      if (into && into.length >= n) {
        const out = into.subarray(0, n);
        await readInto(src, offset, out);
        return out;
      }
      return (await src.read(offset, n)).slice();
    });
  }

  /**
   * A file whose data is in a backing object is one copy of that object's bytes, so extract's
   * worker threads copy objects themselves; inline data is planned by the EROFS reader. The
   * object may be closed once the plan is made (see withObject): a plan over it is run by its
   * path, as extract runs plans.
   */
  async dataPlan(ino: number, offset: number, size: number): Promise<DataPiece[]> {
    const c = await this.inode(ino);
    if (c.attr.type !== 'reg') return [];
    if (!c.external) return this.erofs.dataPlan(ino, offset, size);
    const n = Math.max(0, Math.min(size, c.attr.size - offset));
    if (n === 0) return [];
    return this.backing(ino, c, (src): DataPiece[] => {
      this.checkBacking(src, c, offset + n);
      return [{ kind: 'copy', source: src, pos: offset, len: n }];
    });
  }

  private checkBacking(src: ByteSource, c: ComposefsInode, end: number): void {
    if (end > src.size) throw new IoError(src.name, `backing object ${DEC.decode(c.payload!)} has ${src.size} bytes, the file ${c.attr.size}`);
  }

  readlink(ino: number): Promise<Uint8Array> {
    return this.erofs.readlink(ino);
  }

  async listxattr(ino: number): Promise<Uint8Array[]> {
    return (await this.inode(ino)).xattrs.map((x) => x.name.slice());
  }

  async getxattr(ino: number, name: Uint8Array): Promise<Uint8Array | null> {
    const x = (await this.inode(ino)).xattrs.find((e) => bytesEqual(e.name, name));
    return x ? x.value.slice() : null;
  }

  statfs(): Promise<StatFs> {
    return this.erofs.statfs();
  }

  async info(): Promise<ImageInfo> {
    const base = await this.erofs.info();
    return {
      ...base,
      format: 'composefs',
      composefs: {
        headerVersion: this.header.version,
        formatVersion: this.header.composefs_version,
        flags: this.header.flags,
        hasAcl: (this.header.flags & 1) !== 0,
      },
    };
  }

  async inodeDetails(ino: number): Promise<Record<string, unknown>> {
    const d = await this.erofs.inodeDetails(ino);
    const c = await this.inode(ino);
    d.composefs = {
      storage: c.attr.type !== 'reg' ? 'none' : c.external ? 'backing object' : c.attr.size > 0 ? 'inline' : 'empty',
      payload: c.payload ? DEC.decode(c.payload) : null,
      fsverityDigest: c.digest ? hex(c.digest) : null,
      whiteout: c.attr.type === 'chr' && c.attr.rdev === 0,
    };
    return d;
  }

  /** The fields of a dump line (composefs-info dump), for writeDump. */
  async dumpEntry(ino: number): Promise<DumpEntry> {
    const c = await this.inode(ino);
    const a = c.attr;
    let payload: Uint8Array | null = null;
    let content: Uint8Array | null = null;
    if (a.type === 'symlink') {
      const t = await this.erofs.readlink(ino);
      const z = t.indexOf(0);
      payload = z < 0 ? t : t.subarray(0, z);
    } else if (a.type === 'reg') {
      payload = c.payload;
      const layout = (await this.erofs.inode(ino)).layout;
      if (a.size > 0 && (layout === EROFS_INODE_FLAT_PLAIN || layout === EROFS_INODE_FLAT_INLINE)) content = await this.erofs.read(ino, 0, a.size);
    }
    return {
      size: a.type === 'symlink' ? payload!.length : a.size, mode: a.mode, nlink: a.nlink, uid: a.uid, gid: a.gid,
      rdev: a.type === 'chr' || a.type === 'blk' ? a.rdev : 0, mtime: a.mtime, mtimeNsec: a.mtimeNsec,
      payload, content, digest: c.digest, xattrs: c.xattrs,
    };
  }

  /** Backing paths of every regular file, sorted and unique (composefs-info objects). */
  async objectPaths(): Promise<string[]> {
    const seen = new Set<string>();
    const stack = [this.rootIno];
    const dirs = new Set<number>([this.rootIno]);
    while (stack.length) {
      const d = stack.pop()!;
      for (let off = 0; ;) {
        const batch = await this.readdir(d, off, 4096);
        if (batch.length === 0) break;
        for (const e of batch) {
          if (e.type === 'dir') {
            if (!dirs.has(e.ino)) {
              dirs.add(e.ino);
              stack.push(e.ino);
            }
          } else if (e.type === 'reg') {
            const c = await this.inode(e.ino);
            if (c.payload) seen.add(DEC.decode(c.payload));
          }
        }
        const next = batch[batch.length - 1]!.next;
        if (next <= off) break;
        off = next;
      }
    }
    return [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Backing paths the object store cannot supply (composefs-info missing-objects). */
  async missingObjects(): Promise<string[]> {
    const out: string[] = [];
    for (const p of await this.objectPaths()) {
      const found = this.objectStore ? await this.withObject(p, (src) => src !== null) : false;
      if (!found) out.push(p);
    }
    return out;
  }

  close(): Promise<void> {
    return this.erofs.close();
  }
}

export async function openComposefs(src: ByteSource, opts: ComposefsOpenOptions = {}): Promise<ComposefsFs> {
  if (src.size < composefs_header.size) throw new FormatError('composefs.header', 0, `${src.name}: ${src.size} bytes is too small for a composefs image`);
  const h = decodeStruct(composefs_header, await src.read(0, composefs_header.size));
  if (h.magic !== COMPOSEFS_MAGIC) throw new FormatError('composefs.header', 0, `magic 0x${h.magic.toString(16)} is not 0xd078629a`);
  if (h.version !== LCFS_EROFS_VERSION) throw new FormatError(composefs_header.name, composefs_header.f.version.offset, `header version ${h.version} (only ${LCFS_EROFS_VERSION} exists)`);
  const erofsOpts: Parameters<typeof openErofs>[1] = { format: 'composefs' };
  if (opts.cacheBlockSize !== undefined) erofsOpts.cacheBlockSize = opts.cacheBlockSize;
  if (opts.cacheBytes !== undefined) erofsOpts.cacheBytes = opts.cacheBytes;
  const erofs = await openErofs(src, erofsOpts);
  return new ComposefsFs(erofs, { magic: h.magic, version: h.version, flags: h.flags, composefs_version: h.composefs_version }, opts.objectStore);
}
