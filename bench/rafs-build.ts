/**
 * RAFS build throughput in Node: a RAFS v6 and v5 image of the same tree per compressor (none,
 * lz4_block, zstd (v6 only, level 3 as nydus-image), gzip) and digester, bootstrap and blob to a
 * counting sink (no disk writes), MB/s of
 * file content. Input: the first ~64 MiB of regular files of /usr/bin (real binaries), read through
 * treeFromDirectory. Run alone: `node --import tsx bench/rafs-build.ts`; `npm run bench` may call
 * runRafsBuildBench(). No reference tool: nydus-image is not installed here.
 */
import { treeFromDirectory } from '../src/lib/fs/sources/node.ts';
import type { SourceInode, SourceTree } from '../src/lib/fs/tree.ts';
import { buildRafs } from '../src/lib/rafs/builder/build.ts';
import type { RafsBuildOptions } from '../src/lib/rafs/builder/types.ts';

export interface RafsBenchRow {
  format: string;
  compressor: string;
  digester: string;
  contentMB: number;
  seconds: number;
  MBps: number;
  blobMB: number;
  bootstrapKB: number;
}

/** Keep regular files (and their directories) until `budget` bytes of content. */
function trim(tree: SourceTree, budget: number): SourceTree {
  let left = budget;
  const walk = (d: SourceInode): SourceInode => {
    const kids = [];
    for (const c of d.children ?? []) {
      if (c.inode.type === 'dir') kids.push({ ...c, inode: walk(c.inode) });
      else if (c.inode.type !== 'reg') kids.push(c);
      else if (c.inode.size <= left) {
        left -= c.inode.size;
        kids.push(c);
      }
    }
    return { ...d, children: kids };
  };
  return { root: walk(tree.root), notes: tree.notes };
}

function contentBytes(t: SourceTree): number {
  const seen = new Set<SourceInode>();
  let n = 0;
  const walk = (d: SourceInode) => {
    for (const c of d.children ?? []) {
      if (c.inode.type === 'dir') walk(c.inode);
      else if (c.inode.type === 'reg' && !seen.has(c.inode)) {
        seen.add(c.inode);
        n += c.inode.size;
      }
    }
  };
  walk(t.root);
  return n;
}

export async function runRafsBuildBench(opts: { dir?: string; bytes?: number } = {}): Promise<RafsBenchRow[]> {
  const tree = trim(await treeFromDirectory(opts.dir ?? '/usr/bin', { xattrs: false }), opts.bytes ?? 64 << 20);
  const total = contentBytes(tree);
  const rows: RafsBenchRow[] = [];
  const cases: RafsBuildOptions[] = [];
  for (const version of [6, 5] as const) {
    for (const compressor of ['none', 'lz4_block', 'zstd', 'gzip'] as const) {
      // zstd on v6 only (the row: RAFS v6 at zstd level 3), so the bench stays short
      if (version === 6 || compressor !== 'zstd') cases.push({ version, compressor, digester: 'blake3' });
    }
  }
  cases.push({ version: 6, compressor: 'lz4_block', digester: 'sha256' });
  // warm the page cache and the JIT
  await buildRafs(tree, { compressor: 'lz4_block' }, { bootstrap: { write() {} }, blob: { write() {} } });
  for (const c of cases) {
    let blob = 0;
    const t0 = performance.now();
    const r = await buildRafs(tree, c, { bootstrap: { write() {} }, blob: { write(b) { blob += b.length; } } });
    const s = (performance.now() - t0) / 1000;
    rows.push({
      format: `rafs-v${c.version}`, compressor: c.compressor!, digester: c.digester!, contentMB: +(total / 1e6).toFixed(1), seconds: +s.toFixed(2),
      MBps: +(total / 1e6 / s).toFixed(1), blobMB: +(blob / 1e6).toFixed(1), bootstrapKB: +(r.bootstrapSize / 1024).toFixed(0),
    });
  }
  console.log(`RAFS build, Node ${process.version}, ${(total / 1e6).toFixed(1)} MB of /usr/bin content, 1 MiB chunks, sinks discard`);
  console.table(rows);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await runRafsBuildBench();
