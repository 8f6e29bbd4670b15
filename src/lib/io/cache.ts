import { Lru } from '../lru.ts';
import { checkRange, readInto, type ByteSource } from './source.ts';

const SLAB = 1 << 20;

export interface CacheStats {
  hits: number;
  misses: number;
  bytesRead: number;
  cachedBytes: number;
}

/**
 * A bounded LRU block cache in front of a slow source (File, HTTP). Reads are rounded out to whole
 * cache blocks; concurrent reads of one block share a single fetch. Bulk reads (four blocks or more)
 * bypass it so a big sequential copy does not flush the metadata everyone else needs.
 */
export class CachedSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  readonly stats: CacheStats = { hits: 0, misses: 0, bytesRead: 0, cachedBytes: 0 };
  private readonly blocks: Lru<number, Uint8Array>;
  private readonly pending = new Map<number, Promise<Uint8Array>>();
  private slab: Uint8Array | null = null;
  /** the block `recent` answered or `insert` stored last */
  private lastIndex = -1;
  private lastBlock: Uint8Array | undefined;
  private slabPos = 0;

  /** the inner source's file: the same bytes, for a thread that opens it itself */
  get path(): string | undefined {
    return this.inner.path;
  }

  constructor(readonly inner: ByteSource, readonly blockSize = 64 * 1024, readonly maxBytes = 32 * 1024 * 1024) {
    if (blockSize <= 0 || (blockSize & (blockSize - 1)) !== 0) throw new RangeError('blockSize must be a power of two');
    this.size = inner.size;
    this.name = inner.name;
    this.blocks = new Lru(maxBytes);
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    try {
      checkRange(this, offset, length);
    } catch (e) {
      return Promise.reject(e);
    }
    if (length === 0) return Promise.resolve(new Uint8Array(0));
    if (this.isBulk(length)) {
      this.stats.bytesRead += length;
      return this.inner.read(offset, length);
    }
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    const o = offset - first * bs;
    if (first === last) {
      // a hit is answered without an async frame: metadata walks make tens of thousands of them
      const hit = this.hit(first);
      if (hit) return Promise.resolve(hit.subarray(o, o + length));
      return this.block(first).then((b) => b.subarray(o, o + length));
    }
    const out = new Uint8Array(length);
    return this.copyBlocks(offset, out).then(() => out);
  }

  /**
   * The bytes at once, or null when they must be waited for: from cached blocks, or read at once
   * from an inner source that can read synchronously (see ByteSource.readIntoSync). A range over
   * several blocks is a copy; a bulk range is never cached.
   */
  readNow(offset: number, length: number): Uint8Array | null {
    checkRange(this, offset, length);
    if (length === 0) return new Uint8Array(0);
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    const inner = this.inner;
    if (this.isBulk(length)) {
      if (!inner.readIntoSync) return null;
      const out = new Uint8Array(length);
      inner.readIntoSync(offset, out);
      this.stats.bytesRead += length;
      return out;
    }
    const out = first === last ? null : new Uint8Array(length);
    for (let index = first, pos = 0; index <= last; index++) {
      let b = this.recent(index);
      if (!b) {
        if (!inner.readIntoSync || this.pending.has(index)) return null;
        this.stats.misses++;
        const start = index * bs;
        b = this.carve(Math.min(bs, this.size - start));
        inner.readIntoSync(start, b);
        this.stats.bytesRead += b.length;
        this.insert(index, b);
      }
      const from = index === first ? offset - first * bs : 0;
      const n = Math.min(b.length - from, length - pos);
      if (!out) return b.subarray(from, from + n);
      out.set(b.subarray(from, from + n), pos);
      pos += n;
    }
    return out;
  }

  /** The bytes if one cached block holds them, else null; nothing is read. */
  peek(offset: number, length: number): Uint8Array | null {
    const bs = this.blockSize;
    const index = Math.floor(offset / bs);
    if (length === 0 || Math.floor((offset + length - 1) / bs) !== index) return null;
    const b = this.recent(index);
    if (!b) return null;
    const from = offset - index * bs;
    return from + length <= b.length ? b.subarray(from, from + length) : null;
  }

  async readInto(offset: number, dest: Uint8Array): Promise<void> {
    const length = dest.length;
    checkRange(this, offset, length);
    if (length === 0) return;
    // the caller brought its own buffer: file data read once, so a block or more skips the cache
    if (length >= this.blockSize || this.isBulk(length)) {
      this.stats.bytesRead += length;
      return readInto(this.inner, offset, dest);
    }
    return this.copyBlocks(offset, dest);
  }

  /**
   * Bulk reads (file data) go straight through: splitting them costs a read per block, and caching
   * them would push out the metadata every lookup needs.
   */
  private isBulk(length: number): boolean {
    return length >= 4 * this.blockSize || length > this.maxBytes / 2;
  }

  private async copyBlocks(offset: number, out: Uint8Array): Promise<void> {
    const bs = this.blockSize;
    const length = out.length;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    const parts = first === last ? [await this.block(first)] : await Promise.all(Array.from({ length: last - first + 1 }, (_, i) => this.block(first + i)));
    let pos = 0;
    for (let i = 0; i < parts.length; i++) {
      const b = parts[i]!;
      const start = i === 0 ? offset - first * bs : 0;
      const n = Math.min(b.length - start, length - pos);
      out.set(b.subarray(start, start + n), pos);
      pos += n;
    }
  }

  /**
   * A cached block. A walk asks for one block many times in a row: the block used or stored last
   * answers without cache upkeep (blocks are never rewritten, so it stays right).
   */
  private recent(index: number): Uint8Array | undefined {
    if (index === this.lastIndex) return this.lastBlock;
    const b = this.hit(index);
    if (b) {
      this.lastIndex = index;
      this.lastBlock = b;
    }
    return b;
  }

  /** a cached block, now the most recently used */
  private hit(index: number): Uint8Array | undefined {
    const hit = this.blocks.get(index);
    if (hit) this.stats.hits++;
    return hit;
  }

  private block(index: number): Promise<Uint8Array> {
    const hit = this.hit(index);
    if (hit) return Promise.resolve(hit);
    const inflight = this.pending.get(index);
    if (inflight) return inflight;
    this.stats.misses++;
    const start = index * this.blockSize;
    const len = Math.min(this.blockSize, this.size - start);
    const dest = this.carve(len);
    const p = readInto(this.inner, start, dest).then(
      () => {
        this.pending.delete(index);
        this.stats.bytesRead += len;
        this.insert(index, dest);
        return dest;
      },
      (e) => {
        this.pending.delete(index);
        throw e;
      },
    );
    this.pending.set(index, p);
    return p;
  }

  /**
   * Room for one block, cut from a larger buffer: one allocation per slab instead of one per
   * block (a metadata walk reads tens of thousands of small blocks). Pieces are never reused, so
   * a view handed out stays valid; a slab is freed once none of its blocks is referenced. Slabs
   * start at one block and double up to 1 MiB: a source read once or twice (a composefs backing
   * object, one per file) cost a whole 1 MiB slab each, 20 GB of allocations and ~4.5 s of
   * allocation and GC for a 20k-file extract.
   */
  private carve(len: number): Uint8Array {
    if (len > SLAB / 4) return new Uint8Array(len);
    if (!this.slab || this.slabPos + len > this.slab.length) {
      this.slab = new Uint8Array(Math.min(SLAB, Math.max(len, 2 * (this.slab?.length ?? 0))));
      this.slabPos = 0;
    }
    const b = this.slab.subarray(this.slabPos, this.slabPos + len);
    this.slabPos += len;
    return b;
  }

  private insert(index: number, b: Uint8Array): void {
    this.blocks.set(index, b, b.length);
    this.lastIndex = index;
    this.lastBlock = b;
    this.stats.cachedBytes = this.blocks.cost;
  }

  clear(): void {
    this.blocks.clear();
    this.lastIndex = -1;
    this.lastBlock = undefined;
    this.stats.cachedBytes = 0;
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}
