// layerscope extract of large compressed EROFS images (DEFLATE, zstd, LZ4HC; 20k files, 520 MB)
// against copying the same tree out of this machine's kernel mount of the image (`cp -a`), same run,
// into tmpfs (/dev/shm) and into a directory on disk (/var/tmp). Goal (issue 14): no slower than the
// kernel copy. The kernel needs root and CONFIG_EROFS_FS_ZIP_{DEFLATE,ZSTD}; a row says why it is
// missing where it cannot mount. LZMA is not here: nothing on this machine writes a large LZMA image
// (Debian's mkfs.erofs 1.5 has no -zlzma and Layerscope has no LZMA encoder).
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_OUT, CLI, makeBigTree, median, sh } from './util.ts';

export interface KernelCopyRow { name: string; layerscopeMs: number | null; kernelCpMs: number | null; ratio: number | null; note: string }

const DESTS = [['tmpfs', '/dev/shm'], ['disk', '/var/tmp']] as const;

function image(tree: string, label: string, make: () => { status: number; stderr: string }): string {
  const img = join(BENCH_OUT, `big-${label}.erofs`);
  if (!existsSync(img)) {
    const r = make();
    if (r.status !== 0) throw new Error(`building ${img} failed: ${r.stderr}`);
  }
  return img;
}

export async function runErofsExtractKernelBench(runs = 2): Promise<KernelCopyRow[]> {
  const tree = makeBigTree(join(BENCH_OUT, 'tree-20k'), 20_000, 520 << 20);
  const fixed = ['-T', '0', '--uuid', '11111111-2222-3333-4444-555555555555'];
  const images: [string, string][] = [
    ['deflate', image(tree, 'deflate', () => sh(process.execPath, [CLI, 'build', '--format', 'erofs', '-z', 'deflate', ...fixed, tree, join(BENCH_OUT, 'big-deflate.erofs')]))],
    ['zstd', image(tree, 'zstd', () => sh(process.execPath, [CLI, 'build', '--format', 'erofs', '-z', 'zstd', '-C', '65536', ...fixed, tree, join(BENCH_OUT, 'big-zstd.erofs')]))],
    ['lz4hc (mkfs.erofs)', image(tree, 'lz4hc', () => sh('mkfs.erofs', ['-T0', '-U', '11111111-2222-3333-4444-555555555555', '-zlz4hc', join(BENCH_OUT, 'big-lz4hc.erofs'), tree]))],
  ];
  const rows: KernelCopyRow[] = [];
  const mnt = join(BENCH_OUT, 'kernel-mnt');
  mkdirSync(mnt, { recursive: true });
  for (const [label, img] of images) {
    const size = `${(statSync(img).size / 1e6).toFixed(0)} MB image`;
    const m = sh('mount', ['-t', 'erofs', '-o', 'ro', img, mnt]);
    if (m.status !== 0) {
      rows.push({ name: `extract ${label}`, layerscopeMs: null, kernelCpMs: null, ratio: null, note: `skipped: the kernel did not mount it: ${m.stderr.trim()}` });
      continue;
    }
    try {
      for (const [where, base] of DESTS) {
        const ours: number[] = [], cp: number[] = [];
        const a = join(base, 'ls-bench-kx-ours'), b = join(base, 'ls-bench-kx-cp');
        for (let i = 0; i < runs; i++) {
          rmSync(a, { recursive: true, force: true });
          const r1 = sh(process.execPath, [CLI, 'extract', '--no-xattrs', img, a]);
          if (r1.status !== 0) throw new Error(`layerscope extract failed: ${r1.stderr}${r1.stdout}`);
          ours.push(r1.ms);
          rmSync(b, { recursive: true, force: true });
          // drop the page cache's copy of the decompressed files, so the kernel decompresses each run
          sh('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
          const r2 = sh('cp', ['-a', `${mnt}/.`, b]);
          if (r2.status !== 0) throw new Error(`cp -a failed: ${r2.stderr}`);
          cp.push(r2.ms);
        }
        // the same tree, or the times mean nothing
        const same = sh('diff', ['-r', '-q', '--no-dereference', a, b]);
        if (same.status !== 0) throw new Error(`layerscope extract and the kernel copy differ (${label}):\n${same.stdout.slice(0, 2000)}`);
        rmSync(a, { recursive: true, force: true });
        rmSync(b, { recursive: true, force: true });
        const l = median(ours), k = median(cp);
        rows.push({ name: `extract ${label} → ${where} (${size}, 20k files)`, layerscopeMs: l, kernelCpMs: k, ratio: k / l, note: 'ratio = kernel cp -a time / layerscope time (>1: we are faster); page cache dropped before each cp' });
      }
    } finally {
      sh('umount', [mnt]);
    }
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await runErofsExtractKernelBench());
}
