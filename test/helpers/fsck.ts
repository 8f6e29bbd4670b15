// fsck.erofs 1.5 as an oracle: extract an image and compare it with its source tree, as far as
// 1.5 can extract (erofs-composefs-format.md §1.4).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
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
