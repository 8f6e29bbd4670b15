// OCI images made by umoci and skopeo open, in every layout they come in (an OCI layout folder, an
// oci-archive tar, a docker-archive tar, a Docker 25 `docker save` tar, zstd layers, a two-platform
// index), and the merged tree equals what `umoci unpack` makes of the same image: content, modes,
// owners, mtimes, xattrs and hardlinks. The image (test/helpers/oci.ts makeTestImage) has whiteouts,
// an opaque directory, hardlinks in a layer and across layers, a fifo, a symlink and a layer tar
// without end-of-archive blocks (umoci 0.4.7 insert writes it so).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { folderFiles } from '../src/cli/oci.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { filesFromList, filesFromTar, isImageLayout, loadOci, OciError, type LoadOciOptions, type OciFiles } from '../src/lib/oci/index.ts';
import { UnsupportedError } from '../src/lib/errors.ts';
import { compareSnapshots, snapshotDisk, snapshotFs, type Snapshot } from './helpers/treecompare.ts';
import { makeTestImage, manifestOf, missingTools, rewrite, run, sh, unpackRootfs, writeBlob } from './helpers/oci.ts';
import { REPO, tempDir } from './helpers/paths.ts';

const skip = missingTools();
const work = skip ? '' : tempDir('ls-oci-');
let layout = '';
let ref: Snapshot;
const opened: NodeFileSource[] = [];

async function tarFiles(path: string): Promise<OciFiles> {
  const src = await NodeFileSource.open(path);
  opened.push(src);
  return filesFromTar(src);
}

async function mergedEqualsUmoci(files: OciFiles, opts: LoadOciOptions = {}): Promise<Awaited<ReturnType<typeof loadOci>>> {
  const o = await loadOci(files, opts);
  assert.deepEqual(compareSnapshots(ref, await snapshotFs(o.fs)), []);
  return o;
}

describe('OCI images from umoci and skopeo', { skip: skip ?? false }, () => {
  before(() => {
    layout = makeTestImage(work);
    ref = snapshotDisk(unpackRootfs(layout, 't', join(work, 'ref')));
  });
  after(async () => {
    await Promise.all(opened.map((s) => s.close()));
    rmSync(work, { recursive: true, force: true });
  });

  test('the OCI layout folder umoci wrote (gzip layers)', async () => {
    const o = await mergedEqualsUmoci(folderFiles(layout));
    assert.equal(o.image.kind, 'oci-layout');
    assert.equal(o.layers.length, 4);
    assert.deepEqual(o.layers.map((l) => l.compression), ['gzip', 'gzip', 'gzip', 'gzip']);
    // what the reference shows is really there: the opaque directory hides the lower files, the
    // whiteout removed /etc/b, the cross-layer hardlink is one inode with /data/f1
    const paths = [...ref.entries.keys()].map((k) => Buffer.from(k, 'hex').toString());
    assert.ok(paths.includes('opt/old/z') && !paths.includes('opt/old/x') && !paths.includes('etc/b'));
    assert.deepEqual(['dev/null1', 'dev/loop9'].map((p) => ref.entries.get(Buffer.from(p).toString('hex'))?.rdev), ['1:3', '7:9']);
    assert.ok(ref.links.some((g) => g.map((k) => Buffer.from(k, 'hex').toString()).join(' ') === 'data/f1 data/f1link lnk/f1again'));
    // the insert layer's tar stops after its last content: noted, and its diff_id still checked
    assert.ok(o.layers[2]!.tree.notes.some((n) => n.includes('no padding or end-of-archive')));
    // per-layer changes
    assert.deepEqual(o.changes[1]!.filter((c) => c.change === 'removed').map((c) => c.path), ['/etc/b', '/gone', '/gone/g']);
    assert.deepEqual(o.changes[2]!.map((c) => `${c.change} ${c.path}`), ['modified /opt/old', 'removed /opt/old/sub', 'removed /opt/old/sub/y', 'removed /opt/old/x', 'added /opt/old/z']);
    assert.deepEqual(o.changes[3]!.map((c) => `${c.change} ${c.path}`), ['added /etc/new', 'added /etc/new/deep', 'added /lnk', 'added /lnk/f1again']);
  });

  test('skopeo copy to oci-archive: the tar read by ranges', async () => {
    const tar = join(work, 'a.tar');
    run('skopeo', ['copy', '-q', `oci:${layout}:t`, `oci-archive:${tar}:t`]);
    await mergedEqualsUmoci(await tarFiles(tar));
  });

  test('a layout tarred under its folder (tar cf img.tar img/): the folder is the layout', async () => {
    sh(`tar -C ${work} -cf ${work}/under.tar img`);
    const files = await tarFiles(join(work, 'under.tar'));
    assert.match(files.name, /under\.tar:img$/);
    await mergedEqualsUmoci(files);
  });

  test('skopeo copy to docker-archive: the docker save layout before Docker 25 (<id>.json, symlinked layer.tar)', async () => {
    const tar = join(work, 'd.tar');
    run('skopeo', ['copy', '-q', `oci:${layout}:t`, `docker-archive:${tar}:t:latest`]);
    const o = await mergedEqualsUmoci(await tarFiles(tar));
    assert.equal(o.image.kind, 'docker-save-legacy');
    assert.deepEqual(o.image.refs, ['docker.io/library/t:latest']);
    assert.deepEqual(o.layers.map((l) => l.compression), ['none', 'none', 'none', 'none']);
  });

  test('skopeo copy --dest-compress-format zstd: zstd layers', async () => {
    const z = join(work, 'z');
    run('skopeo', ['copy', '-q', '--dest-compress-format', 'zstd', `oci:${layout}:t`, `oci:${z}:t`]);
    const o = await mergedEqualsUmoci(folderFiles(z));
    assert.deepEqual(o.layers.map((l) => l.ref.mediaType), Array(4).fill('application/vnd.oci.image.layer.v1.tar+zstd'));
  });

  test('content beyond the memory budget: spilled to a temp file (gzip, zstd), or read again by decompressing (gzip)', async () => {
    const { tempFileSpill } = await import('../src/lib/fs/sources/node.ts');
    await mergedEqualsUmoci(folderFiles(layout), { memory: { left: 0 }, spill: tempFileSpill() });
    await mergedEqualsUmoci(folderFiles(join(work, 'z')), { memory: { left: 0 }, spill: tempFileSpill() });
    const replayed = await mergedEqualsUmoci(folderFiles(layout), { memory: { left: 0 } });
    assert.ok(replayed.layers.some((l) => l.compression === 'gzip'));
    // zstd has no replay: without a spill store it says what is missing
    await assert.rejects(loadOci(folderFiles(join(work, 'z')), { memory: { left: 0 } }), (e: unknown) => e instanceof UnsupportedError && /beyond the memory budget, and no spill store/.test(e.message));
  });

  test('uncompressed layers: skopeo 1.9.3 labels them tar+gzip (refused, clearly); relabelled, they open', async () => {
    const u = join(work, 'u');
    run('skopeo', ['copy', '-q', '--dest-oci-accept-uncompressed-layers', `docker-archive:${join(work, 'd.tar')}`, `oci:${u}:t`]);
    await assert.rejects(loadOci(folderFiles(u)), (e: unknown) => e instanceof OciError && /says gzip, the bytes are no gzip or zstd stream/.test(e.message));
    rewrite(u, 't', (m) => {
      for (const l of m.layers) l.mediaType = 'application/vnd.oci.image.layer.v1.tar';
    });
    const o = await mergedEqualsUmoci(folderFiles(u));
    assert.deepEqual(o.layers.map((l) => l.compression), ['none', 'none', 'none', 'none']);
  });

  test('Docker media types (schema 2 manifest, rootfs.diff.tar.gzip layers), as a registry client stores them', async () => {
    const d = join(work, 'dockermt');
    sh(`cp -r ${layout} ${d}`);
    rewrite(d, 't', (m) => {
      m.mediaType = 'application/vnd.docker.distribution.manifest.v2+json';
      m.config.mediaType = 'application/vnd.docker.container.image.v1+json';
      for (const l of m.layers) l.mediaType = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
    });
    const ix = JSON.parse(readFileSync(join(d, 'index.json'), 'utf8'));
    ix.manifests[0].mediaType = 'application/vnd.docker.distribution.manifest.v2+json';
    writeFileSync(join(d, 'index.json'), JSON.stringify(ix));
    const o = await mergedEqualsUmoci(folderFiles(d));
    assert.deepEqual(o.layers.map((l) => l.compression), ['gzip', 'gzip', 'gzip', 'gzip']);
  });

  test('Docker 25 docker save: an OCI layout with manifest.json beside it, in a tar', async () => {
    const d = join(work, 'docker25');
    mkdirSync(d);
    sh(`cp -r ${layout}/blobs ${layout}/oci-layout ${layout}/index.json ${d}/`);
    const { manifest } = manifestOf(layout, 't');
    writeFileSync(join(d, 'manifest.json'), JSON.stringify([{ Config: `blobs/sha256/${manifest.config.digest.slice(7)}`, RepoTags: ['t:latest'], Layers: manifest.layers.map((l: { digest: string }) => `blobs/sha256/${l.digest.slice(7)}`) }]));
    sh(`tar -C ${d} -cf ${d}.tar .`);
    const o = await mergedEqualsUmoci(await tarFiles(`${d}.tar`));
    assert.equal(o.image.kind, 'docker-save');
  });

  test('a dropped folder (as the page gets it): files by their paths under one top folder', async () => {
    const list: { path: string; source: BytesSource }[] = [];
    const add = (rel: string): void => void list.push({ path: `img/${rel}`, source: new BytesSource(readFileSync(join(layout, rel)), rel) });
    add('index.json');
    add('oci-layout');
    for (const f of readdirSync(join(layout, 'blobs/sha256'))) add(`blobs/sha256/${f}`);
    await mergedEqualsUmoci(filesFromList(list));
    // the page opens drops through app/open.ts openFiles: a layout is its merged tree there
    const { openFiles } = await import('../src/lib/app/open.ts');
    const o = await openFiles(list);
    assert.equal(o.kind, 'oci');
    assert.deepEqual(compareSnapshots(ref, await snapshotFs(o.fs)), []);
    assert.ok(isImageLayout(list.map((f) => f.path)));
    assert.ok(!isImageLayout(['ext/manifest.json', 'ext/icons/a.png']), 'a web extension folder is no docker save');
    assert.ok(isImageLayout(['d/manifest.json', 'd/repositories', 'd/abc/layer.tar']));
  });

  test('a two-platform index: linux/amd64 by default, the other by --platform, an absent one refused', async () => {
    const mp = join(work, 'multi');
    run('skopeo', ['copy', '-q', '--dest-compress-format', 'zstd', `oci:${layout}:t`, `oci:${mp}:amd`]);
    // the arm64 image: one layer less (no layer four), its config naming arm64
    const { manifest, config } = manifestOf(mp, 'amd');
    const armConfig = { ...config, architecture: 'arm64', variant: 'v8', rootfs: { ...config.rootfs, diff_ids: config.rootfs.diff_ids.slice(0, 3) }, history: config.history.slice(0, 3) };
    const c = writeBlob(mp, Buffer.from(JSON.stringify(armConfig)));
    const armManifest = writeBlob(mp, Buffer.from(JSON.stringify({ ...manifest, config: { ...manifest.config, ...c }, layers: manifest.layers.slice(0, 3) })));
    const amdManifest = manifestOf(mp, 'amd');
    const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...armManifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amdManifest.index.manifests[0].digest, size: amdManifest.index.manifests[0].size, platform: { os: 'linux', architecture: 'amd64' } },
      // what BuildKit lists beside its images: an attestation manifest, no filesystem (not even read)
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 1, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
    ] };
    const ix = writeBlob(mp, Buffer.from(JSON.stringify(index)));
    writeFileSync(join(mp, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...ix, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }));
    const amd = await mergedEqualsUmoci(folderFiles(mp));
    assert.equal(amd.image.platform, 'linux/amd64');
    assert.deepEqual(amd.image.choices.map((x) => x.platform), ['linux/arm64/v8', 'linux/amd64']);
    const arm = await loadOci(folderFiles(mp), { platform: 'linux/arm64' });
    assert.equal(arm.image.platform, 'linux/arm64/v8');
    // an arm64 host's default (the CLI passes the host's platform)
    assert.equal((await loadOci(folderFiles(mp), { defaultPlatform: 'linux/arm64' })).image.platform, 'linux/arm64/v8');
    assert.equal(arm.layers.length, 3);
    assert.ok(!arm.tree.root.children!.some((d) => Buffer.from(d.name).toString() === 'lnk'), 'the arm64 image has no layer four');
    // the page's open path takes the platform too
    const { openFiles } = await import('../src/lib/app/open.ts');
    const dropped = sh(`cd ${mp} && find . -type f`).trim().split('\n').map((p) => ({ path: `multi/${p.slice(2)}`, source: new BytesSource(readFileSync(join(mp, p)), p) }));
    const viaPage = await openFiles(dropped, { oci: { platform: 'linux/arm64' } });
    assert.equal(viaPage.kind, 'oci');
    assert.ok(!viaPage.tree!.root.children!.some((d) => Buffer.from(d.name).toString() === 'lnk'));
    await assert.rejects(loadOci(folderFiles(mp), { platform: 'linux/s390x' }), (e: unknown) => e instanceof OciError && e.code === 'no-manifest' && /linux\/arm64\/v8, linux\/amd64/.test(e.message));
  });

  test('several tags: none chosen is an error naming them, --ref picks one', async () => {
    const tags = join(work, 'tags');
    sh(`cp -r ${layout} ${tags}`);
    run('umoci', ['new', '--image', `${tags}:empty`]);
    await assert.rejects(loadOci(folderFiles(tags)), (e: unknown) => e instanceof OciError && e.code === 'no-manifest' && /t, empty|empty, t/.test(e.message));
    await mergedEqualsUmoci(folderFiles(tags), { ref: 't' });
    const empty = await loadOci(folderFiles(tags), { ref: 'empty' });
    assert.equal(empty.layers.length, 0);
    assert.deepEqual(empty.tree.root.children, []);
    await assert.rejects(loadOci(folderFiles(tags), { ref: 'nope' }), (e: unknown) => e instanceof OciError && e.code === 'no-manifest');
  });

  test('opened as any input: ls/cat/extract take an image archive (app/open.ts sniffs it)', async () => {
    const { openInput } = await import('../src/lib/app/open.ts');
    const src = await NodeFileSource.open(join(work, 'a.tar'));
    opened.push(src);
    const o = await openInput(src);
    assert.equal(o.kind, 'oci');
    assert.deepEqual(compareSnapshots(ref, await snapshotFs(o.fs)), []);
    // a tar of a folder that merely holds a manifest.json is still a layer
    const ext = join(work, 'ext');
    sh(`mkdir -p ${ext}/icons && echo '{}' > ${ext}/manifest.json && echo x > ${ext}/icons/a.png && tar -C ${ext} -cf ${ext}.tar .`);
    const plain = await NodeFileSource.open(`${ext}.tar`);
    opened.push(plain);
    assert.equal((await openInput(plain)).kind, 'tar');
  });

  test('layerscope extract of the oci-archive writes what umoci unpack writes', () => {
    const dest = join(work, 'extracted');
    const r = spawnSync(process.execPath, [join(REPO, 'bin/layerscope.mjs'), 'extract', join(work, 'a.tar'), dest], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(compareSnapshots(ref, snapshotDisk(dest)), []);
  });
});
