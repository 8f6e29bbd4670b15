// The page's readdir: the worker sends directory pages as columns (workers/dirpage.ts) and they are
// rebuilt here into entries of one shape, so a directory of 500,000 entries streams in without
// long frames. Every other call goes to the worker unchanged.
import type { Inspector } from './inspector.ts';
import { unpackDirPage } from '../../workers/dirpage.ts';

export function withPackedReaddir(api: Inspector): Inspector {
  const unpacking = async (id: number, ino: number, offset?: number, limit?: number) => unpackDirPage(await api.readdirPacked(id, ino, offset, limit));
  // (a plain function where a Comlink remote method stood: it is only ever called)
  const readdir = unpacking as unknown as Inspector['readdir'];
  return new Proxy(api, {
    get: (target, prop, receiver) => (prop === 'readdir' ? readdir : Reflect.get(target, prop, receiver)),
  });
}
