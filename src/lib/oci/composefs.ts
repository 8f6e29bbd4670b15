// An OCI image turned into a filesystem tree by the rules composefs-rs follows for
// `cfsctl oci create-image` / `compute-id` (read in containers/composefs-rs at 54d248f, workspace
// version 0.3.0: crates/composefs-oci/src/image.rs create_filesystem + process_entry,
// crates/composefs-oci/src/tar.rs get_entry, crates/composefs/src/generic_tree.rs, doc/oci.md):
//
//  1. Layers in rootfs.diff_ids order; each layer's tar entries strictly in archive order, each
//     applied to the tree as it stands at that moment (no per-layer "whiteouts only hide lower
//     layers" rule as in image-spec: a `.wh.NAME` or `.wh..wh..opq` also removes what earlier
//     entries of the SAME layer put there).
//  2. Paths: "/" prepended, trailing slashes dropped; an entry whose path is the root ("./", "/")
//     must be a directory and only sets the root's attributes (overwritten by rule 8 anyway).
//  3. The parent directory of every entry must already exist: composefs-rs creates no implicit
//     directories (split_mut → NotFound is an error), so there is no "mtime of an implicit
//     directory" to choose. Here: UnsupportedError naming the entry.
//  4. `.wh..wh..opq` empties its directory (attributes kept); `.wh.NAME` removes NAME if present.
//  5. A directory onto a directory takes the new attributes and keeps the children ("the most
//     derived layer's tar metadata", doc/oci.md); a directory onto a non-directory replaces it;
//     anything else replaces what was there (a directory with all its children included).
//  6. A hardlink names an existing non-directory of the tree at that moment and shares its inode
//     (the link entry's own header attributes are not used).
//  7. Attributes: mode, uid, gid from the header; mtime in whole seconds (nanoseconds of PAX mtime
//     dropped: "we always round down"); xattrs as the tar carries them (SCHILY.xattr.*), no filter.
//  8. After all layers (transform_for_oci): the root directory takes mode, uid, gid, mtime and
//     xattrs of /usr (no /usr: error, UnsupportedError here); /run, if it is a directory, is
//     emptied and takes /usr's mtime.
//  9. Files of up to 64 bytes (INLINE_CONTENT_MAX_V0) are inline in the image, larger ones are
//     objects named by their fs-verity SHA-256 digest — the same threshold our writer uses.
//
// The image id composefs-rs prints is the fs-verity SHA-256 digest of the EROFS image its OWN
// writer (crates/composefs/src/erofs/writer.rs, mkfs_erofs) makes of that tree, a layout unlike
// mkcomposefs 1.0.8's (which lib/composefs/writer.ts reproduces): composefsRsImage in
// ./composefs-rs-erofs.ts writes that layout. It gives the two digests composefs-rs pins in its
// tests (crates/composefs/tests/mkfs.rs); cfsctl itself was not run (crates.io is unreachable here).
// Objects and ids are SHA-256 fs-verity digests: what a repository made with `cfsctl init
// --algorithm fsverity-sha256-12` holds (cfsctl's default at 54d248f is fsverity-sha512-12).
import { FormatError, UnsupportedError } from '../errors.ts';
import { binKey, startsWith } from '../bytes.ts';
import { markHardlinks, showPath } from '../fs/sources/names.ts';
import { newDir, type SourceInode, type SourceTree } from '../fs/tree.ts';
import { bytes, bytesEqual } from '../fs/types.ts';
import { OPAQUE_WHITEOUT_BYTES, WHITEOUT_PREFIX_BYTES } from '../fs/whiteout.ts';
import { pathKey, type ReadLayer } from './layer.ts';

/** composefs-rs INLINE_CONTENT_MAX_V0 (crates/composefs/src/lib.rs): inline up to and including this many bytes */
export const COMPOSEFS_RS_INLINE_MAX = 64;

/** A directory while the tree is built: children by name (binKey), ordered at the end. */
interface Dir {
  inode: SourceInode;
  kids: Map<string, { name: Uint8Array; node: Dir | SourceInode }>;
}

const isDir = (n: Dir | SourceInode): n is Dir => (n as Dir).kids !== undefined;

function dirFrom(attrs: SourceInode): Dir {
  const d = newDir(attrs.perm);
  setDirAttrs(d, attrs);
  return { inode: d, kids: new Map() };
}

function setDirAttrs(to: SourceInode, from: SourceInode): void {
  to.perm = from.perm;
  to.uid = from.uid;
  to.gid = from.gid;
  to.mtime = from.mtime;
  to.mtimeNsec = 0;
  to.xattrs = from.xattrs;
}

/** Finds a path in a layer's own tree (what the layer's tar put there, its last entry for a name). */
function inLayer(root: SourceInode, comps: readonly Uint8Array[]): SourceInode | undefined {
  let n: SourceInode | undefined = root;
  for (const c of comps) n = n?.children?.find((d) => bytesEqual(d.name, c))?.inode;
  return n;
}

/**
 * The tree composefs-rs builds of an OCI image's layers (rules 1-8 of the header). File inodes
 * are copies (mtime in whole seconds), the layers' own trees are not changed; content sources are
 * shared.
 */
export function composefsRsTree(layers: readonly ReadLayer[]): SourceTree {
  const root: Dir = { inode: newDir(0), kids: new Map() };
  root.inode.perm = 0; // Stat::uninitialized(): mode 0 until /usr's is copied
  const leafCopies = new Map<SourceInode, SourceInode>();
  const leafOf = (n: SourceInode): SourceInode => {
    let c = leafCopies.get(n);
    if (!c) {
      c = { ...n, mtimeNsec: 0 };
      delete c.children;
      leafCopies.set(n, c);
    }
    return c;
  };
  const lookupDir = (comps: readonly Uint8Array[]): Dir | null => {
    let d: Dir = root;
    for (const c of comps) {
      const k = d.kids.get(binKey(c));
      if (!k || !isDir(k.node)) return null;
      d = k.node;
    }
    return d;
  };

  for (const layer of layers) {
    const label = `layer ${layer.ref.index}`;
    const lower = new Map(layer.lowerLinks.map((l) => [pathKey(l.comps), l.target]));
    for (const e of layer.entries) {
      const where = showPath(e.comps);
      if (e.comps.length === 0) {
        if (e.type !== 'dir') throw new FormatError('oci.layer', -1, `${label}: the root entry is a ${e.type}, composefs-rs requires a directory`);
        setDirAttrs(root.inode, inLayer(layer.tree.root, [])!);
        continue;
      }
      const parent = lookupDir(e.comps.slice(0, -1));
      if (!parent) throw new UnsupportedError('composefs-rs image', `${label}: ${where}: its parent directory is not in the tree yet (composefs-rs creates no implicit directories and refuses the layer)`);
      const name = e.comps[e.comps.length - 1]!;
      if (e.opaque) {
        parent.kids.clear();
        continue;
      }
      if (e.whiteout) {
        parent.kids.delete(binKey(name.subarray(WHITEOUT_PREFIX_BYTES.length)));
        continue;
      }
      if (startsWith(name, WHITEOUT_PREFIX_BYTES) || bytesEqual(name, OPAQUE_WHITEOUT_BYTES)) continue; // not reached: flagged above
      const k = binKey(name);
      if (e.type === 'hardlink') {
        const lowerTarget = lower.get(pathKey(e.comps));
        let target: SourceInode | undefined;
        if (lowerTarget) {
          const td = lookupDir(lowerTarget.slice(0, -1));
          const t = td?.kids.get(binKey(lowerTarget[lowerTarget.length - 1]!))?.node;
          target = t && !isDir(t) ? t : undefined;
        } else {
          const own = inLayer(layer.tree.root, e.comps);
          target = own && own.type !== 'dir' ? leafOf(own) : undefined;
        }
        if (!target) throw new FormatError('oci.layer', -1, `${label}: hardlink ${where} names no file of the tree (composefs-rs refuses it)`);
        parent.kids.set(k, { name, node: target });
        continue;
      }
      const src = inLayer(layer.tree.root, e.comps);
      if (!src) throw new FormatError('oci.layer', -1, `${label}: ${where} is listed but not in the layer's tree`);
      if (e.type === 'dir') {
        const prev = parent.kids.get(k);
        if (prev && isDir(prev.node)) setDirAttrs(prev.node.inode, src);
        else parent.kids.set(k, { name, node: dirFrom(src) });
      } else {
        parent.kids.set(k, { name, node: leafOf(src) });
      }
    }
  }

  // transform_for_oci: root from /usr, /run emptied with /usr's mtime
  const usr = root.kids.get(binKey(bytes('usr')))?.node;
  if (!usr || !isDir(usr)) throw new UnsupportedError('composefs-rs image', 'the image has no /usr directory: composefs-rs takes the root directory\'s attributes from /usr and refuses an image without one');
  setDirAttrs(root.inode, usr.inode);
  const run = root.kids.get(binKey(bytes('run')))?.node;
  if (run && isDir(run)) {
    run.kids.clear();
    run.inode.mtime = usr.inode.mtime;
  }

  const finish = (d: Dir): void => {
    d.inode.children = [...d.kids.values()].map((c) => {
      if (isDir(c.node)) {
        finish(c.node);
        return { name: c.name, inode: c.node.inode };
      }
      return { name: c.name, inode: c.node };
    });
  };
  finish(root);
  markHardlinks(root.inode);
  return { root: root.inode, notes: [`${layers.length} layers applied as composefs-rs does (entries in tar order, root attributes from /usr, /run emptied, mtimes in whole seconds)`] };
}

/** What the CLI and README say of the digest of a composefs image built from composefsRsTree. */
export const COMPOSEFS_RS_ID_NOTE =
  'fs-verity SHA-256 of OUT, the tree built by composefs-rs rules written in composefs-rs\' own EROFS layout (crates/composefs/src/erofs/writer.rs); SHA-256 objects and id, as a cfsctl repository made with --algorithm fsverity-sha256-12 (its default is sha512); the layout matches the digests composefs-rs pins in its tests, cfsctl itself was not run to compare';
