// Open image panes as plain data, and the page link that reopens them.
//
// The link (location.hash) lists every pane that can be reopened (samples and URLs; picked or
// dropped files cannot), left to right. Each pane's group starts with its `sample=` or `url=` and
// carries that pane's path, view, mode and offset:
//   #sample=a.erofs&path=/etc&sample=nydus/rafs-v6-zstd.boot&path=/lib.rs&view=stats
// One pane gives exactly the single-image link the page always had.
import type { ImageSummary, OpenFlags, OpenInput } from '../../workers/inspector.ts';
import type { Connection } from './inspector.ts';
import type { ContentMode, OciPart, View } from './types.ts';

export const VIEWS: View[] = ['files', 'image', 'structure', 'blobs', 'stats', 'tools', 'compare'];
const OCI_PARTS: OciPart[] = ['config', 'history', 'layers', 'efficiency'];

/** how an image can be reopened from a link */
export interface Origin {
  kind: 'sample' | 'url';
  ref: string;
}

/** where a pane starts: a deep link's path, view, content mode and byte offset */
export interface PaneStart {
  path: string;
  tab: View;
  mode: ContentMode | null;
  offset: number;
  /** the OCI Image view: its part and the layer selected */
  part?: OciPart;
  layer?: number | null;
  /** an OCI index of several platforms: the one opened */
  platform?: string;
}

/** one open image, handed from the page to its pane component */
export interface PaneImage {
  /** unique for the page's life (image ids are per worker, so they repeat across panes) */
  key: number;
  conn: Connection;
  image: ImageSummary;
  origin: Origin | null;
  /** file names of the image and its companions, for the equivalent command line */
  inputNames: string[];
  start: PaneStart;
  /** what the pane was opened from: another pane's worker can open it again (Compare) */
  input: OpenInput;
  flags: OpenFlags;
}

/** another open pane's image, as the Compare tab offers it */
export interface OtherPane {
  key: number;
  name: string;
  input: OpenInput;
  flags: OpenFlags;
}

/** a pane asked for by a link, not opened yet */
export interface LinkedPane extends PaneStart {
  origin: Origin;
}

const START_KEYS = new Set(['sample', 'url']);

/** samples are files under samples/: no `..`, nothing but plain path characters */
export function isSampleRef(ref: string): boolean {
  return /^[\w.-]+(\/[\w.-]+)*$/.test(ref) && !ref.includes('..');
}

function paneOf(group: URLSearchParams): LinkedPane | null {
  const sample = group.get('sample');
  const url = group.get('url');
  let origin: Origin;
  if (sample !== null && isSampleRef(sample)) origin = { kind: 'sample', ref: sample };
  else if (url) origin = { kind: 'url', ref: url };
  else return null;
  const v = group.get('view') as View | null;
  const m = group.get('mode');
  const layer = /^\d{1,4}$/.test(group.get('layer') ?? '') ? Number(group.get('layer')) : null;
  return {
    origin,
    path: group.get('path') ?? '/',
    tab: v && VIEWS.includes(v) ? v : 'files',
    mode: m === 'text' || m === 'hex' || m === 'image' ? m : null,
    offset: Math.max(0, Number(group.get('offset') ?? 0) || 0),
    // a layer named without a part is the layer view
    part: OCI_PARTS.find((p) => p === group.get('part')) ?? (layer === null ? 'config' : 'layers'),
    layer,
    ...(/^[\w.-]+\/[\w.-]+(\/[\w.-]+)?$/.test(group.get('platform') ?? '') ? { platform: group.get('platform')! } : {}),
  };
}

/** The panes a page address asks for. `?url=…&path=…&view=…` (a link made by hand) counts too,
 * with the hash's keys taking precedence, as the page has always read it. */
export function panesOfLink(hash: string, search: string): LinkedPane[] {
  const groups: URLSearchParams[] = [];
  // keys before the first sample=/url= belong to the first pane (`#path=/etc&sample=x` reads as before)
  let lead = new URLSearchParams();
  for (const [k, v] of new URLSearchParams(hash.replace(/^#/, ''))) {
    if (START_KEYS.has(k)) {
      groups.push(groups.length === 0 ? lead : new URLSearchParams());
      lead = new URLSearchParams();
    }
    const g = groups[groups.length - 1] ?? lead;
    if (!g.has(k)) g.set(k, v);
  }
  if (groups.length === 0) {
    const query = new URLSearchParams(search);
    const merged = new URLSearchParams();
    for (const k of ['url', 'path', 'view']) {
      const v = lead.get(k) ?? query.get(k);
      if (v !== null) merged.set(k, v);
    }
    for (const [k, v] of lead) if (!merged.has(k)) merged.set(k, v);
    groups.push(merged);
  }
  return groups.map(paneOf).filter((p): p is LinkedPane => p !== null);
}

/** the hash for the panes' own link parts (null: a pane that cannot be reopened) */
export function linkHash(parts: (string | null)[]): string | null {
  const kept = parts.filter((p): p is string => p !== null);
  return kept.length ? '#' + kept.join('&') : null;
}

/** readable paths in links: `/` stays `/` */
export function paramText(p: URLSearchParams): string {
  return p.toString().replace(/%2F/g, '/');
}
