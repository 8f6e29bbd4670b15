import type { SourceInode } from '../../src/lib/fs/tree.ts';
import type { ByteSource } from '../../src/lib/io/source.ts';

/**
 * Make the reads of every regular file under `root` bigger than `minSize` fail from byte `failAt`
 * on, as a disk or network that dies half-way through a big file does: reads that start before
 * `failAt` still succeed, so a build has stored some of the file when the error reaches it.
 * Returns how many files were wrapped (the caller asserts there was one to break).
 */
export function failReadsMidFile(root: SourceInode, opts: { minSize: number; failAt?: number; message?: string }): number {
  const failAt = opts.failAt ?? 1 << 20;
  const message = opts.message ?? 'disk gone';
  let wrapped = 0;
  const walk = (d: SourceInode): void => {
    for (const c of d.children ?? []) {
      if (c.inode.type === 'dir') walk(c.inode);
      else if (c.inode.content && c.inode.size > opts.minSize) {
        const inner = c.inode.content;
        wrapped++;
        c.inode.content = { size: inner.size, name: inner.name, read: (off, n) => (off >= failAt ? Promise.reject(new Error(message)) : inner.read(off, n)) } satisfies ByteSource;
      }
    }
  };
  walk(root);
  return wrapped;
}
