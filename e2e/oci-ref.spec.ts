// Converting an OCI image to Nydus with OCI-ref (ZRAN) in the page: a dropped umoci layout of gzip
// layers, "OCI-ref (ZRAN)" ticked; the downloaded oci-archive is byte for byte what `layerscope
// convert --to nydus --oci-ref OUT.tar` writes, and the CLI opens it (the RAFS blobs' chunks read from
// the gzip layers it carries) with umoci unpack's tree.
import { test, expect } from '@playwright/test';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { appendLayer, makeTar, missingTools, newImage, repack, sh, unpackRootfs } from '../test/helpers/oci.ts';
import { compareSnapshots, snapshotDisk } from '../test/helpers/treecompare.ts';
import { cli } from '../test/helpers/cli.ts';
import { tempDir } from '../test/helpers/paths.ts';
import { dropPaths } from './helpers/drop.ts';
import { failOnPageErrors } from './helpers/page-errors.ts';

const skip = missingTools();

failOnPageErrors(test);
test.skip(!!skip, skip ?? '');

let work = '';
let layout = '';

test.beforeAll(() => {
  if (skip) return;
  work = tempDir('ls-e2e-oci-ref-');
  layout = join(work, 'img');
  newImage(layout, 't');
  repack(layout, 't', work, (r) => sh('mkdir -p etc srv; printf "gee\\n" > etc/g; seq 1 200000 > srv/numbers', r), 'COPY numbers /srv/');
  appendLayer(layout, 't', makeTar([{ name: 'etc/', type: 'dir', mode: 0o755 }, { name: 'etc/.wh.g', size: 0 }, { name: 'etc/h', text: 'h' }]), 'gzip', 'RUN rm /etc/g');
});

test.afterAll(() => void (work && rmSync(work, { recursive: true, force: true })));

test('OCI-ref (ZRAN): the downloaded oci-archive equals the CLI conversion and opens with umoci unpack\'s tree', async ({ page }) => {
  await page.goto('/');
  await dropPaths(page, [layout]);
  await page.getByTestId('tab-image').click();
  await page.getByTestId('oci-convert-toggle').click();
  await page.getByTestId('convert-oci-ref').check();
  // OCI-ref chunks stay gzip: the compressor choice does not apply
  await expect(page.getByTestId('convert-compressor')).toBeDisabled();
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('convert-start').click()]);
  const got = join(work, 'page-ref.tar');
  await download.saveAs(got);
  await expect(page.getByTestId('convert-command')).toHaveText('layerscope convert img --to nydus --oci-ref img-nydus.tar');

  const mine = join(work, 'cli-ref.tar');
  const c = cli(['convert', layout, '--to', 'nydus', '--oci-ref', mine]);
  expect(c.status, c.stderr).toBe(0);
  expect(readFileSync(got).equals(readFileSync(mine))).toBe(true);

  const x = join(work, 'x');
  const ex = cli(['extract', got, x]);
  expect(ex.status, ex.stderr).toBe(0);
  const ref = snapshotDisk(unpackRootfs(layout, 't', join(work, 'ref')));
  expect(compareSnapshots(ref, snapshotDisk(x))).toEqual([`/: mtime ${ref.entries.get('')!.mtimeNs} != 0`]);
});
