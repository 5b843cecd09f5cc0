// Which recorded exchange answers a request, the way an HTTP cache chooses a stored
// response (RFC 9111 section 4.1): same method and URL, a request body with the same
// SHA-256, and the same values for the request headers the recorded response's Vary
// names. Request header values are never written down: only a keyed hash of each (HMAC-
// SHA256 under a secret of the repository), which matches the same value again and cannot
// be reversed by trying a dictionary without that secret. Pure functions, tested directly.
import { createHash } from 'node:crypto';
import { KEYED_HASH_PREFIX, type KeyedHash } from './keyed-hash.js';

/** Request headers that recordings made before keyed hashes kept as plain SHA-256 (still matched). */
const LEGACY_HASHED_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

/** A response that varies on more request headers than this never matches again, as `Vary: *`. */
export const MAX_VARY_NAMES = 32;

export type { KeyedHash } from './keyed-hash.js';

/** Response headers kept with a recording: those that describe the body. */
export const RECORDED_RESPONSE_HEADERS = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-disposition',
  'etag',
  'last-modified',
  'location',
  'cache-control',
  'expires',
  'vary',
  'accept-ranges',
  'link',
  'digest',
  'x-checksum-sha256',
]);

export type HeaderList = Record<string, string | string[] | undefined>;

/** The URL as recorded and matched: no credentials, no fragment, default port left out. */
export function canonicalUrl(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  url.username = '';
  url.password = '';
  url.hash = '';
  return url.href;
}

/** How much of a URL an audit line or a log line keeps. */
export const AUDIT_URL_CHARS = 512;

/** A URL as the audit trail and the logs may show it: no query (it may hold credentials), at most AUDIT_URL_CHARS. */
export function auditUrl(url: string): string {
  const q = url.indexOf('?');
  const bare = q === -1 ? url : url.slice(0, q);
  const short = bare.length > AUDIT_URL_CHARS ? `${bare.slice(0, AUDIT_URL_CHARS)}…` : bare;
  return q === -1 ? short : `${short}?…`;
}

export function requestKey(method: string, url: string, bodySha256: string | null): string {
  return `${method.toUpperCase()} ${url}${bodySha256 ? ` body:${bodySha256}` : ''}`;
}

/** A header of a list (request or recorded), several values joined as one. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * The lower-case names a Vary header lists; ['*'] means the response never matches again,
 * and so does one that names more than MAX_VARY_NAMES (a recording keeps a value for each).
 */
export function varyNames(vary: string | undefined): string[] {
  if (!vary) return [];
  const names = [
    ...new Set(
      vary
        .split(',')
        .map((n) => n.trim().toLowerCase())
        .filter(Boolean),
    ),
  ];
  return names.length > MAX_VARY_NAMES ? ['*'] : names;
}

/** Normalised as RFC 9111 allows: whitespace around commas does not tell two values apart. */
function normalValue(value: string): string {
  return value.split(',').map((v) => v.trim()).join(', ');
}

/** What a recording keeps of the request: a keyed hash of each header its response varies on (null: absent). */
export function varyValues(vary: string | undefined, requestHeaders: HeaderList, hash: KeyedHash): Record<string, string | null> {
  const kept: Record<string, string | null> = {};
  for (const name of varyNames(vary)) {
    if (name === '*') continue;
    const value = headerValue(requestHeaders, name);
    kept[name] = value === undefined ? null : hash(normalValue(value));
  }
  return kept;
}

/** Whether a kept value is this request's: a keyed hash, or what recordings before keyed hashes kept. */
function sameValue(name: string, kept: string | null, value: string | undefined, hash: KeyedHash): boolean {
  if (kept === null || value === undefined) return kept === null && value === undefined;
  const normal = normalValue(value);
  if (kept.startsWith(KEYED_HASH_PREFIX)) return kept === hash(normal);
  if (LEGACY_HASHED_HEADERS.has(name)) return kept === `sha256:${createHash('sha256').update(normal).digest('hex')}`;
  return kept === normal;
}

export interface Candidate {
  /** The recorded response's headers (lower-case names). */
  headers: readonly (readonly [string, string])[];
  /** varyValues() of the recorded request. */
  varyValues: Record<string, string | null>;
}

/** Whether a recorded response, by its Vary, answers a request with these headers. */
export function varyMatches(candidate: Candidate, requestHeaders: HeaderList, hash: KeyedHash): boolean {
  const vary = candidate.headers.filter(([name]) => name === 'vary').map(([, value]) => value).join(', ');
  const names = varyNames(vary || undefined);
  if (names.includes('*')) return false;
  for (const name of names) {
    if (!sameValue(name, candidate.varyValues[name] ?? null, headerValue(requestHeaders, name), hash)) return false;
  }
  return true;
}

/** The first recorded answer that matches (the first complete one of its kind is kept). */
export function pickRecording<T extends Candidate>(candidates: readonly T[], requestHeaders: HeaderList, hash: KeyedHash): T | null {
  for (const candidate of candidates) if (varyMatches(candidate, requestHeaders, hash)) return candidate;
  return null;
}

/** The response headers a recording keeps, in order; never Set-Cookie. */
export function recordedHeaders(raw: readonly string[]): [string, string][] {
  const kept: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (RECORDED_RESPONSE_HEADERS.has(name)) kept.push([name, raw[i + 1] as string]);
  }
  return kept;
}
