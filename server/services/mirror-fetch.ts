// Fetching what the mirror declares, through the one upstream client (its TLS and
// private-network rules) into the one content store: a file by URL (at most 10
// redirects, a 2xx at the end, the declared checksum verified), an image by digest over
// the registry HTTP API v2 (every manifest an index lists and every config and layer
// blob, digests verified, with the anonymous Bearer-token flow). Bodies stream; a failure
// keeps nothing and says why in words a person can act on.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { MismatchError, TooLargeError } from '../storage/content-store.js';
import type { ContentStore, MirrorEntry, MirroredPart } from '../domain/stores.js';
import { UpstreamError, type UpstreamClient } from '../upstream/upstream.js';
import { Failure } from '../domain/errors.js';
import { blobUrl, manifestReferences, manifestUrl, MANIFEST_TYPES, parseBearerChallenge, parseImageRef, type ImageRef } from '../domain/image-ref.js';
import type { FetchHooks, FetchResult } from './mirror.js';

export const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
// The registry's own limit for a manifest (distribution: 4 MiB): held whole to be parsed.
const MAX_MANIFEST = 4 * 1024 * 1024;
const USER_AGENT = 'artifact-repo-mirror';

interface Hop {
  url: URL;
  /** Headers for this URL (credentials only for the host they belong to). */
  headers: OutgoingHttpHeaders;
}

/** GET, following redirects; the answer is the first that is not one. */
async function getFollowing(upstream: UpstreamClient, start: URL, headersFor: (url: URL) => OutgoingHttpHeaders, signal: AbortSignal): Promise<{ res: IncomingMessage; url: URL }> {
  let hop: Hop = { url: start, headers: headersFor(start) };
  for (let redirects = 0; ; redirects++) {
    const res = await upstream.request({ method: 'GET', url: hop.url, headers: { 'user-agent': USER_AGENT, ...hop.headers }, signal });
    const status = res.statusCode ?? 0;
    if (!REDIRECTS.has(status)) return { res, url: hop.url };
    res.resume();
    const location = res.headers.location;
    if (!location) throw new Error(`upstream answered ${status} without a Location`);
    if (redirects === MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects (the last to ${redacted(location, hop.url)})`);
    let next: URL;
    try {
      next = new URL(location, hop.url);
    } catch {
      throw new Error(`upstream redirected to a malformed URL`);
    }
    if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new Error(`upstream redirected to a ${next.protocol} URL`);
    hop = { url: next, headers: headersFor(next) };
  }
}

/** A URL for a reason: no credentials, no query. */
function redacted(location: string, base: URL): string {
  try {
    const url = new URL(location, base);
    return `${url.origin}${url.pathname}`;
  } catch {
    return 'a malformed URL';
  }
}

function refused(res: IncomingMessage, what: string): Error {
  res.resume();
  return new Error(`upstream answered ${res.statusCode ?? 0}${what ? ` for ${what}` : ''}`);
}

/** Why a download failed, as the entry shows it. */
export function failureReason(err: unknown): string {
  if (err instanceof UpstreamError || err instanceof MismatchError) return err.message;
  if (err instanceof TooLargeError) return `larger than the mirror's limit of ${err.limit} bytes per entry (MIRROR_MAX_ENTRY_SIZE)`;
  if (err instanceof Failure && err.kind === 'insufficient-storage') return 'the repository has no room left to store it (insufficient storage)';
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error).message === 'aborted') return 'upstream closed the connection mid-body';
  if (code === 'ABORT_ERR' || (err as Error).name === 'AbortError') return 'stopped (the entry was removed or the server stopped)';
  return err instanceof Error ? err.message : String(err);
}

/** A declared length past the limit fails at once; a body that grows past it, as soon as it does. */
function checkDeclaredLength(res: IncomingMessage, room: number): void {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > room) {
    res.destroy();
    throw new TooLargeError(room);
  }
}

export class MirrorFetcher {
  constructor(
    private readonly upstream: UpstreamClient,
    private readonly content: ContentStore,
    /** What one entry (a file, or all of an image's parts) may hold (MIRROR_MAX_ENTRY_BYTES). */
    private readonly maxEntryBytes: number,
  ) {}

  /** The Fetch of mirror.ts: an entry's bodies into the content store. */
  fetch = async (entry: MirrorEntry, hooks: FetchHooks): Promise<FetchResult> => {
    try {
      if (entry.kind === 'file') return await this.file(entry.url as string, entry.declaredSha256, hooks);
      const ref = parseImageRef(entry.image as string);
      if ('error' in ref) throw new Error(ref.error);
      return await new ImageFetch(this.upstream, this.content, ref, hooks, this.maxEntryBytes).run();
    } catch (err) {
      throw new Error(failureReason(err));
    }
  };

  private async file(url: string, declared: string | null, hooks: FetchHooks): Promise<FetchResult> {
    const { res } = await getFollowing(this.upstream, new URL(url), () => ({ accept: '*/*' }), hooks.signal);
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw refused(res, '');
    checkDeclaredLength(res, this.maxEntryBytes);
    const stored = await this.content.put(res, declared, hooks.progress, this.maxEntryBytes);
    hooks.stored(stored.sha256);
    const contentType = res.headers['content-type'] ?? 'application/octet-stream';
    return { sha256: stored.sha256, size: stored.size, parts: [{ url, sha256: stored.sha256, size: stored.size, contentType, digest: null }] };
  }
}

/** One image's download: a registry session (its bearer token) and what it stored. */
class ImageFetch {
  private token: string | null = null;
  private readonly parts: MirroredPart[] = [];
  private readonly seen = new Set<string>();
  private bytes = 0;

  constructor(
    private readonly upstream: UpstreamClient,
    private readonly content: ContentStore,
    private readonly ref: ImageRef,
    private readonly hooks: FetchHooks,
    private readonly maxBytes: number,
  ) {}

  async run(): Promise<FetchResult> {
    await this.manifest(this.ref.digest, 0);
    return { sha256: this.ref.digest.slice('sha256:'.length), size: this.bytes, parts: this.parts };
  }

  /** The registry itself (over HTTPS, as it was asked) gets the bearer token; a blob store it redirects to does not. */
  private headersFor(accept: string): (url: URL) => OutgoingHttpHeaders {
    const registry = new URL(manifestUrl(this.ref, this.ref.digest)).origin;
    return (url) => ({ accept, ...(this.token && url.origin === registry ? { authorization: `Bearer ${this.token}` } : {}) });
  }

  private async get(url: string, accept: string, what: string): Promise<IncomingMessage> {
    for (let attempt = 0; ; attempt++) {
      const { res } = await getFollowing(this.upstream, new URL(url), this.headersFor(accept), this.hooks.signal);
      if (res.statusCode === 401 && attempt === 0) {
        const challenge = parseBearerChallenge(res.headers['www-authenticate']);
        res.resume();
        if (!challenge) throw new Error(`registry ${this.ref.registry} asks for credentials the mirror does not have (only anonymous Bearer tokens)`);
        this.token = await this.bearerToken(challenge.realm, challenge.service, challenge.scope ?? `repository:${this.ref.name}:pull`);
        continue;
      }
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) throw refused(res, what);
      return res;
    }
  }

  /** The anonymous token flow: GET realm?service=…&scope=… answers {"token"} or {"access_token"}. */
  private async bearerToken(realm: string, service: string | null, scope: string): Promise<string> {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new Error(`registry ${this.ref.registry} named a malformed token realm`);
    }
    if (url.protocol !== 'https:') throw new Error(`registry ${this.ref.registry} named a token realm that is not https`);
    if (service) url.searchParams.set('service', service);
    url.searchParams.set('scope', scope);
    const { res } = await getFollowing(this.upstream, url, () => ({ accept: 'application/json' }), this.hooks.signal);
    if ((res.statusCode ?? 0) !== 200) throw refused(res, `a token from ${url.origin}${url.pathname}`);
    const body = await readLimited(res, 64 * 1024, 'the token answer');
    let token: unknown;
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = parsed.token ?? parsed.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token === '') throw new Error(`the token service ${url.origin} answered without a token`);
    return token;
  }

  private async manifest(digest: string, depth: number): Promise<void> {
    if (this.seen.has(digest)) return;
    this.seen.add(digest);
    const url = manifestUrl(this.ref, digest);
    const res = await this.get(url, MANIFEST_TYPES.join(', '), `manifest ${digest}`);
    const body = await readLimited(res, MAX_MANIFEST, `manifest ${digest}`);
    const stored = await this.content.put(Readable.from([body]), digest.slice('sha256:'.length)).catch((err: unknown) => {
      if (err instanceof MismatchError) throw new Error(`digest mismatch: manifest ${digest} has sha256:${err.actual}`);
      throw err;
    });
    this.hooks.stored(stored.sha256);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new Error(`manifest ${digest} is not JSON`);
    }
    const mediaType = (parsed as { mediaType?: unknown }).mediaType;
    const contentType = typeof mediaType === 'string' ? mediaType : (res.headers['content-type'] ?? MANIFEST_TYPES[2] as string);
    this.add({ url, sha256: stored.sha256, size: stored.size, contentType, digest });
    const refs = manifestReferences(parsed);
    if ('error' in refs) throw new Error(`manifest ${digest}: ${refs.error}`);
    // An index lists manifests; one that lists indexes again is as deep as registries go.
    if (refs.manifests.length > 0 && depth >= 2) throw new Error(`manifest ${digest}: indexes nested deeper than two`);
    for (const child of refs.manifests) await this.manifest(child, depth + 1);
    for (const blob of refs.blobs) await this.blob(blob);
  }

  private async blob(digest: string): Promise<void> {
    if (this.seen.has(digest)) return;
    this.seen.add(digest);
    const url = blobUrl(this.ref, digest);
    const res = await this.get(url, '*/*', `blob ${digest}`);
    const before = this.bytes;
    // The image's parts together, as one entry: what is left of the limit after the parts before.
    const room = Math.max(0, this.maxBytes - before);
    try {
      checkDeclaredLength(res, room);
    } catch {
      throw new TooLargeError(this.maxBytes);
    }
    const stored = await this.content.put(res, digest.slice('sha256:'.length), (n) => this.hooks.progress(before + n), room).catch((err: unknown) => {
      if (err instanceof TooLargeError) throw new TooLargeError(this.maxBytes);
      if (err instanceof MismatchError) throw new Error(`digest mismatch: blob ${digest} has sha256:${err.actual}`);
      throw err;
    });
    this.hooks.stored(stored.sha256);
    this.add({ url, sha256: stored.sha256, size: stored.size, contentType: 'application/octet-stream', digest });
  }

  private add(part: MirroredPart): void {
    this.parts.push(part);
    this.bytes += part.size;
    if (this.bytes > this.maxBytes) throw new TooLargeError(this.maxBytes);
    this.hooks.progress(this.bytes);
  }
}

async function readLimited(res: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.destroy();
      throw new Error(`${what} is larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
