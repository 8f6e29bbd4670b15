// Layerscope's offline cache: the page's own files (HTML, scripts, styles, worker, icons) are kept
// after the first load and served from the cache when the network is gone. The built-in samples
// (samples/index.json and the files it lists, about 1.3 MB) are cached when this worker installs, so
// they open offline too: their ranged reads go to the network first and are answered from the cached
// whole file when it is unreachable. Other images (URLs of other origins, ?url=) are never cached.
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
  await Promise.all([...files].map((u) => c.add(u).catch(() => {})));
}

// the page sends the URLs it loaded before this worker controlled it
self.addEventListener('message', (ev) => {
  const urls = Array.isArray(ev.data?.cache) ? ev.data.cache.filter((u) => typeof u === 'string' && cacheable(new URL(u))) : [];
  if (urls.length) ev.waitUntil?.(caches.open(CACHE).then((c) => Promise.all(urls.map((u) => c.add(u).catch(() => {})))));
});

function cacheable(url) {
  return url.origin === scope.origin && url.href.startsWith(scope.href) && !url.search.includes('url=');
}

/** a ranged read of a cached sample, answered from the whole file (null: not cached) */
async function rangeFromCache(href, range) {
  const hit = await (await caches.open(CACHE)).match(href);
  if (!hit) return null;
  const body = await hit.blob();
  const m = /^bytes=(\d+)-(\d*)$/.exec(range.trim());
  if (!m) return null;
  const start = Number(m[1]);
  const end = Math.min(body.size - 1, m[2] ? Number(m[2]) : body.size - 1);
  if (start >= body.size || end < start) return new Response(null, { status: 416, headers: { 'Content-Range': `bytes */${body.size}` } });
  return new Response(body.slice(start, end + 1), {
    status: 206,
    headers: {
      'Content-Range': `bytes ${start}-${end}/${body.size}`,
      'Content-Length': String(end - start + 1),
      'Accept-Ranges': 'bytes',
      'Content-Type': hit.headers.get('Content-Type') ?? 'application/octet-stream',
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
    // only the samples are kept whole; any other ranged read is the network's business
    if (!url.href.startsWith(SAMPLES)) return;
    ev.respondWith(fetch(req).catch(async (e) => (await rangeFromCache(url.href, range)) ?? Promise.reject(e)));
    return;
  }
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
