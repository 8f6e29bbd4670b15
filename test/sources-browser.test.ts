// Browser folder sources, tested in Node with stand-ins built from a real directory: the pure tree
// builder, File System Access directory handles, webkitGetAsEntry() entries (readEntries in
// batches), <input webkitdirectory> FileLists, and a captured drop. The browser's own behaviour
// (real drops) is covered by the e2e suite.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  captureDrop, itemsFromDirectoryHandle, itemsFromDrop, itemsFromEntry, itemsFromFileList, treeFromBrowserItems,
  treeFromDirectoryHandle, treeFromFileList, treeFromDrop,
  type BrowserItem, type DirectoryEntryLike, type DirectoryHandleLike, type FileEntryLike, type FileHandleLike,
} from '../src/lib/fs/sources/browser.ts';
import type { SourceInode, SourceTree } from '../src/lib/fs/tree.ts';
import { tempDir } from './helpers/paths.ts';
import { hex } from '../src/lib/bytes.ts';
import { hexOf } from './helpers/hex.ts';

/** a folder on disk: nested files, an empty directory, an empty file */
function makeFolder(): string {
  const root = join(tempDir('ls-browser-'), 'tree');
  mkdirSync(join(root, 'sub/deeper'), { recursive: true });
  mkdirSync(join(root, 'empty'));
  mkdirSync(join(root, 'sub/empty2'));
  writeFileSync(join(root, 'a.txt'), 'alpha');
  writeFileSync(join(root, 'zero'), '');
  writeFileSync(join(root, 'sub/b.bin'), Buffer.from([0, 1, 2, 255]));
  writeFileSync(join(root, 'sub/deeper/c.txt'), 'c'.repeat(5000));
  for (let i = 0; i < 7; i++) writeFileSync(join(root, 'sub', `n${i}`), `n${i}`);
  return root;
}

function fileOf(path: string): File {
  return new File([readFileSync(path)], path.split('/').pop()!, { lastModified: Math.floor(statSync(path).mtimeMs) });
}

function handleOf(path: string): DirectoryHandleLike {
  return {
    kind: 'directory',
    name: path.split('/').pop()!,
    async *values() {
      for (const n of readdirSync(path)) {
        const p = join(path, n);
        if (statSync(p).isDirectory()) yield handleOf(p);
        else yield { kind: 'file', name: n, getFile: async () => fileOf(p) } satisfies FileHandleLike;
      }
    },
  };
}

function entryOf(path: string, batch = 3): DirectoryEntryLike | FileEntryLike {
  const name = path.split('/').pop()!;
  if (!statSync(path).isDirectory()) return { isFile: true, isDirectory: false, name, file: (ok) => setTimeout(() => ok(fileOf(path)), 0) };
  return {
    isFile: false,
    isDirectory: true,
    name,
    createReader() {
      const all = readdirSync(path).map((n) => entryOf(join(path, n), batch));
      let pos = 0;
      // like Chromium: batches until an empty one
      return { readEntries: (ok) => setTimeout(() => ok(all.slice(pos, (pos += batch))), 0) };
    },
  };
}

/** path → [type, perm, uid, gid, mtime, size, content] */
async function flat(t: SourceTree): Promise<Map<string, unknown[]>> {
  const m = new Map<string, unknown[]>();
  const go = async (n: SourceInode, p: string) => {
    m.set(p, [n.type, n.perm.toString(8), n.uid, n.gid, n.mtime, n.mtimeNsec, n.size, n.content ? hex(await n.content.read(0, n.size)) : null]);
    for (const c of n.children ?? []) await go(c.inode, `${p}/${Buffer.from(c.name).toString()}`);
  };
  await go(t.root, '');
  return m;
}

/** what the disk says, in browser terms: 0644/0755, 0:0, mtimes in ms for files, 0 for dirs */
function expected(root: string, withEmptyDirs: boolean): Map<string, unknown[]> {
  const m = new Map<string, unknown[]>();
  m.set('', ['dir', '755', 0, 0, 0, 0, 0, null]);
  const go = (dir: string, p: string): boolean => {
    let any = false;
    for (const n of readdirSync(dir)) {
      const full = join(dir, n);
      const st = statSync(full);
      if (st.isDirectory()) {
        m.set(`${p}/${n}`, ['dir', '755', 0, 0, 0, 0, 0, null]);
        const has = go(full, `${p}/${n}`);
        if (!has && !withEmptyDirs) m.delete(`${p}/${n}`);
        else any = true;
      } else {
        const ms = Math.floor(st.mtimeMs);
        m.set(`${p}/${n}`, ['reg', '644', 0, 0, Math.floor(ms / 1000), (ms % 1000) * 1e6, st.size, hex(readFileSync(full))]);
        any = true;
      }
    }
    return any;
  };
  go(root, '');
  return m;
}

function sorted(m: Map<string, unknown[]>): [string, unknown[]][] {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

describe('browser folder sources', () => {
  const root = makeFolder();

  it('a directory handle (picker or drop): every file and empty directory, browser defaults', async () => {
    const t = await treeFromDirectoryHandle(handleOf(root));
    assert.deepEqual(sorted(await flat(t)), sorted(expected(root, true)));
    assert.ok(t.notes.some((n) => /no modes, owners/.test(n)));
    assert.ok(t.notes.some((n) => /folder "tree"/.test(n)));
  });

  it('webkitGetAsEntry entries: readEntries looped until an empty batch', async () => {
    const items = await itemsFromEntry(entryOf(root, 2));
    const t = treeFromBrowserItems(items);
    assert.deepEqual(sorted(await flat(t)), sorted(expected(root, true)));
  });

  it('<input webkitdirectory> FileList: files only, empty directories missing and noted', async () => {
    const list: File[] = [];
    const walk = (dir: string, rel: string) => {
      for (const n of readdirSync(dir)) {
        const full = join(dir, n);
        if (statSync(full).isDirectory()) walk(full, `${rel}/${n}`);
        else {
          const f = fileOf(full);
          Object.defineProperty(f, 'webkitRelativePath', { value: `${rel}/${n}`.slice(1) });
          list.push(f);
        }
      }
    };
    walk(root, '/tree');
    const t = treeFromFileList(list);
    assert.deepEqual(sorted(await flat(t)), sorted(expected(root, false)));
    assert.ok(t.notes.some((n) => /empty directories, if any, are missing/.test(n)));
    assert.equal(itemsFromFileList(list).length, list.length);
  });

  it('a captured drop: handles first, then entries, then plain files', async () => {
    const file = fileOf(join(root, 'a.txt'));
    const item = (o: { handle?: unknown; entry?: unknown; file?: File | null }) => ({
      kind: 'file',
      getAsFileSystemHandle: o.handle === undefined ? undefined : () => Promise.resolve(o.handle),
      webkitGetAsEntry: () => o.entry ?? null,
      getAsFile: () => o.file ?? null,
    });
    const dt = { items: [item({ handle: handleOf(root), entry: entryOf(root), file: null })] } as unknown as DataTransfer;
    const viaHandle = await treeFromDrop(captureDrop(dt));
    assert.deepEqual(sorted(await flat(viaHandle)), sorted(expected(root, true)));
    const dt2 = { items: [item({ handle: null, entry: entryOf(root) })] } as unknown as DataTransfer;
    assert.deepEqual(sorted(await flat(await treeFromDrop(captureDrop(dt2)))), sorted(expected(root, true)));
    // two loose files (synthetic drops give no entries): both at the root
    const dt3 = { items: [item({ file }), item({ file: fileOf(join(root, 'zero')) }), { kind: 'string' }] } as unknown as DataTransfer;
    const loose = await itemsFromDrop(captureDrop(dt3));
    assert.deepEqual(loose.map((i) => i.path), ['a.txt', 'zero']);
    const t = treeFromBrowserItems(loose);
    assert.deepEqual(t.root.children!.map((c) => Buffer.from(c.name).toString()), ['a.txt', 'zero']);
  });

  it('pure builder: implicit parents, duplicates (last wins), a file in the way, unsafe names, no strip for mixed roots', async () => {
    const f = (s: string, ms = 1500) => new File([s], 'x', { lastModified: ms });
    const items: BrowserItem[] = [
      { kind: 'file', path: 'top/a/b/c.txt', file: f('c', 2_000_001) },
      { kind: 'file', path: 'top/a/b/c.txt', file: f('c2', 3_000_999) },
      { kind: 'file', path: 'top/x', file: f('x') },
      { kind: 'file', path: 'top/x/y', file: f('blocked') },
      { kind: 'file', path: 'top/../evil', file: f('evil') },
      { kind: 'dir', path: 'top/emptydir' },
    ];
    const t = treeFromBrowserItems(items);
    const m = await flat(t);
    assert.deepEqual(m.get('/a/b/c.txt'), ['reg', '644', 0, 0, 3000, 999e6, 2, hexOf('c2')]);
    assert.deepEqual(m.get('/a'), ['dir', '755', 0, 0, 0, 0, 0, null]);
    assert.ok(m.has('/emptydir'));
    assert.equal(m.get('/x')![0], 'reg');
    assert.equal(m.has('/x/y'), false);
    assert.equal([...m.keys()].some((k) => k.includes('evil')), false);
    assert.ok(t.notes.some((n) => /2 items skipped/.test(n)), t.notes.join('; '));
    const mixed = treeFromBrowserItems([{ kind: 'file', path: 'one/a', file: f('a') }, { kind: 'file', path: 'two/b', file: f('b') }]);
    assert.deepEqual(mixed.root.children!.map((c) => Buffer.from(c.name).toString()), ['one', 'two']);
    const kept = treeFromBrowserItems([{ kind: 'file', path: 'one/a', file: f('a') }], { stripSingleRoot: false });
    assert.deepEqual(kept.root.children!.map((c) => Buffer.from(c.name).toString()), ['one']);
  });

  it('content is read lazily from the File', async () => {
    const big = new File([new Uint8Array(3_000_000).fill(7)], 'big', { lastModified: 0 });
    let sliced = 0;
    const spy = new Proxy(big, { get: (t, k) => (k === 'slice' ? (...a: number[]) => ((sliced++, t.slice(...a))) : Reflect.get(t, k, t)) });
    const t = treeFromBrowserItems([{ kind: 'file', path: 'big', file: spy as File, lastModified: 0 }]);
    assert.equal(sliced, 0);
    const n = t.root.children![0]!.inode;
    assert.deepEqual(await n.content!.read(2_999_990, 10), new Uint8Array(10).fill(7));
    assert.equal(sliced, 1);
  });
});
