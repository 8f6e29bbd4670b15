// The Linux kernel as an oracle on images other tools wrote: the composefs golden images (mounted
// as plain EROFS, compared with our EROFS reader's raw view) and the Nydus RAFS v6 bootstraps with
// their uncompressed blobs as extra devices (`-o device=`, compared with our RAFS v6 reader).
// One boot for all of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openImageFile } from '../src/cli/open.ts';
import { openErofs } from '../src/lib/erofs/reader.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import type { ReadOnlyFs } from '../src/lib/fs/types.ts';
import { compareManifests, kernelResults, kernelUnavailableReason, readerManifest, type KernelJob, type KernelResult } from './helpers/kernel.ts';
import { FIXTURES } from './helpers/paths.ts';
import { NYDUS, nydusFixture, RAFS } from './helpers/nydus.ts';

const why = kernelUnavailableReason();
const G = join(FIXTURES, 'composefs/golden');
// composefs images hold petabyte-sized sparse files: hash only their first MiB
const maxHashBytes = 1 << 20;

interface Case extends KernelJob {
  name: string;
  /** our view to compare with the kernel's */
  open(): Promise<ReadOnlyFs>;
  /** RAFS v6: the kernel counts the extra devices' blocks in statfs, our reader does not (yet) */
  statfs: boolean;
}

const cases: Case[] = [];
if (existsSync(G)) {
  // config.cfs is config-with-hard-link.cfs less one link: 9000 more entries to walk under TCG for nothing
  for (const n of readdirSync(G).filter((f) => f.endsWith('.cfs') && f !== 'config.cfs').sort()) {
    const image = join(G, n);
    cases.push({ name: `composefs ${n}`, image, statfs: true, open: async () => openErofs(await NodeFileSource.open(image), { format: 'composefs' }) });
  }
}
const rafs: [string, string, string][] = [
  ['rafs-v6-2.2.boot', RAFS.V6, RAFS.V6_DEV],
  ['rafs-v6 ToC bootstrap', RAFS.TOC_BOOT, RAFS.TOC_DEV],
];
for (const [name, boot, dev] of rafs) {
  const image = nydusFixture(boot);
  const device = nydusFixture(dev);
  if (existsSync(image) && existsSync(device)) cases.push({ name, image, devices: [device], statfs: false, open: () => openImageFile(image, { device: [device] }) });
}

let booted: Promise<KernelResult[]> | undefined;
const boot = () => (booted ??= kernelResults(cases, { maxHashBytes }));

test('fixtures are present', { skip: !!why && `kernel oracle unavailable: ${why}` }, () => {
  assert.ok(cases.filter((c) => c.name.startsWith('composefs')).length >= 10, `composefs golden images in ${G}`);
  assert.equal(cases.filter((c) => c.name.startsWith('rafs')).length, 2, `RAFS v6 bootstraps and blobs in ${NYDUS}`);
});

for (const c of cases) {
  test(`kernel and reader see the same tree: ${c.name}`, { timeout: 30 * 60_000 }, async (t) => {
    if (why) return t.skip(`kernel oracle unavailable: ${why}`);
    const k = (await boot())[cases.indexOf(c)]!;
    assert.ok(!('mountError' in k), `the kernel refused ${c.name}: ${'mountError' in k ? k.mountError : ''}`);
    const fs = await c.open();
    try {
      const notes: string[] = [];
      const diffs = compareManifests(k, await readerManifest(fs, { maxHashBytes }), { statfs: c.statfs, notes });
      assert.ok(k.entries.length > 2, 'the kernel listed the tree');
      assert.deepEqual(diffs, [], `${c.name}: ${diffs.length} differences between the kernel and our reader`);
      if (notes.length) t.diagnostic(`accepted kernel VFS behaviour: ${notes.slice(0, 5).join('; ')}${notes.length > 5 ? ` (+${notes.length - 5})` : ''}`);
    } finally {
      await fs.close?.();
    }
  });
}

// Found with this oracle: erofs_statfs reports f_blocks = primary blocks + every extra device's
// blocks (sbi->total_blocks); our statfs() reports only the superblock's blocks.
for (const c of cases.filter((x) => !x.statfs)) {
  test(`statfs counts the extra devices' blocks like the kernel: ${c.name}`, async (t) => {
    if (why) return t.skip(`kernel oracle unavailable: ${why}`);
    const k = (await boot())[cases.indexOf(c)]!;
    assert.ok(!('mountError' in k));
    const fs = await c.open();
    try {
      const r = await readerManifest(fs, { maxHashBytes });
      assert.deepEqual(r.statfs, k.statfs);
    } finally {
      await fs.close?.();
    }
  });
}
