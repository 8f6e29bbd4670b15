import type { Name } from '../../workers/inspector.ts';

/** one directory on the way from the root to the directory shown */
export interface Crumb {
  name: Name;
  ino: number;
}

/** an entry of public/samples/index.json */
export interface Sample {
  file: string;
  /** blob files / extra devices that go with the image, relative to samples/ */
  blobs?: string[];
  title: string;
  description?: string;
}

/** the top-level views; each is part of the URL */
export type View = 'files' | 'image' | 'structure' | 'blobs' | 'stats' | 'tools' | 'compare';
/** the OCI Image view's parts (view=image&part=…&layer=N) */
export type OciPart = 'config' | 'history' | 'layers' | 'efficiency';
export type ContentMode = 'text' | 'hex' | 'image';
