// Turning a drop into files. The DataTransfer is emptied when the drop handler returns, so every
// item is captured synchronously (webkitGetAsEntry and getAsFile), and only then read asynchronously.
import type { PathedFile } from '../../workers/inspector.ts';

/** A folder drop is walked at most this far, so a dropped home directory cannot hang the page. */
const MAX_FILES = 100_000;

interface Captured {
  entry: FileSystemEntry | null;
  file: File | null;
}

/** Call inside the drop handler, before any await. */
export function captureDrop(dt: DataTransfer): Captured[] {
  const out: Captured[] = [];
  for (const item of Array.from(dt.items)) {
    if (item.kind !== 'file') continue;
    // synthetic drops (and some browsers) give a null entry: the File alone is then what we have
    const entry = typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null;
    out.push({ entry, file: item.getAsFile() });
  }
  if (out.length === 0) for (const file of Array.from(dt.files)) out.push({ entry: null, file });
  return out;
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

function readBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walkDir(dir: FileSystemDirectoryEntry, prefix: string, out: PathedFile[]): Promise<void> {
  const reader = dir.createReader();
  for (;;) {
    const batch = await readBatch(reader); // readEntries returns at most ~100 at a time; empty at the end
    if (batch.length === 0) return;
    for (const e of batch) {
      if (out.length >= MAX_FILES) throw new Error(`the dropped folder has more than ${MAX_FILES} files`);
      const path = `${prefix}/${e.name}`;
      if (e.isDirectory) await walkDir(e as FileSystemDirectoryEntry, path, out);
      else if (e.isFile) out.push({ file: await fileOf(e as FileSystemFileEntry), path });
    }
  }
}

/** Files of a drop: loose files by name, dropped folders walked with their relative paths. */
export async function filesOfDrop(items: Captured[]): Promise<PathedFile[]> {
  const out: PathedFile[] = [];
  for (const { entry, file } of items) {
    if (entry?.isDirectory) await walkDir(entry as FileSystemDirectoryEntry, entry.name, out);
    else if (file) out.push({ file, path: file.name });
    else if (entry?.isFile) {
      const f = await fileOf(entry as FileSystemFileEntry);
      out.push({ file: f, path: f.name });
    }
  }
  return out;
}
