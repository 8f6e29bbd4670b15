/**
 * fs-verity file digest (erofs-composefs-format.md §4.8): SHA-256 Merkle tree over 4096-byte
 * blocks, no salt, then SHA-256 of the 256-byte fsverity_descriptor. This is what
 * `fsverity digest` prints and what composefs stores in `trusted.overlay.metacopy`.
 *
 * The tree is built level by level as data streams in: each level keeps one pending 4096-byte
 * block of child hashes, so memory stays at a few blocks per level whatever the file size.
 * The async variant hashes data blocks with WebCrypto, a whole read (256 blocks) at a time to
 * spread the promise overhead; the sync variant and the fallback use the pure-JS SHA-256.
 */
import type { ByteSource } from '../io/source.ts';
import { hasNativeSha256, sha256, webCryptoSubtle } from './sha256.ts';

const BLOCK = 4096;
const EMPTY = new Uint8Array(0);
const HASH = 32;
const HASHES_PER_BLOCK = BLOCK / HASH;
/** bytes read from a source at once (and blocks hashed per WebCrypto batch = READ / BLOCK) */
const READ = 1 << 20;

/** The 256-byte fsverity_descriptor for SHA-256, 4096-byte blocks, no salt. */
export function fsverityDescriptor(dataSize: number, rootHash: Uint8Array): Uint8Array {
  if (!Number.isSafeInteger(dataSize) || dataSize < 0) throw new RangeError(`fs-verity: bad data size ${dataSize}`);
  if (rootHash.length !== HASH) throw new RangeError(`fs-verity: root hash must be ${HASH} bytes`);
  const d = new Uint8Array(256);
  d[0] = 1; // version
  d[1] = 1; // FS_VERITY_HASH_ALG_SHA256
  d[2] = 12; // log2(block size)
  // salt_size 0, sig_size 0
  new DataView(d.buffer).setBigUint64(8, BigInt(dataSize), true);
  d.set(rootHash, 16); // root_hash[64], zero padded
  return d;
}

/** Hashes per tree level: level 0 has one hash per data block, the last level has one (the root). */
function levelCounts(dataSize: number): number[] {
  const counts = [Math.ceil(dataSize / BLOCK)];
  while (counts[counts.length - 1]! > 1) counts.push(Math.ceil(counts[counts.length - 1]! / HASHES_PER_BLOCK));
  return counts;
}

type HashBlock = (block: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/**
 * Collects the hashes of one tree level after another; `add` returns a promise only when it hashed
 * asynchronously. The one Merkle builder: composefs' FsVerityStream feeds it too.
 */
export class MerkleTree {
  private readonly counts: number[];
  private readonly pending: Uint8Array[];
  private readonly fill: number[];
  private readonly seen: number[];
  root: Uint8Array = new Uint8Array(HASH); // an empty file's root is all zeros

  /**
   * `scratch`: pending blocks to reuse, one per level, filled in as needed (a tree built synchronously
   * start to end may take the previous one's: every byte of a pending block is written before it is hashed)
   */
  constructor(dataSize: number, private readonly hashBlock: HashBlock, scratch?: Uint8Array[]) {
    this.counts = dataSize === 0 ? [] : levelCounts(dataSize);
    // the last level holds the root alone: no pending block (a one-block file needs none at all)
    this.pending = this.counts.map((_, l) => (l < this.counts.length - 1 ? (scratch ? (scratch[l] ??= new Uint8Array(BLOCK)) : new Uint8Array(BLOCK)) : EMPTY));
    this.fill = this.counts.map(() => 0);
    this.seen = this.counts.map(() => 0);
  }

  /** Add the next hash of `level` (level 0: a data block's hash). */
  async add(level: number, hash: Uint8Array): Promise<void> {
    if (level === this.counts.length - 1) {
      this.root = hash;
      return;
    }
    const buf = this.pending[level]!;
    buf.set(hash, this.fill[level]! * HASH);
    this.fill[level]!++;
    this.seen[level]!++;
    if (this.fill[level] === HASHES_PER_BLOCK || this.seen[level] === this.counts[level]) {
      buf.fill(0, this.fill[level]! * HASH);
      this.fill[level] = 0;
      await this.add(level + 1, await this.hashBlock(buf));
    }
  }

  /**
   * A data block's hash given as 32 latin1 chars, synchronously (hashBlock must be sync): a native
   * hash's string result costs no buffer per block (see useBlockHashLatin1).
   */
  addSyncLatin1(hash: string): void {
    if (this.counts.length === 1) {
      const root = new Uint8Array(HASH);
      for (let k = 0; k < HASH; k++) root[k] = hash.charCodeAt(k);
      this.root = root;
      return;
    }
    const buf = this.pending[0]!;
    const at = this.fill[0]! * HASH;
    for (let k = 0; k < HASH; k++) buf[at + k] = hash.charCodeAt(k);
    const fill = ++this.fill[0]!;
    const seen = ++this.seen[0]!;
    if (fill === HASHES_PER_BLOCK || seen === this.counts[0]) {
      buf.fill(0, fill * HASH);
      this.fill[0] = 0;
      this.addSync(1, this.hashBlock(buf) as Uint8Array);
    }
  }

  /** Same as add, all synchronous (hashBlock must be sync). */
  addSync(level: number, hash: Uint8Array): void {
    if (level === this.counts.length - 1) {
      this.root = hash;
      return;
    }
    const buf = this.pending[level]!;
    buf.set(hash, this.fill[level]! * HASH);
    this.fill[level]!++;
    this.seen[level]!++;
    if (this.fill[level] === HASHES_PER_BLOCK || this.seen[level] === this.counts[level]) {
      buf.fill(0, this.fill[level]! * HASH);
      this.fill[level] = 0;
      this.addSync(level + 1, this.hashBlock(buf) as Uint8Array);
    }
  }
}

/**
 * A digest asked for ahead (announceFile): `digest` or `error` is filled in before `done` resolves
 * (it never rejects). Many tickets share one `done` (the CLI's pool: one per batch of files), so a
 * walk that announces 50k files makes no promise per file.
 */
export interface DigestTicket {
  readonly size: number;
  readonly done: Promise<unknown>;
  digest: Uint8Array | null;
  error: Error | null;
}

export interface AheadOptions {
  /** files smaller than this are not asked for ahead */
  minSize: number;
  /** asks for one file's digest ahead (default: a ticket around the digester's promise) */
  ticket?: (path: string, size: number) => DigestTicket;
}

let fileDigester: ((path: string, size: number) => Promise<Uint8Array>) | null = null;
/** digests asked for while the tree was listed (announceFile), by path; null: not asked ahead */
let early: Map<string, DigestTicket> | null = null;
let earlyMin = 0;
let earlyTicket: ((path: string, size: number) => DigestTicket) | null = null;

/**
 * A runtime that can digest a local file on other threads (the CLI's verity-pool.ts) registers it
 * here; `fsverityDigest` and `fsverityDigests` then hand it every non-empty source that has a `path`.
 * With `ahead` (the smallest size worth it), files a directory walker announces (announceFile) are
 * handed over at once, so hashing runs while the rest of the tree is still being listed.
 */
export function useFileDigester(digester: ((path: string, size: number) => Promise<Uint8Array>) | null, ahead?: AheadOptions): void {
  fileDigester = digester;
  early = digester && ahead ? new Map() : null;
  earlyMin = Math.max(1, ahead?.minSize ?? 1);
  earlyTicket = ahead?.ticket ?? null;
}

/** a ticket around a digest promise (a digester registered without a ticket function) */
function ticketOf(size: number, digest: Promise<Uint8Array>): DigestTicket {
  const t: DigestTicket = {
    size, digest: null, error: null,
    done: digest.then((d) => void (t.digest = d), (e: unknown) => void (t.error = e instanceof Error ? e : new Error(String(e)))),
  };
  return t;
}

/** A directory walker's word that `src` is a file of the tree: digested ahead when registered so. */
export function announceFile(src: ByteSource): void {
  if (!early || !fileDigester || src.path === undefined || src.size < earlyMin || early.has(src.path)) return;
  // a file the build then leaves out (inline, failed build) leaves no unhandled rejection: tickets never reject
  early.set(src.path, earlyTicket ? earlyTicket(src.path, src.size) : ticketOf(src.size, fileDigester(src.path, src.size)));
}

/** the ticket asked ahead for this file when it was announced with this size */
function earlyFor(path: string, size: number): DigestTicket | undefined {
  const e = early?.get(path);
  return e && e.size === size ? e : undefined;
}

function ticketDigest(t: DigestTicket): Uint8Array {
  if (t.error) throw t.error;
  return t.digest!;
}

/** The registered digester's digest of a file: the one asked ahead when it was announced with this size. */
function digestFile(path: string, size: number): Promise<Uint8Array> {
  const e = earlyFor(path, size);
  return e ? e.done.then(() => ticketDigest(e)) : fileDigester!(path, size);
}

/**
 * fs-verity digests of many sources, in order. Those a registered file digester takes are all
 * asked for at once (the CLI's pool batches small files into one thread message: one message per
 * file was most of its cost), those asked ahead are awaited batch by batch; the others are
 * streamed on this thread `concurrency` at a time, so memory stays at a few 1 MiB reads.
 */
export async function fsverityDigests(srcs: readonly ByteSource[], concurrency = 4): Promise<Uint8Array[]> {
  const out = new Array<Uint8Array>(srcs.length);
  const away: Promise<unknown>[] = [];
  const here: number[] = [];
  const ahead: number[] = [];
  const tickets: DigestTicket[] = [];
  const batches = new Set<Promise<unknown>>();
  for (let i = 0; i < srcs.length; i++) {
    const s = srcs[i]!;
    if (fileDigester && s.path !== undefined && s.size > 0) {
      const t = earlyFor(s.path, s.size);
      if (t) {
        ahead.push(i);
        tickets.push(t);
        if (!t.digest && !t.error) batches.add(t.done);
      } else away.push(fileDigester(s.path, s.size).then((d) => void (out[i] = d)));
    } else here.push(i);
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < here.length) {
      const i = here[next++]!;
      out[i] = await fsverityDigest(srcs[i]!);
    }
  };
  await Promise.all([...away, ...batches, ...Array.from({ length: Math.min(Math.max(1, concurrency), here.length) }, worker)]);
  for (let k = 0; k < ahead.length; k++) out[ahead[k]!] = ticketDigest(tickets[k]!);
  return out;
}

/** The data blocks of one read: full blocks as views, a short last block copied and zero padded. */
function dataBlocks(piece: Uint8Array): Uint8Array[] {
  const blocks: Uint8Array[] = [];
  let o = 0;
  for (; o + BLOCK <= piece.length; o += BLOCK) blocks.push(piece.subarray(o, o + BLOCK));
  if (o < piece.length) {
    const last = new Uint8Array(BLOCK);
    last.set(piece.subarray(o));
    blocks.push(last);
  }
  return blocks;
}

let blockHashLatin1: ((block: Uint8Array) => string) | null = null;

/**
 * A native SHA-256 whose digest comes back as a 32-char latin1 string (Node's crypto.hash with
 * 'latin1' output) hashes the data blocks of the synchronous digests: a string is made in V8's
 * heap where a Buffer result has a backing store of its own. 256 blocks of 4 KiB, 200 rounds:
 * 2.8-3.0 µs a block vs 3.8-4.1 with the Buffer result (copied into the tree either way).
 */
export function useBlockHashLatin1(fn: ((block: Uint8Array) => string) | null): void {
  blockHashLatin1 = fn;
}

/** MerkleTree's pending blocks for fsverityDigestOfReads, one per level (reused: it runs synchronously) */
const syncScratch: Uint8Array[] = [];

/** a short last block, zero padded (reused: hashing it is synchronous) */
const lastBlock = new Uint8Array(BLOCK);

/**
 * The data blocks of one read into `tree`, hashed synchronously. No array of block views per read:
 * on the CLI's hashing threads, dataBlocks' allocations were ~11% of the thread's busy time
 * (136 of 1250 ms, CPU profile of a 34k-file build).
 */
function hashDataBlocksSync(tree: MerkleTree, piece: Uint8Array): void {
  let o = 0;
  // only with the native SHA-256 registered too (turning it off means pure JS throughout)
  const latin1 = hasNativeSha256() ? blockHashLatin1 : null;
  if (latin1) {
    for (; o + BLOCK <= piece.length; o += BLOCK) tree.addSyncLatin1(latin1(piece.subarray(o, o + BLOCK)));
    if (o < piece.length) {
      lastBlock.set(piece.subarray(o));
      lastBlock.fill(0, piece.length - o);
      tree.addSyncLatin1(latin1(lastBlock));
    }
    return;
  }
  for (; o + BLOCK <= piece.length; o += BLOCK) tree.addSync(0, sha256(piece.subarray(o, o + BLOCK)));
  if (o < piece.length) {
    lastBlock.set(piece.subarray(o));
    lastBlock.fill(0, piece.length - o);
    tree.addSync(0, sha256(lastBlock));
  }
}

/** fs-verity digest (SHA-256, 4 KiB blocks) of a small in-memory file, pure JS. */
export function fsverityDigestSync(data: Uint8Array): Uint8Array {
  return fsverityDigestOfReads(data.length, (o, n) => data.subarray(o, o + n));
}

/**
 * The descriptor the synchronous digests hash, reused: only the size (bytes 8-15) and the root
 * (16-47) change from file to file (a 256-byte array, a DataView and a BigInt per file before).
 */
const syncDescriptor = fsverityDescriptor(0, new Uint8Array(HASH));

function setDescriptorSize(size: number): void {
  const d = syncDescriptor;
  const hi = Math.floor(size / 0x1_0000_0000);
  const lo = size - hi * 0x1_0000_0000;
  d[8] = lo; d[9] = lo >>> 8; d[10] = lo >>> 16; d[11] = lo >>> 24;
  d[12] = hi; d[13] = hi >>> 8; d[14] = hi >>> 16; d[15] = hi >>> 24;
}

/** the digest of syncDescriptor (size and root set) into `out` at `at` */
function hashDescriptorInto(out: Uint8Array, at: number, latin1: ((block: Uint8Array) => string) | null): void {
  if (latin1) {
    const h = latin1(syncDescriptor);
    for (let k = 0; k < HASH; k++) out[at + k] = h.charCodeAt(k);
  } else out.set(sha256(syncDescriptor), at);
}

/**
 * fs-verity digest of `size` bytes fetched by synchronous `read`s of `piece` bytes (a multiple of
 * 4096), hashed with the synchronous SHA-256 (pure JS unless a native one is registered). The CLI's
 * hashing threads (src/cli/verity-worker.ts) read local files with readSync through
 * fsverityDigestOfReadsInto.
 */
export function fsverityDigestOfReads(size: number, read: (offset: number, length: number) => Uint8Array, piece = READ): Uint8Array {
  const out = new Uint8Array(HASH);
  fsverityDigestOfReadsInto(out, 0, size, read, piece);
  return out;
}

/**
 * fsverityDigestOfReads with the digest written into `out` at `at` (the CLI's hashing threads write
 * a batch's digests into its reply). A file of one block (80% of the files of the 1.05 GB bench
 * tree, 39.8k of 50.3k) is its block's hash as the root: no Merkle tree is built for it.
 */
export function fsverityDigestOfReadsInto(out: Uint8Array, at: number, size: number, read: (offset: number, length: number) => Uint8Array, piece = READ): void {
  if (piece <= 0 || piece % BLOCK !== 0) throw new RangeError(`fs-verity: read size ${piece} is not a multiple of ${BLOCK}`);
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`fs-verity: bad data size ${size}`);
  const latin1 = hasNativeSha256() ? blockHashLatin1 : null;
  setDescriptorSize(size);
  if (size === 0) {
    syncDescriptor.fill(0, 16, 16 + HASH); // an empty file's root is all zeros
  } else if (size <= BLOCK) {
    const b = read(0, size);
    if (b.length !== size) throw new RangeError(`fs-verity: short read, ${b.length} of ${size} bytes at 0`);
    let block = b;
    if (size < BLOCK) {
      lastBlock.set(b);
      lastBlock.fill(0, size);
      block = lastBlock;
    }
    if (latin1) {
      const h = latin1(block);
      for (let k = 0; k < HASH; k++) syncDescriptor[16 + k] = h.charCodeAt(k);
    } else syncDescriptor.set(sha256(block), 16);
  } else {
    // synchronous start to end: the pending blocks are reused from the previous file (a 4 KiB
    // allocation per file of 2 blocks or more before: 10.6k of the 1.05 GB bench tree's files)
    const tree = new MerkleTree(size, sha256, syncScratch);
    for (let o = 0; o < size; o += piece) {
      const n = Math.min(piece, size - o);
      const b = read(o, n);
      if (b.length !== n) throw new RangeError(`fs-verity: short read, ${b.length} of ${n} bytes at ${o}`);
      hashDataBlocksSync(tree, b);
    }
    syncDescriptor.set(tree.root, 16);
  }
  hashDescriptorInto(out, at, latin1);
}

/**
 * fs-verity digest of a file, streamed from `src` 1 MiB at a time (the next read overlaps the
 * hashing of the current one). Uses WebCrypto when present, else the pure-JS SHA-256.
 */
export async function fsverityDigest(src: ByteSource | Uint8Array): Promise<Uint8Array> {
  const size = src instanceof Uint8Array ? src.length : src.size;
  if (fileDigester && !(src instanceof Uint8Array) && src.path !== undefined && size > 0) return digestFile(src.path, size);
  const read = src instanceof Uint8Array
    ? async (o: number, n: number) => src.subarray(o, o + n)
    : (o: number, n: number) => src.read(o, n);
  // a native synchronous hash (Node) costs ~1 µs a call, WebCrypto's promise per 4 KiB block ~15 µs
  const subtle = hasNativeSha256() ? undefined : webCryptoSubtle();
  if (!subtle) {
    const tree = new MerkleTree(size, sha256);
    for (let o = 0; o < size; o += READ) {
      hashDataBlocksSync(tree, await read(o, Math.min(READ, size - o)));
    }
    return sha256(fsverityDescriptor(size, tree.root));
  }
  const digest = async (b: Uint8Array) => new Uint8Array(await subtle.digest('SHA-256', b.buffer instanceof ArrayBuffer ? b as Uint8Array<ArrayBuffer> : new Uint8Array(b)));
  const tree = new MerkleTree(size, digest);
  let next = size > 0 ? read(0, Math.min(READ, size)) : undefined;
  for (let o = 0; o < size; o += READ) {
    const piece = await next!;
    const after = o + READ;
    next = after < size ? read(after, Math.min(READ, size - after)) : undefined;
    next?.catch(() => {}); // a failed read is reported when awaited, not as an unhandled rejection
    // WebCrypto copies its input when called, so the views into `piece` may be dropped after this
    const hashes = await Promise.all(dataBlocks(piece).map(digest));
    for (const h of hashes) await tree.add(0, h);
  }
  return digest(fsverityDescriptor(size, tree.root));
}
