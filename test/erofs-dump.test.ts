// dump.erofs 1.5 as an oracle: superblock summary (-s), per-path inode facts (--path) and the data
// map (--path -e: flat blocks + inline tail, chunks, compressed extents with their pclusters).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { openErofs, type ErofsFs } from '../src/lib/erofs/reader.ts';
import { resolvePath } from '../src/lib/fs/path.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { buildErofsImages } from './helpers/mktree.ts';
import { tempDir } from './helpers/paths.ts';

const VARIANTS = ['default', 'compact', 'extended', 'noinline', 'chunk4k', 'chunk4k-idx', 'chunk64k', 'lz4', 'lz4hc', 'lz4hc12-bigpcl', 'lz4hc-ztail', 'lz4-legacy'];
const images = buildErofsImages(tempDir('ls-erofs-dump-'), { only: VARIANTS });
const PATHS = ['/', '/t0', '/t1', '/t4095', '/t4096', '/t4097', '/t100000', '/t1048577', '/r4095', '/r4097', '/r1048577', '/mixed', '/zeros',
  '/many', '/d1', '/d1/d2', '/d1/d2/d3/deep.txt', '/link-short', '/link-long', '/hard-a', '/many/hard-a-2', '/fifo', '/sock', '/chr', '/blk'];

function dump(args: string[]): string {
  return execFileSync('dump.erofs', args, { encoding: 'utf8' });
}
function field(text: string, re: RegExp): string {
  const m = re.exec(text);
  if (!m) throw new Error(`no ${re} in:\n${text}`);
  return m[1]!;
}

interface Ext { lstart: number; lend: number; pstart: number; plen: number }

function dumpExtents(image: string, path: string): Ext[] {
  const out: Ext[] = [];
  for (const line of dump([`--path=${path}`, '-e', image]).split('\n')) {
    const m = /^\s*\d+:\s+(\d+)\.\.\s*(\d+)\s*\|\s*\d+\s*:\s+(\d+)\.\.\s*\d+\s*\|\s*(\d+)/.exec(line);
    if (m) out.push({ lstart: +m[1]!, lend: +m[2]!, pstart: +m[3]!, plen: +m[4]! });
  }
  return out;
}

/** our data map in dump.erofs -e terms */
async function ourExtents(fs: ErofsFs, ino: number): Promise<Ext[]> {
  const d = (await fs.inodeDetails(ino)) as { size: number; data: Record<string, unknown> & { kind: string } };
  const data = d.data;
  if (data.kind === 'flat') {
    const blocks = data.blocks as { logical: number; length: number; offset: number }[];
    const inline = data.inline as { logical: number; length: number; offset: number } | null;
    const all = [...blocks, ...(inline ? [inline] : [])];
    return all.map((b) => ({ lstart: b.logical, lend: b.logical + b.length, pstart: b.offset, plen: b.length }));
  }
  if (data.kind === 'chunks') {
    return (data.chunks as { logical: number; length: number; blkaddr: number }[]).map((c) => ({ lstart: c.logical, lend: c.logical + c.length, pstart: c.blkaddr * fs.blockSize, plen: c.length }));
  }
  if (data.kind === 'compressed') {
    return (data.extents as { logical: number; length: number; pclusterOffset: number; compressedSize: number }[]).map((e) => ({ lstart: e.logical, lend: e.logical + e.length, pstart: e.pclusterOffset, plen: e.compressedSize }));
  }
  return [];
}

for (const img of images) {
  test(`dump.erofs agrees with info/inodeDetails: ${img.name}`, async () => {
    const fs = await openErofs(await NodeFileSource.open(img.image));
    try {
      const s = dump(['-s', img.image]);
      const info = await fs.info();
      assert.equal(info.blocks, +field(s, /Filesystem blocks:\s+(\d+)/));
      assert.equal(info.rootNid, +field(s, /Filesystem root nid:\s+(\d+)/));
      assert.equal(fs.rootIno, info.rootNid);
      assert.equal(info.inodes, +field(s, /Filesystem inode count:\s+(\d+)/));
      assert.equal(info.metaBlkaddr, +field(s, /inode metadata start block:\s+(\d+)/));
      assert.equal(info.xattrBlkaddr, +field(s, /shared xattr metadata start block:\s+(\d+)/));
      assert.equal(info.uuid, field(s, /Filesystem UUID:\s+(\S+)/));
      for (const f of field(s, /Filesystem features:\s+(.*)/).trim().split(/\s+/)) assert.ok((info.features as string[]).includes(f), `feature ${f}`);

      let compared = 0;
      for (const p of PATHS) {
        const a = await resolvePath(fs, p);
        const d = (await fs.inodeDetails(a.ino)) as { nid: number; layout: number; inodeSize: number; xattr: { size: number } };
        const t = dump([`--path=${p}`, img.image]);
        assert.equal(a.ino, +field(t, /NID:\s+(\d+)/), `${p} nid`);
        assert.equal(d.nid, a.ino);
        assert.equal(a.nlink, +field(t, /Links:\s+(\d+)/), `${p} links`);
        assert.equal(d.layout, +field(t, /Layout:\s+(\d+)/), `${p} layout`);
        assert.equal(a.size, +field(t, /Size:\s+(\d+)/), `${p} size`);
        assert.equal(d.inodeSize, +field(t, /Inode size:\s+(\d+)/), `${p} inode size`);
        assert.equal(d.xattr.size, +field(t, /Xattr size:\s+(\d+)/), `${p} xattr size`);
        assert.equal(a.uid, +field(t, /Uid:\s+(\d+)/));
        assert.equal(a.gid, +field(t, /Gid:\s+(\d+)/));
        // dump.erofs prints the permission bits without setuid/setgid/sticky
        assert.equal((a.mode & 0o777).toString(8).padStart(4, '0'), field(t, /Access:\s+(\d+)/), `${p} access`);
        if (a.type === 'reg' && a.size > 0) {
          assert.deepEqual(await ourExtents(fs, a.ino), dumpExtents(img.image, p), `${p} extents`);
          compared++;
        }
      }
      assert.ok(compared >= 12);
    } finally {
      await fs.close();
    }
  });
}
