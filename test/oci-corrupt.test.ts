// A corruption sweep over an image archive (test/helpers/corrupt.ts): random byte changes and
// truncations, most of them in what no digest covers (index.json, oci-layout, the archive's own tar
// headers) and in the JSON blobs; every variant must open or fail with a typed error, never crash
// or hang. (Everything else is digest-checked, so a change there is a digest mismatch.)
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCorruptionSweep, type Region } from './helpers/corrupt.ts';
import { appendLayer, makeTar, missingTools, newImage, sh } from './helpers/oci.ts';
import { tempDir } from './helpers/paths.ts';

const skip = missingTools();
const here = import.meta.dirname;

test('corruption sweep over an oci-archive: typed errors only', { skip: skip ?? false, timeout: 10 * 60_000 }, async () => {
  const work = tempDir('ls-oci-corrupt-');
  try {
    const img = join(work, 'img');
    newImage(img, 't');
    appendLayer(img, 't', makeTar([{ name: 'd', type: 'dir' }, { name: 'd/a', text: 'alpha' }, { name: 'd/b', size: 3000 }]), 'gzip');
    appendLayer(img, 't', makeTar([{ name: 'd/.wh.a', size: 0 }, { name: 'd/c', type: 'hardlink', linkname: 'd/b' }]), 'none');
    appendLayer(img, 't', makeTar([{ name: 'e', text: 'zstd layer' }]), 'zstd');
    sh(`tar -C ${img} -cf ${img}.tar index.json oci-layout blobs`);
    const bytes = new Uint8Array(readFileSync(`${img}.tar`));
    // the JSON files and every tar header block (a 512-byte block holding "ustar" at 257)
    const regions: Region[] = [];
    const text = Buffer.from(bytes).toString('latin1');
    for (let at = text.indexOf('{'); at >= 0; at = text.indexOf('{', at + 1)) {
      if (text.startsWith('{"schemaVersion"', at) || text.startsWith('{"imageLayoutVersion"', at) || text.startsWith('{"created"', at) || text.startsWith('{"architecture"', at)) {
        regions.push({ name: 'json', start: at, end: text.indexOf('\0', at) > 0 ? text.indexOf('\0', at) : at + 256, weight: 4 });
      }
    }
    for (let at = 0; at + 512 <= bytes.length; at += 512) if (text.startsWith('ustar', at + 257)) regions.push({ name: 'tar header', start: at, end: at + 512, weight: 1 });
    assert.ok(regions.some((r) => r.name === 'json') && regions.some((r) => r.name === 'tar header'));
    const res = await runCorruptionSweep({
      label: 'oci-archive', image: bytes, openerModule: `${here}/helpers/oci.ts`, openerExport: 'openOciArchive',
      variants: 300, seed: 17, regions, uniformWeight: 2,
    });
    console.log(`# oci-archive: ${res.variants} variants: ${res.clean} clean, ${res.partial} with typed errors, ${res.openRejected} rejected at open; errors ${JSON.stringify(res.errorKinds)}`);
    assert.deepEqual(res.hangs, []);
    assert.deepEqual(res.failures, [], 'every failure must be a typed error');
    assert.equal(res.variants, 300);
    assert.ok(res.openRejected > 100, 'the changes reached the parsers');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
