// An input over HTTP for the page (workers/inspector.ts): Range requests (src/lib/io/http.ts), or,
// for same-origin samples on a static host that ignores Range, the whole (small) file fetched once.
import { IoError } from '../errors.ts';
import { HttpSource } from '../io/http.ts';
import { BytesSource, type ByteSource } from '../io/source.ts';

export interface UrlSourceOptions {
  /** when Range requests fail, fetch the whole file instead */
  allowWhole?: boolean;
  /** wraps a Range-backed source (a block cache) */
  cache?(src: ByteSource): ByteSource;
}

/** `url` (absolute) as a byte source; `whole` when it was downloaded in one piece. */
export async function urlSource(url: string, fetchFn: typeof fetch, o: UrlSourceOptions = {}): Promise<{ source: ByteSource; whole: boolean }> {
  try {
    const s = await HttpSource.open(url, fetchFn);
    return { source: o.cache ? o.cache(s) : s, whole: false };
  } catch (e) {
    if (!o.allowWhole) throw e;
  }
  const res = await fetchFn(url);
  if (!res.ok) throw new IoError(url, `HTTP ${res.status} ${res.statusText}`);
  return { source: new BytesSource(new Uint8Array(await res.arrayBuffer()), url.split('/').pop() || url), whole: true };
}
