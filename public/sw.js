// Layerscope's offline cache: the page's own files (HTML, scripts, styles, worker, icons) are kept
// after the first load and served from the cache when the network is gone. Images are never cached
// here: ranged reads, URLs of other origins and samples/ always go to the network.
const CACHE = 'layerscope-v1';
const scope = new URL(self.registration.scope);

self.addEventListener('install', (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(['./', './index.html'].map((p) => new URL(p, scope).href)).catch(() => {})));
  self.skipWaiting();
});

self.addEventListener('activate', (ev) => {
  ev.waitUntil((async () => {
    for (const k of await caches.keys()) if (k !== CACHE) await caches.delete(k);
    await self.clients.claim();
  })());
});

// the page sends the URLs it loaded before this worker controlled it
self.addEventListener('message', (ev) => {
  const urls = Array.isArray(ev.data?.cache) ? ev.data.cache.filter((u) => typeof u === 'string' && cacheable(new URL(u))) : [];
  if (urls.length) ev.waitUntil?.(caches.open(CACHE).then((c) => Promise.all(urls.map((u) => c.add(u).catch(() => {})))));
});

function cacheable(url) {
  return url.origin === scope.origin && url.href.startsWith(scope.href) && !url.pathname.includes('/samples/') && !url.search.includes('url=');
}

self.addEventListener('fetch', (ev) => {
  const req = ev.request;
  if (req.method !== 'GET' || req.headers.has('range')) return;
  const url = new URL(req.url);
  if (!cacheable(url)) return;
  const key = req.mode === 'navigate' ? new URL('./', scope).href : req.url;
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
