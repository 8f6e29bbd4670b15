import { IoError } from '../errors.ts';
import { checkRange, type ByteSource } from './source.ts';

/**
 * An HTTP resource read with Range requests. A server that answers a ranged request with the whole
 * body (status 200) is refused with a clear error rather than silently downloading everything.
 */
export class HttpSource implements ByteSource {
  private constructor(readonly url: string, readonly size: number, readonly name: string, private readonly fetchFn: typeof fetch) {}


  static async open(url: string, fetchFn: typeof fetch = (input, init) => fetch(input, init)): Promise<HttpSource> {
    let res: Response;
    try {
      // bytes=0-1, not 0-0: some static servers (sirv) read an end of 0 as "no end" and send everything
      res = await fetchFn(url, { headers: { Range: 'bytes=0-1' } });
    } catch (e) {
      throw new IoError(url, `cannot fetch (network error or the server does not allow cross-origin requests): ${(e as Error).message}`);
    }
    if (res.status === 200) {
      await res.body?.cancel();
      throw new IoError(url, 'the server ignored the Range header (answered 200 with the whole body); it must support HTTP Range requests');
    }
    if (res.status !== 206) throw new IoError(url, `HTTP ${res.status} ${res.statusText}`);
    const cr = res.headers.get('Content-Range');
    await res.arrayBuffer();
    const m = cr ? /\/(\d+)\s*$/.exec(cr) : null;
    if (!m) throw new IoError(url, `206 response without a usable Content-Range header (${cr ?? 'none'}); a cross-origin server must expose it via Access-Control-Expose-Headers`);
    return new HttpSource(url, Number(m[1]), url.split('/').pop() || url, fetchFn);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    if (length === 0) return new Uint8Array(0);
    const fetchFn = this.fetchFn; // a bare call: native fetch throws "Illegal invocation" with another this
    const res = await fetchFn(this.url, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
    if (res.status !== 206) {
      await res.body?.cancel();
      throw new IoError(this.url, `expected 206 Partial Content for bytes ${offset}-${offset + length - 1}, got ${res.status}`);
    }
    const buf = new Uint8Array(await res.arrayBuffer());
    if (buf.length !== length) throw new IoError(this.url, `short ranged read: ${buf.length} of ${length} bytes at ${offset}`);
    return buf;
  }
}
