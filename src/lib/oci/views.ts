// What the CLI prints and the page will show of an image, as plain data: its config, its history
// with the layer each step made, its layers with sizes and digests, and dive's efficiency.
import { digestText } from './digest.ts';
import type { OciImage } from './image.ts';
import type { ReadLayer } from './layer.ts';
import type { LayerChange } from './merge.ts';
import type { Compression } from './types.ts';
import { inodesOf, type SourceInode, type SourceTree } from '../fs/tree.ts';
import { utf8 } from '../fs/types.ts';

export interface ConfigView {
  platform: string;
  created: string | null;
  author: string | null;
  entrypoint: string[] | null;
  cmd: string[] | null;
  env: string[];
  workingDir: string | null;
  user: string | null;
  labels: Record<string, string>;
  exposedPorts: string[];
  volumes: string[];
  stopSignal: string | null;
}

export function configView(img: OciImage): ConfigView {
  const c = img.config;
  const cc = c.config ?? {};
  return {
    platform: img.platform,
    created: c.created ?? null,
    author: c.author ?? null,
    entrypoint: cc.Entrypoint ?? null,
    cmd: cc.Cmd ?? null,
    env: cc.Env ?? [],
    workingDir: cc.WorkingDir || null,
    user: cc.User || null,
    labels: cc.Labels ?? {},
    exposedPorts: Object.keys(cc.ExposedPorts ?? {}),
    volumes: Object.keys(cc.Volumes ?? {}),
    stopSignal: cc.StopSignal ?? null,
  };
}

export interface HistoryView {
  created: string | null;
  createdBy: string;
  comment: string | null;
  emptyLayer: boolean;
  /** the layer this step made; null for an empty_layer step */
  layer: number | null;
  layerDigest: string | null;
}

/**
 * The history, each non-empty step matched with the next layer in order (what `docker history`
 * does: empty_layer steps made no layer). When the history has fewer non-empty steps than there
 * are layers, the layers left over get a step of their own with no created_by.
 */
export function historyView(img: OciImage): HistoryView[] {
  const out: HistoryView[] = [];
  let next = 0;
  for (const h of img.config.history ?? []) {
    const empty = h.empty_layer === true;
    const layer = empty || next >= img.layers.length ? null : next++;
    out.push({
      created: h.created ?? null, createdBy: h.created_by ?? '', comment: h.comment ?? null, emptyLayer: empty, layer,
      layerDigest: layer === null ? null : layerDigest(img, layer),
    });
  }
  for (; next < img.layers.length; next++) out.push({ created: null, createdBy: '', comment: 'no history entry', emptyLayer: false, layer: next, layerDigest: layerDigest(img, next) });
  return out;
}

function layerDigest(img: OciImage, i: number): string {
  const l = img.layers[i]!;
  return l.digest ? digestText(l.digest) : l.path;
}

export interface LayerView {
  index: number;
  digest: string;
  diffId: string;
  mediaType: string;
  compression: Compression;
  /** the blob's bytes */
  size: number;
  /** the uncompressed tar's bytes */
  uncompressedSize: number;
  /** tar entries, and of those whiteouts (opaque markers included) */
  entries: number;
  whiteouts: number;
  /** Σ content bytes of the layer's regular files (dive's layer size) */
  contentSize: number;
  added: number;
  modified: number;
  removed: number;
  createdBy: string;
}

export function layersView(img: OciImage, layers: readonly ReadLayer[], changes: readonly LayerChange[][]): LayerView[] {
  const hist = historyView(img);
  return layers.map((l, i) => {
    const ch = changes[i] ?? [];
    return {
      index: i, digest: l.blobDigest, diffId: l.diffId, mediaType: l.ref.mediaType || `(docker save: ${l.compression})`, compression: l.compression,
      size: l.ref.size, uncompressedSize: l.uncompressedSize, entries: l.entries.length,
      whiteouts: l.entries.filter((e) => e.whiteout || e.opaque).length,
      contentSize: l.entries.reduce((s, e) => s + e.size, 0),
      added: ch.filter((c) => c.change === 'added').length,
      modified: ch.filter((c) => c.change === 'modified').length,
      removed: ch.filter((c) => c.change === 'removed').length,
      createdBy: hist.find((h) => h.layer === i)?.createdBy ?? '',
    };
  });
}

export interface FileRow {
  path: string;
  type: string;
  size: number;
  /** permission bits, octal text ("0644") */
  mode: string;
  uid: number;
  gid: number;
  mtime: number;
  /** the layer whose entry this is (the top one that wrote it); null for a directory */
  layer: number | null;
}

/** Every path of the merged tree, depth first in directory order, with the layer each file came from. */
export function fileList(tree: SourceTree, layers: readonly ReadLayer[]): FileRow[] {
  const from = new Map<SourceInode, number>();
  layers.forEach((l, i) => {
    for (const n of inodesOf(l.tree.root)) if (n.type !== 'dir') from.set(n, i);
  });
  const rows: FileRow[] = [];
  const visit = (dir: SourceInode, prefix: string): void => {
    for (const d of dir.children ?? []) {
      const n = d.inode;
      const path = `${prefix}/${utf8(d.name)}`;
      rows.push({ path, type: n.type, size: n.type === 'reg' ? n.size : 0, mode: (n.perm & 0o7777).toString(8).padStart(4, '0'), uid: n.uid, gid: n.gid, mtime: n.mtime, layer: n.type === 'dir' ? null : from.get(n) ?? null });
      if (n.type === 'dir') visit(n, path);
    }
  };
  visit(tree.root, '');
  return rows;
}

/** Rows as CSV (RFC 4180: a header line, fields with a comma, quote or line break quoted). */
export function toCsv<T extends object>(rows: readonly T[], columns: readonly (keyof T & string)[]): string {
  const field = (v: unknown): string => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.join(','), ...rows.map((r) => columns.map((c) => field(r[c])).join(','))].join('\r\n') + '\r\n';
}
