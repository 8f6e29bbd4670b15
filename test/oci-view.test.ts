// src/lib/app/oci-view.ts, what the page's Image view receives: a layer's stacked tree marked with
// what that layer did, dive's filter context (`below`), the file list as CSV / JSON, and the overview
// with its inefficient-path list capped. Images made with umoci (init, new) and layers appended.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { layerRows, MAX_INEFFICIENCIES, ociFileExport, ociOverview } from '../src/lib/app/oci-view.ts';
import { openFiles } from '../src/lib/app/open.ts';
import { NotFoundError } from '../src/lib/errors.ts';
import { loadOci, type LoadedOci } from '../src/lib/oci/index.ts';
import { folderFiles } from '../src/cli/oci.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { appendLayer, makeTar, missingTools, newImage, sh } from './helpers/oci.ts';
import { tempDir } from './helpers/paths.ts';
import { api } from '../workers/inspector.ts';
import { cliCommand } from '../src/lib/inspect/command.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const skip = missingTools();

describe('app/oci-view', { skip: skip ?? false }, () => {
  const work = skip ? '' : tempDir('ls-oci-view-');
  const img = join(work, 'img');
  let o: LoadedOci;
  before(async () => {
    newImage(img, 't');
    appendLayer(img, 't', makeTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/f', size: 1000 }, { name: 'etc/g', text: 'gee\n' }, { name: 'old/x', text: 'x' }]), 'gzip', 'L0');
    appendLayer(img, 't', makeTar([{ name: 'etc/f', size: 2500 }, { name: 'h', text: 'h' }, { name: '.wh.old', size: 0 }]), 'zstd', 'L1');
    appendLayer(img, 't', makeTar([{ name: 'etc/.wh.f', size: 0 }]), 'none', 'L2');
    o = await loadOci(folderFiles(img));
  });
  after(() => void (work && rmSync(work, { recursive: true, force: true })));

  const marks = (i: number) => layerRows(o, i).map((r) => `${r.change[0]}${r.below ? '>' : ' '}${r.path}`);

  test('each layer over the layers below it: added, modified, removed (a removed directory with its content), the rest unchanged', () => {
    assert.deepEqual(marks(0), ['a>/etc', 'a /etc/f', 'a /etc/g', 'a>/old', 'a /old/x']);
    assert.deepEqual(marks(1), ['u>/etc', 'm /etc/f', 'u /etc/g', 'a /h', 'r>/old', 'r /old/x']);
    // the top layer is the image's own merged tree, with /etc/f put back as a removal
    assert.deepEqual(marks(2), ['u>/etc', 'r /etc/f', 'u /etc/g', 'u /h']);
    const f = layerRows(o, 1).find((r) => r.path === '/etc/f')!;
    assert.deepEqual([f.type, f.size], ['reg', 2500]);
    assert.throws(() => layerRows(o, 3), NotFoundError);
    assert.throws(() => layerRows(o, -1), NotFoundError);
  });

  test('the file list as CSV and JSON: the merged tree, each file with the layer it came from', () => {
    const csv = ociFileExport(o, 'csv').split('\r\n');
    assert.equal(csv[0], 'path,type,size,mode,uid,gid,mtime,layer');
    assert.deepEqual(csv.slice(1).filter(Boolean).map((l) => l.split(',').slice(0, 3).concat(l.split(',')[7]!).join(' ')), ['/etc dir 0 ', '/etc/g reg 4 0', '/h reg 1 1']);
    const json = JSON.parse(ociFileExport(o, 'json')) as { path: string; layer: number | null }[];
    assert.deepEqual(json.map((r) => [r.path, r.layer]), [['/etc', null], ['/etc/g', 0], ['/h', 1]]);
  });

  test('overview: config, history, layers and efficiency; the page gets at most MAX_INEFFICIENCIES paths, with the count', async () => {
    const v = ociOverview(o);
    assert.deepEqual(v.layers.map((l) => [l.added, l.modified, l.removed]), [[5, 0, 0], [1, 1, 2], [0, 0, 1]]);
    assert.deepEqual(v.history.map((h) => h.createdBy), ['L0', 'L1', 'L2']);
    // /etc/f: 1000 + 2500 + 0; /old is a leaf only as L1's whiteout (dive counts the removed
    // directory's 1 byte there once), so it wastes nothing
    assert.equal(v.efficiency.wastedBytes, 3500);
    assert.equal(v.inefficiencyCount, 1);
    assert.ok(!('changes' in v), 'per-layer changes go one layer at a time');
    // N + 1 paths written twice: the list is cut, the count is not
    const big = join(work, 'big');
    newImage(big, 't');
    const files = Array.from({ length: MAX_INEFFICIENCIES + 1 }, (_, i) => ({ name: `d/f${i}`, text: 'ab' }));
    appendLayer(big, 't', makeTar(files), 'gzip');
    appendLayer(big, 't', makeTar(files), 'gzip');
    const bv = ociOverview(await loadOci(folderFiles(big)));
    assert.equal(bv.inefficiencyCount, MAX_INEFFICIENCIES + 1);
    assert.equal(bv.efficiency.inefficiencies.length, MAX_INEFFICIENCIES);
    assert.equal(bv.efficiency.wastedBytes, 4 * (MAX_INEFFICIENCIES + 1));
  });

  test("the page's open path keeps the loaded image of an oci-archive tar", async () => {
    sh(`tar -C ${img} -cf ${work}/img.tar .`);
    const src = await NodeFileSource.open(join(work, 'img.tar'));
    const a = await openFiles([{ path: 'img.tar', source: src }]);
    assert.equal(a.kind, 'oci');
    assert.deepEqual(layerRows(a.oci!, 1).map((r) => r.path), layerRows(o, 1).map((r) => r.path));
    await src.close();
  });

  test('docker save | gzip and a gzip oci-archive open as the image on the page\'s path; a gzip layer stays a layer', async () => {
    // docker-archive takes no zstd layers: recompressed to gzip first
    sh(`skopeo copy -q --dest-compress-format gzip oci:${img}:t oci:${work}/gz:t && skopeo copy -q oci:${work}/gz:t docker-archive:${work}/docker.tar:x/y:z && gzip -kf ${work}/docker.tar && gzip -kf ${work}/img.tar`);
    for (const name of ['docker.tar.gz', 'img.tar.gz']) {
      const src = await NodeFileSource.open(join(work, name));
      const a = await openFiles([{ path: name, source: src }]);
      assert.equal(a.kind, 'oci', name);
      assert.deepEqual(layerRows(a.oci!, 2).map((r) => `${r.change[0]}${r.path}`), ['u/etc', 'r/etc/f', 'u/etc/g', 'u/h'], name);
      await src.close();
    }
    writeFileSync(join(work, 'layer.tar.gz'), gzipSync(makeTar([{ name: 'usr/', type: 'dir' }, { name: 'usr/manifest.json', text: '{}' }, { name: 'index.json', text: '{}' }])));
    const layer = await NodeFileSource.open(join(work, 'layer.tar.gz'));
    assert.equal((await openFiles([{ path: 'layer.tar.gz', source: layer }])).kind, 'tar');
    await layer.close();
  });

  test('the Image view\'s command line: config, history, layers, one layer (oci ls --layer N), efficiency, the platform', () => {
    const line = (part: 'config' | 'history' | 'layers' | 'efficiency', layer: number | null = null, platform?: string) => cliCommand('oci', { image: 'img.tar', oci: { part, layer, ...(platform ? { platform } : {}) } });
    assert.equal(line('config'), 'layerscope oci config img.tar');
    assert.equal(line('history'), 'layerscope oci history img.tar');
    assert.equal(line('layers'), 'layerscope oci layers img.tar');
    assert.equal(line('layers', 2), 'layerscope oci ls img.tar --layer 2');
    assert.equal(line('efficiency', 2, 'linux/arm64'), 'layerscope oci layers img.tar --platform linux/arm64');
  });

  test('the page worker: an archive File opens as an OCI image with its views; a platform flag that is not there is refused', async () => {
    const file = new File([new Uint8Array(readFileSync(join(work, 'img.tar')))], 'img.tar');
    const s = await api.open(file);
    assert.equal(s.oci, true);
    assert.deepEqual((await api.ociOverview(s.id)).layers.map((l) => l.createdBy), ['L0', 'L1', 'L2']);
    assert.deepEqual((await api.ociLayer(s.id, 2)).map((r) => r.path), ['/etc', '/etc/f', '/etc/g', '/h']);
    assert.match(await api.ociFiles(s.id, 'csv'), /^\/h,reg,1,/m);
    // failures cross the worker boundary as WireErrors (plain objects)
    await assert.rejects(api.ociLayer(s.id, 9), { name: 'NotFoundError', message: /layer 9: the image has 3 layers/ });
    await api.close(s.id);
    await assert.rejects(api.open(file, { platform: 'linux/s390x' }), { message: /s390x/ });
    // a plain layer is no image: no Image view
    const layer = await api.open(new File([new Uint8Array(makeTar([{ name: 'a', text: 'a' }]))], 'layer.tar'));
    assert.equal(layer.oci, false);
    await assert.rejects(api.ociOverview(layer.id), { message: /no OCI image/ });
    await api.close(layer.id);
  });
});
