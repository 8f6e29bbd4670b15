// Layerscope's offline cache: the page's own files (HTML, scripts, styles, worker, icons) are kept
// after the first load and served from the cache when the network is gone. The built-in samples
// (samples/index.json and the files it lists, about 1.3 MB) are cached whole when this worker
// installs, and their ranged reads are answered from those copies, so samples open offline too; each
// page load revalidates the copies in the background (a new deploy's samples replace them). A sample
// not cached yet is fetched whole first. A ranged read is never passed on with fetch(): from a
// service worker it does not ask for the identity encoding, and a compressing server (vite preview)
// answers with ranges of its gzip bytes. Any other ranged read is left to the browser.
// Other images (URLs of other origins, ?url=) are never cached.
// Every URL is relative to the registration scope, so the page works from any sub-path of a host.
const CACHE = 'layerscope-v1';
const scope = new URL(self.registration.scope);
const abs = (p) => new URL(p, scope).href;
const SAMPLES = abs('samples/');

self.addEventListener('install', (ev) => {
  ev.waitUntil((async () => {
    const c = await caches.open(CACHE);
    await c.addAll([abs('./'), abs('./index.html')]).catch(() => {});
    await cacheSamples(c).catch(() => {});
  })());
  self.skipWaiting();
});

self.addEventListener('activate', (ev) => {
  ev.waitUntil((async () => {
    for (const k of await caches.keys()) if (k !== CACHE) await caches.delete(k);
    await self.clients.claim();
  })());
});

/** samples/index.json and every image and blob it names (names as the page accepts them) */
async function cacheSamples(c) {
  const res = await fetch(abs('samples/index.json'), { cache: 'no-cache' });
  if (!res.ok) return;
  await c.put(abs('samples/index.json'), res.clone());
  const list = await res.json();
  const files = new Set();
  for (const s of Array.isArray(list) ? list : []) {
    for (const f of [s?.file, ...(Array.isArray(s?.blobs) ? s.blobs : [])]) {
      if (typeof f === 'string' && /^[\w.-]+(\/[\w.-]+)*$/.test(f) && !f.includes('..')) files.add(SAMPLES + f);
    }
  }
  await Promise.all([...files].map((u) => keepWhole(c, u).catch(() => {})));
}

/**
 * Fetches a sample whole into the cache, past the HTTP cache: a whole (gzip-encoded) copy there
 * would make the browser answer the page's own ranged reads with ranges of the gzip bytes.
 */
async function keepWhole(c, url) {
  const res = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  if (res.ok) await c.put(url, res.clone());
  return res;
}

/** the cached samples again: each replaced when the server's copy changed (ETag / Last-Modified) */
let refreshing = null;
function refreshSamples() {
  refreshing ??= (async () => {
    const c = await caches.open(CACHE);
    const tag = (r) => `${r?.headers.get('ETag') ?? ''} ${r?.headers.get('Last-Modified') ?? ''}`;
    for (const req of await c.keys()) {
      if (!req.url.startsWith(SAMPLES) || req.url.endsWith('/index.json')) continue;
      const head = await fetch(req.url, { method: 'HEAD', cache: 'no-store' }).catch(() => null);
      if (!head?.ok || (tag(head) !== ' ' && tag(head) === tag(await c.match(req)))) continue;
      await keepWhole(c, req.url).catch(() => {});
    }
  })().catch(() => {}).finally(() => (refreshing = null));
  return refreshing;
}

// the page sends the URLs it loaded before this worker controlled it
self.addEventListener('message', (ev) => {
  const urls = Array.isArray(ev.data?.cache) ? ev.data.cache.filter((u) => typeof u === 'string' && cacheable(new URL(u))) : [];
  if (urls.length) ev.waitUntil?.(caches.open(CACHE).then((c) => Promise.all(urls.map((u) => c.add(u).catch(() => {})))));
});

function cacheable(url) {
  return url.origin === scope.origin && url.href.startsWith(scope.href) && !url.search.includes('url=');
}

/** a ranged read of a sample, answered from its whole cached copy (fetched and kept first if need be) */
async function sampleRange(req, range) {
  const c = await caches.open(CACHE);
  let whole = await c.match(req.url);
  if (!whole) {
    whole = await keepWhole(c, req.url);
    if (!whole.ok) return whole;
  }
  // the bytes, not blob(): a blob of a response the server sent gzip-encoded reports the encoded size
  const body = new Uint8Array(await whole.arrayBuffer());
  const size = body.length;
  const m = /^bytes=(\d+)-(\d*)$/.exec(range.trim());
  if (!m) return new Response(body, { status: 200, headers: { 'Content-Length': String(size), 'Accept-Ranges': 'bytes' } });
  const start = Number(m[1]);
  const end = Math.min(size - 1, m[2] ? Number(m[2]) : size - 1);
  if (start >= size || end < start) return new Response(null, { status: 416, headers: { 'Content-Range': `bytes */${size}` } });
  return new Response(body.subarray(start, end + 1), {
    status: 206,
    headers: {
      'Content-Range': `bytes ${start}-${end}/${size}`,
      'Content-Length': String(end - start + 1),
      'Accept-Ranges': 'bytes',
      'Content-Type': 'application/octet-stream',
    },
  });
}

self.addEventListener('fetch', (ev) => {
  const req = ev.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (!cacheable(url)) return;
  const range = req.headers.get('range');
  if (range !== null) {
    // a sample answers from its whole copy; anything else is left to the browser
    if (url.href.startsWith(SAMPLES)) ev.respondWith(sampleRange(req, range));
    return;
  }
  if (req.mode === 'navigate') ev.waitUntil(refreshSamples());
  const key = req.mode === 'navigate' ? abs('./') : req.url;
  // network first (a new deploy shows at once), the cache when offline
  ev.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const res = await fetch(req);
      if (res.ok && res.type === 'basic') await cache.put(key, res.clone());
      return res;
    } catch (e) {
      const hit = await cache.match(key);
      if (hit) return hit;
      throw e;
    }
  })());
});
