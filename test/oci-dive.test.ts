// dive's efficiency on a crafted image, its formula worked by hand (wagoodman/dive
// dive/filetree/efficiency.go): a file written in layer 1, overwritten in layer 2, removed in layer 3,
// and a directory removed in layer 3 (dive sizes a directory's whiteout by everything under it).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { folderFiles } from '../src/cli/oci.ts';
import { efficiency, imageViews, loadOci, type LayerEntry } from '../src/lib/oci/index.ts';
import { appendLayer, makeTar, missingTools, newImage } from './helpers/oci.ts';
import { tempDir } from './helpers/paths.ts';

const skip = missingTools();

describe('dive efficiency', { skip: skip ?? false }, () => {
  const work = skip ? '' : tempDir('ls-oci-dive-');
  after(() => void (work && rmSync(work, { recursive: true, force: true })));

  test('a file written, overwritten and removed; a directory removed: wasted bytes and score as dive computes them', async () => {
    const layout = join(work, 'img');
    newImage(layout, 't');
    appendLayer(layout, 't', makeTar([
      { name: 'f', size: 1000 }, { name: 'g', size: 300 },
      { name: 'd', type: 'dir' }, { name: 'd/x', size: 100 }, { name: 'd/y', size: 200 },
    ]), 'gzip', 'write f, g, d/');
    appendLayer(layout, 't', makeTar([{ name: 'f', size: 2500 }]), 'zstd', 'overwrite f');
    appendLayer(layout, 't', makeTar([{ name: '.wh.f', size: 0 }, { name: '.wh.d', size: 0 }]), 'none', 'remove f and d/');
    const o = await loadOci(folderFiles(layout));
    // by hand, per path (dive visits each layer's leaves; a whiteout weighs what it removes):
    //   /f    1000 (layer 1) + 2500 (layer 2) + 0 (whiteout of a file)  cumulative 3500, minimum 0, 3 nodes
    //   /g    300                                                        cumulative  300, minimum 300
    //   /d/x  100, /d/y 200 (the directory d itself is no leaf in layer 1)
    //   /d    whiteout of a directory: d (0) + x (100) + y (200) = 300   cumulative  300, minimum 300
    // score = Σ minimum / Σ cumulative = (0 + 300 + 100 + 200 + 300) / (3500 + 300 + 100 + 200 + 300) = 900 / 4400
    // wasted = Σ cumulative of the paths seen more than once = 3500 (only /f)
    // user size = the layers after the first: 2500 + 0
    assert.equal(o.efficiency.score, 900 / 4400);
    assert.equal(o.efficiency.wastedBytes, 3500);
    assert.equal(o.efficiency.userSizeBytes, 2500);
    assert.equal(o.efficiency.wastedUserPercent, 3500 / 2500);
    assert.deepEqual(o.efficiency.inefficiencies, [{ path: '/f', count: 3, cumulativeSize: 3500 }]);
    assert.deepEqual(o.efficiency.aborted, []);
    // and the image itself: only g is left
    assert.deepEqual(o.tree.root.children!.map((d) => Buffer.from(d.name).toString()), ['g']);
    assert.deepEqual(o.changes[2]!.map((c) => `${c.change} ${c.path}`), ['removed /d', 'removed /d/x', 'removed /d/y', 'removed /f']);
    assert.deepEqual(o.changes[1]!.map((c) => `${c.change} ${c.path} ${c.size}`), ['modified /f 2500']);
    // every view as plain data, as a page worker would post it
    const views = imageViews(o);
    assert.deepEqual(structuredClone(views), views);
    assert.equal(views.efficiency.wastedBytes, 3500);
    assert.deepEqual(views.layers.map((l) => [l.compression, l.contentSize, l.createdBy]), [['gzip', 1600, 'write f, g, d/'], ['zstd', 2500, 'overwrite f'], ['none', 0, 'remove f and d/']]);
  });
});

describe('dive efficiency, its corner cases (entries given directly)', () => {
  const e = (path: string, size = 0, type: LayerEntry['type'] = 'reg'): LayerEntry => {
    const comps = path.split('/').map((c) => new TextEncoder().encode(c));
    const name = path.split('/').pop()!;
    return { comps, type, size, whiteout: name.startsWith('.wh.') && name !== '.wh..wh..opq', opaque: name === '.wh..wh..opq' };
  };

  test('opaque markers are never added (they weigh nothing), parents missing from a layer are no leaves', () => {
    const r = efficiency([[e('a/b', 10), e('a/c', 5)], [e('a/.wh..wh..opq'), e('a/b', 7)]]);
    // /a/b: 10 + 7, min 7; /a/c: 5. score (7 + 5) / (17 + 5)
    assert.equal(r.score, 12 / 22);
    assert.equal(r.wastedBytes, 17);
  });

  test('a whiteout of a path absent below stops that layer, as dive does (its visitor returns the GetNode error)', () => {
    // layer 2 visits "a" before "b": the whiteout of a is absent below, so b is never counted
    const r = efficiency([[e('x', 4)], [e('.wh.a'), e('b', 9)]]);
    assert.deepEqual(r.aborted, [1]);
    assert.equal(r.score, 1);
    assert.equal(r.wastedBytes, 0);
  });

  test('nothing with a size: a score of 1', () => {
    assert.equal(efficiency([[e('d', 0, 'dir')]]).score, 1);
  });
});
