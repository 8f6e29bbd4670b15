// The Linux kernel as an oracle for our writers: images made by `layerscope build` from the test
// tree are mounted by a real kernel (one boot for all). EROFS images must show exactly the source
// tree (lsx run on the host gives its manifest); composefs images mount as plain EROFS and must show
// what our EROFS reader shows of them (their files are stubs whose content lives in the objects).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { openErofs } from '../src/lib/erofs/reader.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { compareManifests, hostManifest, kernelResults, kernelUnavailableReason, readerManifest, sourceCompare, type KernelResult } from './helpers/kernel.ts';
import { makeTestTree } from './helpers/mktree.ts';
import { REPO, tempDir } from './helpers/paths.ts';

const why = kernelUnavailableReason();
const work = tempDir('ls-kernel-writers-');
const src = why ? '' : makeTestTree({ dir: join(work, 'src') });

const VARIANTS: { name: string; args: string[]; composefs?: boolean }[] = [
  { name: 'erofs', args: ['--format', 'erofs'] },
  { name: 'erofs-chunk4k', args: ['--format', 'erofs', '--chunksize', '4096'] },
  { name: 'erofs-noinline', args: ['--format', 'erofs', '--no-inline'] },
  // compressed layouts a 6.1 kernel (the oracle's) reads: LZ4 only (zstd needs 6.10, DEFLATE 6.6), 4 KiB blocks
  // (sub-page blocks need 6.4, compressed 6.8); ztailpacking 5.17, fragments and dedupe 6.1
  { name: 'erofs-lz4hc', args: ['--format', 'erofs', '-z', 'lz4hc'] },
  { name: 'erofs-lz4hc-ztail', args: ['--format', 'erofs', '-z', 'lz4hc', '-E', 'ztailpacking'] },
  { name: 'erofs-lz4hc-C64k-fragments-dedupe', args: ['--format', 'erofs', '-z', 'lz4hc', '-C', '65536', '-E', 'fragments,dedupe'] },
  { name: 'erofs-lz4-fragments', args: ['--format', 'erofs', '-z', 'lz4', '-E', 'fragments'] },
  { name: 'erofs-lz4-ztail-dedupe-full', args: ['--format', 'erofs', '-z', 'lz4', '-E', 'ztailpacking,dedupe,legacy-compress'] },
  { name: 'composefs', args: ['--format', 'composefs'], composefs: true },
];

function build(v: (typeof VARIANTS)[number]): string {
  const out = join(work, `${v.name}.img`);
  execFileSync(process.execPath, [join(REPO, 'bin/layerscope.mjs'), 'build', ...v.args, src, out], { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

let booted: Promise<{ images: string[]; res: KernelResult[] }> | undefined;
const boot = () =>
  (booted ??= (async () => {
    const images = VARIANTS.map(build);
    return { images, res: await kernelResults(images.map((image) => ({ image }))) };
  })());

for (const [i, v] of VARIANTS.entries()) {
  test(`the kernel mounts our ${v.name} image and sees ${v.composefs ? 'what our reader sees' : 'the source tree'}`, { timeout: 30 * 60_000 }, async (t) => {
    if (why) return t.skip(`kernel oracle unavailable: ${why}`);
    const { images, res } = await boot();
    const k = res[i]!;
    assert.ok(!('mountError' in k), `the kernel refused our ${v.name} image: ${'mountError' in k ? k.mountError : ''}`);
    assert.ok(k.entries.length > 390, `the kernel listed ${k.entries.length} entries`);
    const fs = await openErofs(await NodeFileSource.open(images[i]!), v.composefs ? { format: 'composefs' } : {});
    try {
      const diffs = compareManifests(k, await readerManifest(fs));
      assert.deepEqual(diffs, [], `${v.name}: kernel and our reader differ`);
    } finally {
      await fs.close();
    }
    if (v.composefs) return;
    const s = hostManifest(src);
    if (!s) return t.skip('no lsx helper on this host (gcc, libc6-dev)');
    const diffs = compareManifests(k, s, sourceCompare);
    assert.deepEqual(diffs, [], `${v.name}: the kernel's view differs from the source tree`);
  });
}
