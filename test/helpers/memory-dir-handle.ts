// An in-memory stand-in for the File System Access API's directory and file handles (the parts the
// builder worker uses: getFileHandle, getDirectoryHandle, removeEntry, createWritable, getFile and,
// when `withMove`, FileSystemFileHandle.move), so the worker's adapter runs under Node.
export class MemoryFileHandle {
  readonly kind = 'file';
  bytes: Uint8Array = new Uint8Array(0);
  constructor(public name: string, private readonly dir: MemoryDirHandle) {}
  async createWritable(o: { keepExistingData?: boolean } = {}) {
    const parts: Uint8Array[] = o.keepExistingData ? [this.bytes] : [];
    return {
      write: async (c: Uint8Array) => { parts.push(c.slice()); },
      close: async () => { this.bytes = new Uint8Array(Buffer.concat(parts)); },
      abort: async () => {},
    };
  }
  async getFile(): Promise<File> {
    return new File([this.bytes as Uint8Array<ArrayBuffer>], this.name);
  }
  /** set when the handle offers move (Chromium's FileSystemFileHandle.move) */
  move?: (to: string) => Promise<void>;
  enableMove(): void {
    this.move = async (to: string) => {
      this.dir.entries.delete(this.name);
      this.name = to;
      this.dir.entries.set(to, this);
    };
  }
}

export class MemoryDirHandle {
  readonly kind = 'directory';
  readonly entries = new Map<string, MemoryFileHandle | MemoryDirHandle>();
  constructor(readonly name = '', private readonly withMove = false) {}
  async getFileHandle(name: string, o: { create?: boolean } = {}): Promise<MemoryFileHandle> {
    const e = this.entries.get(name);
    if (e instanceof MemoryFileHandle) return e;
    if (e || !o.create) throw new DOMException(`${name}: not found`, 'NotFoundError');
    const h = new MemoryFileHandle(name, this);
    if (this.withMove) h.enableMove();
    this.entries.set(name, h);
    return h;
  }
  async getDirectoryHandle(name: string, o: { create?: boolean } = {}): Promise<MemoryDirHandle> {
    const e = this.entries.get(name);
    if (e instanceof MemoryDirHandle) return e;
    if (e || !o.create) throw new DOMException(`${name}: not found`, 'NotFoundError');
    const d = new MemoryDirHandle(name, this.withMove);
    this.entries.set(name, d);
    return d;
  }
  async removeEntry(name: string): Promise<void> {
    if (!this.entries.delete(name)) throw new DOMException(`${name}: not found`, 'NotFoundError');
  }
  /** every file below, by path */
  files(prefix = ''): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const [n, e] of this.entries) {
      if (e instanceof MemoryFileHandle) out.set(prefix + n, e.bytes);
      else for (const [p, b] of e.files(`${prefix}${n}/`)) out.set(p, b);
    }
    return out;
  }
}
