// Layers stacked the way a container runtime unpacks them (image-spec layer.md "Applying
// Changesets"): `.wh.NAME` removes NAME from the layers below, `.wh..wh..opq` hides everything the
// layers below put in its directory, whiteouts never hide what their own layer adds, a directory
// over a directory merges, anything else replaces. Two things the plain layer builder
// (rafs/builder applyLayer) does not do, and an image needs: a parent directory a layer holds no
// entry for keeps the attributes it had below (containerd creates a missing parent, it does not
// reset an existing one), and a hardlink may name a file of a lower layer.
// Each layer's changes come out on the way: added, modified, removed, against the layers below.
import { FormatError } from '../errors.ts';
import { markHardlinks, showPath } from '../fs/sources/names.ts';
import { newDir, type SourceDirent, type SourceInode, type SourceTree } from '../fs/tree.ts';
import { bytesEqual, utf8, type FileType } from '../fs/types.ts';
import { OPAQUE_WHITEOUT_BYTES, WHITEOUT_PREFIX_BYTES } from '../fs/whiteout.ts';
import { binKey, startsWith } from '../bytes.ts';
import { pathKey, type ReadLayer } from './layer.ts';

export type ChangeKind = 'added' | 'modified' | 'removed';

export interface LayerChange {
  /** "/etc/passwd" (UTF-8 shown; raw bytes are in the layer's tree) */
  path: string;
  change: ChangeKind;
  type: FileType;
  /** regular files: content bytes (of the file removed, for a removal); else 0 */
  size: number;
}

export interface MergedImage {
  tree: SourceTree;
  /** per layer, in layer order: what it added, modified and removed, in path order */
  changes: LayerChange[][];
}

type Kids = Map<string, SourceDirent>;

/** a directory's own metadata (mode, owner, mtime, xattrs) from another: what an upper layer's directory entry sets */
export function copyDirAttrs(to: SourceInode, from: SourceInode): void {
  to.perm = from.perm;
  to.uid = from.uid;
  to.gid = from.gid;
  to.mtime = from.mtime;
  to.mtimeNsec = from.mtimeNsec;
  to.xattrs = from.xattrs;
}

function sameDirAttrs(a: SourceInode, b: SourceInode): boolean {
  return a.perm === b.perm && a.uid === b.uid && a.gid === b.gid && a.mtime === b.mtime && a.mtimeNsec === b.mtimeNsec &&
    a.xattrs.length === b.xattrs.length && a.xattrs.every((x, i) => bytesEqual(x.name, b.xattrs[i]!.name) && bytesEqual(x.value, b.xattrs[i]!.value));
}

const show = (comps: readonly Uint8Array[]): string => '/' + comps.map(utf8).join('/');

/** Stacks layers lowest first; the result shares the layers' file inodes (their content sources) but not their directories. */
export function mergeLayers(layers: readonly ReadLayer[]): MergedImage {
  const root = newDir(0o755);
  const kids = new Map<SourceInode, Kids>([[root, new Map()]]);
  const changes: LayerChange[][] = [];

  const note = (out: LayerChange[], comps: Uint8Array[], change: ChangeKind, n: SourceInode): void => {
    out.push({ path: show(comps), change, type: n.type, size: n.type === 'reg' ? n.size : 0 });
  };
  /** everything below a directory that goes away with it */
  const noteRemovedTree = (out: LayerChange[], comps: Uint8Array[], n: SourceInode): void => {
    note(out, comps, 'removed', n);
    if (n.type !== 'dir') return;
    for (const d of kids.get(n)?.values() ?? []) noteRemovedTree(out, [...comps, d.name], d.inode);
  };

  /** a fresh merged directory holding an upper directory's attributes */
  const freshDir = (from: SourceInode): SourceInode => {
    const d = newDir(from.perm);
    copyDirAttrs(d, from);
    kids.set(d, new Map());
    return d;
  };

  const apply = (layer: ReadLayer, merged: SourceInode, upper: SourceInode, comps: Uint8Array[], fresh: boolean, out: LayerChange[]): void => {
    const m = kids.get(merged)!;
    const ups = upper.children ?? [];
    let hidden: Kids | null = null;
    if (!fresh && ups.some((c) => bytesEqual(c.name, OPAQUE_WHITEOUT_BYTES))) {
      hidden = new Map(m);
      m.clear();
    }
    // whiteouts first: they hide only what the layers below put there
    for (const c of ups) {
      if (bytesEqual(c.name, OPAQUE_WHITEOUT_BYTES) || !startsWith(c.name, WHITEOUT_PREFIX_BYTES)) continue;
      const k = binKey(c.name.subarray(WHITEOUT_PREFIX_BYTES.length));
      const prev = m.get(k);
      if (prev) {
        noteRemovedTree(out, [...comps, prev.name], prev.inode);
        m.delete(k);
      }
    }
    for (const c of ups) {
      if (startsWith(c.name, WHITEOUT_PREFIX_BYTES)) continue;
      const k = binKey(c.name);
      const at = [...comps, c.name];
      let prev = m.get(k);
      if (!prev && hidden?.has(k)) prev = hidden.get(k);
      hidden?.delete(k);
      if (c.inode.type === 'dir') {
        const explicit = layer.explicitDirs.has(pathKey(at));
        if (prev && prev.inode.type === 'dir' && m.has(k)) {
          if (explicit && !sameDirAttrs(prev.inode, c.inode)) {
            copyDirAttrs(prev.inode, c.inode);
            note(out, at, 'modified', prev.inode);
          }
          apply(layer, prev.inode, c.inode, at, false, out);
        } else {
          // a directory new here (or replacing a file, or one an opaque parent hid): nothing below shows through
          const d = freshDir(c.inode);
          if (prev && prev.inode.type === 'dir' && !explicit) copyDirAttrs(d, prev.inode);
          if (prev && prev.inode.type !== 'dir') noteRemovedTree(out, at, prev.inode);
          m.set(k, { name: c.name, inode: d });
          note(out, at, prev && prev.inode.type === 'dir' ? 'modified' : 'added', d);
          apply(layer, d, c.inode, at, true, out);
        }
      } else {
        if (prev && prev.inode.type === 'dir') noteRemovedTree(out, at, prev.inode);
        m.set(k, { name: c.name, inode: c.inode });
        note(out, at, prev && prev.inode.type !== 'dir' ? 'modified' : 'added', c.inode);
      }
    }
    for (const d of hidden?.values() ?? []) noteRemovedTree(out, [...comps, d.name], d.inode);
  };

  const lookup = (comps: readonly Uint8Array[]): SourceInode | undefined => {
    let n: SourceInode | undefined = root;
    for (const c of comps) n = n && n.type === 'dir' ? kids.get(n)?.get(binKey(c))?.inode : undefined;
    return n;
  };

  for (const layer of layers) {
    const out: LayerChange[] = [];
    const upRoot = layer.tree.root;
    if (layer.explicitDirs.has('') && !sameDirAttrs(root, upRoot)) {
      copyDirAttrs(root, upRoot);
      note(out, [], 'modified', root);
    }
    apply(layer, root, upRoot, [], false, out);
    for (const l of layer.lowerLinks) {
      const target = lookup(l.target);
      if (!target || target.type === 'dir') {
        throw new FormatError('oci.layer', -1, `layer ${layer.ref.index}: hardlink ${showPath(l.comps)} names ${showPath(l.target)}, which is no file of this layer or the layers below`);
      }
      const parent = lookup(l.comps.slice(0, -1));
      if (!parent || parent.type !== 'dir') throw new FormatError('oci.layer', -1, `layer ${layer.ref.index}: hardlink ${showPath(l.comps)}: its parent is no directory`);
      const name = l.comps[l.comps.length - 1]!;
      const m = kids.get(parent)!;
      const prev = m.get(binKey(name));
      if (prev?.inode.type === 'dir') noteRemovedTree(out, l.comps, prev.inode);
      m.set(binKey(name), { name, inode: target });
      note(out, l.comps, prev && prev.inode.type !== 'dir' ? 'modified' : 'added', target);
    }
    out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    changes.push(out);
  }

  for (const [dir, m] of kids) dir.children = [...m.values()].map((d) => ({ name: d.name, inode: d.inode }));
  markHardlinks(root);
  const notes = [`${layers.length} layers merged (OCI whiteouts and opaque directories applied)`];
  return { tree: { root, notes }, changes };
}
