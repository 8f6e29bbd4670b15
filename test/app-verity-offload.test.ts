// The synchronous streamed fs-verity digest (the CLI's hashing threads run it, src/cli/verity-worker.ts;
// the page's pool of hashing workers that also did was removed: it did not pay on 2 cores) and the
// objects zip's CRC-32 (ours instead of fflate's).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fsverityDigestOfReads } from '../src/lib/codec/fsverity.ts';
import { zipObjects } from '../src/lib/app/object-store.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { hex } from '../src/lib/bytes.ts';
import { tempDir } from './helpers/paths.ts';

function fill(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x;
  }
  return out;
}

const noFsverity = spawnSync('fsverity', ['--version'], { stdio: 'ignore' }).status === 0 ? false : 'fsverity (fsverity-utils) not installed';

test('fsverityDigestOfReads (the CLI hashing threads\' digest) equals `fsverity digest` at block edges, for any read size', { skip: noFsverity }, () => {
  const dir = tempDir('verity-reads');
  for (const size of [1, 4095, 4096, 4097, 128 * 4096, 128 * 4096 + 1, (1 << 20) + 5000]) {
    const data = fill(size, size);
    const f = join(dir, `f${size}`);
    writeFileSync(f, data);
    const want = /^sha256:([0-9a-f]{64}) /.exec(execFileSync('fsverity', ['digest', f], { encoding: 'utf8' }))![1]!;
    for (const piece of [4096, 3 * 4096, 1 << 20, 4 << 20]) {
      const reads: number[] = [];
      const got = fsverityDigestOfReads(size, (o, n) => (reads.push(n), data.subarray(o, o + n)), piece);
      assert.equal(hex(got), want, `size ${size}, reads of ${piece}`);
      assert.ok(reads.every((n) => n <= piece), 'never reads more than asked');
    }
  }
  assert.throws(() => fsverityDigestOfReads(10, (o, n) => new Uint8Array(n), 1000), RangeError);
  assert.throws(() => fsverityDigestOfReads(5000, (o, n) => new Uint8Array(n - 1), 4096), /short read/);
});

test('zipObjects: every entry\'s CRC-32 checks out (python zipfile.testzip), across 4 MiB pieces and for empty objects', async () => {
  const objs = [fill(0, 1), fill(1, 2), fill((4 << 20) + 3, 3), fill(70_000, 4)].map((b, i) => ({ payload: `0${i}/x${i}`, content: new BytesSource(b), size: b.length, b }));
  const sink = new MemorySink();
  await zipObjects(objs, sink);
  const z = join(tempDir('verity-zip'), 'o.zip');
  writeFileSync(z, sink.bytes());
  const out = execFileSync('python3', ['-c', 'import sys,zipfile;z=zipfile.ZipFile(sys.argv[1]);print(z.testzip());[print(i.filename,i.CRC) for i in z.infolist()]', z], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(out[0], 'None', 'testzip found no bad CRC');
  const { crc32 } = await import('node:zlib') as unknown as { crc32?: (b: Uint8Array) => number };
  for (const [i, o] of objs.entries()) {
    const [name, crc] = out[i + 1]!.split(' ');
    assert.equal(name, o.payload);
    if (crc32) assert.equal(Number(crc), crc32(o.b));
  }
});
