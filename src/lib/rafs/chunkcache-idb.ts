/**
 * A persistent chunk cache in IndexedDB (browser worker), bounded by bytes with LRU eviction.
 * One object store holds the chunks under "c:<key>" and the LRU order (key and size, least recently
 * used first) under "m:lru". The LRU bookkeeping runs over a tiny key-value interface so it can be
 * tested in Node with a Map; `openIdbChunkCache` binds it to idb-keyval.
 */
import { createStore, get, set, delMany, clear, keys } from 'idb-keyval';
import type { ChunkCache } from './chunkcache.ts';

export interface KvBackend {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  delMany(keys: string[]): Promise<void>;
  keys(): Promise<string[]>;
  clear(): Promise<void>;
}

export const DEFAULT_IDB_CACHE_BYTES = 256 * 1024 * 1024;
const META = 'm:lru';
const DATA = 'c:';

export class PersistentChunkCache implements ChunkCache {
  /** key → size, in LRU order (first = least recently used) */
  private readonly lru = new Map<string, number>();
  private bytes = 0;
  private loaded: Promise<void> | null = null;
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(private readonly kv: KvBackend, private maxBytes = DEFAULT_IDB_CACHE_BYTES) {}

  get cachedBytes(): number {
    return this.bytes;
  }
  get limit(): number {
    return this.maxBytes;
  }

  private load(): Promise<void> {
    this.loaded ??= (async () => {
      const meta = await this.kv.get(META);
      const stored = new Set((await this.kv.keys()).filter((k) => k.startsWith(DATA)).map((k) => k.slice(DATA.length)));
      if (Array.isArray(meta)) {
        for (const e of meta) {
          if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number' || !stored.has(e[0])) continue;
          if (this.lru.has(e[0])) continue;
          this.lru.set(e[0], e[1]);
          this.bytes += e[1];
        }
      }
      // chunks written before the page went away but never recorded: drop them, nobody can evict them
      const orphans = [...stored].filter((k) => !this.lru.has(k));
      if (orphans.length) await this.kv.delMany(orphans.map((k) => DATA + k));
      await this.evict();
    })();
    return this.loaded;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    await this.load();
    const size = this.lru.get(key);
    if (size === undefined) return undefined;
    const v = await this.kv.get(DATA + key);
    if (!(v instanceof Uint8Array)) {
      this.lru.delete(key);
      this.bytes -= size;
      this.save();
      return undefined;
    }
    this.lru.delete(key);
    this.lru.set(key, size);
    this.save();
    return v;
  }

  async set(key: string, bytes: Uint8Array): Promise<void> {
    await this.load();
    if (bytes.length > this.maxBytes) return;
    await this.kv.set(DATA + key, bytes);
    const old = this.lru.get(key);
    if (old !== undefined) {
      this.lru.delete(key);
      this.bytes -= old;
    }
    this.lru.set(key, bytes.length);
    this.bytes += bytes.length;
    await this.evict();
    this.save();
  }

  async setLimit(maxBytes: number): Promise<void> {
    if (!(maxBytes >= 0)) throw new RangeError('maxBytes must be >= 0');
    await this.load();
    this.maxBytes = maxBytes;
    await this.evict();
    this.save();
  }

  async clear(): Promise<void> {
    await this.load();
    await this.saving;
    await this.kv.clear();
    this.lru.clear();
    this.bytes = 0;
  }

  /** Wait until the LRU order is written. */
  async flush(): Promise<void> {
    await this.saving;
  }

  private async evict(): Promise<void> {
    const victims: string[] = [];
    for (const [k, size] of this.lru) {
      if (this.bytes <= this.maxBytes) break;
      this.lru.delete(k);
      this.bytes -= size;
      victims.push(k);
    }
    if (victims.length) await this.kv.delMany(victims.map((k) => DATA + k));
  }

  /** Coalesces LRU writes: at most one pending write, carrying the newest order. */
  private save(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.saving = this.saving.then(async () => {
      this.dirty = false;
      await this.kv.set(META, [...this.lru]);
    }).catch(() => {
      // a lost LRU write only leaves orphans, which the next load() deletes
    });
  }
}

export function idbBackend(dbName = 'layerscope-chunks', storeName = 'chunks'): KvBackend {
  const store = createStore(dbName, storeName);
  return {
    get: (k) => get(k, store),
    set: (k, v) => set(k, v, store),
    delMany: (ks) => delMany(ks, store),
    keys: async () => (await keys(store)).filter((k): k is string => typeof k === 'string'),
    clear: () => clear(store),
  };
}

/** The browser cache: IndexedDB via idb-keyval, 256 MB unless told otherwise. */
export function openIdbChunkCache(maxBytes = DEFAULT_IDB_CACHE_BYTES, dbName?: string): PersistentChunkCache {
  return new PersistentChunkCache(idbBackend(dbName), maxBytes);
}
