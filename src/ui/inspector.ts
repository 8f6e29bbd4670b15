// The page's handles on inspector workers. Every open image pane has its own worker, so a long
// verify or export in one pane never queues the reads of another; closing the pane ends its worker.
// Every failure arrives as a WireError ({name, message, structure, offset}).
import * as Comlink from 'comlink';
import type { InspectorApi } from '../../workers/inspector.ts';
import { withPackedReaddir } from './readdir.ts';

export type Inspector = Comlink.Remote<InspectorApi>;

export interface Connection {
  api: Inspector;
  /** ends the worker: every image opened in it goes, and pending calls never settle */
  close(): void;
  /** hears about a worker that could not start or crashed (its pending calls never settle) */
  onfail(listener: (message: string) => void): void;
}

export function connect(): Connection {
  const worker = new Worker(new URL('../../workers/inspector.ts', import.meta.url), { type: 'module', name: 'inspector' });
  const api = withPackedReaddir(Comlink.wrap<InspectorApi>(worker));
  return {
    api,
    close() {
      worker.terminate();
    },
    onfail(listener) {
      worker.addEventListener('error', (e) => {
        e.preventDefault();
        listener(e.message || 'the inspector worker failed to start (a blocked script or an old browser without module workers)');
      });
    },
  };
}
