// Container image references and the registry HTTP API v2's addresses, as pure functions:
// what `registry.example.org/library/alpine@sha256:…` names, where its manifests and blobs
// are, and what a registry's Bearer challenge asks for. Tested directly.

export interface ImageRef {
  /** host[:port] of the registry's API (docker.io's is registry-1.docker.io). */
  registry: string;
  /** Repository name, e.g. library/alpine. */
  name: string;
  /** sha256:<64 hex>. */
  digest: string;
}

// The distribution reference grammar: lower-case components joined by separators.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const REGISTRY = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
export const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

/** An image named by digest, or the reason it cannot be mirrored (a tag moves). */
export function parseImageRef(text: string): ImageRef | { error: string } {
  if (text.length > 512) return { error: 'image: at most 512 characters' };
  const at = text.indexOf('@');
  if (at === -1) return { error: 'image must be named by digest (name@sha256:…): a tag can move, a digest cannot' };
  const digest = text.slice(at + 1);
  if (!DIGEST_RE.test(digest)) return { error: 'image digest must be sha256: and 64 lower-case hex digits' };
  let path = text.slice(0, at);
  // name:tag@digest is what `docker images --digests` prints: the digest decides.
  const lastSlash = path.lastIndexOf('/');
  const colon = path.indexOf(':', lastSlash + 1);
  if (colon !== -1) path = path.slice(0, colon);
  const parts = path.split('/');
  let registry = 'docker.io';
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = first;
    parts.shift();
  }
  if (!REGISTRY.test(registry)) return { error: `image: ${registry} is not a registry host` };
  if (parts.length === 0 || !parts.every((p) => COMPONENT.test(p))) return { error: 'image name: lower-case components (a-z, 0-9, . _ -) separated by /' };
  if (registry === 'docker.io' || registry === 'index.docker.io') {
    registry = 'registry-1.docker.io';
    if (parts.length === 1) parts.unshift('library');
  }
  return { registry, name: parts.join('/'), digest };
}

/** The reference as the mirror lists it and matches a second declaration. */
export function imageRefString(ref: ImageRef): string {
  return `${ref.registry}/${ref.name}@${ref.digest}`;
}

export function manifestUrl(ref: Pick<ImageRef, 'registry' | 'name'>, digest: string): string {
  return `https://${ref.registry}/v2/${ref.name}/manifests/${digest}`;
}

export function blobUrl(ref: Pick<ImageRef, 'registry' | 'name'>, digest: string): string {
  return `https://${ref.registry}/v2/${ref.name}/blobs/${digest}`;
}

export interface BearerChallenge {
  realm: string;
  service: string | null;
  scope: string | null;
}

/** `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`; null if it is not one. */
export function parseBearerChallenge(header: string | undefined): BearerChallenge | null {
  if (!header) return null;
  const m = /^\s*Bearer\s+(.*)$/i.exec(header);
  if (!m) return null;
  const params = new Map<string, string>();
  const re = /([A-Za-z]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)/g;
  for (const p of (m[1] as string).matchAll(re)) params.set((p[1] as string).toLowerCase(), (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1'));
  const realm = params.get('realm');
  if (!realm) return null;
  return { realm, service: params.get('service') ?? null, scope: params.get('scope') ?? null };
}

/** What a manifest refers to: the manifests an index lists, or a manifest's config and layers. */
export function manifestReferences(body: unknown): { manifests: string[]; blobs: string[] } | { error: string } {
  if (body === null || typeof body !== 'object') return { error: 'the manifest is not a JSON object' };
  const doc = body as { manifests?: unknown; config?: unknown; layers?: unknown };
  const digestOf = (d: unknown): string | null => {
    const digest = (d as { digest?: unknown } | null)?.digest;
    return typeof digest === 'string' && DIGEST_RE.test(digest) ? digest : null;
  };
  if (Array.isArray(doc.manifests)) {
    const manifests = doc.manifests.map(digestOf);
    if (manifests.some((d) => d === null)) return { error: 'the index lists a manifest without a sha256 digest' };
    return { manifests: manifests as string[], blobs: [] };
  }
  if (doc.config !== undefined || Array.isArray(doc.layers)) {
    const blobs = [doc.config, ...(Array.isArray(doc.layers) ? doc.layers : [])].map(digestOf);
    if (blobs.some((d) => d === null)) return { error: 'the manifest names a config or layer without a sha256 digest' };
    return { manifests: [], blobs: blobs as string[] };
  }
  return { error: 'neither an image index nor an image manifest (schema 1 manifests are not mirrored)' };
}
