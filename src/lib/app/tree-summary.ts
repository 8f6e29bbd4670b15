// What a source tree holds and what a layer whites out: the builder's summary of each source.
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from '../fs/whiteout.ts';
import { inodesOf, type SourceInode, type SourceTree } from '../fs/tree.ts';
import { componentText } from './names.ts';

export interface TreeSummary {
  files: number;
  dirs: number;
  symlinks: number;
  /** devices, fifos, sockets */
  others: number;
  /** content bytes of regular files (each hardlinked inode once) */
  bytes: number;
  /** extra names of an inode (dirents - inodes among non-directories) */
  hardlinks: number;
  /** inodes carrying xattrs */
  withXattrs: number;
  /** regular files whose bytes are not available (a composefs dump without inline content) */
  noContent: number;
  /** distinct modes / owners seen: a browser folder has 2 modes and one owner */
  owners: number;
  largest: number;
}

export function summarizeTree(tree: SourceTree): TreeSummary {
  const s: TreeSummary = { files: 0, dirs: 0, symlinks: 0, others: 0, bytes: 0, hardlinks: 0, withXattrs: 0, noContent: 0, owners: 0, largest: 0 };
  const seen = new Set<SourceInode>();
  const owners = new Set<string>();
  const stack: SourceInode[] = [tree.root];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) {
      s.hardlinks++;
      continue;
    }
    seen.add(n);
    owners.add(`${n.uid}:${n.gid}`);
    if (n.xattrs.length) s.withXattrs++;
    if (n.type === 'dir') {
      s.dirs++;
      for (const c of n.children ?? []) stack.push(c.inode);
    } else if (n.type === 'reg') {
      s.files++;
      s.bytes += n.size;
      if (n.size > s.largest) s.largest = n.size;
      if (n.size > 0 && !n.content) s.noContent++;
    } else if (n.type === 'symlink') s.symlinks++;
    else s.others++;
  }
  s.dirs--; // the root is not counted as a directory of the tree
  s.owners = owners.size;
  return s;
}

const dec = new TextDecoder();
const OVERLAY_OPAQUE = ['trusted.overlay.opaque', 'user.overlay.opaque'];

export interface LayerEffects {
  /** paths a `.wh.NAME` entry or an overlayfs whiteout (char 0:0) removes from the layers below */
  whiteouts: string[];
  /** directories whose lower contents are hidden (`.wh..wh..opq` or an opaque xattr = "y") */
  opaque: string[];
}

/** OCI and overlayfs whiteouts of a layer, as absolute paths (at most `limit` of each). */
export function layerEffects(tree: SourceTree, limit = 200): LayerEffects {
  const out: LayerEffects = { whiteouts: [], opaque: [] };
  const stack: [SourceInode, string][] = [[tree.root, '']];
  while (stack.length) {
    const [dir, path] = stack.pop()!;
    const here = path || '/';
    if (dir.xattrs.some((x) => OVERLAY_OPAQUE.includes(dec.decode(x.name)) && dec.decode(x.value) === 'y') && out.opaque.length < limit) out.opaque.push(here);
    for (const c of dir.children ?? []) {
      const name = componentText(c.name);
      if (name === OPAQUE_WHITEOUT) {
        if (out.opaque.length < limit && !out.opaque.includes(here)) out.opaque.push(here);
      } else if (name.startsWith(WHITEOUT_PREFIX)) {
        if (out.whiteouts.length < limit) out.whiteouts.push(`${path}/${name.slice(WHITEOUT_PREFIX.length)}`);
      } else if (c.inode.type === 'chr' && c.inode.rdev === 0) {
        if (out.whiteouts.length < limit) out.whiteouts.push(`${path}/${name}`);
      } else if (c.inode.type === 'dir') stack.push([c.inode, `${path}/${name}`]);
    }
  }
  out.whiteouts.sort();
  out.opaque.sort();
  return out;
}

