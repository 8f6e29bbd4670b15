// npm run bench: every benchmark runs Layerscope and the reference on the same input in the same run
// and prints the ratio. Pass names to run a subset: npm run bench -- extract codecs
import { runBuildBrowserBench } from './build-browser.ts';
import { runCodecBench } from './codecs.ts';
import { runErofsBuildBench } from './erofs-build.ts';
import { runErofsExtractBench } from './erofs-extract.ts';
import { runErofsExtractKernelBench } from './erofs-extract-kernel.ts';
import { runRafsVerifyBench } from './rafs-verify.ts';
import { runLz4Bench } from './lz4.ts';
import { runPageOpenBench } from './page-open.ts';
import { runPageScaleBench } from './page-scale.ts';
import { runRafsBuildBench, runRafsBuildBrowserBench } from './rafs-build.ts';
import { runOciConvertBench } from './oci-convert.ts';

type Bench = () => Promise<object[]>;
const benches: Record<string, Bench> = {
  extract: () => runErofsExtractBench(),
  'extract-kernel': () => runErofsExtractKernelBench(),
  build: () => runErofsBuildBench(),
  'rafs-verify': () => runRafsVerifyBench(),
  codecs: () => runCodecBench(),
  'rafs-build': () => runRafsBuildBench(),
  // the same RAFS v6 cases built by the page's builder worker in Chromium, beside Node on that tree
  'rafs-build-browser': () => runRafsBuildBrowserBench(),
  page: async () => [...(await runPageOpenBench()), ...(await runPageScaleBench())],
  'build-browser': () => runBuildBrowserBench(),
  lz4: async () => { const r = await runLz4Bench(); return [...r.blocks, ...r.destSize]; },
  'oci-convert': () => runOciConvertBench(),
};

const want = process.argv.slice(2);
for (const [name, fn] of Object.entries(benches)) {
  if (want.length && !want.includes(name)) continue;
  console.log(`\n== ${name}`);
  const rows = await fn();
  console.table(rows);
}
