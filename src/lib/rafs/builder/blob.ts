/**
 * The data blob writer (§5): chunks file content, digests, deduplicates (within the build and
 * against chunks of other blobs), compresses each chunk independently (kept raw unless it shrinks),
 * and streams the blob through an Output. v6 blobs end with the blob meta (CI v1 array + 4096-byte
 * header), the chunk digest array and the ToC, each section followed by its reverse-tar header, as
 * nydus-image ≥ 2.2 writes them with `--features blob-toc` (§5.1). Blob id: SHA-256 of every byte
 * written except the digest array (§5.12; v5 and 'meta'-tail blobs: of the whole file).
 *
 * The chunk data section cannot be laid out before it is compressed; it is emitted chunk by chunk
 * as it is produced, and the tail is laid out from the recorded chunks before it is emitted, so no
 * byte is revisited. Memory: one read piece, one chunk and 56 bytes of records per stored chunk.
 *
 * zstd chunks are what nydus-image 2.4 writes (`zstd::bulk::compress` at zstd's default level 3: one
 * frame with its content size, no checksum), kept only when smaller than the chunk (§2.2).
 *
 * Batch chunks (`batchSize`, nydus-image `--batch-size`, v6 only; §5.2): the only chunk of a file,
 * when smaller than half the batch size, is appended to a batch buffer instead of being written; the
 * buffer is compressed as one unit when the next chunk would make it reach the batch size, when a
 * chunk that is not batched is written, and before the tail. Its members' CI v2 rows carry BATCH |
 * COMPRESSED, the batch's offset, compressed size 0 and `data` = batch index << 32 | offset in the
 * batch; the batch's sizes go to a `BatchInflateContext` after the CI rows. As nydus-image 2.4, the
 * bootstrap's chunk info of a batch member keeps compressed offset and size 0 and no BATCH flag.
 */
import { headerSum } from '../../tar/structs.ts';
import { createSha256, sha256, type CloneableHasher } from '../../codec/sha256.ts';
import { crc32c } from '../../codec/crc32c.ts';
import { gzipCompress } from '../../codec/gzip.ts';
import { lz4CompressBlock } from '../../codec/lz4-compress.ts';
import { zstdCompress } from '../../codec/zstd-encode.ts';
import { UnsupportedError } from '../../errors.ts';
import { StreamOutput, type Output, type Sink } from '../../erofs/writer-output.ts';
import type { ByteSource } from '../../io/source.ts';
import { encodeStruct } from '../../struct.ts';
import { digestOf } from '../blob.ts';
import { CIPHER_AES128XTS, encryptUnit, randomCipher, type BlobCipher } from '../crypt.ts';
import { hex } from '../model.ts';
import {
  BF, BLOB_BATCH_CTX, BLOB_CI_V1, BLOB_CI_V2, BLOB_META_HEADER, BLOB_META_HEADER_SIZE, BLOB_META_MAGIC, CF, CI2_FLAGS, COMPRESSORS, TAR_BLOCK, TAR_HEADER, TOC_ENTRY, TOC_FLAGS,
  type Compressor, type Digester,
} from '../structs.ts';
import type { BlobRef, ChunkRef, RafsVersion } from './types.ts';

/** zstd level of nydus-image's chunks: `zstd::DEFAULT_COMPRESSION_LEVEL` (utils/src/compress/mod.rs) */
export const NYDUS_ZSTD_LEVEL = 3;

export function checkCompressor(c: Compressor): void {
  if (!COMPRESSORS.includes(c)) throw new UnsupportedError('compressor', `unknown compressor ${String(c)}`);
}

/** One chunk compressed per §2.2, or null when the result would not be smaller (stored raw). */
export function compressChunk(alg: Compressor, data: Uint8Array, gzipLevel: 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6): Uint8Array | null {
  if (data.length === 0) return null;
  switch (alg) {
    case 'none': return null;
    case 'lz4_block': return lz4CompressBlock(data);
    case 'gzip': {
      const z = gzipCompress(data, gzipLevel);
      return z.length < data.length ? z : null;
    }
    case 'zstd': {
      const z = zstdCompress(data, { level: NYDUS_ZSTD_LEVEL });
      return z.length < data.length ? z : null;
    }
  }
}

/**
 * Compresses chunks off the calling thread (the CLI's worker threads, src/cli/compress-pool.ts):
 * results must equal compressChunk's, so a blob is byte-identical with or without a pool. Jobs
 * finish in any order; the writer stores them in the order they were added.
 */
export interface ChunkCompressPool {
  /** jobs worth having in flight at once (a few per thread) */
  readonly width: number;
  /** `data` is the writer's own copy, which it stores itself when compression does not shrink it: not to be detached */
  compress(alg: Compressor, data: Uint8Array, gzipLevel: 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | undefined): Promise<Uint8Array | null>;
  /** chunks of `alg` will follow: start the threads and warm their encoder now (called once, not awaited) */
  prepare?(alg: Compressor, gzipLevel: 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | undefined): void;
  /**
   * the prepared threads are warm: the writer hands chunks over from the moment this is true (it
   * yields to the event loop once per MiB until then, so the threads' replies get through), and
   * from its first POOL_AFTER bytes with a pool that has no ready()
   */
  ready?(alg: Compressor, gzipLevel: 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | undefined): boolean;
  /**
   * compress() as a job the writer can take back until a thread starts it. With it the writer hands
   * every chunk over as it is read and, while the threads have more than a few MiB not yet started,
   * takes back the oldest and compresses it itself (stealing): the threads never wait for this one
   * to hand them work, and at the end this one takes back what they have not started instead of
   * waiting for their queue to drain.
   */
  submit?(alg: Compressor, data: Uint8Array, gzipLevel: 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | undefined): ChunkJob;
  /**
   * `n` bytes for a chunk to submit, in memory the threads read without a copy (shared); the writer
   * hands it back (release) once the chunk is written. Absent: the writer copies into a fresh array.
   */
  buffer?(n: number): Uint8Array;
  release?(b: Uint8Array): void;
}

/** A chunk handed to a pool's thread that can be taken back until the thread starts it (ChunkCompressPool.submit). */
export interface ChunkJob {
  /** compress()'s result; null as well once taken back */
  readonly result: Promise<Uint8Array | null>;
  /** a thread has started it: it can no longer be taken back */
  started(): boolean;
  /** true: no thread will compress it, the caller does */
  takeBack(): boolean;
}

let registeredPool: ChunkCompressPool | null = null;

/** A runtime with threads registers its pool here (the CLI); the core never starts threads itself. */
export function useChunkCompressPool(pool: ChunkCompressPool | null): void {
  registeredPool = pool;
}

/**
 * New data the writer compresses on its own thread before it hands chunks to a pool without ready():
 * a small build finishes before the pool's threads would have started (and pays no copies for them).
 */
const POOL_AFTER = 8 << 20;

/**
 * Stealing (ChunkCompressPool.submit): bytes per job slot (width) the threads keep waiting for them,
 * so they have work while this thread compresses a chunk it took back, and the most bytes per job
 * slot read but not yet written.
 */
const STEAL_AHEAD = 1 << 20;
const STEAL_LIMIT = 8 << 20;
/**
 * and at most STEAL_JOBS chunks per job slot: waitingBytes and takeBackOldest scan the queue at
 * every chunk, and a tree of small files queued thousands (20,000 files of 200-300 bytes, the
 * bundled CLI: 3.5-3.7 s against 1.9-2.0 s before stealing; 1.8-1.9 s with the cap)
 */
const STEAL_JOBS = 16;

/** one turn of the event loop (setImmediate where there is one: setTimeout waits 1 ms or more) */
function nextTurn(): Promise<void> {
  return new Promise((ok) => (typeof setImmediate === 'function' ? setImmediate(ok) : setTimeout(ok, 0)));
}

/** A 512-byte GNU tar header for a blob section (§5.8). */
export function sectionTarHeader(name: string, size: number): Uint8Array {
  const b = new Uint8Array(TAR_BLOCK);
  const enc = new TextEncoder();
  const oct = (v: number, digits: number) => enc.encode(v.toString(8).padStart(digits, '0') + '\0');
  encodeStruct(TAR_HEADER, {
    name: enc.encode(name), size: oct(size, 11), mtime: oct(0, 11), typeflag: Uint8Array.of(0x30), magic: enc.encode('ustar '), version: enc.encode(' \0'),
  }, b);
  b.set(oct(headerSum(b), 7), TAR_HEADER.f.chksum.offset);
  return b;
}

/** CI v1 entry (§5.4). */
export function encodeCiV1(out: Uint8Array, at: number, c: Pick<ChunkRef, 'compressedOffset' | 'compressedSize' | 'uncompressedOffset' | 'uncompressedSize'>): void {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const us = c.uncompressedSize - 1;
  const cs = c.compressedSize - 1;
  const F = BLOB_CI_V1.f;
  v.setUint32(at + F.uncomp_info_lo.offset, ((c.uncompressedOffset % 0x1_0000_0000) | (((us >>> 20) & 0xf) << 8)) >>> 0, true);
  v.setUint32(at + F.uncomp_info_hi.offset, ((Math.floor(c.uncompressedOffset / 0x1_0000_0000) & 0xfff) | ((us & 0xfffff) << 12)) >>> 0, true);
  v.setUint32(at + F.comp_info_lo.offset, c.compressedOffset % 0x1_0000_0000 >>> 0, true);
  v.setUint32(at + F.comp_info_hi.offset, ((Math.floor(c.compressedOffset / 0x1_0000_0000) & 0xff) | (((cs >>> 20) & 0xf) << 8) | ((cs & 0xfffff) << 12)) >>> 0, true);
}

/** CI v2 entry (§5.5): a plain chunk (crc32 in `data`) or a batch member (batch index and offset in `data`). */
export function encodeCiV2(out: Uint8Array, at: number, c: ChunkRef): void {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const F = BLOB_CI_V2.f;
  const b = c.batch;
  const compressedOffset = b ? b.compressedOffset : c.compressedOffset;
  const compressedSize = b ? 0 : c.compressedSize;
  if (compressedSize > 0xff_ffff) throw new UnsupportedError('rafs build', `a ${compressedSize}-byte stored chunk does not fit CI v2's 24-bit compressed size (batch blobs need a chunk size below 16 MiB)`);
  const flags = (b
    ? CI2_FLAGS.BATCH | CI2_FLAGS.COMPRESSED
    : ((c.flags & CF.COMPRESSED ? CI2_FLAGS.COMPRESSED : 0) | (c.flags & CF.HAS_CRC32 ? CI2_FLAGS.HAS_CRC32 : 0)))
    | (c.flags & CF.ENCRYPTED ? CI2_FLAGS.ENCRYPTED : 0);
  v.setUint32(at + F.uncompressed_blk.offset, c.uncompressedOffset / 4096, true);
  v.setUint32(at + F.uncomp_info_hi.offset, ((c.uncompressedSize - 1) | (flags << 24)) >>> 0, true);
  v.setUint32(at + F.comp_info_lo.offset, compressedOffset % 0x1_0000_0000 >>> 0, true);
  v.setUint32(at + F.comp_info_hi.offset, ((Math.floor(compressedOffset / 0x1_0000_0000) & 0xff) | (compressedSize << 8)) >>> 0, true);
  v.setUint32(at + F.data_lo.offset, b ? b.offset : (c.flags & CF.HAS_CRC32 ? c.crc32 : 0), true);
  v.setUint32(at + F.data_hi.offset, b ? b.index : 0, true);
}

/**
 * Output that feeds what it emits to two SHA-256 states: `hash`, the blob id (every byte but the
 * digest array, emitted through `unhashed`), and the whole file (an OCI layer's digest, which a
 * sink may take: WholeSha256Sink). Both are one state up to the digest array, where `whole` forks
 * off as a clone, so the bytes before it (the chunk data: nearly all of a blob) are hashed once.
 */
class HashedOutput implements Output {
  readonly hash = createSha256();
  /** the whole file's hash once it differs from `hash` (from the digest array on) */
  private forked: CloneableHasher | null = null;
  private static readonly ZERO = new Uint8Array(64 * 1024);
  constructor(private readonly inner: Output) {}
  get pos(): number {
    return this.inner.pos;
  }
  bytes(b: Uint8Array): void {
    this.hash.update(b);
    this.forked?.update(b);
    this.inner.bytes(b);
  }
  /** bytes of the file that the blob id leaves out (§5.12: the digest array) */
  unhashed(b: Uint8Array): void {
    this.forked ??= this.hash.clone();
    this.forked.update(b);
    this.inner.bytes(b);
  }
  /** the state over every byte emitted (a copy: digest() may end a native hasher) */
  whole(): CloneableHasher {
    return (this.forked ?? this.hash).clone();
  }
  fill(n: number, byte = 0): void {
    const z = byte === 0 ? HashedOutput.ZERO : new Uint8Array(HashedOutput.ZERO.length).fill(byte);
    for (let left = n; left > 0; left -= z.length) {
      const part = left >= z.length ? z : z.subarray(0, left);
      this.hash.update(part);
      this.forked?.update(part);
    }
    this.inner.fill(n, byte);
  }
  padTo(to: number): void {
    if (to < this.pos) throw new Error(`writer bug: padding back from ${this.pos} to ${to}`);
    this.fill(to - this.pos);
  }
  drain(): Promise<void> {
    return this.inner.drain();
  }
}

/**
 * A blob sink that wants the SHA-256 of the whole blob file (nydus blob layers are named by it:
 * src/lib/oci/nydus.ts). The writer hashes every byte for the blob id anyway, and the two differ
 * only from the digest array on, so instead of the sink hashing the blob a second time the writer
 * hands it a hasher that has seen every byte the sink received, once finish() has flushed them all
 * (not called when the blob is empty: the sink then received nothing).
 */
export interface WholeSha256Sink extends Sink {
  wholeSha256(h: CloneableHasher): void;
}

function wantsWholeSha256(s: Sink): s is WholeSha256Sink {
  return typeof (s as Partial<WholeSha256Sink>).wholeSha256 === 'function';
}

export interface BlobWriterOptions {
  version: RafsVersion;
  chunkSize: number;
  digester: Digester;
  compressor: Compressor;
  gzipLevel?: 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
  alignedChunk: boolean;
  crc32: boolean;
  blobTail: 'meta' | 'toc';
  /** 0 / absent: no batches; else the batch size (v6, validated by resolveOptions) */
  batchSize?: number;
  /** AES-128-XTS with a random key and IV (v6; rafs/crypt.ts) */
  encrypt?: boolean;
  readSize?: number;
  signal?: AbortSignal;
  /** chunks found elsewhere (parent, dictionary): digest hex → chunk */
  known?: Map<string, ChunkRef>;
  /** compress on other threads: absent = the registered pool (useChunkCompressPool), null = none */
  pool?: ChunkCompressPool | null;
  /**
   * nydus-image `--blob-inline-meta` (v6 with ToC): called once the blob meta and digests are
   * written, with the blob entry as the inlined bootstrap must record it (INLINED_FS_META, a
   * placeholder id, the size so far); returns the bootstrap, which goes into the blob before the ToC
   */
  inlineBootstrap?: (blob: BlobRef) => Promise<Uint8Array>;
}

export interface BlobWriterStats {
  stored: number;
  dedupedInBuild: number;
  fromOtherBlobs: number;
  raw: number;
}

/**
 * Writes one new data blob. `addFile` returns the chunk list of one file; `finish` writes the tail
 * and returns the blob (null when no chunk was stored: the sink then received nothing).
 */
export class BlobWriter {
  readonly stats: BlobWriterStats = { stored: 0, dedupedInBuild: 0, fromOtherBlobs: 0, raw: 0 };
  private readonly stream: StreamOutput;
  private readonly out: HashedOutput;
  private readonly stored: ChunkRef[] = [];
  private readonly seen = new Map<string, ChunkRef>();
  /** the new blob's descriptor; filled in by finish() */
  readonly blob: BlobRef;
  private uncompressedEnd = 0;
  private finished = false;
  /** the open batch: its members' bytes and chunks (their CI rows are written at finish) */
  private batchParts: Uint8Array[] = [];
  private batchLength = 0;
  private batchMembers: ChunkRef[] = [];
  /** one BatchInflateContext per written batch */
  private readonly batchContexts: { compressedSize: number; uncompressedBatchSize: number }[] = [];
  /** bytes of chunk data (padding included), known once finish() ran */
  dataSizeAtFinish = 0;
  /** the blob's key and IV when encrypting */
  private readonly cipher: BlobCipher | null;
  /** content read buffer, reused across reads of sources that can read into one */
  private readBuf: Uint8Array | null = null;
  private readonly pool: ChunkCompressPool | null;
  /** the first piece of the file that comes next, being read while this one is hashed (async sources) */
  private ahead: { content: ByteSource; n: number; p: Promise<Uint8Array> } | null = null;
  /**
   * chunks handed to the pool (or compressed here while the pool was full), not yet written: their
   * refs are filled in when written, in this order; `done` once `job` has settled
   */
  private readonly pending: { c: ChunkRef; data: Uint8Array; job: Promise<Uint8Array | null>; done: boolean; handle?: ChunkJob }[] = [];
  /** bytes of `pending` */
  private pendingBytes = 0;
  /** jobs with the pool not yet settled */
  private inPool = 0;
  /** the pool has been told chunks will follow (prepare) */
  private prepared = false;
  /** new data since the writer last yielded to the event loop while waiting for the pool to be ready */
  private sinceTurn = 0;

  constructor(private readonly sink: Sink, private readonly o: BlobWriterOptions) {
    checkCompressor(o.compressor);
    if (o.batchSize && o.version !== 6) throw new UnsupportedError('rafs build', 'batch chunks need RAFS v6 (CI v2 blob meta)');
    this.stream = new StreamOutput(sink);
    this.out = new HashedOutput(this.stream);
    const features = o.version === 6
      ? BF.ALIGNED | (o.blobTail === 'toc' ? BF.INLINED_CHUNK_DIGEST | BF.HAS_TAR_HEADER | BF.HAS_TOC | BF.CAP_TAR_TOC : 0)
        | (o.batchSize ? BF.CHUNK_INFO_V2 | BF.BATCH : 0) | (o.encrypt ? BF.CHUNK_INFO_V2 | BF.ENCRYPTED : 0)
        // nydus sets it in the blob meta header as in the entry (BlobContext::new set_inlined_fs_meta)
        | (o.inlineBootstrap ? BF.INLINED_FS_META : 0)
      : (o.alignedChunk ? BF.ALIGNED : 0);
    if (o.encrypt && o.version !== 6) throw new UnsupportedError('rafs build', 'encrypted blobs need RAFS v6');
    this.cipher = o.encrypt ? randomCipher() : null;
    this.pool = o.compressor === 'none' ? null : o.pool === undefined ? registeredPool : o.pool;
    this.blob = { blobId: '', compressor: o.compressor, digester: o.digester, chunkSize: o.chunkSize, features };
  }

  get dataSize(): number {
    return this.out.pos;
  }

  private get piece(): number {
    const cs = this.o.chunkSize;
    return Math.max(cs, Math.floor((this.o.readSize ?? 4 << 20) / cs) * cs);
  }

  /**
   * Start reading the first piece of the file addFile gets next, so the read overlaps this file's
   * hashing and compression. For sources that only read asynchronously (the page's File reads:
   * Chromium's 4 MiB reads ran at 97 MB/s one at a time, 342 MB/s four at once, bench/build-browser
   * probe); local files in Node read synchronously into one buffer and skip this.
   */
  prefetch(content: ByteSource | undefined, size: number): void {
    if (!content || size === 0 || content.readIntoSync || content.readInto || content.size < size) return;
    const n = Math.min(this.piece, size);
    const p = content.read(0, n);
    p.catch(() => {}); // awaited by addFile; an unused read-ahead is dropped
    this.ahead = { content, n, p };
  }

  /** Chunk one file's content (read in pieces) into this blob; returns its chunks in file order. */
  async addFile(content: ByteSource | undefined, size: number, onBytes?: (n: number) => void): Promise<ChunkRef[]> {
    const ahead = this.ahead;
    this.ahead = null;
    if (size === 0) return [];
    if (!content) throw new UnsupportedError('rafs build', `a regular file of ${size} bytes has no content in the source tree`);
    if (content.size < size) throw new UnsupportedError('rafs build', `${content.name}: content is ${content.size} bytes, the tree says ${size}`);
    const cs = this.o.chunkSize;
    const piece = this.piece;
    const chunks: ChunkRef[] = [];
    // async sources: the next piece is read while this one is processed
    let next: Promise<Uint8Array> | null = ahead && ahead.content === content && ahead.n === Math.min(piece, size) ? ahead.p : null;
    // nydus batches the chunk of a one-chunk file only
    const single = size <= cs;
    for (let off = 0; off < size; off += piece) {
      this.o.signal?.throwIfAborted();
      const n = Math.min(piece, size - off);
      let buf: Uint8Array;
      if (content.readIntoSync || content.readInto) {
        // one reused read buffer (a local file): every use below copies what it keeps (the output
        // copies, batches slice), and a fresh 4 MiB buffer per read costs an allocation + page faults
        if (!this.readBuf || this.readBuf.length < n) this.readBuf = new Uint8Array(piece);
        buf = this.readBuf.subarray(0, n);
        if (content.readIntoSync) content.readIntoSync(off, buf);
        else await content.readInto!(off, buf);
      } else {
        buf = await (next ?? content.read(off, n));
        next = null;
        const at = off + piece;
        if (at < size) {
          next = content.read(at, Math.min(piece, size - at));
          next.catch(() => {}); // awaited next round, unless this file fails first
        }
      }
      for (let p = 0; p < buf.length; p += cs) {
        const data = buf.subarray(p, Math.min(buf.length, p + cs));
        chunks.push(await this.addChunk(data, single));
        onBytes?.(data.length);
      }
      await this.out.drain();
    }
    return chunks;
  }

  private async addChunk(data: Uint8Array, single: boolean): Promise<ChunkRef> {
    const digest = await digestOf(this.o.digester, data);
    const key = hex(digest);
    const mine = this.seen.get(key);
    if (mine) {
      this.stats.dedupedInBuild++;
      return mine;
    }
    const other = this.o.known?.get(key);
    if (other && other.uncompressedSize === data.length) {
      this.stats.fromOtherBlobs++;
      this.seen.set(key, other);
      return other;
    }
    const aligned = this.o.version === 6 || this.o.alignedChunk;
    const bs = this.o.batchSize ?? 0;
    if (bs > 0 && single && data.length < bs / 2) {
      if (this.batchLength + data.length >= bs) {
        await this.settle();
        this.flushBatch();
      }
      const c: ChunkRef = {
        digest, blob: this.blob, flags: (this.o.crc32 ? CF.HAS_CRC32 : 0) | (this.cipher ? CF.ENCRYPTED : 0), compressedOffset: 0, compressedSize: 0,
        uncompressedOffset: this.uncompressedEnd, uncompressedSize: data.length, index: this.stored.length, crc32: this.o.crc32 ? crc32c(data) : 0,
        batch: { index: this.batchContexts.length, offset: this.batchLength, compressedOffset: -1 },
      };
      this.uncompressedEnd += Math.ceil(data.length / 4096) * 4096;
      // the read piece is reused: keep a copy
      this.batchParts.push(data.slice());
      this.batchLength += data.length;
      this.batchMembers.push(c);
      this.stored.push(c);
      this.seen.set(key, c);
      this.stats.stored++;
      return c;
    }
    if (this.batchLength) {
      await this.settle();
      this.flushBatch();
    }
    // offsets, size and the COMPRESSED flag are set when the chunk is written
    const c: ChunkRef = {
      digest, blob: this.blob, flags: (this.o.crc32 ? CF.HAS_CRC32 : 0) | (this.cipher ? CF.ENCRYPTED : 0),
      compressedOffset: 0, compressedSize: 0, uncompressedOffset: this.uncompressedEnd, uncompressedSize: data.length,
      index: this.stored.length, crc32: this.o.crc32 ? crc32c(data) : 0,
    };
    this.uncompressedEnd += aligned ? Math.ceil(data.length / 4096) * 4096 : data.length;
    this.stored.push(c);
    this.seen.set(key, c);
    this.stats.stored++;
    if (this.pool && !this.prepared && c.uncompressedOffset >= POOL_AFTER / 8) {
      // the pool's threads start and JIT-compile their encoder while this one compresses on (the
      // CLI starts them earlier still, while the source is listed: then this is a no-op); when they
      // started at the first job, this thread waited ~0.1-0.2 s for them
      this.prepared = true;
      this.pool.prepare?.(this.o.compressor, this.o.gzipLevel);
    }
    let usePool = false;
    if (this.pool?.ready && this.prepared) {
      usePool = this.pool.ready(this.o.compressor, this.o.gzipLevel);
      if (!usePool && (this.sinceTurn += data.length) >= 1 << 20) {
        // the threads' warm-up replies are macrotasks and local files are read synchronously
        this.sinceTurn = 0;
        await nextTurn();
        usePool = this.pool.ready(this.o.compressor, this.o.gzipLevel);
      }
    } else usePool = this.pool !== null && c.uncompressedOffset >= POOL_AFTER;
    if (this.pool && usePool && this.pool.submit) {
      await this.addStolen(c, data, this.pool);
      return c;
    }
    if (this.pool && usePool) {
      // the pool's replies are macrotasks, and local files are read synchronously: without a turn
      // of the event loop here a full pool would look full for a whole file (its threads idle while
      // this one compressed nearly every chunk: 0.38 s CPU on the pool's thread, 1.10 s here)
      if (this.inPool >= this.pool.width) await nextTurn();
      // what the pool has finished at the head of the queue is written now
      while (this.pending.length && this.pending[0]!.done) await this.writeNext();
      // the read buffer is reused: the pool (or the queue) gets a copy
      const copy = data.slice();
      if (this.inPool >= this.pool.width && this.pending.length < 4 * this.pool.width) {
        // the pool is full: compress this one here rather than wait idle for it (the CLI runs one
        // thread fewer than cores, so this thread is the last core's compressor); at most 4 chunks
        // per job the pool may have waiting, so memory stays bounded when the pool is slow
        this.pending.push({ c, data: copy, job: Promise.resolve(compressChunk(this.o.compressor, copy, this.o.gzipLevel)), done: true });
        this.pendingBytes += copy.length;
        return c;
      }
      while (this.inPool >= this.pool.width) await this.writeNext();
      const job = this.pool.compress(this.o.compressor, copy, this.o.gzipLevel);
      const entry = { c, data: copy, job, done: false };
      this.inPool++;
      const settled = () => {
        entry.done = true;
        this.inPool--;
      };
      job.then(settled, settled); // a rejection is awaited in order by writeNext; not unhandled meanwhile
      this.pending.push(entry);
      this.pendingBytes += copy.length;
      return c;
    }
    await this.settle();
    this.writeChunk(c, data, compressChunk(this.o.compressor, data, this.o.gzipLevel));
    return c;
  }

  /**
   * Hand one chunk to a pool that lets jobs be taken back (submit), then take back and compress the
   * oldest not yet started while the threads have more than STEAL_AHEAD bytes per job slot waiting.
   */
  private async addStolen(c: ChunkRef, data: Uint8Array, pool: ChunkCompressPool): Promise<void> {
    // what the threads have finished at the head of the queue is written now
    while (this.pending.length && this.pending[0]!.done) await this.writeNext();
    // the read buffer is reused: the pool gets a copy (in its shared memory when it has some)
    const copy = pool.buffer ? pool.buffer(data.length) : new Uint8Array(data.length);
    copy.set(data);
    const handle = pool.submit!(this.o.compressor, copy, this.o.gzipLevel);
    const entry = { c, data: copy, job: handle.result, done: false, handle };
    const settled = () => {
      entry.done = true;
    };
    handle.result.then(settled, settled); // a rejection is awaited in order by writeNext
    this.pending.push(entry);
    this.pendingBytes += copy.length;
    const ahead = STEAL_AHEAD * pool.width;
    if (this.waitingBytes() > ahead) this.takeBackOldest();
    // memory: at most STEAL_LIMIT bytes and STEAL_JOBS chunks per job slot between reading and
    // writing (the count also bounds the scans of waitingBytes and takeBackOldest on small files)
    while ((this.pendingBytes > STEAL_LIMIT * pool.width || this.pending.length > STEAL_JOBS * pool.width) && this.pending.length > 1) {
      if (!this.takeBackOldest()) await this.writeNext();
      while (this.pending.length && this.pending[0]!.done) await this.writeNext();
    }
    // the threads' replies are macrotasks and local files are read synchronously: one turn per MiB
    if ((this.sinceTurn += data.length) >= 1 << 20) {
      this.sinceTurn = 0;
      await nextTurn();
    }
  }

  /** bytes handed to the pool that no thread has started */
  private waitingBytes(): number {
    let n = 0;
    for (const p of this.pending) if (!p.done && p.handle && !p.handle.started()) n += p.data.length;
    return n;
  }

  /** Take back the oldest job no thread has started and compress it here; false when there is none. */
  private takeBackOldest(): boolean {
    for (const p of this.pending) {
      if (!p.done && p.handle && p.handle.takeBack()) {
        p.job = Promise.resolve(compressChunk(this.o.compressor, p.data, this.o.gzipLevel));
        p.done = true;
        return true;
      }
    }
    return false;
  }

  /** Store one chunk: compressed form `z` when it shrank (else raw), encrypted when encrypting. */
  private writeChunk(c: ChunkRef, data: Uint8Array, z: Uint8Array | null): void {
    if (!z && this.o.compressor !== 'none') this.stats.raw++;
    // nydus write_chunk_data: compress, then encrypt what is stored
    const bytes = this.cipher ? encryptUnit(this.cipher, z ?? data) : (z ?? data);
    if (this.o.alignedChunk) this.out.padTo(Math.ceil(this.out.pos / 4096) * 4096);
    if (z) c.flags |= CF.COMPRESSED;
    c.compressedOffset = this.out.pos;
    c.compressedSize = bytes.length;
    this.out.bytes(bytes);
  }

  private async writeNext(): Promise<void> {
    const p = this.pending.shift()!;
    this.pendingBytes -= p.data.length;
    this.writeChunk(p.c, p.data, await p.job);
    // written (the output copies what it keeps): a stolen-path buffer goes back to the pool
    if (p.handle) this.pool!.release?.(p.data);
  }

  /** Write every chunk still with the pool, in the order they were added. */
  private async settle(): Promise<void> {
    // what no thread has started is compressed here rather than waited for
    while (this.takeBackOldest());
    while (this.pending.length) await this.writeNext();
  }

  /** Write the open batch as one compressed unit (raw when compression does not shrink it) and record its context. */
  private flushBatch(): void {
    if (this.batchLength === 0) return;
    const buf = new Uint8Array(this.batchLength);
    let at = 0;
    for (const p of this.batchParts) {
      buf.set(p, at);
      at += p.length;
    }
    const z = compressChunk(this.o.compressor, buf, this.o.gzipLevel);
    if (!z && this.o.compressor !== 'none') this.stats.raw += this.batchMembers.length;
    const bytes = this.cipher ? encryptUnit(this.cipher, z ?? buf) : (z ?? buf);
    if (this.o.alignedChunk) this.out.padTo(Math.ceil(this.out.pos / 4096) * 4096);
    for (const m of this.batchMembers) m.batch!.compressedOffset = this.out.pos;
    this.batchContexts.push({ compressedSize: bytes.length, uncompressedBatchSize: buf.length });
    this.out.bytes(bytes);
    this.batchParts = [];
    this.batchLength = 0;
    this.batchMembers = [];
  }

  /** Chunk bytes copied verbatim from another blob (compaction): same flags/sizes, new offsets. */
  addRawChunk(src: ChunkRef, bytes: Uint8Array): ChunkRef {
    if (src.batch) throw new UnsupportedError('rafs build', 'a batch member cannot be copied as a chunk of its own');
    if (this.pending.length) throw new Error('writer bug: addRawChunk while chunks are with the compress pool');
    this.flushBatch();
    if (this.o.alignedChunk) this.out.padTo(Math.ceil(this.out.pos / 4096) * 4096);
    const aligned = this.o.version === 6 || this.o.alignedChunk;
    const c: ChunkRef = { ...src, blob: this.blob, compressedOffset: this.out.pos, uncompressedOffset: this.uncompressedEnd, index: this.stored.length };
    this.uncompressedEnd += aligned ? Math.ceil(src.uncompressedSize / 4096) * 4096 : src.uncompressedSize;
    this.out.bytes(bytes);
    this.stored.push(c);
    this.seen.set(hex(c.digest), c);
    this.stats.stored++;
    return c;
  }

  drain(): Promise<void> {
    return this.out.drain();
  }

  private metaFields(b: BlobRef): void {
    // the key in blob_meta_digest, the IV in blob_meta_size ‖ cipher_iv (rafs/v6.rs RafsV6Blob::from_blob_info)
    b.blobMetaDigest = this.cipher ? this.cipher.key.slice() : new Uint8Array(32);
    b.blobMetaSize = 0;
    b.cipherAlgo = this.cipher ? CIPHER_AES128XTS : 0;
    b.cipherIv = this.cipher ? this.cipher.iv.slice(8) : new Uint8Array(8);
    if (this.cipher) b.cipherIvFull = this.cipher.iv.slice();
  }

  /** Emit the tail (v6) and flush; the blob's id and sizes are final afterwards. */
  async finish(): Promise<BlobRef | null> {
    if (this.finished) throw new Error('writer bug: BlobWriter.finish called twice');
    this.finished = true;
    await this.settle();
    this.flushBatch();
    const n = this.stored.length;
    if (n === 0) {
      await this.stream.finish();
      return null;
    }
    const out = this.out;
    const b = this.blob;
    const dataSize = out.pos;
    this.dataSizeAtFinish = dataSize;
    b.chunkCount = n;
    b.uncompressedSize = this.uncompressedEnd;
    if (this.o.version === 6) {
      const toc = this.o.blobTail === 'toc';
      const tocEntries: { name: string; flags: number; digest: Uint8Array; offset: number; csize: number; usize: number }[] = [];
      if (toc) {
        out.bytes(sectionTarHeader('image.blob', dataSize));
        tocEntries.push({ name: 'image.blob', flags: TOC_FLAGS.NONE, digest: out.hash.clone().digest(), offset: 0, csize: dataSize, usize: this.uncompressedEnd });
      }
      // CI array (v2 rows then the batch contexts when batching): compressed like the data when
      // that shrinks it, lz4_block or zstd (the ToC cannot name gzip)
      const v2 = this.o.batchSize || this.o.encrypt ? true : false;
      const rowSize = v2 ? BLOB_CI_V2.size : BLOB_CI_V1.size;
      const contextsAt = n * rowSize;
      const nb = this.batchContexts.length;
      const ci = new Uint8Array(contextsAt + (v2 ? nb * BLOB_BATCH_CTX.size : 0));
      for (let i = 0; i < n; i++) {
        if (v2) encodeCiV2(ci, i * rowSize, this.stored[i]!);
        else encodeCiV1(ci, i * rowSize, this.stored[i]!);
      }
      if (v2) {
        this.batchContexts.forEach((bc, i) => encodeStruct(BLOB_BATCH_CTX, { compressed_size: bc.compressedSize, uncompressed_batch_size: bc.uncompressedBatchSize }, ci, contextsAt + i * BLOB_BATCH_CTX.size));
      }
      const ciZ = this.o.compressor === 'lz4_block' || this.o.compressor === 'zstd' ? compressChunk(this.o.compressor, ci) : null;
      // encrypted blobs: the (compressed) CI array and the header are XTS units too
      const ciStored = this.cipher ? encryptUnit(this.cipher, ciZ ?? ci) : (ciZ ?? ci);
      const ciCompressor = ciZ ? COMPRESSORS.indexOf(this.o.compressor) : 0;
      const ciOffset = out.pos;
      b.ciCompressor = COMPRESSORS[ciCompressor];
      b.ciOffset = ciOffset;
      b.ciCompressedSize = ciStored.length;
      b.ciUncompressedSize = ci.length;
      const hdr = new Uint8Array(BLOB_META_HEADER_SIZE);
      encodeStruct(BLOB_META_HEADER, {
        s_magic: BLOB_META_MAGIC, s_features: b.features, s_ci_compressor: ciCompressor, s_ci_entries: n, s_ci_offset: ciOffset,
        s_ci_compressed_size: ciStored.length, s_ci_uncompressed_size: ci.length, s_magic2: BLOB_META_MAGIC,
        ...(v2 ? { s_ci_zran_offset: contextsAt, s_ci_zran_size: nb * BLOB_BATCH_CTX.size, s_ci_zran_count: nb } : {}),
      }, hdr);
      const hdrStored = this.cipher ? encryptUnit(this.cipher, hdr) : hdr;
      out.bytes(ciStored);
      out.bytes(hdrStored);
      if (toc) {
        out.bytes(sectionTarHeader('blob.meta', ciStored.length + hdrStored.length));
        tocEntries.push({ name: 'blob.meta', flags: !ciZ ? TOC_FLAGS.NONE : this.o.compressor === 'zstd' ? TOC_FLAGS.ZSTD : TOC_FLAGS.LZ4_BLOCK, digest: sha256(ci), offset: ciOffset, csize: ciStored.length, usize: ci.length });
        tocEntries.push({ name: 'blob.meta.header', flags: TOC_FLAGS.NONE, digest: sha256(hdr), offset: ciOffset + ciStored.length, csize: hdrStored.length, usize: hdr.length });
        const digests = new Uint8Array(n * 32);
        for (let i = 0; i < n; i++) digests.set(this.stored[i]!.digest, i * 32);
        const digestOffset = out.pos;
        // nydus-image writes the digest array past its blob hasher (§5.12)
        out.unhashed(digests);
        out.bytes(sectionTarHeader('blob.digest', digests.length));
        tocEntries.push({ name: 'blob.digest', flags: TOC_FLAGS.NONE, digest: sha256(digests), offset: digestOffset, csize: digests.length, usize: digests.length });
        if (this.o.inlineBootstrap) {
          // §5.10: the entry inside the inlined bootstrap has 64 × 'x' as id (the reader names the
          // blob by its file), no ToC fields, and the size before the bootstrap
          this.metaFields(b);
          Object.assign(b, { blobId: 'x'.repeat(64), compressedSize: out.pos, blobTocSize: 0, blobTocDigest: new Uint8Array(32) });
          const boot = await this.o.inlineBootstrap(b);
          // zstd when that is smaller (the ToC names zstd or none for it)
          const z = compressChunk('zstd', boot);
          const stored = z ?? boot;
          const bootOffset = out.pos;
          out.bytes(stored);
          out.bytes(sectionTarHeader('image.boot', stored.length));
          tocEntries.push({ name: 'image.boot', flags: z ? TOC_FLAGS.ZSTD : TOC_FLAGS.NONE, digest: sha256(boot), offset: bootOffset, csize: stored.length, usize: boot.length });
        }
        const tocBytes = new Uint8Array(tocEntries.length * TOC_ENTRY.size + TAR_BLOCK);
        const enc = new TextEncoder();
        tocEntries.forEach((e, i) => {
          encodeStruct(TOC_ENTRY, {
            flags: e.flags, name: enc.encode(e.name), uncompressed_digest: e.digest, compressed_offset: e.offset, compressed_size: e.csize, uncompressed_size: e.usize,
          }, tocBytes, i * TOC_ENTRY.size);
        });
        tocBytes.set(sectionTarHeader('rafs.blob.toc', tocEntries.length * TOC_ENTRY.size), tocEntries.length * TOC_ENTRY.size);
        out.bytes(tocBytes);
        b.blobTocSize = tocBytes.length;
        b.blobTocDigest = sha256(tocBytes);
      } else {
        b.blobTocSize = 0;
        b.blobTocDigest = new Uint8Array(32);
      }
      this.metaFields(b);
    }
    b.compressedSize = out.pos;
    const whole = wantsWholeSha256(this.sink) ? out.whole() : null;
    b.blobId = hex(out.hash.digest());
    await this.stream.finish();
    if (whole) (this.sink as WholeSha256Sink).wholeSha256(whole);
    return b;
  }
}

