// dive's wasted bytes and efficiency score, computed as dive computes them (wagoodman/dive,
// dive/filetree/efficiency.go, file_tree.go, file_node.go; image/analysis: wasted = the sum of
// CumulativeSize over the paths seen more than once):
//  - each layer is a tree of its tar entries (a missing parent becomes a node of size 0 that is no
//    directory; an entry named ".wh..wh..*" is never added, so opaque markers count for nothing);
//  - the leaves of each layer's tree (nodes without children, whiteouts included) are visited; a
//    node's path drops a leaf's ".wh." prefix, so a whiteout and the file it removes share a path;
//  - a leaf adds its size to its path's cumulative size and lowers the path's minimum; a whiteout's
//    size is that of the node it removes in the layers below stacked (every node under it added up
//    when that is a directory, 0 when it is a file);
//  - score = Σ minimum / Σ cumulative over all paths (1 when nothing has a size); wasted bytes =
//    Σ cumulative over the paths with two or more nodes.
// dive visits a layer's leaves in sorted order and stops that layer at the first whiteout whose path
// is absent below (its visitor returns the GetNode error); that is kept, and counted in `aborted`.
import { binKey } from '../bytes.ts';
import { utf8 } from '../fs/types.ts';
import type { LayerEntry } from './layer.ts';

interface DNode {
  name: string;
  size: number;
  isDir: boolean;
  children: Map<string, DNode>;
}

const DOUBLE_WHITEOUT = '.wh..wh..';
const WHITEOUT = '.wh.';

const node = (name: string, size = 0, isDir = false): DNode => ({ name, size, isDir, children: new Map() });

function copy(n: DNode): DNode {
  const c = node(n.name, n.size, n.isDir);
  for (const [k, v] of n.children) c.children.set(k, copy(v));
  return c;
}

/** FileTree.AddPath: missing parents are created empty; the payload lands on the last node (its children kept). */
function addPath(root: DNode, names: string[], size: number, isDir: boolean): void {
  let n = root;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    let c = n.children.get(name);
    if (!c) {
      if (name.startsWith(DOUBLE_WHITEOUT)) return;
      c = node(name);
      n.children.set(name, c);
    }
    if (i === names.length - 1) {
      c.size = size;
      c.isDir = isDir;
    }
    n = c;
  }
}

function getNode(root: DNode, names: string[]): DNode | null {
  let n: DNode | undefined = root;
  for (const name of names) {
    n = n.children.get(name);
    if (!n) return null;
  }
  return n;
}

function removePath(root: DNode, names: string[]): void {
  const parent = getNode(root, names.slice(0, -1));
  if (parent) parent.children.delete(names[names.length - 1]!);
}

/** the node names of a path, a whiteout leaf's prefix dropped (FileNode.Path) */
function pathNames(names: string[], leaf: DNode): string[] {
  return leaf.name.startsWith(WHITEOUT) ? [...names.slice(0, -1), leaf.name.slice(WHITEOUT.length)] : names;
}

/** VisitDepthChildFirst: children in sorted order, then the node; `stop` ends the walk */
function visitChildFirst(n: DNode, names: string[], fn: (n: DNode, names: string[]) => boolean, isRoot = true): boolean {
  for (const k of [...n.children.keys()].sort()) {
    if (!visitChildFirst(n.children.get(k)!, [...names, k], fn, false)) return false;
  }
  return isRoot ? true : fn(n, names);
}

/** FileTree.Stack: whiteouts remove their path, every other node is added (children first) */
function stack(lower: DNode, upper: DNode): void {
  visitChildFirst(upper, [], (n, names) => {
    if (n.name.startsWith(WHITEOUT)) removePath(lower, pathNames(names, n));
    else addPath(lower, names, n.size, n.isDir);
    return true;
  });
}

export function diveTree(entries: readonly LayerEntry[]): DNode {
  const root = node('');
  for (const e of entries) if (e.comps.length) addPath(root, e.comps.map(binKey), e.size, e.type === 'dir');
  return root;
}

export interface Inefficiency {
  path: string;
  /** nodes at this path over all layers */
  count: number;
  cumulativeSize: number;
}

export interface Efficiency {
  /** dive's efficiency score, 0..1 */
  score: number;
  wastedBytes: number;
  /** layer sizes (Σ tar header sizes) of every layer but the first, dive's "user size" */
  userSizeBytes: number;
  /** wastedBytes / userSizeBytes, as dive prints it (NaN when there is only one layer) */
  wastedUserPercent: number;
  /** paths seen in more than one layer, largest cumulative size first */
  inefficiencies: Inefficiency[];
  /** layers whose visit stopped early, as dive's does, at a whiteout of a path absent below */
  aborted: number[];
}

export function efficiency(layers: readonly (readonly LayerEntry[])[]): Efficiency {
  const trees = layers.map(diveTree);
  const data = new Map<string, { cumulative: number; min: number; count: number }>();
  const aborted: number[] = [];
  // StackTreeRange(trees, 0, i-1): a copy of the first layer with layers 0..i-1 stacked on it
  let below = trees.length ? copy(trees[0]!) : node('');
  for (let i = 0; i < trees.length; i++) {
    if (i >= 1) stack(below, trees[i - 1]!);
    const done = visitChildFirst(trees[i]!, [], (n, names) => {
      if (n.children.size) return true;
      const path = pathNames(names, n);
      let size = 0;
      if (n.name.startsWith(WHITEOUT)) {
        const prev = getNode(below, path);
        if (!prev) return false;
        if (prev.isDir) visitChildFirst(prev, [], (c) => { size += c.size; return true; }, false);
      } else size = n.size;
      const key = path.join('/');
      const d = data.get(key) ?? { cumulative: 0, min: -1, count: 0 };
      d.cumulative += size;
      if (d.min < 0 || size < d.min) d.min = size;
      d.count++;
      data.set(key, d);
      return true;
    });
    if (!done) aborted.push(i);
  }
  let minimum = 0;
  let discovered = 0;
  const inefficiencies: Inefficiency[] = [];
  for (const [k, d] of data) {
    minimum += d.min;
    discovered += d.cumulative;
    if (d.count >= 2) inefficiencies.push({ path: '/' + k.split('/').map((c) => utf8(Uint8Array.from(c, (ch) => ch.charCodeAt(0)))).join('/'), count: d.count, cumulativeSize: d.cumulative });
  }
  inefficiencies.sort((a, b) => b.cumulativeSize - a.cumulativeSize || (a.path < b.path ? -1 : 1));
  const wastedBytes = inefficiencies.reduce((s, x) => s + x.cumulativeSize, 0);
  const userSizeBytes = layers.slice(1).reduce((s, l) => s + l.reduce((t, e) => t + e.size, 0), 0);
  return { score: discovered === 0 ? 1 : minimum / discovered, wastedBytes, userSizeBytes, wastedUserPercent: wastedBytes / userSizeBytes, inefficiencies, aborted };
}
