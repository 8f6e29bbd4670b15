// A small static file server for e2e tests: serves a folder under a URL prefix (a sub-path of the
// host, like a project page), with HTTP Range support, the MIME types a module page needs, and a
// log of every request so a test can check nothing was asked for outside the prefix.
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

export interface StaticServer {
  /** http://127.0.0.1:PORT + prefix (ends with "/") */
  url: string;
  /** "METHOD path status" of every request so far */
  log: string[];
  close(): Promise<void>;
}

/** Serves `dir` at `prefix` (e.g. "/some/deep/path/"); anything outside the prefix is a 404. */
export function serveStatic(dir: string, prefix: string): Promise<StaticServer> {
  const log: string[] = [];
  const root = normalize(dir);
  const srv: Server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const done = (status: number, headers: Record<string, string | number> = {}, body?: Buffer) => {
      log.push(`${req.method} ${path} ${status}`);
      res.writeHead(status, headers).end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return done(405);
    if (!path.startsWith(prefix)) return done(404);
    let file = normalize(join(root, path.slice(prefix.length)));
    if (file !== root && !file.startsWith(root + sep)) return done(404);
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      const type = TYPES[extname(file)] ?? 'application/octet-stream';
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (m) {
        const start = Number(m[1]);
        const end = Math.min(body.length - 1, m[2] ? Number(m[2]) : body.length - 1);
        if (start >= body.length || end < start) return done(416, { 'Content-Range': `bytes */${body.length}` });
        return done(206, { 'Content-Type': type, 'Content-Range': `bytes ${start}-${end}/${body.length}`, 'Content-Length': end - start + 1, 'Accept-Ranges': 'bytes' }, body.subarray(start, end + 1));
      }
      done(200, { 'Content-Type': type, 'Content-Length': body.length, 'Accept-Ranges': 'bytes', 'Cache-Control': 'no-cache' }, body);
    } catch {
      done(404);
    }
  });
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(srv.address() as { port: number }).port}${prefix}`,
        log,
        close: () =>
          new Promise<void>((ok) => {
            srv.close(() => ok());
            srv.closeAllConnections();
          }),
      }),
    ),
  );
}
