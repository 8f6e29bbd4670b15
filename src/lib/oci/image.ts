// Opening an image: which layout it is (an OCI image layout, Docker ≥ 25's `docker save` with its
// manifest.json beside the layout, or the older `docker save` of <id>/layer.tar files), which
// manifest (a platform of an index, a tag of several), its config and its layers. Every JSON file
// is bounded in size and in entries before it is parsed and checked against its digest after.
import type { ByteSource } from '../io/source.ts';
import { blobPath, digestText, parseDigest, readVerified, type Digest } from './digest.ts';
import { OciError } from './errors.ts';
import { checkedPath, type OciFiles } from './files.ts';
import { MT, layerCompression, platformText, type Compression, type Descriptor, type ImageConfig, type Platform } from './types.ts';

/** Largest index, manifest or config accepted: real ones are a few KiB; a 10^6-entry index is refused unread. */
export const MAX_JSON_BYTES = 4 << 20;
/** Most manifests an index may list (real indexes list tags × platforms: tens). */
export const MAX_INDEX_ENTRIES = 4096;
/** Most layers a manifest may list (overlayfs stacks at most 500 lowers; Docker stops at 127). */
export const MAX_LAYERS = 1024;
const MAX_INDEX_DEPTH = 4;

export type LayoutKind = 'oci-layout' | 'docker-save' | 'docker-save-legacy';

export interface LayerRef {
  index: number;
  /** the blob digest (a legacy docker save layer has none: its tar is checked against diffId only) */
  digest: Digest | null;
  mediaType: string;
  /** from the media type; null when there is none (legacy docker save: sniffed from the bytes) */
  compression: Compression | null;
  /** compressed size (the blob's) */
  size: number;
  /** the config's rootfs.diff_ids entry: the digest of the uncompressed tar */
  diffId: Digest;
  /** where the blob is in the layout */
  path: string;
}

/** One manifest an index offers. */
export interface ManifestChoice {
  digest: string;
  platform: string;
  ref: string;
}

export interface OciImage {
  kind: LayoutKind;
  name: string;
  /** every manifest the layout offers (platforms and tags), the chosen one marked by `manifestDigest` */
  choices: ManifestChoice[];
  /** the manifest's digest (legacy docker save has none) */
  manifestDigest: string | null;
  platform: string;
  refs: string[];
  config: ImageConfig;
  configDigest: string;
  layers: LayerRef[];
  /** what was noticed and tolerated */
  notes: string[];
}

export interface OpenOciOptions {
  /** "os/arch[/variant]"; default: the only one, else `defaultPlatform` */
  platform?: string;
  /** the platform taken from an index of several when none is asked (default linux/amd64; the CLI passes the host's) */
  defaultPlatform?: string;
  /** a tag: org.opencontainers.image.ref.name (OCI) or a RepoTags entry (docker save) */
  ref?: string;
}

const enc = new TextDecoder('utf-8', { fatal: false });

function parseJson(bytes: Uint8Array, structure: string, name: string): unknown {
  try {
    return JSON.parse(enc.decode(bytes));
  } catch (e) {
    throw new OciError('bad-json', structure, `${name}: ${(e as Error).message}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function need(files: OciFiles, path: string, structure: string, what: string): Promise<ByteSource> {
  const f = await files.get(path);
  if (!f) throw new OciError('missing-blob', structure, `${files.name}: ${what} ${path} is not in the image`);
  return f;
}

/** A JSON file of the layout (index.json, manifest.json, oci-layout), bounded. */
async function layoutJson(files: OciFiles, path: string, structure: string): Promise<unknown | null> {
  const f = await files.get(path);
  if (!f) return null;
  return parseJson(await readVerified(f, null, structure, MAX_JSON_BYTES), structure, `${files.name}:${path}`);
}

/** A JSON blob named by a descriptor: its size and digest checked. */
async function blobJson(files: OciFiles, desc: Descriptor, structure: string): Promise<unknown> {
  const d = parseDigest(desc.digest, structure);
  if (typeof desc.size === 'number' && desc.size > MAX_JSON_BYTES) throw new OciError('too-large', structure, `${digestText(d)}: descriptor size ${desc.size} is more than the ${MAX_JSON_BYTES} bytes a ${structure} may have`);
  const f = await need(files, blobPath(d), structure, structure);
  if (typeof desc.size === 'number' && f.size !== desc.size) throw new OciError('size-mismatch', structure, `${blobPath(d)} holds ${f.size} bytes, its descriptor says ${desc.size}`);
  return parseJson(await readVerified(f, d, structure, MAX_JSON_BYTES), structure, blobPath(d));
}

function descriptor(v: unknown, structure: string): Descriptor {
  if (!isObject(v) || typeof v.mediaType !== 'string' && v.mediaType !== undefined || typeof v.digest !== 'string' || typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
    throw new OciError('bad-json', structure, `descriptor ${JSON.stringify(v)?.slice(0, 200)} lacks a mediaType, digest or size`);
  }
  parseDigest(v.digest, structure);
  const p = v.platform;
  if (p !== undefined && !(isObject(p) && typeof p.os === 'string' && typeof p.architecture === 'string' && (p.variant === undefined || typeof p.variant === 'string'))) {
    throw new OciError('bad-json', structure, `descriptor ${v.digest}: platform ${JSON.stringify(p)?.slice(0, 200)} lacks a string os and architecture`);
  }
  if (v.annotations !== undefined && !(isObject(v.annotations) && Object.values(v.annotations).every((x) => typeof x === 'string'))) {
    throw new OciError('bad-json', structure, `descriptor ${v.digest}: annotations are no map of strings`);
  }
  return v as unknown as Descriptor;
}

interface Candidate {
  desc: Descriptor;
  platform?: Platform;
  ref: string;
}

/** The manifests an index lists, nested indexes followed (bounded in depth and entries). */
async function listManifests(files: OciFiles, index: unknown, structure: string, depth: number, out: Candidate[], ref: string): Promise<void> {
  if (!isObject(index) || !Array.isArray(index.manifests)) throw new OciError('bad-json', structure, 'an image index has a "manifests" array');
  if (index.manifests.length > MAX_INDEX_ENTRIES || out.length + index.manifests.length > MAX_INDEX_ENTRIES) {
    throw new OciError('too-large', structure, `${index.manifests.length} manifests listed: more than the ${MAX_INDEX_ENTRIES} an index may list`);
  }
  for (const m of index.manifests) {
    const desc = descriptor(m, structure);
    const r = desc.annotations?.['org.opencontainers.image.ref.name'] ?? ref;
    if (desc.mediaType === MT.ociIndex || desc.mediaType === MT.dockerList) {
      if (depth >= MAX_INDEX_DEPTH) throw new OciError('too-large', structure, `indexes nested more than ${MAX_INDEX_DEPTH} deep`);
      await listManifests(files, await blobJson(files, desc, 'oci.index'), 'oci.index', depth + 1, out, r);
    } else if (desc.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || (desc.platform?.os === 'unknown' && desc.platform.architecture === 'unknown')) {
      // BuildKit's provenance / SBOM attestations: manifests of no filesystem, listed beside the images
      continue;
    } else if (desc.mediaType === MT.ociManifest || desc.mediaType === MT.dockerManifest || desc.mediaType === undefined) {
      out.push({ desc, ...(desc.platform ? { platform: desc.platform } : {}), ref: r });
    }
    // anything else (an attestation, a signature artifact) is no image to open
  }
}

function choose(cands: Candidate[], opts: OpenOciOptions, name: string): Candidate {
  let c = cands;
  if (opts.ref !== undefined) {
    c = c.filter((x) => x.ref === opts.ref);
    if (!c.length) throw new OciError('no-manifest', 'oci.index', `${name}: no manifest tagged ${JSON.stringify(opts.ref)} (tags: ${[...new Set(cands.map((x) => x.ref || '(none)'))].join(', ')})`);
  }
  const want = opts.platform;
  if (want !== undefined) {
    c = c.filter((x) => platformText(x.platform) === want || (x.platform && `${x.platform.os}/${x.platform.architecture}` === want));
    if (!c.length) throw new OciError('no-manifest', 'oci.index', `${name}: no manifest for platform ${want} (platforms: ${cands.map((x) => platformText(x.platform) || '(unnamed)').join(', ')})`);
  }
  if (c.length > 1) {
    const [os, arch] = (opts.defaultPlatform ?? 'linux/amd64').split('/');
    const def = c.filter((x) => x.platform?.os === os && x.platform.architecture === arch);
    if (want === undefined && def.length >= 1 && new Set(def.map((x) => x.desc.digest)).size === 1) return def[0]!;
    if (new Set(c.map((x) => x.desc.digest)).size === 1) return c[0]!;
    throw new OciError('no-manifest', 'oci.index', `${name}: ${c.length} manifests (${c.map((x) => `${x.ref || '(untagged)'} ${platformText(x.platform) || ''}`.trim()).join(', ')}): choose a platform or a tag`);
  }
  if (!c.length) throw new OciError('no-manifest', 'oci.index', `${name}: the index lists no image manifest`);
  return c[0]!;
}

function checkConfig(v: unknown, structure: string): ImageConfig {
  if (!isObject(v)) throw new OciError('bad-json', structure, 'the image config is no JSON object');
  const bad = (what: string): never => {
    throw new OciError('bad-json', structure, `the image config's ${what}`);
  };
  const rootfs = v.rootfs;
  if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids)) bad('rootfs.diff_ids is missing');
  const diffIds = (rootfs as Record<string, unknown[]>).diff_ids!;
  if (diffIds.length > MAX_LAYERS) throw new OciError('too-large', structure, `${diffIds.length} diff_ids: more than ${MAX_LAYERS} layers`);
  for (const k of ['created', 'author', 'architecture', 'os', 'variant'] as const) if (v[k] !== undefined && typeof v[k] !== 'string') bad(`${k} is no string`);
  if (v.history !== undefined) {
    if (!Array.isArray(v.history) || v.history.length > MAX_LAYERS * 4) throw new OciError('too-large', structure, 'history is no array of a bounded length');
    for (const step of v.history as unknown[]) {
      if (!isObject(step)) bad('history holds a step that is no object');
      const h = step as Record<string, unknown>;
      for (const k of ['created', 'created_by', 'author', 'comment'] as const) if (h[k] !== undefined && typeof h[k] !== 'string') bad(`history ${k} is no string`);
      if (h.empty_layer !== undefined && typeof h.empty_layer !== 'boolean') bad('history empty_layer is no boolean');
    }
  }
  if (v.config !== undefined && v.config !== null) {
    if (!isObject(v.config)) bad('config is no object');
    const c = v.config as Record<string, unknown>;
    const strings = (x: unknown): boolean => Array.isArray(x) && x.every((s) => typeof s === 'string');
    for (const k of ['User', 'WorkingDir', 'StopSignal'] as const) if (c[k] !== undefined && typeof c[k] !== 'string') bad(`config.${k} is no string`);
    for (const k of ['Env', 'Entrypoint', 'Cmd'] as const) if (c[k] !== undefined && c[k] !== null && !strings(c[k])) bad(`config.${k} is no list of strings`);
    for (const k of ['ExposedPorts', 'Volumes'] as const) if (c[k] !== undefined && c[k] !== null && !isObject(c[k])) bad(`config.${k} is no object`);
    if (c.Labels !== undefined && c.Labels !== null && !(isObject(c.Labels) && Object.values(c.Labels).every((x) => typeof x === 'string'))) bad('config.Labels is no map of strings');
  }
  return v as ImageConfig;
}

function layersOf(manifest: unknown, config: ImageConfig, files: OciFiles): Omit<LayerRef, never>[] {
  if (!isObject(manifest) || !Array.isArray(manifest.layers)) throw new OciError('bad-json', 'oci.manifest', 'the manifest has no "layers" array');
  if (manifest.layers.length > MAX_LAYERS) throw new OciError('too-large', 'oci.manifest', `${manifest.layers.length} layers: more than the ${MAX_LAYERS} accepted`);
  const diffIds = config.rootfs!.diff_ids!;
  if (diffIds.length !== manifest.layers.length) throw new OciError('bad-json', 'oci.manifest', `the manifest lists ${manifest.layers.length} layers, the config ${diffIds.length} diff_ids`);
  return manifest.layers.map((l, i) => {
    const desc = descriptor(l, 'oci.manifest');
    const digest = parseDigest(desc.digest, 'oci.manifest');
    const compression = layerCompression(desc.mediaType);
    if (compression === null) throw new OciError('bad-json', 'oci.manifest', `${files.name}: layer ${i} has media type ${JSON.stringify(desc.mediaType)}, no tar layer (tar, tar+gzip, tar+zstd)`);
    return { index: i, digest, mediaType: desc.mediaType, compression, size: desc.size, diffId: parseDigest(diffIds[i], 'oci.config'), path: blobPath(digest) };
  });
}

/** Open the image a layout holds: one manifest (by platform / tag), its config and its layer list. */
export async function openOci(files: OciFiles, opts: OpenOciOptions = {}): Promise<OciImage> {
  const notes: string[] = [];
  const index = await layoutJson(files, 'index.json', 'oci.index');
  const dockerManifest = await layoutJson(files, 'manifest.json', 'docker.manifest');
  if (index !== null) {
    const layout = await layoutJson(files, 'oci-layout', 'oci.layout');
    if (layout === null) notes.push('no oci-layout file beside index.json');
    else if (!isObject(layout) || layout.imageLayoutVersion !== '1.0.0') notes.push(`oci-layout: imageLayoutVersion ${JSON.stringify(isObject(layout) ? layout.imageLayoutVersion : layout)}, 1.0.0 expected`);
    const cands: Candidate[] = [];
    await listManifests(files, index, 'oci.index', 0, cands, '');
    const pick = choose(cands, opts, files.name);
    const manifest = await blobJson(files, pick.desc, 'oci.manifest');
    if (!isObject(manifest) || !isObject(manifest.config)) throw new OciError('bad-json', 'oci.manifest', 'the manifest has no config descriptor');
    const cdesc = descriptor(manifest.config, 'oci.manifest');
    const config = checkConfig(await blobJson(files, cdesc, 'oci.config'), 'oci.config');
    const platform = platformText(pick.platform) || [config.os, config.architecture, config.variant].filter(Boolean).join('/');
    return {
      kind: dockerManifest !== null ? 'docker-save' : 'oci-layout', name: files.name,
      choices: cands.map((c) => ({ digest: c.desc.digest, platform: platformText(c.platform), ref: c.ref })),
      manifestDigest: pick.desc.digest, platform, refs: cands.filter((c) => c.desc.digest === pick.desc.digest && c.ref).map((c) => c.ref),
      config, configDigest: cdesc.digest, layers: layersOf(manifest, config, files), notes,
    };
  }
  if (dockerManifest !== null) return openDockerSave(files, dockerManifest, opts, notes);
  throw new OciError('no-manifest', 'oci.layout', `${files.name}: neither index.json (an OCI image layout) nor manifest.json (docker save)`);
}

/** `docker save` without index.json: manifest.json names the config and layer tars by path. */
async function openDockerSave(files: OciFiles, m: unknown, opts: OpenOciOptions, notes: string[]): Promise<OciImage> {
  if (!Array.isArray(m)) throw new OciError('bad-json', 'docker.manifest', 'manifest.json is no array');
  if (m.length > MAX_INDEX_ENTRIES) throw new OciError('too-large', 'docker.manifest', `${m.length} images: more than ${MAX_INDEX_ENTRIES}`);
  const images = m.map((x, i) => {
    if (!isObject(x) || typeof x.Config !== 'string' || !Array.isArray(x.Layers)) throw new OciError('bad-json', 'docker.manifest', `entry ${i} lacks Config or Layers`);
    const tags = Array.isArray(x.RepoTags) ? x.RepoTags.filter((t): t is string => typeof t === 'string') : [];
    return { config: x.Config, layers: x.Layers as unknown[], tags };
  });
  let pick = images;
  if (opts.ref !== undefined) pick = images.filter((x) => x.tags.includes(opts.ref!));
  if (pick.length !== 1) {
    throw new OciError('no-manifest', 'docker.manifest', `${files.name}: ${pick.length} images${opts.ref !== undefined ? ` tagged ${JSON.stringify(opts.ref)}` : ''} (tags: ${images.map((x) => x.tags.join(' ') || '(untagged)').join(', ')}): choose a tag`);
  }
  const img = pick[0]!;
  const cpath = checkedPath(img.config, 'docker.manifest');
  // the config file is named by its own digest: "<hex>.json" (old) or "blobs/sha256/<hex>" (Docker 25)
  const byName = /^(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(cpath);
  const cdig = byName ? parseDigest(`sha256:${byName[1]}`, 'docker.manifest') : null;
  if (!cdig) notes.push(`config ${cpath} is not named by its digest: not checked`);
  const config = checkConfig(parseJson(await readVerified(await need(files, cpath, 'docker.config', 'config'), cdig, 'docker.config', MAX_JSON_BYTES), 'docker.config', cpath), 'docker.config');
  if (img.layers.length > MAX_LAYERS) throw new OciError('too-large', 'docker.manifest', `${img.layers.length} layers: more than ${MAX_LAYERS}`);
  const diffIds = config.rootfs!.diff_ids!;
  if (diffIds.length !== img.layers.length) throw new OciError('bad-json', 'docker.manifest', `manifest.json lists ${img.layers.length} layers, the config ${diffIds.length} diff_ids`);
  const layers: LayerRef[] = [];
  for (let i = 0; i < img.layers.length; i++) {
    const p = img.layers[i];
    if (typeof p !== 'string') throw new OciError('bad-json', 'docker.manifest', `layer ${i} is no path`);
    const path = checkedPath(p, 'docker.manifest');
    const f = await need(files, path, 'docker.layer', `layer ${i}`);
    const blob = /^blobs\/(sha256|sha512)\/([0-9a-f]+)$/.exec(path);
    layers.push({
      index: i, digest: blob ? parseDigest(`${blob[1]}:${blob[2]}`, 'docker.manifest') : null, mediaType: '', compression: null,
      size: f.size, diffId: parseDigest(diffIds[i], 'docker.config'), path,
    });
  }
  return {
    kind: 'docker-save-legacy', name: files.name, choices: images.map((x) => ({ digest: '', platform: '', ref: x.tags.join(' ') })),
    manifestDigest: null, platform: [config.os, config.architecture, config.variant].filter(Boolean).join('/'), refs: img.tags,
    config, configDigest: cdig ? digestText(cdig) : '', layers, notes,
  };
}
