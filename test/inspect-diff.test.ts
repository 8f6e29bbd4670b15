import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync, cpSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import '../src/lib/formats.ts';
import { diffImages } from '../src/lib/inspect/diff.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { openImage } from '../src/lib/open.ts';
import { REPO, tempDir } from './helpers/paths.ts';

const CLI = join(REPO, 'bin/layerscope.mjs');

function trees(dir: string): { a: string; b: string } {
  const a = join(dir, 'a');
  mkdirSync(join(a, 'etc'), { recursive: true });
  writeFileSync(join(a, 'etc/same'), 'same content\n'.repeat(1000));
  writeFileSync(join(a, 'etc/edited'), 'version one\n');
  writeFileSync(join(a, 'etc/chmod'), 'x');
  writeFileSync(join(a, 'gone'), 'bye');
  for (const f of ['etc/same', 'etc/edited', 'etc/chmod', 'gone', 'etc', '.']) utimesSync(join(a, f), 1600000000, 1600000000);
  const b = join(dir, 'b');
  cpSync(a, b, { recursive: true, preserveTimestamps: true });
  rmSync(join(b, 'gone'));
  writeFileSync(join(b, 'etc/edited'), 'version two\n'); // same size, other bytes
  chmodSync(join(b, 'etc/chmod'), 0o600);
  writeFileSync(join(b, 'new'), 'hello');
  for (const f of ['etc/edited', 'etc/chmod', 'new', 'etc', '.']) utimesSync(join(b, f), 1600000000, 1600000000);
  return { a, b };
}

const open = async (p: string) => openImage(await NodeFileSource.open(p));

test('diff of two EROFS images: added, removed, content and mode changes; unchanged files are not listed', async () => {
  const dir = tempDir('ls-diff-');
  const { a, b } = trees(dir);
  execFileSync('mkfs.erofs', ['--quiet', '-T0', join(dir, 'a.erofs'), a]);
  execFileSync('mkfs.erofs', ['--quiet', '-T0', join(dir, 'b.erofs'), b]);
  const d = await diffImages(await open(join(dir, 'a.erofs')), await open(join(dir, 'b.erofs')));
  assert.deepEqual(d.entries.map((e) => [e.change, e.path, e.fields ?? []]), [
    ['changed', '/etc/chmod', ['mode']],
    ['changed', '/etc/edited', ['content']],
    ['removed', '/gone', []],
    ['added', '/new', []],
  ]);
  assert.equal(d.unchanged, 3); // /, /etc, /etc/same
  assert.equal(d.sharedChunks, undefined);
  // without content comparison the same-size edit is invisible
  const m = await diffImages(await open(join(dir, 'a.erofs')), await open(join(dir, 'b.erofs')), { content: false });
  assert.ok(!m.entries.some((e) => e.path === '/etc/edited'));
});

test('diff of two Nydus images built by layerscope compares chunk digests and counts shared chunks; the CLI prints it', () => {
  const dir = tempDir('ls-diff-rafs-');
  const { a, b } = trees(dir);
  const blobs = join(dir, 'blobs');
  for (const [src, out] of [[a, 'a.boot'], [b, 'b.boot']] as const) {
    const r = spawnSync(process.execPath, [CLI, 'build', '--format', 'rafs-v6', src, join(dir, out), '--blob-dir', blobs, '--chunk-size', '4096'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  const r = spawnSync(process.execPath, [CLI, 'diff', join(dir, 'a.boot'), join(dir, 'b.boot'), '--blob-dir', blobs, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  const d = JSON.parse(r.stdout) as { entries: { path: string; change: string; fields?: string[] }[]; sharedChunks: { shared: number; chunksA: number; chunksB: number } };
  assert.deepEqual(d.entries.map((e) => `${e.change} ${e.path} ${(e.fields ?? []).join(',')}`), ['changed /etc/chmod mode', 'changed /etc/edited content', 'removed /gone ', 'added /new ']);
  // 4 KiB chunks: etc/same is 13,000 bytes = 4 distinct chunks, etc/chmod 1; both are in A and B.
  // edited (old/new bytes), gone and new have one chunk each on one side only.
  assert.equal(d.sharedChunks.shared, 5);
  assert.equal(d.sharedChunks.chunksA, 7);
  assert.equal(d.sharedChunks.chunksB, 7);
  const h = spawnSync(process.execPath, [CLI, 'diff', join(dir, 'a.boot'), join(dir, 'a.boot'), '--blob-dir', blobs], { encoding: 'utf8' });
  assert.equal(h.status, 0, h.stdout + h.stderr);
  assert.match(h.stdout, /0 added, 0 removed, 0 changed, 6 unchanged/);
});
