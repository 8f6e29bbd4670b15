// The page on a big image: from dropping the cs9 developer composefs image (built here from its dump,
// 100k+ inodes) to its root listing on screen, and to a finished name search over every entry.
// Reference: dump.erofs (erofs-utils reads composefs images) listing the root, in the same run.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BENCH_OUT, CLI, median, sh, serveStatic } from './util.ts';

const ASSETS = [resolve(import.meta.dirname, '../../shared/fixtures/composefs/assets'), '/work/shared/fixtures/composefs/assets'].find((p) => existsSync(p))!;
/** what mkcomposefs makes of the dump: the fixture's own .sha256 */
const EXPECTED_SHA = readFileSync(join(ASSETS, 'cs9-x86_64-developer.dump.gz.sha256'), 'utf8').trim().split(/\s+/)[0]!;

export interface PageRow { name: string; ms: number; referenceMs: number | null; ratio: number | null; note: string }

export async function runPageOpenBench(runs = 3): Promise<PageRow[]> {
  const dump = join(BENCH_OUT, 'cs9-developer.dump');
  const img = join(BENCH_OUT, 'cs9-developer.cfs');
  if (!existsSync(img)) {
    writeFileSync(dump, gunzipSync(readFileSync(join(ASSETS, 'cs9-x86_64-developer.dump.gz'))));
    const b = sh(process.execPath, [CLI, 'build', '--format', 'composefs', dump, img]);
    if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  }
  const sha = createHash('sha256').update(readFileSync(img)).digest('hex');
  if (sha !== EXPECTED_SHA) throw new Error(`cs9 image sha256 ${sha}, mkcomposefs makes ${EXPECTED_SHA}`);
  const dist = join(BENCH_OUT, 'page-dist');
  execFileSync('npx', ['vite', 'build', '--outDir', dist, '--emptyOutDir', '--logLevel', 'warn'], { cwd: resolve(import.meta.dirname, '..'), stdio: 'inherit' });
  const server = await serveStatic(dist);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  const listing: number[] = [], search: number[] = [];
  let scanned = '';
  try {
    for (let i = 0; i < runs; i++) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(server.url);
      await page.getByTestId('welcome').waitFor();
      const cdp = await page.context().newCDPSession(page);
      const data = { items: [], files: [img], dragOperationsMask: 1 };
      const t0 = performance.now();
      for (const type of ['dragEnter', 'dragOver', 'drop'] as const) await cdp.send('Input.dispatchDragEvent', { type, x: 640, y: 400, data });
      await page.getByTestId('entry').first().waitFor({ timeout: 120_000 });
      listing.push(performance.now() - t0);
      const box = page.getByTestId('search');
      const t1 = performance.now();
      await box.fill('python3');
      // finished: "N matches in M entries" (while running: "searching… M entries")
      await page.waitForFunction(() => / in [\d,]+ entries$/.test(document.querySelector('[data-testid=search-state]')?.textContent ?? ''), undefined, { timeout: 300_000, polling: 20 });
      search.push(performance.now() - t1);
      scanned = (await page.getByTestId('search-state').textContent()) ?? '';
      await page.close();
    }
  } finally {
    await browser.close();
    await server.close();
  }
  const ref: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = sh('dump.erofs', ['--path=/', '--ls', img]);
    if (r.status !== 0) throw new Error(`dump.erofs failed: ${r.stderr}`);
    ref.push(r.ms);
  }
  const cliSearch: number[] = [];
  for (let i = 0; i < runs; i++) cliSearch.push(sh('sh', ['-c', `node ${CLI} dump ${img} | grep -c python3`]).ms);
  const l = median(listing), r = median(ref), s = median(search), c = median(cliSearch);
  return [
    { name: 'page: drop cs9 developer composefs → root listing on screen', ms: l, referenceMs: r, ratio: r / l, note: 'reference: dump.erofs --path=/ --ls (a process start, no page); ratio = reference / ours' },
    { name: `page: name search "python3" over every entry (${scanned})`, ms: s, referenceMs: c, ratio: c / s, note: 'reference: layerscope dump | grep (CLI walk of the same image)' },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) console.table(await runPageOpenBench());
