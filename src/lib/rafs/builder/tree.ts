/**
 * The tree as both bootstrap writers see it (§3.9): entries sorted byte-wise, indexes assigned the
 * nydus way (root 1; a directory numbers all its children consecutively, then recurses into its
 * child directories in order), hardlinks (one SourceInode under several names) resolved to the first
 * entry in index order. File chunks are attached later by the blob writer, or come pre-chunked from
 * a parent/merged layer.
 */
import { compareBytes } from '../../erofs/writer-common.ts';
import type { SourceInode, SourceTree, Xattr } from '../../fs/tree.ts';
import { validateTree } from '../../fs/validate.ts';
import type { ChunkRef } from './types.ts';

export interface BNode {
  inode: SourceInode;
  name: Uint8Array;
  parent: BNode | null;
  /** directories: children sorted by name */
  children: BNode[];
  /** 1-based index (v5 inode table slot, v6 i_ino) */
  index: number;
  /** first entry of this inode's hardlink group (itself when not a hardlink) */
  primary: BNode;
  /** entries naming this inode (regular-file hardlinks), or 2 + subdirectories for directories */
  nlink: number;
  /** xattrs RAFS can hold (user., security., trusted., system.posix_acl_*) */
  xattrs: Xattr[];
  /** directories: v5 i_child_index (for an empty directory, the next free index when it was visited) */
  childIndex: number;
}

export interface BTree {
  root: BNode;
  /** every entry by index - 1 */
  byIndex: BNode[];
  /** primary entries of regular files in index order */
  files: BNode[];
}

/** Pre-chunked regular files (from a parent or merged bootstrap): chunk list by inode object. */
export type ChunkMap = Map<SourceInode, ChunkRef[]>;

const ALLOWED = ['user.', 'security.', 'trusted.', 'system.posix_acl_access', 'system.posix_acl_default'].map((p) => new TextEncoder().encode(p));
function allowed(name: Uint8Array): boolean {
  return ALLOWED.some((p) => p.length <= name.length && p.every((b, i) => name[i] === b));
}

/** `notes` receives one line per dropped xattr name (RAFS refuses other prefixes, §3.7). */
export function buildBTree(tree: SourceTree, notes: string[] = []): BTree {
  const dropped = new Set<string>();
  const xattrsOf = (i: SourceInode): Xattr[] => {
    if (i.xattrs.every((x) => allowed(x.name))) return i.xattrs;
    for (const x of i.xattrs) if (!allowed(x.name)) dropped.add(new TextDecoder().decode(x.name));
    return i.xattrs.filter((x) => allowed(x.name));
  };
  validateTree(tree);
  const root: BNode = { inode: tree.root, name: new Uint8Array([0x2f]), parent: null, children: [], index: 1, primary: null!, nlink: 2, childIndex: 0, xattrs: xattrsOf(tree.root) };
  root.primary = root;
  const byIndex: BNode[] = [root];
  const first = new Map<SourceInode, BNode>();
  const files: BNode[] = [];
  // recursion by explicit stack; each directory numbers its children, then descends in name order
  const visit = (dir: BNode): BNode[] => {
    // names, duplicates and directory hardlinks were refused by validateTree
    const kids = [...(dir.inode.children ?? [])].sort((a, b) => compareBytes(a.name, b.name));
    const subdirs: BNode[] = [];
    dir.childIndex = byIndex.length + 1;
    for (const d of kids) {
      const n: BNode = { inode: d.inode, name: d.name, parent: dir, children: [], index: byIndex.length + 1, primary: null!, nlink: 1, childIndex: 0, xattrs: xattrsOf(d.inode) };
      byIndex.push(n);
      dir.children.push(n);
      if (d.inode.type === 'dir') {
        n.primary = n;
        n.nlink = 2;
        dir.nlink++;
        subdirs.push(n);
      } else if (d.inode.type === 'reg') {
        const p = first.get(d.inode);
        if (p) {
          n.primary = p;
          p.nlink++;
        } else {
          n.primary = n;
          first.set(d.inode, n);
          files.push(n);
        }
      } else {
        n.primary = n;
      }
    }
    return subdirs;
  };
  const stack: BNode[][] = [[root]];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const d = top.shift();
    if (!d) {
      stack.pop();
      continue;
    }
    const sub = visit(d);
    if (sub.length) stack.push(sub);
  }
  // hardlink entries share the primary's nlink
  for (const n of byIndex) if (n.primary !== n) n.nlink = n.primary.nlink;
  for (const d of dropped) notes.push(`xattr ${JSON.stringify(d)} dropped: RAFS only holds user., security., trusted. and POSIX ACL xattrs`);
  return { root, byIndex, files };
}

/** Entries in pre-order DFS (node, then each child subtree in name order): v5 record order. */
export function preorder(root: BNode): BNode[] {
  const out: BNode[] = [];
  const stack: BNode[] = [root];
  while (stack.length) {
    const n = stack.pop()!;
    out.push(n);
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]!);
  }
  return out;
}

/** Resolve "/a/b" to an entry (byte-wise names; "/" = root). */
export function lookupPath(t: BTree, path: string): BNode | null {
  const enc = new TextEncoder();
  let n: BNode | null = t.root;
  for (const c of path.split('/').filter((s) => s.length > 0 && s !== '.')) {
    if (!n) return null;
    const want = enc.encode(c);
    n = n.children.find((k) => compareBytes(k.name, want) === 0) ?? null;
  }
  return n;
}

/** Regular-file primaries in blob dump order: prefetch-listed ones first (in list order), then index order. */
export function dumpOrder(t: BTree, prefetch: readonly BNode[]): BNode[] {
  const out: BNode[] = [];
  const done = new Set<BNode>();
  const add = (n: BNode) => {
    const p = n.primary;
    if (p.inode.type === 'reg' && !done.has(p)) {
      done.add(p);
      out.push(p);
    }
  };
  for (const p of prefetch) {
    if (p.inode.type === 'dir') {
      // every descendant, index order
      const q: BNode[] = [p];
      const all: BNode[] = [];
      while (q.length) {
        const d = q.shift()!;
        for (const c of d.children) {
          all.push(c);
          if (c.inode.type === 'dir') q.push(c);
        }
      }
      all.sort((a, b) => a.index - b.index);
      for (const c of all) add(c);
    } else add(p);
  }
  for (const f of t.files) add(f);
  return out;
}
