import type { Name } from '../../workers/inspector.ts';

/** one directory on the way from the root to the directory shown */
export interface Crumb {
  name: Name;
  ino: number;
}

/** an entry of public/samples/index.json */
export interface Sample {
  file: string;
  title: string;
  description?: string;
}
