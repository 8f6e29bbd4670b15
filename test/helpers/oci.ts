// Real OCI images for the oci-* tests, made at test time with Debian's umoci (init, new, unpack,
// repack, insert) and skopeo (copy between oci:, oci-archive: and docker-archive:), plus layers
// written by Python's tarfile where a tool will not make what a test needs (a hardlink to a file of
// a lower layer, a crafted dive case, hostile names) and appended to a layout as any builder would.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export function missingTools(): string | null {
  for (const t of ['umoci', 'skopeo', 'python3', 'zstd']) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `${t} is not installed (apt-get install umoci skopeo zstd)`;
  }
  if (process.getuid?.() !== 0) return 'not root: umoci unpack would drop owners and xattrs';
  return null;
}

export function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export const sha256hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export interface TarSpec {
  name: string;
  type?: 'file' | 'dir' | 'hardlink' | 'symlink';
  /** file content (utf8), or `size` bytes of a repeating pattern */
  text?: string;
  size?: number;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
}

const PY_TAR = String.raw`
import tarfile, sys, json, io
spec = json.load(sys.stdin)
out = io.BytesIO()
with tarfile.open(fileobj=out, mode='w', format=tarfile.PAX_FORMAT) as t:
    for e in spec:
        ti = tarfile.TarInfo(e['name'])
        ti.mode = e.get('mode', 0o644 if e.get('type', 'file') != 'dir' else 0o755)
        ti.uid = e.get('uid', 0); ti.gid = e.get('gid', 0); ti.mtime = e.get('mtime', 1700000000)
        ty = e.get('type', 'file')
        data = None
        if ty == 'dir': ti.type = tarfile.DIRTYPE
        elif ty == 'hardlink': ti.type = tarfile.LNKTYPE; ti.linkname = e['linkname']
        elif ty == 'symlink': ti.type = tarfile.SYMTYPE; ti.linkname = e['linkname']
        else:
            data = e['text'].encode() if 'text' in e else bytes((i * 7 + 3) % 251 for i in range(e['size']))
            ti.size = len(data)
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
sys.stdout.buffer.write(out.getvalue())
`;

/** A tar of the entries given, by Python's tarfile (PAX format). */
export function makeTar(entries: TarSpec[]): Buffer {
  return execFileSync('python3', ['-c', PY_TAR], { input: JSON.stringify(entries), maxBuffer: 1 << 28 });
}

function readJson(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}

export function writeBlob(layout: string, bytes: Uint8Array): { digest: string; size: number } {
  const hex = sha256hex(bytes);
  mkdirSync(join(layout, 'blobs/sha256'), { recursive: true });
  writeFileSync(join(layout, 'blobs/sha256', hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

export function readBlob(layout: string, digest: string): Buffer {
  return readFileSync(join(layout, 'blobs', ...digest.split(':')));
}

/** The manifest descriptor of a tag in index.json, and the manifest and config it names. */
export function manifestOf(layout: string, tag: string): { index: any; at: number; manifest: any; config: any } {
  const index = readJson(join(layout, 'index.json'));
  const at = index.manifests.findIndex((m: any) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (at < 0) throw new Error(`no tag ${tag} in ${layout}`);
  const manifest = JSON.parse(readBlob(layout, index.manifests[at].digest).toString());
  const config = JSON.parse(readBlob(layout, manifest.config.digest).toString());
  return { index, at, manifest, config };
}

/** Writes a changed manifest and config back under the tag. */
export function rewrite(layout: string, tag: string, change: (m: any, c: any) => void): void {
  const { index, at, manifest, config } = manifestOf(layout, tag);
  change(manifest, config);
  const c = writeBlob(layout, Buffer.from(JSON.stringify(config)));
  manifest.config = { ...manifest.config, ...c };
  const m = writeBlob(layout, Buffer.from(JSON.stringify(manifest)));
  index.manifests[at] = { ...index.manifests[at], ...m };
  writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
}

/** Appends a layer made of `tar` (compressed as asked) to the image a tag names, as a builder would. */
export function appendLayer(layout: string, tag: string, tar: Buffer, compress: 'none' | 'gzip' | 'zstd' = 'gzip', createdBy = 'appended by test/helpers/oci.ts'): void {
  const blob = compress === 'gzip' ? gzipSync(tar) : compress === 'zstd' ? execFileSync('zstd', ['-q', '-c'], { input: tar }) : tar;
  const b = writeBlob(layout, blob);
  const mediaType = `application/vnd.oci.image.layer.v1.tar${compress === 'none' ? '' : `+${compress}`}`;
  rewrite(layout, tag, (m, c) => {
    m.layers.push({ mediaType, ...b });
    c.rootfs.diff_ids.push(`sha256:${sha256hex(tar)}`);
    (c.history ??= []).push({ created: '2024-01-01T00:00:00Z', created_by: createdBy });
  });
}

/** An empty image: umoci init + new. */
export function newImage(layout: string, tag: string): void {
  run('umoci', ['init', '--layout', layout]);
  run('umoci', ['new', '--image', `${layout}:${tag}`]);
}

/** umoci unpack → `edit(rootfs)` → umoci repack: one layer of what changed. */
export function repack(layout: string, tag: string, work: string, edit: (rootfs: string) => void, createdBy?: string): void {
  const bundle = join(work, `bundle-${Math.random().toString(36).slice(2)}`);
  run('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
  edit(join(bundle, 'rootfs'));
  run('umoci', ['repack', ...(createdBy ? ['--history.created_by', createdBy] : []), '--image', `${layout}:${tag}`, bundle]);
  run('rm', ['-rf', bundle]);
}

/** `umoci unpack`'s rootfs of the tag: the reference merged tree. */
export function unpackRootfs(layout: string, tag: string, dest: string): string {
  run('umoci', ['unpack', '--image', `${layout}:${tag}`, dest]);
  return join(dest, 'rootfs');
}

export function sh(script: string, cwd?: string): string {
  return execFileSync('sh', ['-ec', script], { cwd, encoding: 'utf8' });
}

/**
 * The test image (tag "t"), four layers:
 *  1. repack: files with an xattr, owners, a mode, a symlink, a fifo, devices, a hardlink pair, fixed mtimes;
 *  2. repack: a file overwritten, one removed (a whiteout), a hardlink added to a file of layer 1
 *     (umoci writes the file again beside it), a directory removed;
 *  3. insert --opaque: /opt/old replaced by a directory of its own (an opaque whiteout);
 *  4. appended (gzip): a hardlink to a file only the layers below hold, a new file under an
 *     existing directory without its parent entry.
 */
export function makeTestImage(work: string): string {
  const layout = join(work, 'img');
  newImage(layout, 't');
  repack(layout, 't', work, (r) => sh(`
    mkdir -p etc data opt/old/sub usr/bin private gone
    printf hello > etc/a
    printf bee > etc/b
    head -c 70000 /dev/urandom > data/f1
    printf x > opt/old/x; printf y > opt/old/sub/y
    ln etc/a etc/a2
    ln -s ../../etc/a usr/bin/alink
    mkfifo usr/bin/fifo
    mkdir dev; mknod dev/null1 c 1 3; mknod dev/loop9 b 7 9
    printf secret > private/key; chmod 0600 private/key; chmod 0700 private
    printf g > gone/g
    setfattr -n user.test -v val etc/a
    setfattr -n user.dir -v d etc
    chown 1000:1001 data/f1; chmod 0640 data/f1
    find . -exec touch -h -d '2021-05-06 07:08:09.123456789' {} +
  `, r), 'layer one');
  repack(layout, 't', work, (r) => sh(`
    printf 'hello again, longer' > etc/a
    rm etc/b
    rm -r gone
    ln data/f1 data/f1link
    printf world > etc/c
  `, r), 'layer two');
  const src = join(work, 'newold');
  sh(`mkdir -p ${src}; printf z > ${src}/z`);
  run('umoci', ['insert', '--image', `${layout}:t`, '--opaque', src, '/opt/old']);
  appendLayer(layout, 't', makeTar([
    { name: 'lnk/', type: 'dir', mode: 0o755 },
    { name: 'lnk/f1again', type: 'hardlink', linkname: 'data/f1' },
    { name: 'etc/new/', type: 'dir', mode: 0o750, mtime: 1600000000 },
    { name: 'etc/new/deep', text: 'no parent entry for etc' },
  ]), 'gzip', 'layer four');
  return layout;
}

/** The corruption sweep's opener (test/helpers/corrupt.ts): an image archive's merged tree. */
export async function openOciArchive(src: import('../../src/lib/io/source.ts').ByteSource): Promise<import('../../src/lib/fs/types.ts').ReadOnlyFs> {
  const { filesFromTar, loadOci } = await import('../../src/lib/oci/index.ts');
  return (await loadOci(await filesFromTar(src))).fs;
}
