// A pane's whole-image search. It lives in the pane, not in the search box, so switching to another
// tab and back keeps the query and its hits.
import * as Comlink from 'comlink';
import type { SearchHit } from '../../workers/inspector.ts';
import type { Inspector } from './inspector.ts';

export interface SearchProgress {
  running: boolean;
  scanned: number;
  done?: string;
}

/** rows the hit list draws; hits past these are counted, not drawn */
export const SHOWN_HITS = 2000;
/** hit rows added per frame while fewer than SHOWN_HITS are drawn */
const ROWS_PER_FRAME = 250;

/** The worker walks the image and streams hits; a new query cancels the last one. */
export class ImageSearch {
  query = $state('');
  hits = $state.raw<SearchHit[]>([]);
  progress = $state<SearchProgress | null>(null);
  #token = '';
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly api: Inspector;
  readonly imageId: number;
  readonly onfail: (context: string, e: unknown) => void;

  constructor(api: Inspector, imageId: number, onfail: (context: string, e: unknown) => void) {
    this.api = api;
    this.imageId = imageId;
    this.onfail = onfail;
  }

  /** typing waits for a pause, so every keystroke does not start a walk */
  typed(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.run(), 200);
  }

  stop(): void {
    if (this.#token) void this.api.cancel(this.#token);
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.stop();
    this.#token = '';
    this.query = '';
    this.hits = [];
    this.progress = null;
  }

  async run(): Promise<void> {
    this.stop();
    const q = this.query.trim();
    if (!q) {
      this.hits = [];
      this.progress = null;
      return;
    }
    const token = (this.#token = `search:${Date.now()}`);
    this.hits = [];
    this.progress = { running: true, scanned: 0 };
    // Batches can arrive several per frame: they are gathered and shown once per frame, so the list
    // is re-rendered at most at the display's rate however fast the worker finds hits. Drawing
    // 2000 new rows in one frame took 160-340 ms, so rows are added a few hundred per frame until
    // the shown ones are there (hits past those are only counted).
    let pending: SearchHit[] = [];
    let scannedNow = 0;
    let frame = 0;
    let drained: (() => void) | null = null;
    const show = (): void => {
      frame = 0;
      if (token === this.#token && pending.length) {
        const take = this.hits.length < SHOWN_HITS ? Math.min(pending.length, ROWS_PER_FRAME) : pending.length;
        this.hits = this.hits.concat(take === pending.length ? pending : pending.slice(0, take));
        pending = take === pending.length ? [] : pending.slice(take);
        this.progress = { running: true, scanned: scannedNow };
        if (pending.length) {
          frame = requestAnimationFrame(show);
          return;
        }
      } else if (token === this.#token) this.progress = { running: true, scanned: scannedNow };
      drained?.();
      drained = null;
    };
    try {
      const r = await this.api.search(this.imageId, q, token, Comlink.proxy((batch: SearchHit[], scanned: number) => {
        if (token !== this.#token) return;
        for (const h of batch) pending.push(h);
        scannedNow = scanned;
        frame ||= requestAnimationFrame(show);
      }));
      // the last hits are drawn (a frame or a few) before the search says it is done
      if (frame || pending.length) await new Promise<void>((resolve) => { drained = resolve; frame ||= requestAnimationFrame(show); });
      else show();
      if (token !== this.#token) return;
      const done = r.cancelled ? 'cancelled' : r.truncated ? `first ${r.hits} matches` : `${r.hits} match${r.hits === 1 ? '' : 'es'}`;
      this.progress = { running: false, scanned: r.scanned, done };
    } catch (e) {
      if (token !== this.#token) return;
      this.progress = { running: false, scanned: 0, done: 'failed' };
      this.onfail('Search failed', e);
    }
  }
}
