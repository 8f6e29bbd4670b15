// Recently opened images, in IndexedDB (idb-keyval): samples and URLs always; dropped files as File
// System Access handles where the browser gives them (reopened after a permission prompt).
import { createStore, get, set } from 'idb-keyval';

export interface Recent {
  kind: 'sample' | 'url' | 'file';
  /** sample file / URL / file name */
  ref: string;
  title: string;
  at: number;
  /** kind 'file': the image and its companions */
  handles?: FileSystemFileHandle[];
}

const KEY = 'recent';
const MAX = 12;
let store: ReturnType<typeof createStore> | null = null;
function db(): ReturnType<typeof createStore> {
  store ??= createStore('layerscope-recents', 'recents');
  return store;
}

export async function loadRecents(): Promise<Recent[]> {
  try {
    return ((await get<Recent[]>(KEY, db())) ?? []).filter((r) => r && typeof r.ref === 'string');
  } catch {
    return [];
  }
}

export async function remember(r: Omit<Recent, 'at'>): Promise<Recent[]> {
  try {
    const list = (await loadRecents()).filter((x) => !(x.kind === r.kind && x.ref === r.ref));
    list.unshift({ ...r, at: Date.now() });
    await set(KEY, list.slice(0, MAX), db());
    return list.slice(0, MAX);
  } catch {
    return [];
  }
}

/** Files behind stored handles, asking for read permission again when the browser requires it. */
export async function filesOf(r: Recent): Promise<File[]> {
  const out: File[] = [];
  for (const h of r.handles ?? []) {
    const x = h as FileSystemFileHandle & { queryPermission?: (o: object) => Promise<string>; requestPermission?: (o: object) => Promise<string> };
    if (x.queryPermission && (await x.queryPermission({ mode: 'read' })) !== 'granted' && x.requestPermission) {
      if ((await x.requestPermission({ mode: 'read' })) !== 'granted') throw new Error(`no permission to read ${h.name}`);
    }
    out.push(await h.getFile());
  }
  return out;
}
