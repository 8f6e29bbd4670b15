// Oracles for a built image against its source folder: fsck.erofs 1.5's extraction (as far as 1.5
// can extract, erofs-composefs-format.md §1.4) and this host's kernel mount.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { compareManifests, hostManifest, sourceCompare, type Manifest } from './kernel.ts';
import { compareTrees } from './treecompare.ts';

/** `fsck.erofs --extract` of IMG into DIR, then the differences from the source folder SRC */
export function fsckExtractDiffs(img: string, src: string, dir: string): string[] {
  rmSync(dir, { recursive: true, force: true });
  execFileSync('fsck.erofs', [`--extract=${dir}`, img], { stdio: 'pipe' });
  // fsck 1.5 extracts neither xattrs nor hardlinks, and its chown after chmod clears set-id bits
  // (its extraction of mkfs.erofs' own images does the same)
  const setIdOnly = /^\/\S+: mode 10[246](\d{3}) != 100\1$/;
  return compareTrees(src, dir, { xattrs: false, hardlinks: false }).filter((d) => !setIdOnly.test(d));
}

/** the tree this host's kernel shows at MNT (an image mounted there) against the source's manifest; unmounts MNT */
export function mountedDiffs(mnt: string, src: Manifest, minEntries: number): string[] {
  try {
    const m = hostManifest(mnt)!;
    if (m.entries.length <= minEntries) return [`the kernel listed ${m.entries.length} entries, expected more than ${minEntries}`];
    return compareManifests(m, src, sourceCompare);
  } finally {
    execFileSync('umount', [mnt]);
  }
}
