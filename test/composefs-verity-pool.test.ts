// The CLI's fs-verity worker pool (src/cli/verity-pool.ts) against `fsverity digest` (fsverity-utils)
// and against the build's own thread: same digests, same composefs image, errors reported.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { VerityPool } from '../src/cli/verity-pool.ts';
import { fsverityDigests, useFileDigester } from '../src/lib/codec/fsverity.ts';
import { treeFromDirectory } from '../src/lib/fs/sources/node.ts';
import { inodesOf } from '../src/lib/fs/tree.ts';
import { hex } from '../src/lib/bytes.ts';
import { REPO } from './helpers/paths.ts';

const CLI = join(REPO, 'bin/layerscope.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'ls-verity-pool-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// sizes around 64 KiB and the 1 MiB read piece, one with a second Merkle level
const src = join(tmp, 'src');
mkdirSync(src);
const sizes = [65535, 65536, 65537, (1 << 20) - 1, (1 << 20) + 4097, 3 * (1 << 20) + 5];
let seed = 7;
for (const [k, size] of sizes.entries()) {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  writeFileSync(join(src, `f${k}`), b);
}
writeFileSync(join(src, 'small'), 'a small file, batched with others into one thread message; above the 64-byte inline limit\n');

describe('fs-verity worker pool', () => {
  test('digests equal `fsverity digest` for every file', async (t) => {
    const probe = spawnSync('fsverity', ['--version']);
    if (probe.error) return t.skip('fsverity (fsverity-utils) is not installed');
    const pool = new VerityPool(2);
    try {
      const got = await Promise.all(sizes.map((size, k) => pool.digest(join(src, `f${k}`), size)));
      for (const [k] of sizes.entries()) {
        const r = spawnSync('fsverity', ['digest', join(src, `f${k}`)], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(`sha256:${hex(got[k]!)}`, r.stdout.split(' ')[0], `f${k}`);
      }
    } finally {
      await pool.close();
    }
  });

  test('a file shorter than listed is an error, not a digest', async () => {
    const pool = new VerityPool(1);
    try {
      await assert.rejects(pool.digest(join(src, 'f0'), 65535 + 10), /short read at 65535/);
      await assert.rejects(pool.digest(join(src, 'missing'), 70000), /ENOENT/);
    } finally {
      await pool.close();
    }
  });

  test('small files asked for at once go in one batch; a failing file fails alone', async (t) => {
    const probe = spawnSync('fsverity', ['--version']);
    if (probe.error) return t.skip('fsverity (fsverity-utils) is not installed');
    const small = [1, 65, 4095, 4096, 4097, 8192 + 3];
    const dir = join(tmp, 'small');
    mkdirSync(dir);
    for (const [k, size] of small.entries()) writeFileSync(join(dir, `s${k}`), Buffer.alloc(size, 0x41 + k));
    const pool = new VerityPool(1);
    try {
      const asks = small.map((size, k) => pool.digest(join(dir, `s${k}`), size));
      // a missing file in the middle of the batch, and one listed longer than it is
      const missing = pool.digest(join(dir, 'missing'), 100);
      const longer = pool.digest(join(dir, 's1'), 66);
      asks.push(pool.digest(join(dir, 's0'), 1));
      await assert.rejects(missing, /ENOENT/);
      await assert.rejects(longer, /short read at 65/);
      const got = await Promise.all(asks);
      for (const [k] of small.entries()) {
        const r = spawnSync('fsverity', ['digest', join(dir, `s${k}`)], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(`sha256:${hex(got[k]!)}`, r.stdout.split(' ')[0], `s${k}`);
      }
      assert.deepEqual(got[small.length], got[0]);
    } finally {
      await pool.close();
    }
  });

  test('files announced by the walk are digested once, ahead; a changed size is asked again', async () => {
    const calls: string[] = [];
    const fake = async (path: string, size: number) => (calls.push(`${path}:${size}`), new Uint8Array(32).fill(size & 0xff));
    useFileDigester(fake, { minSize: 65 });
    try {
      const tree = await treeFromDirectory(src, { xattrs: false });
      const files = inodesOf(tree.root).filter((n) => n.type === 'reg');
      // every file of 65 bytes or more was asked for during the walk, none twice
      assert.equal(calls.length, files.length);
      const got = await fsverityDigests(files.map((n) => n.content!));
      assert.equal(calls.length, files.length);
      assert.deepEqual(got.map((d) => d[0]), files.map((n) => n.size & 0xff));
      const f0 = files.find((n) => n.size === 65535)!.content!;
      await fsverityDigests([{ ...f0, size: 65534 }]);
      assert.equal(calls.at(-1), `${f0.path}:65534`);
    } finally {
      useFileDigester(null);
    }
  });

  test('the CLI builds the same composefs image and object store with and without the pool', () => {
    const out: Buffer[] = [];
    for (const threads of ['0', '2']) {
      const image = join(tmp, `t${threads}.cfs`), store = join(tmp, `t${threads}-store`);
      const r = spawnSync(process.execPath, [CLI, 'build', '--format', 'composefs', src, image, '--digest-store', store], {
        encoding: 'utf8', env: { ...process.env, LAYERSCOPE_VERITY_THREADS: threads },
      });
      assert.equal(r.status, 0, r.stderr);
      // every object written and counted, with or without the hashing threads
      assert.match(r.stdout, new RegExp(`object store: ${sizes.length + 1} objects, ${sizes.length + 1} written`));
      out.push(readFileSync(image));
      // a second build finds every object in place
      const again = spawnSync(process.execPath, [CLI, 'build', '--format', 'composefs', src, image, '--digest-store', store], {
        encoding: 'utf8', env: { ...process.env, LAYERSCOPE_VERITY_THREADS: threads },
      });
      assert.match(again.stdout, /object store: \d+ objects, 0 written/);
    }
    assert.deepEqual(out[0], out[1]);
    assert.equal(spawnSync('diff', ['-r', join(tmp, 't0-store'), join(tmp, 't2-store')]).status, 0);
    const objects = spawnSync('find', [join(tmp, 't2-store'), '-type', 'f'], { encoding: 'utf8' }).stdout.trim().split('\n');
    assert.equal(objects.length, sizes.length + 1, 'no temporary copies left');
  });
});
