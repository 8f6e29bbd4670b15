import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IoError } from '../src/lib/errors.ts';
import { CachedSource } from '../src/lib/io/cache.ts';
import { HttpSource } from '../src/lib/io/http.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { BlobSource, BytesSource, SliceSource, type ByteSource } from '../src/lib/io/source.ts';
import { tempDir } from './helpers/paths.ts';

const data = new Uint8Array(300_000);
for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + (i >> 8)) & 255;

async function checkSource(src: ByteSource): Promise<void> {
  assert.equal(src.size, data.length);
  for (const [o, n] of [[0, 0], [0, 1], [1, 4096], [65535, 2], [65536 * 2 - 10, 70_000], [data.length - 5, 5], [0, data.length]] as const) {
    assert.deepEqual(await src.read(o, n), data.subarray(o, o + n), `read(${o}, ${n})`);
  }
  await assert.rejects(src.read(data.length - 1, 2), IoError);
  await assert.rejects(src.read(-1, 1), IoError);
  await assert.rejects(src.read(0.5, 1), IoError);
}

describe('byte sources', () => {
  it('BytesSource', () => checkSource(new BytesSource(data)));
  it('BlobSource', () => checkSource(new BlobSource(new Blob([data]), 'x')));
  it('NodeFileSource', async () => {
    const p = join(tempDir(), 'f');
    writeFileSync(p, data);
    const s = await NodeFileSource.open(p);
    await checkSource(s);
    await s.close();
  });
  it('SliceSource reads a window and refuses to reach outside it', async () => {
    const s = new SliceSource(new BytesSource(data), 1000, 5000);
    assert.deepEqual(await s.read(10, 20), data.subarray(1010, 1030));
    await assert.rejects(s.read(4990, 11), IoError);
    assert.throws(() => new SliceSource(new BytesSource(data), data.length - 10, 11), IoError);
  });
});

describe('CachedSource', () => {
  it('returns the same bytes as the source across block edges', () => checkSource(new CachedSource(new BytesSource(data), 4096, 64 * 1024)));

  it('reads each block once while it stays cached, and stays within its bound', async () => {
    let reads = 0, bytes = 0;
    const inner: ByteSource = { size: data.length, name: 'counted', async read(o, n) { reads++; bytes += n; return data.slice(o, o + n); } };
    const c = new CachedSource(inner, 4096, 8 * 4096);
    for (let k = 0; k < 3; k++) for (let o = 0; o < 4096 * 4; o += 100) await c.read(o, 50);
    assert.equal(reads, 4);
    assert.equal(bytes, 4 * 4096);
    for (let o = 0; o < data.length - 100; o += 4096) await c.read(o, 100);
    assert.ok(c.stats.cachedBytes <= 8 * 4096, `cached ${c.stats.cachedBytes}`);
  });

  it('a view it handed out keeps its bytes after its block is evicted (blocks are carved from shared slabs, never reused)', async () => {
    const c = new CachedSource(new BytesSource(data), 4096, 8 * 4096);
    const early = await c.read(5, 64);
    const want = data.slice(5, 69);
    for (let o = 0; o + 4096 <= data.length; o += 4096) await c.read(o, 16);
    assert.ok(c.stats.cachedBytes <= 8 * 4096);
    assert.deepEqual(early, want);
  });

  it('shares one fetch between concurrent reads of a block', async () => {
    let reads = 0;
    const inner: ByteSource = { size: data.length, name: 'slow', async read(o, n) { reads++; await new Promise((r) => setTimeout(r, 5)); return data.slice(o, o + n); } };
    const c = new CachedSource(inner, 4096, 1 << 20);
    await Promise.all([c.read(0, 10), c.read(20, 10), c.read(100, 10)]);
    assert.equal(reads, 1);
  });

  it('a source read a block or two takes memory for those blocks, not a whole 1 MiB slab; slabs grow with use', async () => {
    // composefs extract opens one cached source per backing object: 20k files were 20 GB of slabs
    const c = new CachedSource(new BytesSource(data), 4096, 1 << 20);
    const first = await c.read(100, 10);
    assert.equal(first.buffer.byteLength, 4096);
    const second = await c.read(5000, 10);
    assert.equal(second.buffer.byteLength, 8192);
    for (let off = 8192; off < 40 * 4096; off += 4096) await c.read(off, 1);
    const late = await c.read(200_000, 1);
    assert.ok(late.buffer.byteLength > 8192 && late.buffer.byteLength <= 1 << 20, `slab of ${late.buffer.byteLength}`);
    assert.deepEqual(await c.read(100, 10), data.slice(100, 110), 'earlier views still hold their bytes');
    assert.deepEqual(first, data.slice(100, 110));
  });

  it('readNow answers at once from a hit or a source that reads synchronously, and otherwise says to wait', async () => {
    const asyncOnly = new CachedSource(new BytesSource(data), 4096, 1 << 20);
    assert.equal(asyncOnly.readNow(100, 10), null, 'a miss an async source must fetch');
    await asyncOnly.read(100, 10);
    assert.deepEqual(asyncOnly.readNow(200, 10), data.slice(200, 210), 'the block is cached now');
    let syncReads = 0;
    const inner: ByteSource = {
      size: data.length, name: 'sync', read: (o, n) => Promise.resolve(data.slice(o, o + n)),
      readIntoSync(o, dest) { syncReads++; dest.set(data.subarray(o, o + dest.length)); },
    };
    const c = new CachedSource(inner, 4096, 1 << 20);
    assert.deepEqual(c.readNow(5000, 64), data.slice(5000, 5064));
    assert.deepEqual(c.readNow(4096, 8), data.slice(4096, 4104));
    assert.equal(syncReads, 1, 'one block read, then hits');
    assert.deepEqual(c.readNow(4090, 20), data.slice(4090, 4110), 'two blocks: the missing one is read and cached');
    assert.equal(syncReads, 2);
    assert.deepEqual(c.readNow(100, 8292), data.slice(100, 8392), 'three blocks, the third read now');
    assert.equal(syncReads, 3);
    assert.deepEqual(c.readNow(40_000, 5 * 4096), data.slice(40_000, 40_000 + 5 * 4096), 'bulk: one read, not cached');
    assert.equal(syncReads, 4);
    assert.equal(c.stats.cachedBytes, 3 * 4096);
    assert.deepEqual(c.readNow(7, 0), new Uint8Array(0));
    assert.equal(asyncOnly.readNow(4000, 200), null, 'a range into a block an async source has not fetched');
    await asyncOnly.read(4096, 1);
    assert.deepEqual(asyncOnly.readNow(4000, 200), data.slice(4000, 4200), 'both blocks cached: a copy');
    assert.equal(asyncOnly.readNow(40_000, 5 * 4096), null, 'bulk from an async source');
    assert.throws(() => c.readNow(data.length - 4, 8), IoError);
    const file = join(tempDir('ls-io-now-'), 'f');
    writeFileSync(file, data);
    const node = new CachedSource(await NodeFileSource.open(file, { sync: true }), 4096, 1 << 20);
    assert.deepEqual(node.readNow(9000, 100), data.slice(9000, 9100), 'a NodeFileSource in sync mode reads at once');
    await node.close();
  });
});

describe('HttpSource', () => {
  let rangeServer: Server, plainServer: Server;
  let rangeUrl = '', plainUrl = '';
  const requests: string[] = [];
  before(async () => {
    rangeServer = createServer((req, res) => {
      const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
      requests.push(req.headers.range ?? 'none');
      if (!m) { res.writeHead(200, { 'Content-Length': data.length }); res.end(data); return; }
      const a = Number(m[1]), b = Math.min(Number(m[2]), data.length - 1);
      res.writeHead(206, { 'Content-Range': `bytes ${a}-${b}/${data.length}`, 'Content-Length': b - a + 1 });
      res.end(data.subarray(a, b + 1));
    });
    plainServer = createServer((_req, res) => { res.writeHead(200, { 'Content-Length': data.length }); res.end(data); });
    await new Promise<void>((r) => rangeServer.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => plainServer.listen(0, '127.0.0.1', r));
    rangeUrl = `http://127.0.0.1:${(rangeServer.address() as { port: number }).port}/img.erofs`;
    plainUrl = `http://127.0.0.1:${(plainServer.address() as { port: number }).port}/img.erofs`;
  });
  after(() => { rangeServer.close(); plainServer.close(); });

  it('reads with Range requests and only the bytes asked for', async () => {
    const s = await HttpSource.open(rangeUrl);
    assert.equal(s.name, 'img.erofs');
    await checkSource(s);
    assert.ok(requests.every((r) => r !== 'none'));
  });

  it('refuses a server that ignores Range instead of downloading everything', async () => {
    await assert.rejects(HttpSource.open(plainUrl), (e: unknown) => e instanceof IoError && /Range/.test(e.message));
  });
});

describe('readInto', () => {
  const data = new Uint8Array(300_000).map((_, i) => (i * 131 + (i >> 9)) & 0xff);
  const ranges: [number, number][] = [[0, 1], [4095, 2], [65530, 20], [1000, 200_000], [299_999, 1], [0, 300_000], [123, 0]];
  for (const sync of [true, false]) {
    it(`fills the caller's buffer exactly as read returns (Node file ${sync ? 'sync' : 'async'}, cached, sliced)`, async () => {
      const path = join(tempDir('ls-io-into-'), 'f');
      writeFileSync(path, data);
      const raw = await NodeFileSource.open(path, { sync });
      const sources: ByteSource[] = [raw, new CachedSource(raw, 4096, 64 * 1024), new SliceSource(new CachedSource(raw, 4096), 100, 299_900)];
      try {
        for (const src of sources) {
          for (const [off, len] of ranges) {
            if (off + len > src.size) continue;
            const dest = new Uint8Array(len + 2).fill(0xee);
            await src.readInto!(off, dest.subarray(1, 1 + len));
            assert.deepEqual(dest.subarray(1, 1 + len), await src.read(off, len), `${src.name} ${off}+${len}`);
            assert.equal(dest[0], 0xee);
            assert.equal(dest[len + 1], 0xee, 'no byte written past the view');
          }
          await assert.rejects(src.readInto!(src.size - 1, new Uint8Array(2)), IoError);
        }
      } finally {
        await raw.close();
      }
    });
  }
});
