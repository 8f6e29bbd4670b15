// check/verify of the application layer: a damaged image's typed errors become problems in the
// report, a bug (any other error) propagates, for the CLI and for the page's summary alike.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkImage, checkSummary } from '../src/lib/app/check.ts';
import { openInput } from '../src/lib/app/open.ts';
import { FormatError } from '../src/lib/errors.ts';
import type { ReadOnlyFs } from '../src/lib/fs/types.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { nydusFixture, RAFS } from './helpers/nydus.ts';

async function tarFs(): Promise<ReadOnlyFs> {
  const tar = nydusFixture(`${RAFS.TAR_DIR}/all-entry-type.tar`);
  const o = await openInput(new BytesSource(new Uint8Array(readFileSync(tar)), 'all-entry-type.tar'));
  assert.equal(o.kind, 'tar');
  return o.fs;
}

/** the same tree, with every non-empty file read failing by `fail` */
function failingReads(fs: ReadOnlyFs, fail: () => never): ReadOnlyFs {
  return Object.assign(Object.create(fs) as ReadOnlyFs, { read: async (_ino: number, _off: number, size: number) => (size > 0 ? fail() : new Uint8Array(0)) });
}

test('check: a clean tree is ok; typed errors are problems; a bug propagates', async () => {
  const fs = await tarFs();
  const ok = checkSummary(await checkImage(fs));
  assert.equal(ok.ok, true);
  assert.ok(ok.files > 0 && ok.bytes > 0);

  const damaged = checkSummary(await checkImage(failingReads(fs, () => { throw new FormatError('tar.data', 512, 'bad'); })));
  assert.equal(damaged.ok, false);
  assert.ok(damaged.problems.length > 0);
  assert.match(damaged.problems[0]!.message, /tar\.data at byte 512: bad/);

  await assert.rejects(checkImage(failingReads(fs, () => { throw new TypeError('a bug'); })), TypeError);
});
