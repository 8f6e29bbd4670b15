// One stats for the page and the CLI: for every kind of input, what the page's Stats view gets
// through the inspector worker's API deep-equals `layerscope stats --json`; and the RAFS dedup
// figures agree with the source tree (a hardlink is one file, not dedup).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { api, type ImageStats, type PathedFile } from '../workers/inspector.ts';
import { buildErofsImages, prng, randomBytes } from './helpers/mktree.ts';
import { FIXTURES, REPO, tempDir } from './helpers/paths.ts';
import { nydusFixture, RAFS } from './helpers/nydus.ts';

const CLI = join(REPO, 'bin/layerscope.mjs');
const CFS = join(FIXTURES, 'composefs');

function cliStats(args: string[]): ImageStats {
  const r = spawnSync(process.execPath, [CLI, 'stats', ...args, '--json'], { maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `layerscope stats ${args.join(' ')}: ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString()) as ImageStats;
}

function fileOf(path: string, name = path.split('/').pop()!): File {
  return new File([readFileSync(path)], name);
}

/** the page: the files opened by the inspector worker's API, then its Stats view's call */
async function pageStats(files: (File | PathedFile)[]): Promise<ImageStats> {
  const s = await api.open(files);
  try {
    return await api.stats(s.id, `stats-${s.id}`, () => {});
  } finally {
    await api.close(s.id);
  }
}

/** both, compared as the JSON the CLI prints */
async function same(cliArgs: string[], files: (File | PathedFile)[]): Promise<ImageStats> {
  const cli = cliStats(cliArgs);
  const page = JSON.parse(JSON.stringify(await pageStats(files))) as ImageStats;
  assert.deepEqual(page, cli);
  assert.ok(cli.entries > 1, 'the image has entries');
  return cli;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

describe('page stats = layerscope stats --json', () => {
  test('mkfs.erofs images (plain, chunked, compressed, with a blob device)', async () => {
    const dir = tempDir('ls-app-erofs-');
    for (const img of buildErofsImages(dir, { only: ['default', 'chunk4k', 'lz4hc', 'blob'], small: true })) {
      const blobArgs = img.blob ? ['--device', img.blob] : [];
      await same([img.image, ...blobArgs], [fileOf(img.image), ...(img.blob ? [fileOf(img.blob)] : [])]);
    }
  });

  test('composefs golden images and a composefs dump', async () => {
    for (const name of ['config.cfs', 'config-with-hard-link.cfs', 'bigfile-xattr.cfs']) {
      const s = await same([join(CFS, 'golden', name)], [fileOf(join(CFS, 'golden', name))]);
      assert.equal(s.format, 'composefs');
    }
    const dump = join(CFS, 'assets', 'bigfile-xattr.dump');
    assert.equal((await same([dump], [fileOf(dump)])).format, 'tree');
  });

  test('Nydus RAFS v5 and v6 fixtures with their blobs', async () => {
    const blobs = nydusFixture(RAFS.BLOB_DIR);
    const v5 = nydusFixture(RAFS.V5);
    const s5 = await same([v5, '--blob-dir', blobs], [fileOf(v5), ...readdirSync(blobs).map((b) => fileOf(join(blobs, b)))]);
    assert.equal(s5.format, 'rafs-v5');
    // two hardlinks: 23 regular entries, 21 files; each file's chunks referenced once
    assert.equal(s5.counts.reg, 23);
    assert.equal(s5.files, 21);
    assert.equal(s5.hardlinkEntries, 2);
    assert.equal(s5.chunks!.referencedBytes, s5.fileBytes);
    const v6 = nydusFixture(RAFS.V6);
    const blob6 = nydusFixture(RAFS.V6_BLOB);
    assert.equal((await same([v6, '--blob', blob6], [fileOf(v6), fileOf(blob6)])).format, 'rafs-v6');
  });

  test('RAFS v6 built with a hardlinked file and shared chunks: dedup counts files, not names', async () => {
    const dir = tempDir('ls-app-rafs-');
    const src = join(dir, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    const rnd = prng(13);
    const chunk = (): Uint8Array => randomBytes(rnd, 4096);
    const [a, b, c] = [chunk(), chunk(), chunk()];
    writeFileSync(join(src, 'big'), Buffer.concat([a, b, c]));
    linkSync(join(src, 'big'), join(src, 'sub', 'big-link'));
    // shares its first chunk with `big`, and holds one chunk twice
    writeFileSync(join(src, 'sub', 'twin'), Buffer.concat([a, c, c, randomBytes(rnd, 1000)]));
    writeFileSync(join(src, 'small'), 'small file\n');
    const boot = join(dir, 'out.boot');
    const blobDir = join(dir, 'blobs');
    const r = spawnSync(process.execPath, [CLI, 'build', '--format', 'rafs-v6', src, boot, '--blob-dir', blobDir, '--chunk-size', '4096', '--compressor', 'none'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const s = await same([boot, '--blob-dir', blobDir], [fileOf(boot), ...readdirSync(blobDir).map((n) => fileOf(join(blobDir, n)))]);
    // the oracle: the source tree, each inode once, cut into 4 KiB chunks
    const seen = new Set<number>();
    const stored = new Map<string, number>();
    let referenced = 0;
    for (const p of filesUnder(src)) {
      const st = statSync(p);
      if (seen.has(st.ino)) continue;
      seen.add(st.ino);
      const data = readFileSync(p);
      referenced += data.length;
      for (let o = 0; o < data.length; o += 4096) {
        const piece = data.subarray(o, o + 4096);
        stored.set(createHash('sha256').update(piece).digest('hex'), piece.length);
      }
    }
    const storedBytes = [...stored.values()].reduce((x, y) => x + y, 0);
    assert.equal(s.counts.reg, 4);
    assert.equal(s.files, 3);
    assert.equal(s.chunks!.referencedBytes, referenced);
    assert.equal(s.chunks!.storedBytes, storedBytes);
    assert.equal(s.chunks!.dedupRatio, referenced / storedBytes);
    assert.equal(s.chunks!.unique, stored.size);
  });

  test('tar and tar.gz layers', async () => {
    const tar = nydusFixture(`${RAFS.TAR_DIR}/all-entry-type.tar`);
    assert.equal((await same([tar], [fileOf(tar)])).format, 'tree');
    const gz = join(tempDir('ls-app-tgz-'), 'layer.tar.gz');
    writeFileSync(gz, gzipSync(readFileSync(tar)));
    await same([gz], [fileOf(gz)]);
  });

  test('a folder', async () => {
    const dir = join(tempDir('ls-app-dir-'), 'top');
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    const rnd = prng(5);
    writeFileSync(join(dir, 'one'), randomBytes(rnd, 70_000));
    writeFileSync(join(dir, 'a', 'two'), randomBytes(rnd, 300));
    writeFileSync(join(dir, 'a', 'b', 'three'), '');
    writeFileSync(join(dir, 'a', 'b', 'café'), 'x');
    const files = filesUnder(dir).map((p) => ({ file: fileOf(p), path: 'top/' + relative(dir, p) }));
    const s = await same([dir], files);
    assert.equal(s.files, 4);
    assert.equal(s.biggest[0]!.path, '/one');
    assert.ok(s.biggest.some((x) => x.path === '/a/b/café'));
  });
});
