import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryChunkCache, chunkKey } from '../src/lib/rafs/chunkcache.ts';
import { PersistentChunkCache, type KvBackend } from '../src/lib/rafs/chunkcache-idb.ts';

const b = (n: number, fill = n & 0xff) => new Uint8Array(n).fill(fill);

test('memory chunk cache: LRU bounded by bytes', async () => {
  const c = new MemoryChunkCache(100);
  await c.set('a', b(40));
  await c.set('b', b(40));
  assert.equal((await c.get('a'))?.length, 40); // a is now most recent
  await c.set('c', b(40)); // evicts b
  assert.equal(await c.get('b'), undefined);
  assert.ok(await c.get('a'));
  assert.ok(await c.get('c'));
  assert.equal(c.cachedBytes, 80);
  await c.set('huge', b(101));
  assert.equal(await c.get('huge'), undefined);
  assert.equal(c.cachedBytes, 80);
  await c.set('a', b(10));
  assert.equal(c.cachedBytes, 50);
  c.clear();
  assert.equal(c.size, 0);
  assert.equal(chunkKey('blob', 'ab'), 'blob/ab');
});

/** The idb-keyval calls the persistent cache makes, over a Map (counts writes). */
class MapKv implements KvBackend {
  readonly m = new Map<string, unknown>();
  sets = 0;
  async get(k: string) { return this.m.get(k); }
  async set(k: string, v: unknown) { this.sets++; this.m.set(k, v); }
  async delMany(ks: string[]) { for (const k of ks) this.m.delete(k); }
  async keys() { return [...this.m.keys()]; }
  async clear() { this.m.clear(); }
}

test('persistent chunk cache: LRU by bytes, survives a reopen, settable limit, clearable', async () => {
  const kv = new MapKv();
  const c = new PersistentChunkCache(kv, 100);
  await c.set('a', b(40));
  await c.set('b', b(40));
  assert.deepEqual(await c.get('a'), b(40));
  await c.set('c', b(40)); // evicts b, the least recently used
  assert.equal(await c.get('b'), undefined);
  assert.equal(kv.m.has('c:b'), false);
  assert.equal(c.cachedBytes, 80);
  await c.flush();

  // a new instance over the same store (a page reload) keeps contents and order
  const c2 = new PersistentChunkCache(kv, 100);
  assert.deepEqual(await c2.get('c'), b(40)); // c most recent now, a least
  await c2.set('d', b(40)); // evicts a
  assert.equal(await c2.get('a'), undefined);
  assert.ok(await c2.get('c'));
  assert.ok(await c2.get('d'));

  await c2.setLimit(50);
  assert.equal(c2.cachedBytes, 40);
  assert.equal(await c2.get('c'), undefined);
  assert.ok(await c2.get('d'));
  await c2.set('too-big', b(51));
  assert.equal(await c2.get('too-big'), undefined);

  await c2.clear();
  assert.equal(c2.cachedBytes, 0);
  assert.equal(kv.m.size, 0);
  assert.equal(await c2.get('d'), undefined);
});

test('persistent chunk cache: chunks stored but never recorded (page closed mid-write) are removed on load', async () => {
  const kv = new MapKv();
  const c = new PersistentChunkCache(kv, 1000);
  await c.set('kept', b(10));
  await c.flush();
  kv.m.set('c:orphan', b(500)); // data written, LRU write lost
  kv.m.set('m:lru', [...(kv.m.get('m:lru') as [string, number][]), ['ghost', 7]]); // recorded, data lost
  const c2 = new PersistentChunkCache(kv, 1000);
  assert.ok(await c2.get('kept'));
  assert.equal(kv.m.has('c:orphan'), false);
  assert.equal(await c2.get('ghost'), undefined);
  assert.equal(c2.cachedBytes, 10);
});

test('persistent chunk cache: LRU writes are coalesced', async () => {
  const kv = new MapKv();
  const c = new PersistentChunkCache(kv, 1000);
  await c.set('x', b(1));
  await c.flush();
  const before = kv.sets;
  await Promise.all(Array.from({ length: 50 }, () => c.get('x')));
  await c.flush();
  assert.ok(kv.sets - before <= 2, `${kv.sets - before} LRU writes for 50 reads`);
});
