/**
 * Diagnostics for the build benchmark (bench/build-browser.ts): a nested worker the builder starts
 * to read a share of the dropped files through Blob.stream() (src/lib/app/read-probe.ts), so reads
 * from several workers at once can be timed against one. Posts 'ready' once loaded, then
 * { bytes, ms } for the Blobs it is sent.
 */
import { streamBytes } from '../src/lib/app/read-probe.ts';

postMessage('ready');
addEventListener('message', async (e: MessageEvent<Blob[]>) => {
  const t0 = performance.now();
  let bytes = 0;
  for (const b of e.data) bytes += await streamBytes(b);
  postMessage({ bytes, ms: performance.now() - t0 });
});
