// check/verify of the application layer: a damaged image's typed errors become problems in the
// report, a bug (any other error) propagates, for the CLI and for the page's summary alike.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkFindings, checkImage, checkSummary } from '../src/lib/app/check.ts';
import { openInput } from '../src/lib/app/open.ts';
import { FormatError } from '../src/lib/errors.ts';
import type { ReadOnlyFs } from '../src/lib/fs/types.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { nydusFixture, RAFS } from './helpers/nydus.ts';
import { treeFs } from '../src/lib/fs/sources/treefs.ts';
import { dir, file, treeOf } from './helpers/craft.ts';

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

test('check findings name entries as every path is shown: nameText, a "/" inside a name as \\x2f', async () => {
  const t = treeOf(dir([['sub', dir([['a/b', file(new Uint8Array(1))]])], ['ok', file(new Uint8Array(1))]]));
  // a name that is not UTF-8, kept: its read fails
  t.root.children!.push({ name: new Uint8Array([0x63, 0x61, 0x66, 0xe9]), inode: file(new Uint8Array(2)) });
  const fs = failingReads(treeFs(t), () => { throw new FormatError('test.data', 7, 'bad'); });
  const c = await checkImage(fs);
  const lines = checkFindings(c);
  assert.ok(lines.includes('/sub/a\\x2fb: FormatError: directory tree at byte -1: name contains "/"'), lines.join('\n'));
  assert.ok(lines.includes('/caf\\xe9: FormatError: test.data at byte 7: bad'), lines.join('\n'));
  assert.ok(lines.includes('/ok: FormatError: test.data at byte 7: bad'), lines.join('\n'));
  assert.deepEqual(checkSummary(c).problems.map((p) => p.path).sort(), ['/caf\\xe9', '/ok', '/sub/a\\x2fb']);
});
