/**
 * Calls `onHeight` with `el`'s content height (rounded) whenever it changes; returns the disconnect.
 * A ResizeObserver reports after the browser's own layout, where bind:clientHeight reads
 * clientHeight at mount and forces a synchronous layout of the page.
 */
export function watchHeight(el: HTMLElement, onHeight: (height: number) => void): () => void {
  const ro = new ResizeObserver((entries) => onHeight(Math.round(entries[entries.length - 1]!.contentRect.height)));
  ro.observe(el);
  return () => ro.disconnect();
}
