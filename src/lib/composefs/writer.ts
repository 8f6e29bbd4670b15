/**
 * composefs image writer, byte-identical to `mkcomposefs` of libcomposefs 1.0.x for format
 * versions 0 and 1 (erofs-composefs-format.md §3, §4, including every quirk of §4.9).
 *
 * Steps, as in lcfs-writer-erofs.c: overlay rewrite (escape trusted.overlay.*, metacopy and
 * redirect on external files, whiteouts become marked regular files, "." and "..", the root's
 * opaque xattr and the 256 whiteout stubs), inode numbering in breadth-first order, shared
 * xattrs (pairs used by more than one inode), inode placement, then emission front to back
 * (header, superblock, inodes with their inline tails, shared xattr table, data blocks).
 */
import { FormatError, UnsupportedError } from '../errors.ts';
import { fsverityDigests } from '../codec/fsverity.ts';
import { hasNativeSha256 } from '../codec/sha256.ts';
import { inodesOf, type SourceInode, type SourceTree, type Xattr } from '../fs/tree.ts';
import { validateTree } from '../fs/validate.ts';
import { S_IFCHR, S_IFREG, modeOfType, type FileType } from '../fs/types.ts';
import {
  EROFS_CHUNK_FORMAT_BLKBITS_MASK, EROFS_FEATURE_COMPAT_MTIME, EROFS_FEATURE_COMPAT_XATTR_FILTER, EROFS_INODE_CHUNK_BASED,
  EROFS_INODE_FLAT_INLINE, EROFS_INODE_FLAT_PLAIN, EROFS_MAGIC, EROFS_SLOTSIZE, EROFS_SUPER_OFFSET, erofs_super_block,
} from '../erofs/structs.ts';
import {
  BLOCK_BITS, BLOCK_SIZE, DIRENT_SIZE, compareBytes, direntBlocks, emitDirentsOf, inodeCoreSize,
  xattrIcount, type InodeCore,
} from '../erofs/writer-common.ts';
import { CountingOutput, StreamOutput, expectAt, roundUp, type Output, type Sink } from '../erofs/writer-output.ts';
import { encodeStruct } from '../struct.ts';
import { dumpLineOf, INLINE_CONTENT_MAX } from './dump.ts';
import { FsVerityStream } from './verity.ts';
import { XattrSet } from './xattrs.ts';
import { COMPOSEFS_MAGIC, COMPOSEFS_HEADER_SIZE, COMPOSEFS_FLAGS_HAS_ACL, LCFS_EROFS_VERSION, composefs_header } from './structs.ts';
import { binKey, startsWith } from '../bytes.ts';
import { assignBlocks, collectInodes, dirLinks, emitDirBlocks, emitInodeArea } from '../erofs/writer-model.ts';
import { XattrPlanner, type XattrPlan } from '../erofs/writer-xattrs.ts';

/** LCFS_VERSION_MAX of libcomposefs 1.0.x */
export const COMPOSEFS_VERSION_MAX = 1;
/** mkcomposefs inlines files up to this size when it reads a directory */
export const DEFAULT_INLINE_MAX = 64;
/** LCFS_MAX_NONINLINE_CHUNKS: an external file's chunk map must fit one block */
const MAX_CHUNKS = 1024;

export interface ComposefsOptions {
  /** --min-version (default 0) */
  minVersion?: number;
  /** --max-version (default 1, or 0 when only minVersion is given) */
  maxVersion?: number;
  /**
   * regular files with content and no `inline` flag are stored in the image up to this size and
   * as backing objects above it (default 64, as mkcomposefs does for a directory)
   */
  inlineMax?: number;
  /**
   * 'keep' (default): a hardlinked file is one inode with every name and its link count, so the
   * mounted image shows what the source has (same st_ino, st_nlink 3 for /usr/bin/bunzip2's three
   * names). 'split': one inode per name with st_nlink 1, which is what mkcomposefs 1.0.8 writes
   * from a directory (lcfs_build never looks at st_ino/st_nlink): byte-identical images with it.
   */
  hardlinks?: 'keep' | 'split';
}

export interface ComposefsResult {
  /** image bytes written */
  size: number;
  /** fs-verity digest of the image (`mkcomposefs --print-digest`) */
  digest: Uint8Array;
  /** composefs_version written in the header */
  version: number;
  /** number of inodes (EROFS `inos`) */
  inodes: number;
}

const ENC = new TextEncoder();
const K = {
  overlayPrefix: ENC.encode('trusted.overlay.'),
  escapePrefix: ENC.encode('trusted.overlay.overlay.'),
  metacopy: ENC.encode('trusted.overlay.metacopy'),
  redirect: ENC.encode('trusted.overlay.redirect'),
  opaque: ENC.encode('trusted.overlay.opaque'),
  escWhiteout: ENC.encode('trusted.overlay.overlay.whiteout'),
  escWhiteouts: ENC.encode('trusted.overlay.overlay.whiteouts'),
  escOpaque: ENC.encode('trusted.overlay.overlay.opaque'),
  userWhiteout: ENC.encode('user.overlay.whiteout'),
  userWhiteouts: ENC.encode('user.overlay.whiteouts'),
  userOpaque: ENC.encode('user.overlay.opaque'),
  aclAccess: ENC.encode('system.posix_acl_access'),
  aclDefault: ENC.encode('system.posix_acl_default'),
  selinux: ENC.encode('security.selinux'),
  dot: ENC.encode('.'),
  dotdot: ENC.encode('..'),
};
const EMPTY = new Uint8Array(0);
const Y = ENC.encode('y');
const X_ = ENC.encode('x');


/** chunkbits = max(12, bitlen(size - 1)), capped at 12 + 31; count = ceil(size / 2^chunkbits) */
export function chunking(size: number): { chunkBits: number; chunkCount: number } {
  let bits = size <= 1 ? 0 : Math.ceil(Math.log2(size));
  // log2 of a double can be off by one around powers of two: fix against exact arithmetic
  while (bits > 0 && 2 ** (bits - 1) >= size) bits--;
  while (2 ** bits < size) bits++;
  let chunkBits = Math.max(BLOCK_BITS, bits);
  if (chunkBits - BLOCK_BITS > EROFS_CHUNK_FORMAT_BLKBITS_MASK) chunkBits = BLOCK_BITS + EROFS_CHUNK_FORMAT_BLKBITS_MASK;
  return { chunkBits, chunkCount: Math.ceil(size / 2 ** chunkBits) };
}

/** What the writer learned about one regular file before the (synchronous) layout. */
interface FilePrep {
  inline: Uint8Array | null;
  digest: Uint8Array | null;
  /** trusted.overlay.redirect's value: "/" and the payload (null: none, or an empty payload) */
  redirect: Uint8Array | null;
}

/**
 * Small byte arrays carved out of shared 64 KiB buffers. An external file's redirect (66 bytes)
 * was an ArrayBuffer of its own, and so was the payload it was copied from (V8 keeps typed arrays
 * above 64 bytes outside its heap): two per file, 100k for the 1.05 GB bench tree.
 */
class Slab {
  private buf = new Uint8Array(0);
  private used = 0;
  take(n: number): Uint8Array {
    if (this.used + n > this.buf.length) {
      this.buf = new Uint8Array(Math.max(1 << 16, n));
      this.used = 0;
    }
    return this.buf.subarray(this.used, (this.used += n));
  }
}

const HEX = ENC.encode('0123456789abcdef');
/** an fs-verity SHA-256 digest */
const DIGEST_SIZE = 32;

/** "/xx/yyyy…": the redirect of a file stored under its digest (verity.ts digestToPayload, with the slash) */
function redirectOf(digest: Uint8Array, slab: Slab): Uint8Array {
  return writeRedirect(digest, slab.take(redirectSize(digest.length)));
}

function redirectSize(digestLength: number): number {
  return 2 + 2 * digestLength;
}

/** the redirect of `digest` into `v` (redirectSize bytes) */
function writeRedirect(digest: Uint8Array, v: Uint8Array): Uint8Array {
  v[0] = 0x2f;
  let o = 1;
  for (let i = 0; i < digest.length; i++) {
    if (i === 1) v[o++] = 0x2f;
    v[o++] = HEX[digest[i]! >> 4]!;
    v[o++] = HEX[digest[i]! & 15]!;
  }
  return v;
}

/** One inode of the image, in breadth-first order. */
interface Node {
  src: SourceInode | null;
  parent: number;
  name: Uint8Array;
  type: FileType;
  /** st_mode, type bits included */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  mtimeNsec: number;
  /** st_size as libcomposefs keeps it */
  size: number;
  rdev: number;
  xattrs: XattrSet;
  target: Uint8Array | null;
  inline: Uint8Array | null;
  /** external regular file: chunk map entries (0 otherwise) */
  chunkCount: number;
  chunkBits: number;
  /** directories: sorted names and target node indexes */
  entNames: Uint8Array[] | null;
  entNodes: number[] | null;
}

class WriteError extends Error {}

export async function buildComposefs(tree: SourceTree, opts: ComposefsOptions, sink: Sink): Promise<ComposefsResult> {
  const plan = await planComposefs(tree, opts);
  const hasher = new FsVerityStream();
  // a native SHA-256 (Node) hashes the image's blocks synchronously: WebCrypto's promise per 4 KiB
  // block was 64 of the writer's 1217 ms (CPU profile, 39.9k-inode tree)
  const out = new StreamOutput(sink, { tap: hasNativeSha256() ? (c) => hasher.update(c) : (c) => hasher.updateAsync(c) });
  await emit(plan, out);
  await out.finish();
  if (out.pos !== plan.imageSize) throw new Error(`composefs writer bug: wrote ${out.pos} bytes, planned ${plan.imageSize}`);
  return { size: out.pos, digest: hasher.digest(), version: plan.version, inodes: plan.nodes.length };
}

/** Image size without writing anything (the measuring pass). */
export async function measureComposefs(tree: SourceTree, opts: ComposefsOptions = {}): Promise<number> {
  const plan = await planComposefs(tree, opts);
  const out = new CountingOutput();
  await emit(plan, out);
  return out.pos;
}

interface Plan {
  version: number;
  nodes: Node[];
  hasAcl: boolean;
  minMtime: number;
  minNsec: number;
  /** per node: placement */
  nid: Float64Array;
  ipos: Float64Array;
  nBlocks: Uint32Array;
  tail: Uint32Array;
  compact: Uint8Array;
  /** xattr areas and the shared table (sizes, filters, entries) */
  xattrs: XattrPlan;
  /** per node: first data block (0 when it has none), handed out in BFS order from dataStart */
  blkaddr: Float64Array;
  inodesEnd: number;
  dataStart: number;
  nDataBlocks: number;
  imageSize: number;
}

function describe(nodes: Node[], i: number): string {
  const src = nodes[i]!.src;
  const at = src ? dumpLineOf(src) : undefined;
  const comps: string[] = [];
  for (let k = i; k !== 0; k = nodes[k]!.parent) comps.push(new TextDecoder().decode(nodes[k]!.name));
  const path = '/' + comps.reverse().join('/');
  return at ? `line ${at.line} (${path})` : path;
}

function failAt(nodes: Node[], i: number, msg: string): never {
  const src = nodes[i]!.src;
  const at = src ? dumpLineOf(src) : undefined;
  if (at) throw new FormatError('composefs.dump', at.offset, `line ${at.line}: cannot write file: ${msg}`);
  throw new UnsupportedError('composefs', `${describe(nodes, i)}: cannot write file: ${msg}`);
}

/** --min-version / --max-version as mkcomposefs resolves them */
function versionRange(opts: ComposefsOptions): { min: number; max: number } {
  let min = opts.minVersion;
  let max = opts.maxVersion;
  if (min === undefined && max === undefined) {
    min = 0;
    max = 1;
  }
  min ??= 0;
  max ??= 0;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min > COMPOSEFS_VERSION_MAX || max > COMPOSEFS_VERSION_MAX) {
    throw new UnsupportedError('composefs', `format version ${min}..${max}: this writer knows versions 0 and 1`);
  }
  if (max < min) max = min;
  return { min, max };
}

/**
 * What the layout needs of the regular files. `prep` holds every file that is not hashed here once
 * `inlined` settles (inline contents, and digests or payloads the source already gives); the files
 * hashed here are numbered in `hashed` (inode -> index) and their digests come in `digests`. The
 * layout plans those files with placeholders of their final size and fills them in (see layout).
 */
function prepareFiles(tree: SourceTree, inlineMax: number): {
  prep: Map<SourceInode, FilePrep>; inlined: Promise<unknown>; hashed: Map<SourceInode, number>; digests: Promise<Uint8Array[]>;
} {
  const prep = new Map<SourceInode, FilePrep>();
  const todo = inodesOf(tree.root).filter((n) => n.type === 'reg' && n.size > 0);
  const inline: SourceInode[] = [];
  const hash: SourceInode[] = [];
  const hashed = new Map<SourceInode, number>();
  const slab = new Slab();
  for (const n of todo) {
    const wantInline = n.inline ?? (n.content !== undefined && n.size <= inlineMax);
    if (wantInline) {
      if (!n.content) throw new UnsupportedError('composefs', 'a file marked inline has no content');
      if (n.size > INLINE_CONTENT_MAX) throw new UnsupportedError('composefs', `inline content size ${n.size} exceeds maximum ${INLINE_CONTENT_MAX}`);
      inline.push(n);
    } else if (!n.fsverityDigest && n.content) {
      hashed.set(n, hash.length);
      hash.push(n);
    } else {
      const digest = n.fsverityDigest ?? null;
      prep.set(n, { inline: null, digest, redirect: n.payload ? payloadRedirect(n.payload, slab) : n.content && digest ? redirectOf(digest, slab) : null });
    }
  }
  // a few inline reads in flight at once: sources may be slow (HTTP, Blob)
  let next = 0;
  const reader = async () => {
    while (next < inline.length) {
      const n = inline[next++]!;
      prep.set(n, { inline: await n.content!.read(0, n.size), digest: null, redirect: null });
    }
  };
  const inlined = Promise.all(Array.from({ length: Math.min(4, inline.length) }, reader));
  const digests = Promise.all([fsverityDigests(hash.map((n) => n.content!)), inlined]).then(([d]) => d);
  // a failed read or digest is reported where it is awaited, not also as an unhandled rejection
  digests.catch(() => {});
  return { prep, inlined, hashed, digests };
}

/** "/" and the payload (null for an empty payload) */
function payloadRedirect(payload: Uint8Array, slab: Slab): Uint8Array | null {
  if (payload.length === 0) return null;
  const r = slab.take(payload.length + 1);
  r[0] = 0x2f;
  r.set(payload, 1);
  return r;
}

async function planComposefs(tree: SourceTree, opts: ComposefsOptions): Promise<Plan> {
  const range = versionRange(opts);
  if (opts.hardlinks === 'split') tree = splitHardlinks(tree);
  validateTree(tree);
  const files = prepareFiles(tree, opts.inlineMax ?? DEFAULT_INLINE_MAX);
  await files.inlined;
  try {
    return await layout(tree, range, files.prep, files.hashed, files.digests);
  } catch (e) {
    if (e instanceof WriteError) throw new UnsupportedError('composefs', e.message);
    throw e;
  }
}

/**
 * The tree with every name of a non-directory its own inode (a shallow copy, nlink 1). A digest already
 * in the inode (objectsOf ran first, as with --digest-store) carries over to every copy; otherwise
 * each name is hashed on its own, as mkcomposefs does.
 */
export function splitHardlinks(tree: SourceTree): SourceTree {
  // Only what changes is copied: a non-directory named a second time (or carrying another link
  // count), a dirent marked as a link, and the directories above them. Copying every inode and
  // dirent cost 58k object spreads on a 1.05 GB tree with 6 hardlinks (~140 ms of the build's
  // thread in a CPU profile, and garbage).
  const seen = new Set<SourceInode>();
  const walk = (d: SourceInode): SourceInode => {
    const kids = d.children;
    if (!kids) return d;
    let out: typeof kids | null = null;
    for (let k = 0; k < kids.length; k++) {
      const c = kids[k]!;
      let inode = c.inode;
      if (inode.type === 'dir') inode = walk(inode);
      else if (seen.has(inode) || (inode.nlink !== undefined && inode.nlink !== 1)) inode = { ...inode, nlink: 1 };
      else seen.add(inode);
      if (inode !== c.inode || c.link !== undefined) {
        out ??= kids.slice(0, k);
        out.push({ name: c.name, inode });
      } else out?.push(c);
    }
    return out ? { ...d, children: out } : d;
  };
  return { root: walk(tree.root), notes: tree.notes };
}

/**
 * `prep` holds the inline contents when called and every file once `hashed` settles: the inodes are
 * collected (and rewritten but for the metacopy and redirect of external files) before it, so on
 * the CLI that work overlaps the hashing threads' last batches. A CPU profile of the 1.05 GB bench
 * tree, load ~4: the build's thread sat idle ~0.2 s waiting for digests and then ran the layout
 * ~0.6 s alone, the hashing threads idle.
 */
async function layout(
  tree: SourceTree, range: { min: number; max: number }, prep: Map<SourceInode, FilePrep>, hashed: Map<SourceInode, number>, digests: Promise<Uint8Array[]>,
): Promise<Plan> {
  // Inodes that have a primary (non-link) name, and how many names every inode has.
  const hasPrimary = new Set<SourceInode>();
  const nameCount = new Map<SourceInode, number>();
  let version = range.min;
  {
    const stack: SourceInode[] = [tree.root];
    while (stack.length) {
      const d = stack.pop()!;
      for (const c of d.children ?? []) {
        nameCount.set(c.inode, (nameCount.get(c.inode) ?? 0) + 1);
        if (!c.link) hasPrimary.add(c.inode);
        if (c.inode.type === 'dir') {
          stack.push(c.inode);
        }
        // a user whiteout (chardev 0:0) needs format version 1 when allowed
        if (version < 1 && range.max >= 1 && !c.link && c.inode.type === 'chr' && c.inode.rdev === 0) version = 1;
      }
    }
  }

  const nodes: Node[] = [];
  const slab = new Slab();

  const newNode = (src: SourceInode, parent: number, name: Uint8Array): number => {
    const i = nodes.length;
    const f = src.type === 'reg' ? prep.get(src) : undefined;
    const xattrs = new XattrSet(src.xattrs.slice());
    const n: Node = {
      src, parent, name, type: src.type, mode: modeOfType(src.type) | (src.perm & 0o7777),
      uid: src.uid, gid: src.gid, nlink: src.nlink ?? nameCount.get(src) ?? 1, mtime: src.mtime, mtimeNsec: src.mtimeNsec,
      size: src.type === 'symlink' ? (src.target?.length ?? 0) : src.type === 'dir' ? 0 : src.size,
      rdev: src.rdev, xattrs, target: src.type === 'symlink' ? (src.target ?? EMPTY) : null,
      inline: f?.inline ?? null, chunkCount: 0, chunkBits: 0, entNames: null, entNodes: null,
    };
    nodes.push(n);
    if (n.xattrs.size > 0x7fff) failAt(nodes, i, 'xattrs exceed 32767 bytes');
    rewrite(i);
    return i;
  };

  const setX = (i: number, name: Uint8Array, value: Uint8Array) => {
    if (!nodes[i]!.xattrs.set(name, value)) failAt(nodes, i, 'Numerical result out of range (xattrs exceed 32767 bytes)');
  };

  /** external files: their metacopy and redirect xattrs wait for the digests */
  const external: number[] = [];
  /** trusted.overlay.metacopy's value: empty, or the header and the digest (filled in later when null) */
  const metacopyOf = (digest: Uint8Array | null): Uint8Array => {
    const meta = slab.take(4 + DIGEST_SIZE);
    meta[1] = meta.length;
    meta[3] = 1; // FS_VERITY_HASH_ALG_SHA256
    if (digest) meta.set(digest, 4);
    return meta;
  };
  const backing = (i: number, f: FilePrep | undefined): void => {
    setX(i, K.metacopy, f?.digest ? metacopyOf(f.digest) : EMPTY);
    if (f?.redirect) setX(i, K.redirect, f.redirect);
  };

  /** add_overlayfs_xattrs (an external file's metacopy and redirect: backing) */
  const rewrite = (i: number): void => {
    const n = nodes[i]!;
    const list = n.xattrs.list;
    for (let k = 0; k < list.length; k++) {
      const x = list[k]!;
      if (startsWith(x.name, K.overlayPrefix)) {
        const renamed = new Uint8Array(K.escapePrefix.length + x.name.length - K.overlayPrefix.length);
        renamed.set(K.escapePrefix);
        renamed.set(x.name.subarray(K.overlayPrefix.length), K.escapePrefix.length);
        list[k] = { name: renamed, value: x.value };
      }
    }
    if (n.type === 'reg' && n.size > 0 && n.inline === null) {
      const { chunkBits, chunkCount } = chunking(n.size);
      if (chunkCount > MAX_CHUNKS || n.size > 2 ** 53) failAt(nodes, i, 'File too large');
      n.chunkBits = chunkBits;
      n.chunkCount = chunkCount;
      // metacopy and redirect once the digests are in (backing below); nothing else sets a
      // regular file's xattrs after this, and the lists are sorted by name before they are planned
      external.push(i);
    }
    if (n.type === 'chr' && n.rdev === 0) {
      n.size = 0;
      n.type = 'reg';
      n.mode = S_IFREG | (n.mode & 0o7777);
      setX(i, K.escWhiteout, EMPTY);
      setX(i, K.userWhiteout, EMPTY);
      setX(n.parent, K.escWhiteouts, EMPTY);
      setX(n.parent, K.userWhiteouts, EMPTY);
      if (version >= 1) {
        setX(n.parent, K.escOpaque, X_);
        setX(n.parent, K.userOpaque, X_);
      }
    }
  };

  // Breadth-first: a directory's entries (with "." and "..", and the stubs in the root) sorted by
  // name; every entry that is not a link becomes the next inode, a link waits for its primary name.
  collectInodes(tree, nodes, {
    add: newNode,
    primary: hasPrimary,
    orphanLink: (dir) => failAt(nodes, dir, 'a hardlink names an inode outside the tree'),
    extraNames: (dir, has) => {
      const stubs: Uint8Array[] = [];
      if (dir !== 0) return stubs;
      const names = has();
      for (let b = 0; b < 256; b++) {
        const name = ENC.encode(b.toString(16).padStart(2, '0'));
        if (!names.has(binKey(name))) stubs.push(name);
      }
      return stubs;
    },
    addExtra: (dir, name) => {
      const root = nodes[dir]!;
      const stubX = new XattrSet();
      const rootSelinux = root.xattrs.get(K.selinux);
      if (rootSelinux) stubX.set(K.selinux, rootSelinux);
      return nodes.push({
        src: null, parent: 0, name, type: 'chr', mode: S_IFCHR | 0o644, uid: root.uid, gid: root.gid, nlink: 1,
        mtime: root.mtime, mtimeNsec: root.mtimeNsec, size: 0, rdev: 0, xattrs: stubX, target: null, inline: null,
        chunkCount: 0, chunkBits: 0, entNames: null, entNodes: null,
      }) - 1;
    },
  });
  // the root's opaque marker is set after the rewrite, unescaped
  setX(0, K.opaque, Y);

  // Everything is known here but the digests of the files hashed for this image: link counts, the
  // oldest mtime, sorted xattr lists and their interning for the shared table run while the hashing
  // threads finish. Those files get their metacopy and redirect now as placeholders of their final
  // size (the digest's length is fixed), added to the planner as late pairs; once the digests are in,
  // only their bytes are written and the plan (what is shared: same content, same pairs) and the
  // placement run.
  const N = nodes.length;
  const isExternal = new Uint8Array(N);
  for (const i of external) isExternal[i] = 1;
  const planner = new XattrPlanner(N, { order: 'composefs' });
  const byName = (a: Xattr, b: Xattr) => compareBytes(a.name, b.name);
  // most lists hold 0-2 pairs (an external file: metacopy and redirect); Array.prototype.sort
  // allocates its work state on every call, 42.6 of the build thread's 429 MB allocated on the
  // 1.05 GB bench tree (sampling heap profile, collected objects included)
  const sortByName = (list: Xattr[]): void => {
    if (list.length === 2) {
      const a = list[0]!;
      const b = list[1]!;
      if (byName(a, b) > 0) {
        list[0] = b;
        list[1] = a;
      }
    } else if (list.length > 2) list.sort(byName);
  };
  let minMtime = nodes[0]!.mtime;
  let minNsec = nodes[0]!.mtimeNsec;
  let hasAcl = false;
  for (let i = 0; i < N; i++) {
    const n = nodes[i]!;
    if (n.type === 'dir') n.nlink = dirLinks(nodes, i, (t) => nodes[t]!.type === 'dir');
    if (n.mtime < minMtime || (n.mtime === minMtime && n.mtimeNsec < minNsec)) {
      minMtime = n.mtime;
      minNsec = n.mtimeNsec;
    }
    if (!hasAcl && (n.xattrs.indexOf(K.aclAccess) >= 0 || n.xattrs.indexOf(K.aclDefault) >= 0)) hasAcl = true;
    if (isExternal[i] === 1) continue;
    sortByName(n.xattrs.list);
    planner.add(i, n.xattrs.list);
  }
  // per file still hashing: its digest's index, metacopy value, redirect value (or null)
  const pendingDigest: number[] = [];
  const pendingMeta: Uint8Array[] = [];
  const pendingRedirect: (Uint8Array | null)[] = [];
  const late: number[] = [];
  for (const i of external) {
    const src = nodes[i]!.src!;
    const k = hashed.get(src);
    const list = nodes[i]!.xattrs.list;
    if (k === undefined) {
      backing(i, prep.get(src));
      sortByName(list);
      planner.add(i, list);
      continue;
    }
    const meta = metacopyOf(null);
    const redirect = src.payload ? payloadRedirect(src.payload, slab) : slab.take(redirectSize(DIGEST_SIZE));
    setX(i, K.metacopy, meta);
    if (redirect) setX(i, K.redirect, redirect);
    sortByName(list);
    late.length = 0;
    for (let x = 0; x < list.length; x++) if (list[x]!.value === meta || list[x]!.value === redirect) late.push(x);
    planner.add(i, list, late);
    pendingDigest.push(k);
    pendingMeta.push(meta);
    pendingRedirect.push(src.payload ? null : redirect);
  }
  const got = await digests;
  for (let p = 0; p < pendingDigest.length; p++) {
    const d = got[pendingDigest[p]!]!;
    if (d.length !== DIGEST_SIZE) throw new Error(`composefs writer bug: a ${d.length}-byte fs-verity digest`);
    pendingMeta[p]!.set(d, 4);
    const r = pendingRedirect[p];
    if (r) writeRedirect(d, r);
  }
  // Shared xattrs: (name, value) pairs used by more than one inode, table in descending order.
  const xp = planner.plan();
  // Placement (compute_erofs_inodes).
  const nid = new Float64Array(N);
  const ipos = new Float64Array(N);
  const nBlocks = new Uint32Array(N);
  const tail = new Uint32Array(N);
  const compact = new Uint8Array(N);
  let pos = EROFS_SUPER_OFFSET + erofs_super_block.size;
  let nDataBlocks = 0;
  for (let i = 0; i < N; i++) {
    const n = nodes[i]!;
    // payload size
    let nb = 0;
    let tl = 0;
    if (n.type === 'dir') {
      const { starts, lastSize } = direntBlocks(n.entNames!);
      nb = starts.length - 2;
      tl = lastSize;
      if (tl > BLOCK_SIZE / 2) {
        nb++;
        tl = 0;
      }
    } else if (n.type === 'symlink') {
      tl = n.target!.length;
    } else if (n.type === 'reg' && n.size > 0) {
      if (n.inline !== null) {
        nb = Math.floor(n.size / BLOCK_SIZE);
        tl = n.size % BLOCK_SIZE;
        if (tl > BLOCK_SIZE / 2) {
          nb++;
          tl = 0;
        }
      } else {
        tl = 4 * n.chunkCount;
      }
    }
    // compact when the inode needs nothing of the extended one (decided before padding)
    const sizeForCompact = n.type === 'dir' ? nb * BLOCK_SIZE + tl : n.size;
    const isCompact = n.mtime === minMtime && n.mtimeNsec === minNsec && n.nlink <= 0xffff && n.uid <= 0xffff && n.gid <= 0xffff && sizeForCompact <= 0xffffffff;
    const isize = inodeCoreSize(isCompact);
    const xs = xp.xsize[i]!;
    pos = roundUp(pos, EROFS_SLOTSIZE);
    // keep the inline tail inside one block
    if (n.type === 'symlink') {
      const total = isize + xs + tl;
      if (Math.floor(total / BLOCK_SIZE) > 0) {
        // the target moves to data blocks: as many as it fills (mkcomposefs: one, as no target it
        // accepts is longer than 4095 bytes; emission writes the whole target)
        nb = Math.ceil(tl / BLOCK_SIZE);
        tl = 0;
      }
      if (Math.floor(pos / BLOCK_SIZE) !== Math.floor((pos + total - 1) / BLOCK_SIZE)) pos = roundUp(pos, BLOCK_SIZE);
    } else {
      const rem = BLOCK_SIZE - ((pos + isize + xs) % BLOCK_SIZE);
      if (rem < tl) {
        const extra = roundUp(rem, EROFS_SLOTSIZE);
        const rem2 = BLOCK_SIZE - ((pos + isize + xs + extra) % BLOCK_SIZE);
        if (tl <= rem2) pos += extra;
        else {
          nb++;
          tl = 0;
          pos = roundUp(pos, BLOCK_SIZE);
        }
      }
    }
    nid[i] = pos / EROFS_SLOTSIZE;
    ipos[i] = pos;
    nBlocks[i] = nb;
    tail[i] = tl;
    compact[i] = isCompact ? 1 : 0;
    nDataBlocks += nb;
    pos += isize + xs + tl;
  }
  const inodesEnd = roundUp(pos, EROFS_SLOTSIZE);
  const dataStart = roundUp(inodesEnd + xp.sharedSize, BLOCK_SIZE);
  if (nid[0]! > 0xffff) throw new UnsupportedError('composefs', `root nid ${nid[0]} does not fit 16 bits`);
  const blkaddr = new Float64Array(N);
  assignBlocks(nBlocks, dataStart / BLOCK_SIZE, blkaddr);
  return {
    version, nodes, hasAcl, minMtime, minNsec, nid, ipos, nBlocks, tail, compact, xattrs: xp, blkaddr, inodesEnd, dataStart, nDataBlocks, imageSize: dataStart + nDataBlocks * BLOCK_SIZE,
  };
}

async function emit(p: Plan, out: Output): Promise<void> {
  const { nodes } = p;
  const N = nodes.length;

  const header = new Uint8Array(COMPOSEFS_HEADER_SIZE);
  encodeStruct(composefs_header, {
    magic: COMPOSEFS_MAGIC, version: LCFS_EROFS_VERSION, flags: p.hasAcl ? COMPOSEFS_FLAGS_HAS_ACL : 0, composefs_version: p.version,
  }, header);
  out.bytes(header);
  const W = 'composefs';
  expectAt(out, COMPOSEFS_HEADER_SIZE, W, () => 'composefs header end');
  out.padTo(EROFS_SUPER_OFFSET);

  const sb = new Uint8Array(erofs_super_block.size);
  encodeStruct(erofs_super_block, {
    magic: EROFS_MAGIC, checksum: 0, feature_compat: EROFS_FEATURE_COMPAT_MTIME | EROFS_FEATURE_COMPAT_XATTR_FILTER,
    blkszbits: BLOCK_BITS, root_nid: p.nid[0]!, inos: N, build_time: p.minMtime, build_time_nsec: p.minNsec,
    blocks: p.dataStart / BLOCK_SIZE + p.nDataBlocks, meta_blkaddr: 0, xattr_blkaddr: Math.floor(p.inodesEnd / BLOCK_SIZE),
  }, sb);
  // build_time is a u64 of an s64 (negative mtimes wrap)
  const sbv = new DataView(sb.buffer);
  sbv.setUint32(erofs_super_block.f.build_time.offset, p.minMtime >>> 0, true);
  sbv.setUint32(erofs_super_block.f.build_time.offset + 4, Math.floor(p.minMtime / 0x1_0000_0000) >>> 0, true);
  out.bytes(sb);
  expectAt(out, EROFS_SUPER_OFFSET + erofs_super_block.size, W, () => 'superblock end');
  const where = (i: number) => `inode ${i} (nid ${p.nid[i]!}, ${JSON.stringify(describe(nodes, i))})`;

  const ff4 = new Uint8Array(4).fill(0xff);
  const core = (i: number): InodeCore => {
    const n = nodes[i]!;
    const nb = p.nBlocks[i]!;
    const tl = p.tail[i]!;
    let iu = 0;
    let layout = tl > 0 ? EROFS_INODE_FLAT_INLINE : EROFS_INODE_FLAT_PLAIN;
    let size = 0;
    if (n.type === 'chr' || n.type === 'blk') iu = n.rdev % 0x1_0000_0000;
    else if ((n.type === 'dir' || n.type === 'reg' || n.type === 'symlink') && nb > 0) iu = p.blkaddr[i]!;
    if (n.type === 'dir') size = nb * BLOCK_SIZE + tl;
    else if (n.type === 'reg') {
      size = n.size;
      if (n.chunkCount > 0) {
        layout = EROFS_INODE_CHUNK_BASED;
        // the chunk format overwrites only the low half of a block address given just before
        iu = ((iu & 0xffff0000) | (n.chunkBits - BLOCK_BITS)) >>> 0;
      }
    } else if (n.type === 'symlink') size = nb === 0 ? tl : n.size;
    return {
      compact: p.compact[i] === 1, layout, xattrIcount: xattrIcount(p.xattrs.xsize[i]!), mode: n.mode, nlink: n.nlink, size, iu, ino: i,
      uid: n.uid, gid: n.gid, mtime: n.mtime, mtimeNsec: n.mtimeNsec,
    };
  };
  const tail = (i: number): void => {
    const n = nodes[i]!;
    const tl = p.tail[i]!;
    if (n.type === 'dir') {
      const { starts } = direntBlocks(n.entNames!);
      emitDir(out, p, n, starts[starts.length - 2]!, n.entNames!.length);
    } else if (n.type === 'symlink') out.bytes(n.target!);
    else if (n.inline !== null) out.bytes(n.inline.subarray(n.inline.length - tl));
    else for (let k = 0; k < n.chunkCount; k++) out.bytes(ff4);
  };
  // shared xattr ids count 4-byte units from xattr_blkaddr = inodes_end / 4096; inodes in index order
  await emitInodeArea(out, {
    order: Uint32Array.from({ length: N }, (_, k) => k), ipos: p.ipos, coreSize: (i) => inodeCoreSize(p.compact[i] === 1), tailLen: p.tail,
    xattrs: p.xattrs, inodesEnd: p.inodesEnd, dataStart: p.dataStart, bs: BLOCK_SIZE,
  }, core, tail, W, where);

  for (let i = 0; i < N; i++) {
    const n = nodes[i]!;
    const nb = p.nBlocks[i]!;
    if (nb === 0) continue;
    const start = p.blkaddr[i]! * BLOCK_SIZE;
    if (n.type === 'dir') {
      const { starts } = direntBlocks(n.entNames!);
      const full = starts.length - 2;
      // the last block, when not inlined, becomes a full block too
      const stored = full < nb ? full + 1 : full;
      emitDirBlocks(out, start, BLOCK_SIZE, n.entNames!, n.entNodes!, starts, stored, p.nid, (t) => nodes[t]!.type, W, () => where(i));
    } else {
      expectAt(out, start, W, () => `${where(i)}: data block 0`);
      let len: number;
      if (n.type === 'reg') {
        if (n.inline !== null) {
          // only the first block of inline content, as libcomposefs (content up to 5000 bytes has one)
          const b = n.inline.subarray(0, Math.min(n.inline.length, BLOCK_SIZE));
          out.bytes(b);
          len = b.length;
        } else {
          out.fill(BLOCK_SIZE, 0xff); // a chunk map pushed out of the inode: libcomposefs writes a block of holes
          len = BLOCK_SIZE;
        }
      } else if (n.type === 'symlink') {
        out.bytes(n.target!);
        len = n.target!.length;
      } else len = 0;
      expectAt(out, start + len, W, () => `${where(i)}: data end`);
      out.padTo(roundUp(out.pos, BLOCK_SIZE));
    }
    expectAt(out, start + nb * BLOCK_SIZE, W, () => `${where(i)}: end of its ${nb} data blocks`);
    if ((i & 255) === 255) await out.drain();
  }
  expectAt(out, p.imageSize, W, () => 'image end');
}

function emitDir(out: Output, p: Plan, n: Node, first: number, end: number): void {
  emitDirentsOf(out, n.entNames!, n.entNodes!, p.nid, (t) => p.nodes[t]!.type, first, end);
}

export { DIRENT_SIZE };
