// A file whose plan is stored bytes, carried bytes (an inline tail) and zeros, and fits the piece
// buffer, is gathered and written at once (extract-leaf.ts fillFromPlan); a larger one goes through
// runPlan. Files on both sides of that size, of an image by mkfs.erofs (uncompressed, and LZ4HC:
// its compressed files go through runPlan, the ones it stores plain do not), extracted by one
// thread (entries restored during the walk) and by two (entries posted to a worker as jobs), must
// equal the source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extract } from '../src/cli/extract.ts';
import { PIECE } from '../src/cli/extract-leaf.ts';
import { openImageFile } from '../src/cli/open.ts';
import { prng, randomBytes, textBytes } from './helpers/mktree.ts';
import { tempDir } from './helpers/paths.ts';
import { compareTrees } from './helpers/treecompare.ts';

const work = tempDir('ls-extract-plan-sizes-');
const src = join(work, 'src');
{
  const rnd = prng(7);
  mkdirSync(join(src, 'd'), { recursive: true });
  // the buffer's size and a block on either side of it and of a block boundary, an inline-only
  // file, an empty one, and zeros (stored as blocks or as a hole, whichever mkfs.erofs makes)
  const sizes = [0, 1, 100, 4095, 4096, 4097, 8191, PIECE - 4097, PIECE - 1, PIECE, PIECE + 1, PIECE + 4096, 3 * PIECE + 5];
  for (const n of sizes) writeFileSync(join(src, `f${n}`), Buffer.concat([textBytes(rnd, n >> 1), randomBytes(rnd, n - (n >> 1))]));
  writeFileSync(join(src, 'd', 'zeros'), new Uint8Array(PIECE));
  writeFileSync(join(src, 'd', 'head-zeros-tail'), Buffer.concat([randomBytes(rnd, 5000), new Uint8Array(3 * 4096), textBytes(rnd, 777)]));
}

const hasMkfs = spawnSync('mkfs.erofs', ['--help'], { encoding: 'utf8' }).error === undefined;

for (const [name, opts] of [['uncompressed', []], ['lz4hc', ['-zlz4hc']]] as const) {
  test(`${name}: files on both sides of the ${PIECE}-byte piece buffer equal the source, one thread and two`, async (t) => {
    if (!hasMkfs) return t.skip('mkfs.erofs not installed');
    const img = join(work, `${name}.erofs`);
    const mk = spawnSync('mkfs.erofs', ['-T0', ...opts, img, src], { encoding: 'utf8' });
    assert.equal(mk.status, 0, mk.stderr);
    for (const threads of [1, 2]) {
      const out = join(work, `${name}-x${threads}`);
      const fs = await openImageFile(img);
      try {
        const report = await extract(fs, out, { threads, everyThread: true, xattrs: false });
        assert.deepEqual(report.skipped, []);
        assert.equal(report.files, 15);
        assert.equal(report.threads, threads);
      } finally {
        await fs.close?.();
      }
      assert.deepEqual(compareTrees(src, out, { mtime: false }), [], `${threads} thread(s)`);
    }
  });
}
