// `check` says what it verified: a tarfs image's chunks carry no digest (nydus-image computes none
// for --type tar-tarfs), so their bytes are read and nothing is compared; the report, the CLI line and
// the page's summary (both from lib/app/check.ts) must say so instead of "verified". A zstd image
// built from the same files has a digest per chunk and is "verified", and a flipped byte fails it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, tempDir } from './helpers/paths.ts';
import { prng, randomBytes, textBytes } from './helpers/mktree.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { RafsV6 } from '../src/lib/rafs/v6.ts';
import { checkImage, checkSummary } from '../src/lib/app/check.ts';

const work = tempDir('ls-check-tarfs-');
const CLI = join(REPO, 'bin/layerscope.mjs');
const src = join(work, 'src');
const tar = join(work, 'layer.tar');
const rnd = prng(8);
mkdirSync(join(src, 'd'), { recursive: true });
writeFileSync(join(src, 'a.txt'), textBytes(rnd, 5000));
writeFileSync(join(src, 'd', 'big.bin'), randomBytes(rnd, 300_000));
writeFileSync(join(src, 'd', 'small'), 'x');
execFileSync('tar', ['--format=ustar', '-cf', tar, '-C', src, '.']);

const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test('check on a tarfs image: chunks read, none verified, and the report says so (CLI and page summary)', async () => {
  const boot = join(work, 'tarfs.boot');
  const b = cli(['build', '--format', 'rafs-v6', '--type', 'tar-tarfs', tar, boot]);
  assert.equal(b.status, 0, b.stderr);
  const tarSrc = await NodeFileSource.open(tar);
  const bootSrc = await NodeFileSource.open(boot);
  const fs = await RafsV6.open(bootSrc, { blobs: [tarSrc] });
  const c = await checkImage(fs);
  assert.equal(c.kind, 'rafs');
  if (c.kind !== 'rafs') return;
  assert.ok(c.report.counts.chunks_checked >= 3, `${c.report.counts.chunks_checked} chunks read`);
  assert.equal(c.report.counts.chunks_verified, 0, 'a tarfs chunk has no digest to verify');
  assert.deepEqual(c.report.unverified_reasons, ['tarfs']);
  const s = checkSummary(c);
  assert.equal(s.verification, 'read, no digests to verify (tarfs)');
  await tarSrc.close();
  await bootSrc.close();

  const r = cli(['check', boot, '--blob', tar]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const line = r.stdout.split('\n')[0]!;
  assert.match(line, /^OK: .* chunks \(.*\) read, no digests to verify \(tarfs\)$/, line);
  assert.doesNotMatch(line, /verified/);
  // the JSON report carries the counts
  const j = JSON.parse(cli(['check', boot, '--blob', tar, '--json']).stdout) as { counts: { chunks_verified: number }; unverified_reasons: string[] };
  assert.equal(j.counts.chunks_verified, 0);
  assert.deepEqual(j.unverified_reasons, ['tarfs']);

  // honest about the consequence: a byte flipped in a file's data inside the tar goes unnoticed
  const bytes = readFileSync(tar);
  const at = bytes.indexOf(Buffer.from(readFileSync(join(src, 'd', 'big.bin')).subarray(0, 64)));
  assert.ok(at > 0, 'big.bin found in the tar');
  bytes[at + 1000] ^= 0xff;
  const flipped = join(work, 'flipped.tar');
  writeFileSync(flipped, bytes);
  const f = cli(['check', boot, '--blob', flipped]);
  assert.equal(f.status, 0, 'nothing in a tarfs image can catch it');
  assert.match(f.stdout.split('\n')[0]!, /read, no digests to verify \(tarfs\)$/);
});

test('check on a zstd image of the same files: every chunk verified, a flipped byte fails', async () => {
  const boot = join(work, 'zstd.boot');
  const blobs = join(work, 'blobs');
  const b = cli(['build', '--format', 'rafs-v6', src, boot, '--blob-dir', blobs, '--compressor', 'zstd']);
  assert.equal(b.status, 0, b.stderr);
  const r = cli(['check', boot, '--blob-dir', blobs]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout.split('\n')[0]!, /^OK: .* chunks \(.*\) verified$/);
  const blob = join(blobs, readdirSync(blobs)[0]!);
  const bytes = readFileSync(blob);
  bytes[100] ^= 0xff;
  writeFileSync(blob, bytes);
  const f = cli(['check', boot, '--blob-dir', blobs]);
  assert.notEqual(f.status, 0, 'a flipped byte in a zstd chunk fails the check');
  assert.match(f.stdout, /^FAILED: /);
});

test.after(() => rmSync(work, { recursive: true, force: true }));
