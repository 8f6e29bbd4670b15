// The page's handle on the builder worker (one per page, started on first use).
import * as Comlink from 'comlink';
import type { BuilderApi } from '../../../workers/builder.ts';

export type Builder = Comlink.Remote<BuilderApi>;

let remote: Builder | null = null;

export function builder(onfail?: (message: string) => void): Builder {
  if (!remote) {
    const worker = new Worker(new URL('../../../workers/builder.ts', import.meta.url), { type: 'module', name: 'builder' });
    worker.addEventListener('error', (e) => {
      e.preventDefault();
      onfail?.(e.message || 'the builder worker failed to start');
    });
    remote = Comlink.wrap<BuilderApi>(worker);
  }
  return remote;
}
