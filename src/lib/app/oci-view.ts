// What the page's Image view shows of an opened OCI image, as structured-clone-safe data: the views
// of src/lib/oci (config, history, layers, dive's efficiency), one layer's entries each marked
// added / modified / removed / unchanged against the layers below, and the merged file list as
// JSON or CSV. The worker hands these on; the page only renders them.
import { utf8, type FileType } from '../fs/types.ts';
import { fileList, imageViews, toCsv, type ChangeKind, type FileRow, type LoadedOci } from '../oci/index.ts';
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
  /** against the layers below; "unchanged": a directory the layer holds (or creates as a parent) whose attributes stay */
  change: ChangeKind | 'unchanged';
}

/**
 * Layer `index` as its tree: every entry of its tar but the whiteout markers, plus every path it
 * removes, each with its change, in path order (the parents before their children).
 */
export function layerRows(o: LoadedOci, index: number): LayerRow[] {
  const layer = o.layers[index];
  const changes = o.changes[index];
  if (!layer || !changes) throw new NotFoundError(`layer ${index}: the image has ${o.layers.length} layers`);
  const byPath = new Map<string, LayerRow>();
  for (const e of layer.entries) {
    if (e.whiteout || e.opaque || !e.comps.length) continue;
    const path = '/' + e.comps.map(utf8).join('/');
    byPath.set(path, { path, type: e.type === 'hardlink' ? 'reg' : (e.type as FileType), size: e.size, change: 'unchanged' });
  }
  for (const c of changes) byPath.set(c.path, { path: c.path, type: c.type, size: c.size, change: c.change });
  // implicit parents of an entry (a tar without its directories' entries) show as unchanged directories
  for (const path of [...byPath.keys()]) {
    for (let at = path.lastIndexOf('/'); at > 0; at = path.lastIndexOf('/', at - 1)) {
      const parent = path.slice(0, at);
      if (byPath.has(parent)) break;
      byPath.set(parent, { path: parent, type: 'dir', size: 0, change: 'unchanged' });
    }
  }
  // "/a/b" sorts before "/a-b" (a parent right before its children): compare component by component
  const key = (p: string) => p.split('/');
  return [...byPath.values()].sort((a, b) => {
    const x = key(a.path);
    const y = key(b.path);
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
