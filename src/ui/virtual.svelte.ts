// Virtual scrolling of fixed-height rows, shared by the Files listing, the hex view and the layer
// tree: rows are positioned by index, only those in view (and `overscan` either side) are drawn,
// spacers stand for the rest. Construct it during a component's init (it starts an $effect).
import { watchHeight } from './height.ts';

/** Rows [first, last) to draw: those in view plus `overscan` either side, clamped to [0, total). */
export function rowWindow(scrollTop: number, viewHeight: number, rowHeight: number, total: number, overscan: number): { first: number; last: number } {
  return {
    first: Math.max(0, Math.floor(scrollTop / rowHeight) - overscan),
    last: Math.min(total, Math.ceil((scrollTop + viewHeight) / rowHeight) + overscan),
  };
}

export class VirtualRows {
  /** the scrolling element (bind:this) */
  el = $state<HTMLElement>();
  /** the element's scrollTop, as of its last scroll event */
  scrollTop = $state(0);
  /** the element's content height; `guess` until a ResizeObserver has reported */
  viewHeight = $state(0);
  /** viewHeight is the element's, not the guess */
  measured = $state(false);
  readonly rowHeight: number;
  readonly overscan: number;

  constructor(rowHeight: number, guess: number, overscan = 12) {
    this.rowHeight = rowHeight;
    this.overscan = overscan;
    this.viewHeight = guess;
    $effect(() => {
      const el = this.el;
      if (!el) return;
      return watchHeight(el, (h) => {
        if (h > 0 && h !== this.viewHeight) this.viewHeight = h;
        this.measured = true;
      });
    });
  }

  /** for onscroll: an arrow, so it can be passed as the handler itself */
  onscroll = (): void => {
    this.scrollTop = this.el?.scrollTop ?? 0;
  };

  window(total: number): { first: number; last: number } {
    return rowWindow(this.scrollTop, this.viewHeight, this.rowHeight, total, this.overscan);
  }

  /**
   * Back to the top (a new directory or list). `touch` false leaves the element alone: a listing
   * just created is at the top already, and setting scrollTop would force a layout of the page.
   */
  toTop(touch = true): void {
    if (touch && this.el) this.el.scrollTop = 0;
    this.scrollTop = 0;
  }
}
