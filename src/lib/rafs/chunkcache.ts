/**
 * Decompressed, verified chunks keyed by blob id + chunk digest. A chunk shared by many files (or many
 * images of one registry) is fetched and decompressed once.
 */
export interface ChunkCache {
  get(key: string): Promise<Uint8Array | undefined>;
  set(key: string, bytes: Uint8Array): Promise<void>;
}

export function chunkKey(blobId: string, digestHex: string): string {
  return `${blobId}/${digestHex}`;
}

/** In-memory LRU bounded by the bytes it holds. */
export class MemoryChunkCache implements ChunkCache {
  private readonly map = new Map<string, Uint8Array>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(readonly maxBytes = 64 * 1024 * 1024) {
    if (!(maxBytes >= 0)) throw new RangeError('maxBytes must be >= 0');
  }

  get size(): number {
    return this.map.size;
  }
  get cachedBytes(): number {
    return this.bytes;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const v = this.map.get(key);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  async set(key: string, bytes: Uint8Array): Promise<void> {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      this.bytes -= old.length;
    }
    if (bytes.length > this.maxBytes) return; // would evict everything and still not fit
    this.map.set(key, bytes);
    this.bytes += bytes.length;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= v.length;
    }
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}
