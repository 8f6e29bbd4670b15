// `layerscope convert IMAGE --to erofs|composefs|rafs-v6 OUT`: the merged tree of a umoci image
// (whiteouts, an opaque directory, hardlinks in and across layers, xattrs, owners, a fifo) built
// into one image, which must show exactly umoci unpack's rootfs: read back by our readers, and the
// EROFS one mounted by this machine's kernel (skipped with the reason when it cannot mount).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import '../src/lib/formats.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import type { ByteSource } from '../src/lib/io/source.ts';
import { openImage } from '../src/lib/open.ts';
import { compareSnapshots, snapshotDisk, snapshotFs, type Snapshot } from './helpers/treecompare.ts';
import { makeTestImage, missingTools, unpackRootfs } from './helpers/oci.ts';
import { REPO, tempDir } from './helpers/paths.ts';

const skip = missingTools();
const CLI = join(REPO, 'bin/layerscope.mjs');

function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('layerscope convert', { skip: skip ?? false }, () => {
  const work = skip ? '' : tempDir('ls-oci-convert-');
  const opened: ByteSource[] = [];
  let layout = '';
  let ref: Snapshot;
  before(() => {
    layout = makeTestImage(work);
    ref = snapshotDisk(unpackRootfs(layout, 't', join(work, 'ref')));
  });
  after(async () => {
    for (const s of opened) await (s as NodeFileSource).close?.();
    rmSync(work, { recursive: true, force: true });
  });
  const open = async (path: string): Promise<NodeFileSource> => {
    const s = await NodeFileSource.open(path);
    opened.push(s);
    return s;
  };

  test('to EROFS: our reader and the kernel see umoci unpack\'s rootfs', async (t) => {
    const out = join(work, 'img.erofs');
    const r = cli(['convert', layout, '--to', 'erofs', out, '-T', '0', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).format, 'erofs');
    const fs = await openImage(await open(out));
    assert.equal(fs.format, 'erofs');
    assert.deepEqual(compareSnapshots(ref, await snapshotFs(fs)), []);
    const mnt = join(work, 'mnt');
    mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'erofs', '-o', 'ro', out, mnt], { encoding: 'utf8' });
    if (m.status !== 0) return t.skip(`the kernel did not mount it here: ${m.stderr.trim()}`);
    try {
      assert.deepEqual(compareSnapshots(ref, snapshotDisk(mnt)), []);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  test('to composefs with its object store: our reader sees umoci unpack\'s rootfs', async () => {
    const out = join(work, 'img.cfs');
    const store = join(work, 'objects');
    const r = cli(['convert', layout, '--to', 'composefs', out, '--digest-store', store, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.match(j.digest, /^[0-9a-f]{64}$/);
    assert.ok(j.objects.count > 0);
    const fs = await openImage(await open(out), {
      objectStore: async (p) => open(join(store, p)).catch(() => null),
    });
    assert.equal(fs.format, 'composefs');
    assert.deepEqual(compareSnapshots(ref, await snapshotFs(fs)), []);
  });

  test('to RAFS v6 (the merged tree as one bootstrap and one blob)', async () => {
    const out = join(work, 'img.boot');
    const blobs = join(work, 'blobs');
    const r = cli(['convert', layout, '--to', 'rafs-v6', out, '--blob-dir', blobs, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const fs = await openImage(await open(out), { blobs: [await open(j.blob)] });
    assert.equal(fs.format, 'rafs-v6');
    // the one difference is nydus-image's: the root's mtime forced to 0 (rafs/builder/common.ts)
    assert.deepEqual(compareSnapshots(ref, await snapshotFs(fs)), [`/: mtime ${ref.entries.get('')!.mtimeNs} != 0`]);
  });

  test('a bad --to is a usage error', () => {
    assert.equal(cli(['convert', layout, '--to', 'squashfs', join(work, 'x')]).status, 1);
  });
});
