// `layerscope convert IMAGE --to nydus --oci-ref OUT`: a umoci image of gzip layers (a whiteout, an
// opaque directory, a hardlink within a layer, xattrs, owners, a file of several ZRAN contexts)
// converted as nydusify --oci-ref does it. skopeo reads the output layout; the merged bootstrap with
// the original gzip layers (copied into the layout, named by the blob layers' nydus-ref annotation)
// and the RAFS blobs gives umoci unpack's rootfs back, every chunk inflated from its checkpoint;
// check verifies every chunk and catches a flipped byte in a gzip layer.
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import '../src/lib/formats.ts';
import { folderFiles } from '../src/cli/oci.ts';
import { folderLayout } from '../src/cli/oci-layout-out.ts';
import { loadOci } from '../src/lib/oci/index.ts';
import { convertToNydus, openNydusLayout } from '../src/lib/oci/nydus.ts';
import { checkRafs } from '../src/lib/rafs/analyze.ts';
import { BF } from '../src/lib/rafs/structs.ts';
import { compareSnapshots, snapshotDisk, snapshotFs, type Snapshot } from './helpers/treecompare.ts';
import { appendLayer, makeTar, missingTools, newImage, repack, run, sh, unpackRootfs } from './helpers/oci.ts';
import { cli } from './helpers/cli.ts';
import { tempDir } from './helpers/paths.ts';

const skip = missingTools();
const blobFile = (layout: string, digest: string): string => join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
const json = (p: string): any => JSON.parse(readFileSync(p, 'utf8'));
const manifestOf = (layout: string): any => json(blobFile(layout, json(join(layout, 'index.json')).manifests[0].digest));

describe('convert --to nydus --oci-ref', { skip: skip ?? false }, () => {
  const work = skip ? '' : tempDir('ls-oci-nydus-ref-');
  let layout = '';
  let ref: Snapshot;
  before(() => {
    layout = join(work, 'img');
    newImage(layout, 't');
    repack(layout, 't', work, (r) => sh(`
      mkdir -p etc data opt/old/sub gone
      printf hello > etc/a
      ln etc/a etc/a2
      printf bee > etc/b
      # 3 MiB: compressible text then random bytes, so the ZRAN generator starts several contexts
      seq 1 300000 > data/text
      head -c 1200000 /dev/urandom > data/rand
      printf x > opt/old/x; printf y > opt/old/sub/y
      printf g > gone/g
      chown 1000:1001 data/rand; chmod 0640 data/rand; setfattr -n user.test -v val etc/a
      find . -exec touch -h -d '2022-02-03 04:05:06.5' {} +
    `, r), 'layer one');
    repack(layout, 't', work, (r) => sh(`
      printf 'hello again, longer' > etc/a
      rm etc/b
      rm -r gone
      printf world > etc/c
    `, r), 'layer two');
    // the opaque directory by hand (written when the ZRAN builder still refused umoci insert's layer
    // tars, which end right after the last file's data; test/tar-unpadded-end.test.ts covers those now)
    appendLayer(layout, 't', makeTar([
      { name: 'opt/old/', type: 'dir', mode: 0o755, mtime: 1600000000 },
      { name: 'opt/old/.wh..wh..opq', text: '' },
      { name: 'opt/old/z', text: 'z' },
    ]), 'gzip', 'opaque opt/old');
    ref = snapshotDisk(unpackRootfs(layout, 't', join(work, 'ref')));
  });
  after(() => {
    rmSync(work, { recursive: true, force: true });
  });

  test('the CLI writes nydusify\'s OCI-ref layout: RAFS blob layers annotated nydus-ref, gzip layers unchanged; skopeo reads it; the tree is umoci unpack\'s', async () => {
    const out = join(work, 'out');
    const r = cli(['convert', layout, '--to', 'nydus', '--oci-ref', out, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const src = manifestOf(layout);
    const m = manifestOf(out);
    assert.equal(m.layers.length, src.layers.length + 1);
    for (const [i, l] of m.layers.slice(0, -1).entries()) {
      assert.equal(l.mediaType, 'application/vnd.oci.image.layer.nydus.blob.v1');
      assert.equal(l.annotations['containerd.io/snapshot/nydus-blob'], 'true');
      assert.equal(l.annotations['containerd.io/snapshot/nydus-ref'], src.layers[i].digest);
      // the gzip layer is in the output as it was (byte for byte), and far bigger than its RAFS blob
      assert.deepEqual(readFileSync(blobFile(out, src.layers[i].digest)), readFileSync(blobFile(layout, src.layers[i].digest)));
    }
    assert.ok(m.layers[0].size < src.layers[0].size / 4, `RAFS blob ${m.layers[0].size} bytes, gzip layer ${src.layers[0].size}`);
    assert.equal(m.layers.at(-1).annotations['containerd.io/snapshot/nydus-bootstrap'], 'true');
    const insp = JSON.parse(run('skopeo', ['inspect', `oci:${out}`]));
    assert.equal(insp.Layers.length, m.layers.length);

    const fs = await openNydusLayout(folderFiles(out));
    // every blob is a ZRAN blob named by its gzip layer's digest, its meta in the RAFS blob layer
    assert.deepEqual(fs.blobs.map((b) => `sha256:${b.blobId}`), src.layers.map((l: any) => l.digest));
    for (const b of fs.blobs) assert.ok(b.features & BF.ZRAN && b.features & BF.SEPARATE);
    const diffs = compareSnapshots(ref, await snapshotFs(fs));
    // nydus forces the root's mtime to 0; /opt, which the last layer's tar only implies, takes the
    // targz-ref builder's default attributes over layer 1's (the tar alone is built, as by nydus-image)
    assert.deepEqual(diffs, [`/: mtime ${ref.entries.get('')!.mtimeNs} != 0`, `/opt: mtime ${ref.entries.get(Buffer.from('opt').toString('hex'))!.mtimeNs} != 0`]);
    const c = await checkRafs(fs);
    assert.equal(c.ok, true, JSON.stringify({ ...c, bad_chunks: c.bad_chunks.slice(0, 3) }));
    // every chunk checked against its sha256 digest (what nydus-image's targz-ref uses)
    assert.ok(c.counts.chunks_verified >= 3 && c.counts.chunks_verified === c.counts.chunks_checked, JSON.stringify(c.counts));
  });

  test('check names the chunk of a flipped byte in a gzip layer', async () => {
    const out = join(work, 'out2');
    const img = await loadOci(folderFiles(layout));
    await convertToNydus(img, await folderLayout(out), { ociRef: true, files: folderFiles(layout) });
    const gz = blobFile(out, manifestOf(layout).layers[0].digest);
    const bytes = readFileSync(gz);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
    writeFileSync(gz, bytes);
    const c = await checkRafs(await openNydusLayout(folderFiles(out)));
    assert.equal(c.ok, false);
    assert.ok(c.bad_files.length > 0, JSON.stringify(c).slice(0, 500));
    assert.match(c.bad_files[0]!.path, /^\/data\/(text|rand)$/);
  });

  test('refused plainly: no source files, a layer over the tar limit, an uncompressed layer', async () => {
    const img = await loadOci(folderFiles(layout));
    await assert.rejects(convertToNydus(img, await folderLayout(join(work, 'r1')), { ociRef: true }), /source layout is needed/);
    await assert.rejects(convertToNydus(img, await folderLayout(join(work, 'r2')), { ociRef: true, files: folderFiles(layout), maxRefTar: 1 << 20 }), /over the 1048576-byte limit/);
    const plain = join(work, 'plain');
    cpSync(layout, plain, { recursive: true });
    appendLayer(plain, 't', makeTar([{ name: 'etc/plain', text: 'p' }]), 'none', 'an uncompressed layer');
    const r = cli(['convert', plain, '--to', 'nydus', '--oci-ref', join(work, 'r3')]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /uncompressed tar: OCI-ref \(ZRAN\) chunks point into gzip layers only/);
  });
});
