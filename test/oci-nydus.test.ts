// `layerscope convert IMAGE --to nydus OUT`: a umoci image (whiteouts, an opaque directory,
// hardlinks in and across layers, xattrs, owners, devices, a fifo) converted as nydusify does it.
// skopeo reads and copies the output layout and archive; the merged bootstrap (taken out of its
// layer by GNU tar) with the per-layer blobs shows umoci unpack's rootfs; with --compressor none
// --aligned-chunk the kernel mounts it with the blobs as loop devices.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import '../src/lib/formats.ts';
import { folderFiles } from '../src/cli/oci.ts';
import { folderLayout, tarLayout } from '../src/cli/oci-layout-out.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { filesFromTar, loadOci } from '../src/lib/oci/index.ts';
import { convertToNydus, openNydusLayout, type NydusProgress } from '../src/lib/oci/nydus.ts';
import { checkRafs } from '../src/lib/rafs/analyze.ts';
import { openRafs, openRafsBlob } from '../src/lib/rafs/index.ts';
import { BF } from '../src/lib/rafs/structs.ts';
import { compareSnapshots, snapshotDisk, snapshotFs, type Snapshot } from './helpers/treecompare.ts';
import { appendLayer, makeTar, makeTestImage, missingTools, run, sh, unpackRootfs } from './helpers/oci.ts';
import { REPO, tempDir } from './helpers/paths.ts';

const skip = missingTools();
const CLI = join(REPO, 'bin/layerscope.mjs');

function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const blobFile = (layout: string, digest: string): string => join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
const json = (p: string): any => JSON.parse(readFileSync(p, 'utf8'));

function manifestOf(layout: string): any {
  return json(blobFile(layout, json(join(layout, 'index.json')).manifests[0].digest));
}

/** The merged bootstrap as GNU tar takes it out of the last layer. */
function bootstrapOf(layout: string, work: string): Buffer {
  const m = manifestOf(layout);
  const dir = join(work, `boot-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  run('tar', ['-xzf', blobFile(layout, m.layers.at(-1).digest), '-C', dir]);
  assert.deepEqual(readdirSync(join(dir, 'image')), ['image.boot']);
  return readFileSync(join(dir, 'image', 'image.boot'));
}

function blobSources(layout: string): BytesSource[] {
  return manifestOf(layout).layers.slice(0, -1).map((l: any) => new BytesSource(readFileSync(blobFile(layout, l.digest)), l.digest.slice(7)));
}

/**
 * What differs from umoci unpack's rootfs, and why: nydus forces the root's mtime to 0; RAFS links
 * only within a layer, so layer 4's hardlink to layer 2's data/f1 is a copy of it (nlink 1, and
 * data/f1 keeps layer 2's pair).
 */
function expectedDiffs(ref: Snapshot): string[] {
  return [
    `/: mtime ${ref.entries.get('')!.mtimeNs} != 0`,
    '/data/f1: nlink 3 != 2',
    '/data/f1link: nlink 3 != 2',
    '/lnk/f1again: nlink 3 != 1',
    'hardlink groups differ: /data/f1=/data/f1link=/lnk/f1again, /etc/a=/etc/a2 vs /data/f1=/data/f1link, /etc/a=/etc/a2',
  ];
}

describe('layerscope convert --to nydus', { skip: skip ?? false }, () => {
  const work = skip ? '' : tempDir('ls-oci-nydus-');
  let layout = '';
  let ref: Snapshot;
  before(() => {
    layout = makeTestImage(work);
    ref = snapshotDisk(unpackRootfs(layout, 't', join(work, 'ref')));
  });
  after(() => {
    rmSync(work, { recursive: true, force: true });
  });

  let folderManifest = '';
  test('to a folder: skopeo inspects and copies it; the merged bootstrap with the layer blobs is the image', async () => {
    const out = join(work, 'nydus');
    const r = cli(['convert', layout, '--to', 'nydus', out, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    folderManifest = j.manifest.digest;

    // skopeo: the layout, the manifest as written, the config
    const insp = JSON.parse(run('skopeo', ['inspect', `oci:${out}`]));
    assert.equal(insp.Digest, j.manifest.digest);
    assert.deepEqual(insp.Layers, [...j.layers.map((l: any) => l.digest), j.bootstrap.digest]);
    const m = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${out}`]));
    assert.equal(m.layers.length, 5);
    for (const l of m.layers.slice(0, -1)) {
      assert.equal(l.mediaType, 'application/vnd.oci.image.layer.nydus.blob.v1');
      assert.equal(l.annotations['containerd.io/snapshot/nydus-blob'], 'true');
    }
    const b = m.layers.at(-1);
    assert.equal(b.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.equal(b.annotations['containerd.io/snapshot/nydus-bootstrap'], 'true');
    assert.equal(b.annotations['containerd.io/snapshot/nydus-fs-version'], '6');
    const cfg = JSON.parse(run('skopeo', ['inspect', '--config', `oci:${out}`]));
    assert.deepEqual(cfg.rootfs.diff_ids, [...j.layers.map((l: any) => l.digest), j.bootstrap.diffId]);
    assert.deepEqual(cfg.history.at(-1), { created_by: 'Nydus Converter', comment: 'Nydus Bootstrap Layer' });
    // the bootstrap layer's diff_id is the digest of its tar, as GNU gzip decompresses it
    assert.equal(`sha256:${sh(`gzip -dc ${blobFile(out, b.digest)} | sha256sum`).slice(0, 64)}`, j.bootstrap.diffId);

    const other = join(work, 'copied');
    run('skopeo', ['copy', `oci:${out}`, `oci:${other}`]);
    assert.equal(JSON.parse(run('skopeo', ['inspect', `oci:${other}`])).Digest, j.manifest.digest);

    // every layer blob carries its own bootstrap (INLINED_FS_META) and checks clean alone
    const blobs = blobSources(out);
    for (const [i, s] of blobs.entries()) {
      const fs = await openRafsBlob(s);
      assert.equal(fs.origin?.via, 'toc');
      assert.deepEqual((fs.origin?.toc as { entries: string[] }).entries, ['image.blob', 'blob.meta', 'blob.meta.header', 'blob.digest', 'image.boot']);
      assert.ok((fs.blobs[0]!.features & BF.INLINED_FS_META) !== 0, `layer ${i}`);
      const c = await checkRafs(fs);
      assert.equal(c.ok, true, `layer ${i}: ${JSON.stringify(c).slice(0, 1500)}`);
    }
    // the merged bootstrap names the blobs by their layer digests, in layer order
    const boot = bootstrapOf(out, work);
    assert.equal(boot.length, j.bootstrap.bootstrapSize);
    const fs = await openRafs(new BytesSource(boot, 'image.boot'), { blobs });
    assert.deepEqual(fs.blobs.map((x) => x.blobId), j.layers.map((l: any) => l.digest.slice(7)));
    assert.deepEqual(fs.blobs.map((x) => x.compressedSize), j.layers.map((l: any) => l.size));
    assert.ok(fs.blobs.every((x) => (x.features & BF.INLINED_FS_META) === 0));
    assert.equal(fs.compressor, 'zstd');
    const c = await checkRafs(fs);
    assert.equal(c.ok, true, JSON.stringify(c).slice(0, 1500));
    assert.deepEqual(compareSnapshots(ref, await snapshotFs(fs)), expectedDiffs(ref));
    // the same through openNydusLayout: the layout itself opened as the filesystem it holds
    const lfs = await openNydusLayout(folderFiles(out));
    assert.deepEqual(lfs.blobs.map((x) => x.blobId), j.layers.map((l: any) => l.digest.slice(7)));
    assert.deepEqual(compareSnapshots(ref, await snapshotFs(lfs)), expectedDiffs(ref));
  });

  test('to an oci-archive tar: skopeo reads it, and it holds the same image as the folder', async () => {
    const out = join(work, 'nydus.tar');
    const r = cli(['convert', layout, '--to', 'nydus', out, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(run('skopeo', ['inspect', `oci-archive:${out}`])).Digest, JSON.parse(r.stdout).manifest.digest);
    const afs = await openNydusLayout(await filesFromTar(new BytesSource(readFileSync(out), 'nydus.tar')));
    assert.deepEqual(compareSnapshots(ref, await snapshotFs(afs)), expectedDiffs(ref));
    const copied = join(work, 'from-archive');
    run('skopeo', ['copy', `oci-archive:${out}`, `oci:${copied}`]);
    // the conversion is deterministic: the folder run wrote the same manifest
    if (folderManifest) assert.equal(JSON.parse(run('skopeo', ['inspect', `oci:${copied}`])).Digest, folderManifest);
    const fs = await openRafs(new BytesSource(bootstrapOf(copied, work), 'image.boot'), { blobs: blobSources(copied) });
    assert.deepEqual(compareSnapshots(ref, await snapshotFs(fs)), expectedDiffs(ref));
  });

  test('from a docker save archive and from zstd layers (skopeo copy): the same merged tree', async () => {
    const docker = join(work, 'docker.tar');
    run('skopeo', ['copy', `oci:${layout}:t`, `docker-archive:${docker}:t:latest`]);
    const zstd = join(work, 'zstd-img');
    run('skopeo', ['copy', '--dest-compress-format', 'zstd', `oci:${layout}:t`, `oci:${zstd}:t`]);
    for (const [src, name] of [[docker, 'nydus-from-docker'], [zstd, 'nydus-from-zstd']] as const) {
      const out = join(work, name);
      const r = cli(['convert', src, '--to', 'nydus', out, '--json']);
      assert.equal(r.status, 0, r.stderr);
      const fs = await openRafs(new BytesSource(bootstrapOf(out, work), 'image.boot'), { blobs: blobSources(out) });
      assert.deepEqual(compareSnapshots(ref, await snapshotFs(fs)), expectedDiffs(ref), name);
    }
  });

  test('lz4_block with 4 KiB chunks reads back the same', async () => {
    const out = join(work, 'nydus-lz4');
    const r = cli(['convert', layout, '--to', 'nydus', out, '--compressor', 'lz4_block', '--chunk-size', '4096', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const fs = await openRafs(new BytesSource(bootstrapOf(out, work), 'image.boot'), { blobs: blobSources(out) });
    assert.equal(fs.compressor, 'lz4_block');
    assert.equal(fs.chunkSize, 4096);
    assert.equal((await checkRafs(fs)).ok, true);
    assert.deepEqual(compareSnapshots(ref, await snapshotFs(fs)), expectedDiffs(ref));
  });

  /** our reader, then the kernel (loop devices in blob table order), on a --compressor none --aligned-chunk output */
  async function mountCheck(t: TestContext, out: string, want: Snapshot, diffs: string[]): Promise<void> {
    const bootPath = join(work, `merged-${Math.random().toString(36).slice(2)}.boot`);
    writeFileSync(bootPath, bootstrapOf(out, work));
    const fs = await openRafs(new BytesSource(readFileSync(bootPath), 'image.boot'), { blobs: blobSources(out) });
    assert.equal(fs.compressor, 'none');
    assert.deepEqual(compareSnapshots(want, await snapshotFs(fs)), diffs);
    if (process.getuid?.() !== 0) return t.skip('not root: no loop devices or mount');
    const loops: string[] = [];
    const mnt = join(work, `mnt-${Math.random().toString(36).slice(2)}`);
    mkdirSync(mnt);
    try {
      for (const id of fs.blobs.map((b) => b.blobId)) {
        const lo = spawnSync('losetup', ['-f', '--show', '-r', blobFile(out, id)], { encoding: 'utf8' });
        if (lo.status !== 0) return t.skip(`losetup failed here: ${lo.stderr.trim()}`);
        loops.push(lo.stdout.trim());
      }
      const m = spawnSync('mount', ['-t', 'erofs', '-o', ['ro', ...loops.map((d) => `device=${d}`)].join(','), bootPath, mnt], { encoding: 'utf8' });
      if (m.status !== 0) return t.skip(`the kernel did not mount it here: ${m.stderr.trim()}`);
      try {
        assert.deepEqual(compareSnapshots(want, snapshotDisk(mnt)), diffs);
      } finally {
        spawnSync('umount', [mnt]);
      }
    } finally {
      for (const d of loops) spawnSync('losetup', ['-d', d]);
    }
  }

  test('--compressor none --aligned-chunk: the kernel mounts the merged bootstrap with the blobs as devices', async (t) => {
    const out = join(work, 'nydus-raw');
    const r = cli(['convert', layout, '--to', 'nydus', out, '--compressor', 'none', '--aligned-chunk', '--json']);
    assert.equal(r.status, 0, r.stderr);
    await mountCheck(t, out, ref, expectedDiffs(ref));
  });

  test('a layer of no file content (a whiteout, a directory, a symlink): its blob is its bootstrap alone, the merged table skips it', async (t) => {
    const img2 = join(work, 'img-empty-top');
    sh(`cp -r ${layout} ${img2}`);
    appendLayer(img2, 't', makeTar([
      { name: 'etc/.wh.c', text: '' },
      { name: 'emptydir/', type: 'dir', mode: 0o700, mtime: 1650000000 },
      { name: 'usr/bin/sl', type: 'symlink', linkname: 'alink', mode: 0o777 },
    ]), 'gzip', 'no content');
    const want = snapshotDisk(unpackRootfs(img2, 't', join(work, 'ref-empty-top')));
    assert.ok(want.entries.has(Buffer.from('emptydir').toString('hex')));
    const out = join(work, 'nydus-empty-top');
    const r = cli(['convert', img2, '--to', 'nydus', out, '--compressor', 'none', '--aligned-chunk', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(j.layers.map((l: any) => l.hasData), [true, true, true, true, false]);
    assert.deepEqual(j.blobIds, j.layers.slice(0, 4).map((l: any) => l.digest.slice(7)));
    const top = await openRafsBlob(blobSources(out)[4]!);
    assert.equal(top.origin?.via, 'tar');
    assert.equal(top.blobs.length, 0);
    await mountCheck(t, out, want, expectedDiffs(want));
  });

  test('progress, and a cancel that leaves no output folder behind', async () => {
    const img = await loadOci(folderFiles(layout));
    const seen: NydusProgress[] = [];
    const ok = join(work, 'lib-out');
    const r = await convertToNydus(img, await folderLayout(ok), { onProgress: (p) => void seen.push(p) });
    assert.equal(r.layers.length, 4);
    assert.deepEqual([...new Set(seen.map((p) => p.stage))], ['layer', 'merge', 'done']);
    assert.deepEqual([...new Set(seen.filter((p) => p.stage === 'layer').map((p) => p.layer))], [0, 1, 2, 3]);
    const last = seen.at(-1)!;
    assert.equal(last.bytes, last.total);
    assert.ok(last.total > 70000);
    // a blob table entry names each blob layer's digest
    assert.deepEqual(r.blobIds, r.layers.map((l) => l.digest.slice(7)));
    assert.equal(r.layers[0]!.digest, manifestOf(ok).layers[0].digest);

    const ac = new AbortController();
    const gone = join(work, 'cancelled');
    await assert.rejects(convertToNydus(img, await folderLayout(gone), {
      signal: ac.signal,
      onProgress: (p) => {
        if (p.stage === 'layer' && p.layer === 2) ac.abort();
      },
    }), { name: 'AbortError' });
    assert.equal(existsSync(gone), false);
    // the same for an oci-archive: the partly written tar is removed
    const ac2 = new AbortController();
    const goneTar = join(work, 'cancelled.tar');
    await assert.rejects(convertToNydus(img, await tarLayout(goneTar), {
      signal: ac2.signal,
      onProgress: (p) => {
        if (p.stage === 'layer' && p.layer === 3) ac2.abort();
      },
    }), { name: 'AbortError' });
    assert.equal(existsSync(goneTar), false);
  });

  test('layerscope ls|cat|extract|stats open a converted layout (folder and oci-archive) as its filesystem', () => {
    const dir = join(work, 'cli-nydus');
    const tar = join(work, 'cli-nydus.tar');
    assert.equal(cli(['convert', layout, '--to', 'nydus', dir]).status, 0);
    assert.equal(cli(['convert', layout, '--to', 'nydus', tar]).status, 0);
    const plain = cli(['ls', layout]);
    assert.equal(plain.status, 0, plain.stderr);
    for (const out of [dir, tar]) {
      // the same top-level names as the source image's merged tree (RAFS lists them sorted)
      const ls = cli(['ls', out]);
      assert.equal(ls.status, 0, ls.stderr);
      assert.deepEqual(ls.stdout.split('\n').sort(), plain.stdout.split('\n').sort());
      const cat = cli(['cat', out, '/etc/a']);
      assert.equal(cat.status, 0, cat.stderr);
      assert.equal(cat.stdout, readFileSync(join(work, 'ref', 'rootfs', 'etc', 'a'), 'utf8'));
      const st = cli(['stats', out, '--json']);
      assert.equal(st.status, 0, st.stderr);
      assert.equal(JSON.parse(st.stdout).format, 'rafs-v6');
      // extracted, it is umoci unpack's rootfs but for what RAFS changes (expectedDiffs)
      const x = join(work, `x-${out.endsWith('.tar') ? 'tar' : 'dir'}`);
      const ex = cli(['extract', out, x]);
      assert.equal(ex.status, 0, ex.stderr);
      assert.deepEqual(compareSnapshots(ref, snapshotDisk(x)), expectedDiffs(ref));
    }
  });

  test('openNydusLayout: a bootstrap layer whose bytes do not match its digest, or a plain OCI image, is a clear error', async () => {
    const out = join(work, 'nydus-tampered');
    assert.equal(cli(['convert', layout, '--to', 'nydus', out]).status, 0);
    await assert.rejects(openNydusLayout(folderFiles(layout)), /no nydus bootstrap layer/);
    const f = blobFile(out, manifestOf(out).layers.at(-1).digest);
    const b = readFileSync(f);
    b[20] ^= 1;
    writeFileSync(f, b);
    await assert.rejects(openNydusLayout(folderFiles(out)), (e: Error & { code?: string }) => e.code === 'digest-mismatch');
  });

  test('bad input: a clear error, nothing written outside (or at) OUT', () => {
    const before = readdirSync(work).sort();
    // a layer blob whose bytes no longer match its digest
    const bad = join(work, 'bad');
    sh(`cp -r ${layout} ${bad}`);
    const m = manifestOf(bad);
    const f = blobFile(bad, m.layers[1].digest);
    const bytes = readFileSync(f);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(f, bytes);
    const listBad = readdirSync(work).sort();
    const r1 = cli(['convert', bad, '--to', 'nydus', join(work, 'out-bad')]);
    assert.notEqual(r1.status, 0);
    assert.match(r1.stderr, /hash|digest|gzip|deflate/i);
    // --oci-ref is refused (not built yet) and the folder it had started is removed
    const r2 = cli(['convert', layout, '--to', 'nydus', join(work, 'out-ref'), '--oci-ref']);
    assert.notEqual(r2.status, 0);
    assert.match(r2.stderr, /oci-ref/);
    // an output folder that is not empty is not written into
    const r3 = cli(['convert', layout, '--to', 'nydus', bad]);
    assert.notEqual(r3.status, 0);
    assert.match(r3.stderr, /exists/);
    const r4 = cli(['convert', layout, '--to', 'nydus', join(work, 'out-x'), '--compressor', 'gzip']);
    assert.notEqual(r4.status, 0);
    // OUT in a folder that does not exist: refused, the parent is not made
    const r5 = cli(['convert', layout, '--to', 'nydus', join(work, 'no-such', 'out')]);
    assert.notEqual(r5.status, 0);
    assert.match(r5.stderr, /parent folder does not exist/);
    // a chunk size the builder refuses: the folder it had started is removed
    const r6 = cli(['convert', layout, '--to', 'nydus', join(work, 'out-cs'), '--chunk-size', '1000']);
    assert.notEqual(r6.status, 0);
    assert.match(r6.stderr, /chunk size/);
    assert.deepEqual(readdirSync(work).sort(), listBad);
    assert.deepEqual(listBad, [...before, 'bad'].sort());
  });
});
