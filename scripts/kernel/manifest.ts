// Boot the kernel oracle on one image by hand and print what differs from our reader:
//   node --import tsx scripts/kernel/manifest.ts IMAGE [DEVICE...] [--json] [--raw]
// --json prints the kernel's manifest instead; --raw compares with our plain EROFS reader (the view
// the kernel has of a composefs image) instead of the format's own reader. See test/helpers/kernel.ts.
import '../../src/lib/formats.ts';
import { openFile, openImageFile } from '../../src/cli/open.ts';
import { openErofs } from '../../src/lib/erofs/reader.ts';
import { compareManifests, kernelResults, readerManifest } from '../../test/helpers/kernel.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const raw = args.includes('--raw');
const [image, ...devices] = args.filter((a) => a !== '--json' && a !== '--raw');
if (!image) {
  console.error('usage: node --import tsx scripts/kernel/manifest.ts IMAGE [DEVICE...] [--json] [--raw]');
  process.exit(2);
}
const t0 = Date.now();
const [k] = await kernelResults([{ image, devices }]);
console.error(`kernel run: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
if ('mountError' in k!) {
  console.error(`the kernel refused the image: ${k.mountError}`);
  process.exit(1);
}
if (json) {
  console.log(JSON.stringify(k, null, 1));
  process.exit(0);
}
const fs = raw
  ? await openErofs(await openFile(image), { devices: await Promise.all(devices.map(openFile)) })
  : await openImageFile(image, { device: devices });
const notes: string[] = [];
const diffs = compareManifests(k, await readerManifest(fs), { notes });
for (const n of notes) console.log(`note: ${n}`);
for (const d of diffs) console.log(d);
console.log(`${k.entries.length} entries, ${diffs.length} differences (${fs.format} reader, kernel ${k.kernelVersion})`);
process.exit(diffs.length ? 1 : 0);
