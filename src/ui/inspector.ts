// The page's handle on the inspector worker. Components call `inspector.x(...)`; every failure
// arrives as a WireError ({name, message, structure, offset}).
import * as Comlink from 'comlink';
import type { InspectorApi } from '../../workers/inspector.ts';

export type Inspector = Comlink.Remote<InspectorApi>;

let remote: Inspector | null = null;

/** `onfail` hears about a worker that could not start or crashed (its pending calls never settle). */
export function inspector(onfail?: (message: string) => void): Inspector {
  if (!remote) {
    const worker = new Worker(new URL('../../workers/inspector.ts', import.meta.url), { type: 'module', name: 'inspector' });
    worker.addEventListener('error', (e) => {
      e.preventDefault();
      onfail?.(e.message || 'the inspector worker failed to start (a blocked script or an old browser without module workers)');
    });
    remote = Comlink.wrap<InspectorApi>(worker);
  }
  return remote;
}
