// What the page's Image view shows of an opened OCI image, as structured-clone-safe data: the views
// of src/lib/oci (config, history, layers, dive's efficiency), one layer's entries each marked
// added / modified / removed / unchanged against the layers below, and the merged file list as
// JSON or CSV. The worker hands these on; the page only renders them.
import { utf8, type FileType } from '../fs/types.ts';
import type { SourceInode } from '../fs/tree.ts';
import { fileList, imageViews, mergeLayers, toCsv, type ChangeKind, type FileRow, type LoadedOci } from '../oci/index.ts';
import { NotFoundError } from '../errors.ts';

/** Most inefficient paths sent to the page (an image rewriting a whole distribution has many); the total is kept. */
export const MAX_INEFFICIENCIES = 1000;

export type OciOverview = Omit<ReturnType<typeof imageViews>, 'changes'> & { inefficiencyCount: number };

/** Everything but the per-layer changes (layerRows sends one layer's at a time). */
export function ociOverview(o: LoadedOci): OciOverview {
  const { changes: _c, ...v } = imageViews(o);
  const all = v.efficiency.inefficiencies;
  return { ...v, efficiency: { ...v.efficiency, inefficiencies: all.slice(0, MAX_INEFFICIENCIES) }, inefficiencyCount: all.length };
}

export interface LayerRow {
  /** "/etc/passwd" (UTF-8 shown) */
  path: string;
  type: FileType;
  /** content bytes of a regular file (of the file removed, for a removal) */
  size: number;
  /** what this layer did to the path, against the layers below; "unchanged": it comes from below as it was */
  change: ChangeKind | 'unchanged';
  /** a directory with a change somewhere under it (kept by a "changes only" filter, as dive keeps it) */
  below: boolean;
}

/**
 * Layer `index` as dive shows it: the tree of the layers up to it stacked (the whole merged tree for
 * the top layer), each path marked with what this layer did to it, and the paths it removed put
 * back in their place; in path order, a parent right before its children.
 */
export function layerRows(o: LoadedOci, index: number): LayerRow[] {
  const changes = o.changes[index];
  if (!Number.isInteger(index) || !changes) throw new NotFoundError(`layer ${index}: the image has ${o.layers.length} layers`);
  const change = new Map(changes.map((c) => [c.path, c]));
  // the same stacking as the image's merge, stopped at this layer (it shares the layers' file inodes, changes none)
  const tree = index === o.layers.length - 1 ? o.tree : mergeLayers(o.layers.slice(0, index + 1)).tree;
  const rows: LayerRow[] = [];
  const visit = (dir: SourceInode, prefix: string): void => {
    for (const d of dir.children ?? []) {
      const n = d.inode;
      const path = `${prefix}/${utf8(d.name)}`;
      rows.push({ path, type: n.type, size: n.type === 'reg' ? n.size : 0, change: change.get(path)?.change ?? 'unchanged', below: false });
      if (n.type === 'dir') visit(n, path);
    }
  };
  visit(tree.root, '');
  for (const c of changes) if (c.change === 'removed') rows.push({ path: c.path, type: c.type, size: c.size, change: 'removed', below: false });
  const rootChange = change.get('/');
  if (rootChange) rows.push({ path: '/', type: 'dir', size: 0, change: rootChange.change, below: false });
  const ancestors = new Set<string>();
  for (const r of rows) {
    if (r.change === 'unchanged') continue;
    for (let at = r.path.lastIndexOf('/'); at > 0; at = r.path.lastIndexOf('/', at - 1)) ancestors.add(r.path.slice(0, at));
  }
  for (const r of rows) r.below = ancestors.has(r.path);
  // "/a/b" sorts before "/a-b" (a parent right before its children): compare component by component
  const split = new Map(rows.map((r) => [r, r.path === '/' ? [] : r.path.split('/')]));
  return rows.sort((a, b) => {
    const x = split.get(a)!;
    const y = split.get(b)!;
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
    return x.length - y.length;
  });
}

/** the file list's columns, in the order the CLI's `oci ls --csv` prints them */
export const FILE_COLUMNS: (keyof FileRow & string)[] = ['path', 'type', 'size', 'mode', 'uid', 'gid', 'mtime', 'layer'];

/** The merged tree's file list (lib/oci fileList) as a JSON array or RFC 4180 CSV. */
export function ociFileExport(o: LoadedOci, format: 'json' | 'csv'): string {
  const rows = fileList(o.tree, o.layers);
  return format === 'json' ? JSON.stringify(rows, null, 1) + '\n' : toCsv(rows, FILE_COLUMNS);
}
