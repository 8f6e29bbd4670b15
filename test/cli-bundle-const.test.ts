// bin/layerscope.mjs puts `const` back on the top-level declarations esbuild emitted as `var` (V8 in
// Node 20 folds module consts in optimized code, not vars: the zstd decoder ran 5-20% slower from
// the unpatched bundle). A wrong rewrite would make the bundle throw (assignment to a constant, or a
// binding read before its declaration), so: rebuild the bundle, extract zstd, deflate and lzma
// images through it and compare every file with the fixture's manifest (sha256), and check that the
// decoders' constants are `const` while a binding they reassign stayed `var`.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli } from './helpers/cli.ts';
import { REPO, tempDir } from './helpers/paths.ts';

const FIXTURES = '/work/shared/fixtures/erofs-modern';
const CACHE = join(REPO, 'node_modules/.cache/layerscope');

test('the rebuilt bundle has its constants as const and extracts zstd, deflate and lzma images exactly', () => {
  const dir = tempDir('ls-bundle-const-');
  // as if a source had been edited after the bundle was made: the next CLI run rebuilds it
  utimesSync(join(CACHE, 'cli.mjs'), new Date(1000), new Date(1000));
  for (const name of ['zstd-19-C256k', 'zstd-ztail-fragments', 'deflate', 'lzma']) {
    const image = join(FIXTURES, `${name}.erofs`);
    const out = join(dir, name);
    // two threads: the extract worker bundle is loaded too
    const r = cli(['extract', image, out, '--threads', '2']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    let files = 0;
    for (const line of readFileSync(`${image}.manifest.jsonl`, 'utf8').split('\n')) {
      if (!line) continue;
      const e = JSON.parse(line) as { path: string; type: string; sha256?: string };
      // (names that are not UTF-8 appear as U+DC80 + byte: test/erofs-modern covers those)
      if (e.type !== 'file' || !e.sha256 || /[\udc80-\udcff]/.test(e.path)) continue;
      assert.equal(createHash('sha256').update(readFileSync(join(out, e.path))).digest('hex'), e.sha256, `${name}: ${e.path}`);
      files++;
    }
    assert.ok(files > 0, `${name}: no files in the manifest`);
  }
  // the other two worker bundles load when a build hashes or compresses on threads
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'big'), Buffer.alloc(300 << 10, 'layerscope '));
  const env = { ...process.env, LAYERSCOPE_COMPRESS_THREADS: '2', LAYERSCOPE_VERITY_THREADS: '2' };
  const builds = [
    ['build', '--format', 'rafs-v6', src, join(dir, 'rafs.boot'), '--blob-dir', join(dir, 'blobs')],
    ['build', '--format', 'composefs', src, join(dir, 'cfs.img'), '--digest-store', join(dir, 'objects')],
  ];
  for (const args of builds) {
    const b = spawnSync(process.execPath, [join(REPO, 'bin/layerscope.mjs'), ...args], { encoding: 'utf8', env });
    assert.equal(b.status, 0, b.stderr + b.stdout);
  }
  const bundle = readFileSync(join(CACHE, 'cli.mjs'), 'utf8');
  // the zstd decoder's module constants and tables (esbuild may add a digit to a name it renamed)
  for (const name of ['FRAME_MAGIC', 'seqTab', 'PREDEFINED', 'LL_BASE']) {
    assert.match(bundle, new RegExp(`^const ${name}\\d* = `, 'm'), `${name} is const`);
    assert.doesNotMatch(bundle, new RegExp(`^var ${name}\\d* = `, 'm'), `${name} is not var`);
  }
  // reassigned by the decoder: must stay var (const would throw at the first Huffman tree)
  assert.match(bundle, /^var hufTable2Valid\d* = /m);
  const consts = bundle.match(/^const /gm)?.length ?? 0;
  assert.ok(consts > 100, `only ${consts} top-level consts in the bundle`);
  for (const worker of ['extract-worker', 'compress-worker', 'verity-worker']) {
    assert.match(readFileSync(join(CACHE, `${worker}.mjs`), 'utf8'), /^const \w+ = /m, `${worker} bundle has consts`);
  }
});
