// The Image view of an OCI image in Chromium: a real folder drop of an OCI image layout (made by
// umoci, with layers appended as a builder writes them) and a picked `docker save`-style tar of the
// same image (skopeo copy … docker-archive:). Config, history, layers, each layer's tree coloured
// added / modified / removed, dive's efficiency computed by hand here, the file list exported, a
// deep link that reopens a layer, the platform picker of a two-platform index, and a page that keeps
// drawing frames while a 12-layer image opens. An OCI image opens on its Image tab, a plain tar layer
// on Files; a layer of 20,020 paths (GNU tar) scrolls virtually to its last row.
import { test, expect, type Page } from '@playwright/test';
import { readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendLayer, makeTar, manifestOf, missingTools, newImage, repack, rewrite, run, sh, writeBlob } from '../test/helpers/oci.ts';
import { tempDir } from '../test/helpers/paths.ts';
import { dropPaths } from './helpers/drop.ts';
import { fmt, screenshotBetweenBeats, startHeartbeat, stopHeartbeat } from './helpers/heartbeat.ts';
import { failOnPageErrors } from './helpers/page-errors.ts';
import { serveStatic, type StaticServer } from './helpers/static-server.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
/** the built page (LAYERSCOPE_DIST: a build of one's own, served by a private preview) */
const DIST = process.env.LAYERSCOPE_DIST ?? join(import.meta.dirname, '..', 'dist');
/** a frame gap this long is a freeze a user notices (the bound e2e/scale.spec.ts uses) */
const FREEZE = 1000;
const skip = missingTools();

failOnPageErrors(test);
test.skip(!!skip, skip ?? '');

let work = '';
let layout = '';
let dockerTar = '';
let multi = '';
let many = '';
let wide = '';
let plainTar = '';
let srv: StaticServer | null = null;

test.beforeAll(() => {
  if (skip) return;
  work = tempDir('ls-e2e-oci-');
  layout = join(work, 'img');
  newImage(layout, 't');
  // layer 0 by umoci itself; then the dive case: /etc/f written (1000 B), overwritten (2500 B), removed
  repack(layout, 't', work, (r) => sh('mkdir -p etc srv; printf "gee\\n" > etc/g; printf "echo hi\\n" > srv/app.sh; chmod 0755 srv/app.sh', r), 'COPY app.sh /srv/');
  appendLayer(layout, 't', makeTar([{ name: 'etc/f', size: 1000 }]), 'gzip', 'RUN write /etc/f');
  appendLayer(layout, 't', makeTar([{ name: 'etc/f', size: 2500 }, { name: 'h', text: 'h' }]), 'gzip', 'RUN overwrite /etc/f; add /h');
  appendLayer(layout, 't', makeTar([{ name: 'etc/.wh.f', size: 0 }]), 'none', 'RUN rm /etc/f');
  rewrite(layout, 't', (_m, c) => {
    c.config = { ...c.config, Entrypoint: ['/srv/app.sh'], Cmd: ['--serve'], Env: ['A=1', 'PATH=/usr/bin:/bin'], WorkingDir: '/srv', User: '1000:1000', Labels: { team: 'layerscope' } };
    c.history.splice(1, 0, { created: '2024-01-01T00:00:00Z', created_by: 'ENV A=1', empty_layer: true });
  });
  dockerTar = join(work, 'img-docker.tar');
  run('skopeo', ['copy', '-q', `oci:${layout}:t`, `docker-archive:${dockerTar}:example/oci:latest`]);

  // two platforms: the arm64 manifest has the first two layers only
  multi = join(work, 'multi');
  run('skopeo', ['copy', '-q', `oci:${layout}:t`, `oci:${multi}:amd`]);
  const { manifest, config, index } = manifestOf(multi, 'amd');
  const armConfig = writeBlob(multi, Buffer.from(JSON.stringify({ ...config, architecture: 'arm64', rootfs: { ...config.rootfs, diff_ids: config.rootfs.diff_ids.slice(0, 2) }, history: config.history.slice(0, 3) })));
  const arm = writeBlob(multi, Buffer.from(JSON.stringify({ ...manifest, config: { ...manifest.config, ...armConfig }, layers: manifest.layers.slice(0, 2) })));
  const ix = writeBlob(multi, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: index.manifests[0].digest, size: index.manifests[0].size, platform: { os: 'linux', architecture: 'amd64' } },
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...arm, platform: { os: 'linux', architecture: 'arm64' } },
  ] })));
  writeFileSync(join(multi, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...ix, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }));

  // 12 layers of 300 files each, for the frame heartbeat
  many = join(work, 'many');
  newImage(many, 'm');
  for (let i = 0; i < 12; i++) appendLayer(many, 'm', makeTar(Array.from({ length: 300 }, (_, j) => ({ name: `d${i % 3}/f${j}`, size: 200 + i * 10 + j }))), i % 2 ? 'zstd' : 'gzip', `RUN layer ${i}`);

  // a layer of 20,020 paths (20 directories of 1,000 empty files, GNU tar): 10 MB of tar headers, 60 KB gzipped
  wide = join(work, 'wide');
  newImage(wide, 'w');
  const files = join(work, 'wide-root');
  sh(`mkdir -p ${files} && cd ${files} && for d in $(seq -w 0 19); do mkdir d$d; (cd d$d && seq -f f%04g 0 999 | xargs touch); done`);
  // (no "./" entry: a layer changing the root's attributes gets a "/" row after its others)
  sh(`cd ${files} && tar --sort=name --owner=0 --group=0 --numeric-owner -cf ${work}/wide.tar d*`);
  appendLayer(wide, 'w', readFileSync(join(work, 'wide.tar')), 'gzip', 'RUN touch 20000 files');

  // a plain layer tar (no image around it): the Files view, as ever
  plainTar = join(work, 'layer.tar');
  writeFileSync(plainTar, makeTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/hosts', text: '127.0.0.1 localhost\n' }]));
});

test.afterAll(() => void (work && rmSync(work, { recursive: true, force: true })));
test.afterEach(async () => {
  await srv?.close();
  srv = null;
});

const node = (page: Page, path: string) => page.locator(`[data-testid=oci-node][data-path="${path}"]`);

async function openImageView(page: Page): Promise<void> {
  await page.getByTestId('tab-image').click();
  // the view comes back on the part it was left on
  await page.getByTestId('oci-part-config').click();
  await expect(page.getByTestId('oci-config')).toBeVisible();
}

/** What every opening of the test image shows, whichever form it came in. */
async function checkImage(page: Page, shots: string): Promise<void> {
  await openImageView(page);
  await expect(page.getByTestId('oci-entrypoint')).toHaveText('["/srv/app.sh"]');
  await expect(page.getByTestId('oci-cmd')).toHaveText('["--serve"]');
  await expect(page.getByTestId('oci-workdir')).toHaveText('/srv');
  await expect(page.getByTestId('oci-user')).toHaveText('1000:1000');
  await expect(page.getByTestId('oci-env')).toContainText('PATH=/usr/bin:/bin');
  await expect(page.getByTestId('oci-labels')).toHaveText('team=layerscope');
  await page.screenshot({ path: join(SHOTS, `oci-${shots}-config.png`) });

  await page.getByTestId('oci-part-history').click();
  const hist = page.getByTestId('oci-history-row');
  await expect(hist).toHaveCount(5);
  await expect(hist.nth(0)).toContainText('COPY app.sh /srv/');
  await expect(hist.nth(1)).toContainText('ENV A=1');
  await expect(hist.nth(1)).toContainText('empty');
  await expect(hist.nth(3)).toContainText('#2');
  await expect(hist.nth(3)).toContainText('RUN overwrite /etc/f; add /h');
  await page.screenshot({ path: join(SHOTS, `oci-${shots}-history.png`) });

  await page.getByTestId('oci-part-layers').click();
  const rows = page.getByTestId('oci-layer-row');
  await expect(rows).toHaveCount(4);
  await expect(rows.nth(1)).toContainText('RUN write /etc/f');
  await expect(rows.nth(2)).toContainText('+1 ~1 −0');
  await expect(rows.nth(3)).toContainText('+0 ~0 −1');

  // layer 2 over the layers below: /etc/f overwritten, /h added, the rest as it was
  await rows.nth(2).click();
  await expect(page.getByTestId('oci-node')).toHaveCount(6);
  await expect(node(page, '/etc/f')).toHaveAttribute('data-change', 'modified');
  await expect(node(page, '/h')).toHaveAttribute('data-change', 'added');
  await expect(node(page, '/etc')).toHaveAttribute('data-change', 'unchanged');
  await expect(node(page, '/srv/app.sh')).toHaveAttribute('data-change', 'unchanged');
  const colour = (path: string) => node(page, path).locator('.name').evaluate((e) => getComputedStyle(e).color);
  const [mod, add, same] = [await colour('/etc/f'), await colour('/h'), await colour('/etc')];
  expect(new Set([mod, add, same]).size, `colours ${mod} ${add} ${same}`).toBe(3);
  await page.screenshot({ path: join(SHOTS, `oci-${shots}-layer2.png`) });
  // changes only: the changed paths and the directories leading to them
  await page.getByTestId('oci-changes-only').check();
  await expect(page.getByTestId('oci-node')).toHaveCount(3);
  await expect(node(page, '/etc')).toBeVisible();
  await expect(node(page, '/srv')).toHaveCount(0);
  // layer 3 removes /etc/f: a removal, in red and struck through
  await rows.nth(3).click();
  await expect(node(page, '/etc/f')).toHaveAttribute('data-change', 'removed');
  expect(await colour('/etc/f')).not.toBe(add);
  await expect(node(page, '/etc/f').locator('.name')).toHaveCSS('text-decoration-line', 'line-through');

  // dive by hand: the leaves are /etc/g 4, /srv/app.sh 8, /h 1 (once each) and /etc/f 1000 + 2500 + 0
  // (a whiteout of a file counts 0); wasted = Σ cumulative of the paths seen twice = 3500; score =
  // Σ minimum / Σ cumulative = (4 + 8 + 1 + 0) / (4 + 8 + 1 + 3500)
  await page.getByTestId('oci-part-efficiency').click();
  await expect(page.getByTestId('oci-wasted')).toHaveAttribute('data-value', '3500');
  expect(Number(await page.getByTestId('oci-score').getAttribute('data-value'))).toBe(13 / 3513);
  await expect(page.getByTestId('oci-score')).toHaveText('0.37 %');
  await expect(page.getByTestId('oci-inefficient-row')).toHaveCount(1);
  await expect(page.getByTestId('oci-inefficient-row')).toContainText('/etc/f');
  await page.screenshot({ path: join(SHOTS, `oci-${shots}-efficiency.png`) });

  // the merged tree in Files: /etc holds g only
  await page.getByTestId('tab-files').click();
  await page.locator('[data-testid=entry][data-name="etc"]').click();
  await expect(page.locator('[data-testid=entry][data-name="g"]')).toBeVisible();
  await expect(page.locator('[data-testid=entry][data-name="f"]')).toHaveCount(0);
}

test('a dropped OCI layout folder: config, history, layers, coloured layer trees, dive efficiency, file list export', async ({ page }) => {
  await page.goto('/');
  await dropPaths(page, [layout]);
  await expect(page.getByTestId('tab-image')).toBeVisible();
  // an image opens on its Image view
  await expect(page.getByTestId('tab-image')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('oci-config')).toBeVisible();
  await page.screenshot({ path: join(SHOTS, 'oci-layout-opened.png') });
  // the title says what was opened: an OCI image, its platform and layers (not the merged tree's size)
  await expect(page.getByTestId('format')).toHaveText('OCI');
  await expect(page.getByTestId('image-title')).toContainText(/linux\/amd64 · 4 layers · /);
  await checkImage(page, 'layout');

  await openImageView(page);
  await page.getByTestId('oci-part-layers').click();
  await expect(page.getByTestId('oci-layer-row').nth(1)).toContainText('application/vnd.oci.image.layer.v1.tar+gzip');
  await expect(page.getByTestId('oci-layer-row').nth(3)).toContainText('application/vnd.oci.image.layer.v1.tar');
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('oci-export-csv').click()]);
  const text = readFileSync(await csv.path(), 'utf8');
  expect(text.split('\r\n')[0]).toBe('path,type,size,mode,uid,gid,mtime,layer');
  expect(text).toContain('/etc/g,reg,4,');
  expect(text).toContain('/h,reg,1,0644,0,0,1700000000,2');
  expect(text).not.toContain('/etc/f,');
  const [json] = await Promise.all([page.waitForEvent('download'), page.getByTestId('oci-export-json').click()]);
  const rows = JSON.parse(readFileSync(await json.path(), 'utf8')) as { path: string; size: number; layer: number | null }[];
  expect(rows.find((r) => r.path === '/srv/app.sh')).toMatchObject({ size: 8, layer: 0 });
  expect(rows.map((r) => r.path).sort()).toEqual(['/etc', '/etc/g', '/h', '/srv', '/srv/app.sh']);
});

test('a picked docker save tar (skopeo docker-archive) shows the same image', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(dockerTar);
  await expect(page.getByTestId('tab-image')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('oci-config')).toBeVisible();
  await checkImage(page, 'docker');
  await openImageView(page);
  // skopeo wrote the layers uncompressed, as docker save does (the layout's are gzip)
  await page.getByTestId('oci-part-layers').click();
  await expect(page.getByTestId('oci-layer-row').nth(1)).not.toContainText('tar+gzip');
});

test('a deep link reopens the Image view on a layer (the archive served over HTTP)', async ({ page }) => {
  // the built page and the archive from one origin: the page's files linked into a folder with the tar
  const site = join(work, 'site');
  sh(`mkdir -p ${site}`);
  for (const f of readdirSync(DIST)) symlinkSync(join(DIST, f), join(site, f));
  symlinkSync(dockerTar, join(site, 'img-docker.tar'));
  srv = await serveStatic(site, '/');
  await page.goto(`${srv.url}#url=${srv.url}img-docker.tar&view=image&part=layers&layer=3`);
  await expect(page.getByTestId('oci-layer-row').nth(3)).toHaveClass(/sel/);
  await expect(node(page, '/etc/f')).toHaveAttribute('data-change', 'removed');
  // picking another layer moves the link with it, and a reload comes back there
  await page.getByTestId('oci-layer-row').nth(2).click();
  await expect(page).toHaveURL(/view=image&part=layers&layer=2/);
  await page.reload();
  await expect(node(page, '/h')).toHaveAttribute('data-change', 'added');
  // the same view from a terminal
  await expect(page.getByTestId('cli-line')).toHaveText('layerscope oci ls img-docker.tar --layer 2');
  await page.getByTestId('oci-part-efficiency').click();
  await expect(page).toHaveURL(/view=image&part=efficiency/);
  await expect(page).not.toHaveURL(/layer=/);
  // the platform of a two-platform index is in the link too
  sh(`tar -C ${multi} -cf ${site}/multi.tar .`);
  await page.goto(`${srv.url}#url=${srv.url}multi.tar&platform=linux/arm64&view=image&part=layers`);
  await page.reload();
  await expect(page.getByTestId('oci-layer-row')).toHaveCount(2);
  await page.getByTestId('oci-platform').selectOption('linux/amd64');
  await expect(page.getByTestId('oci-layer-row')).toHaveCount(4);
  await expect(page).toHaveURL(/platform=linux%2Famd64|platform=linux\/amd64/);
});

test('a two-platform index: amd64 first, the platform picker reopens the arm64 image', async ({ page }) => {
  await page.goto('/');
  await dropPaths(page, [multi]);
  await openImageView(page);
  await expect(page.getByTestId('oci-platform-text')).toHaveText('linux/amd64');
  await page.getByTestId('oci-platform').selectOption('linux/arm64');
  await expect(page.getByTestId('oci-platform-text')).toHaveText('linux/arm64');
  await page.getByTestId('oci-part-layers').click();
  await expect(page.getByTestId('oci-layer-row')).toHaveCount(2);
});

test('a 12-layer image opens without freezing the page', async ({ page }) => {
  await page.goto('/');
  await startHeartbeat(page);
  await dropPaths(page, [many]);
  await openImageView(page);
  await page.getByTestId('oci-part-layers').click();
  await expect(page.getByTestId('oci-layer-row')).toHaveCount(12);
  await page.getByTestId('oci-layer-row').nth(11).click();
  await expect(page.getByTestId('oci-node').first()).toBeVisible();
  const b = await stopHeartbeat(page);
  console.log(`12 layers × 300 files: ${fmt(b)}`);
  expect(b.max, fmt(b)).toBeLessThan(FREEZE);
  await page.screenshot({ path: join(SHOTS, 'oci-many-layer11.png') });
});

test('a plain layer tar opens on Files (no Image tab); an oci-archive tar opens on Image', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(plainTar);
  await expect(page.getByTestId('tab-files')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.locator('[data-testid=entry][data-name="etc"]')).toBeVisible();
  await expect(page.getByTestId('tab-image')).toHaveCount(0);
  const archive = join(work, 'img-oci-archive.tar');
  run('skopeo', ['copy', '-q', `oci:${layout}:t`, `oci-archive:${archive}:t`]);
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(archive);
  await expect(page.getByTestId('tab-image')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('oci-entrypoint')).toHaveText('["/srv/app.sh"]');
});

test('a layer of 20,020 paths: the tree scrolls virtually to its last row, a window of rows in the DOM, no freeze', async ({ page }) => {
  await page.goto('/');
  await startHeartbeat(page);
  await dropPaths(page, [wide]);
  await expect(page.getByTestId('tab-image')).toHaveAttribute('aria-pressed', 'true');
  await page.getByTestId('oci-part-layers').click();
  await page.getByTestId('oci-layer-row').nth(0).click();
  const tree = page.getByTestId('oci-layer-tree');
  // the root's 20 directories and their 20,000 files
  await expect(tree).toHaveAttribute('data-rows', '20020');
  await expect(node(page, '/d00/f0000')).toBeVisible();
  await expect(page.getByTestId('oci-tree-where')).toHaveText('in / · row 1 of 20,020');
  const drawn = () => page.getByTestId('oci-node').count();
  const atTop = await drawn();
  expect(atTop).toBeGreaterThan(10);
  expect(atTop).toBeLessThan(100);
  await screenshotBetweenBeats(page, join(SHOTS, 'oci-wide-top.png'));
  // scrolled through in steps, as a wheel would, then to the end
  for (let i = 1; i <= 10; i++) await tree.evaluate((el, f) => void (el.scrollTop = el.scrollHeight * f), i / 10);
  await tree.evaluate((el) => void (el.scrollTop = el.scrollHeight));
  // (the page scrolls too, to the tree's end)
  await tree.evaluate((el) => el.scrollIntoView({ block: 'end' }));
  await expect(node(page, '/d19/f0999')).toBeVisible();
  await expect(node(page, '/d19/f0999')).toBeInViewport();
  // deep in the tree, the directory the rows are in is named above them
  await expect(page.getByTestId('oci-tree-where')).toContainText('in /d19 · row 19,');
  expect(await drawn()).toBeLessThan(100);
  // the last row is the tree's last: nothing is drawn after it
  expect(await page.getByTestId('oci-node').last().getAttribute('data-path')).toBe('/d19/f0999');
  await screenshotBetweenBeats(page, join(SHOTS, 'oci-wide-end.png'));
  // back to the middle: the rows there are drawn again
  await tree.evaluate((el) => void (el.scrollTop = el.scrollHeight / 2));
  await expect(node(page, '/d09/f0999').or(node(page, '/d10/f0000'))).not.toHaveCount(0);
  const b = await stopHeartbeat(page);
  console.log(`a layer of 20,020 paths, opened and scrolled: ${fmt(b)}`);
  expect(b.max, fmt(b)).toBeLessThan(FREEZE);
});
