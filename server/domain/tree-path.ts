// The artifact tree's addressing rules: /{type}/{project}/{build}/{path below}.
// Pure functions; every request path and Destination goes through parseTreePath before
// anything touches the disk.
import { Failure } from './errors.js';

/** type, project and build: one segment each. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
/** Depth of a build collection: type, project, build. */
export const BUILD_DEPTH = 3;
const MAX_PATH_BYTES = 4096;
// 250, not 255: the metadata mirror in .meta appends a two-byte suffix to each name.
const MAX_SEGMENT_BYTES = 250;

export interface TreePath {
  /** Decoded segments; [] is the root. */
  readonly segments: readonly string[];
  /** The request named a collection (trailing slash). */
  readonly trailingSlash: boolean;
}

export class PathError extends Failure {
  constructor(kind: 'invalid' | 'too-long', message: string) {
    super(kind, message);
  }
}

// Control characters (C0 with NUL, DEL, C1) and the backslash never name anything here.
const FORBIDDEN_CHAR_RE = /[\u0000-\u001f\u007f-\u009f\\]/;
// Characters that change how a name looks without being seen: bidi controls (which show
// "evil\u202egpj.exe" as "evilexe.jpg"), zero-width and other format characters, a BOM,
// line and paragraph separators, and spaces other than the plain one.
const INVISIBLE_CHAR_RE = /[\p{Cf}\p{Zl}\p{Zp}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/u;

function decodeSegment(raw: string): string {
  let segment: string;
  try {
    segment = decodeURIComponent(raw);
  } catch {
    throw new PathError('invalid', 'malformed percent-encoding or invalid UTF-8 in path');
  }
  if (segment.includes('/')) throw new PathError('invalid', 'encoded slash in path');
  if (FORBIDDEN_CHAR_RE.test(segment)) throw new PathError('invalid', 'control character or backslash in path');
  if (INVISIBLE_CHAR_RE.test(segment)) throw new PathError('invalid', 'invisible or direction-changing character (bidi control, zero-width, format character or unusual space) in path');
  if (segment === '.' || segment === '..') throw new PathError('invalid', 'dot segments are not allowed in paths');
  if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) throw new PathError('invalid', 'path segment longer than 250 bytes');
  return segment;
}

/**
 * Parses the path part of a request target (no query) into tree segments. `maxLength`
 * bounds what a client may send; the repository's own hrefs encode more than a client
 * must (toHref escapes '+', '@', ...), and are parsed without it.
 * Refuses rather than repairs: empty segments, dot segments, encoded slashes,
 * backslashes, control characters, bad encodings and bad tree names.
 */
export function parseTreePath(rawPath: string, maxLength: number = MAX_PATH_BYTES): TreePath {
  if (!rawPath.startsWith('/')) throw new PathError('invalid', 'path must start with "/"');
  if (rawPath.length > maxLength) throw new PathError('too-long', 'path too long');
  const parts = rawPath.split('/');
  parts.shift();
  const trailingSlash = parts.length > 0 && parts[parts.length - 1] === '';
  if (trailingSlash) parts.pop();
  const segments = parts.map((raw) => {
    if (raw === '') throw new PathError('invalid', 'empty segment ("//") in path');
    return decodeSegment(raw);
  });
  for (let i = 0; i < Math.min(segments.length, BUILD_DEPTH); i++) {
    if (!NAME_RE.test(segments[i] as string)) {
      throw new PathError('invalid', `invalid ${LEVEL_NAMES[i]} name: must match ${NAME_RE.source}`);
    }
  }
  return { segments, trailingSlash };
}

const LEVEL_NAMES = ['type', 'project', 'build'] as const;

/**
 * Why a name a write would create is refused, or null. Names must be in Unicode NFC, so
 * that two names that look the same ("café" composed and decomposed) are one name.
 */
export function newNameProblem(segments: readonly string[]): string | null {
  for (const segment of segments) {
    if (segment !== segment.normalize('NFC')) return `names must be in Unicode NFC: "${segment.normalize('NFC')}" is the same name composed`;
  }
  return null;
}

/**
 * The path of a raw request target, still encoded, without the query. The absolute form
 * (`http://host/path`, RFC 9112 section 3.2.2) is reduced to its path.
 */
export function splitTarget(url: string): string {
  let target = url;
  const absolute = /^https?:\/\/[^/?#]*/i.exec(target);
  if (absolute) target = target.slice(absolute[0].length) || '/';
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/** A scope is a directory: /t/p/1/ contains /t/p/1/x but not /t/p/12/x. */
export function isInsideScope(segments: readonly string[], scope: readonly string[]): boolean {
  if (segments.length < scope.length) return false;
  for (let i = 0; i < scope.length; i++) {
    if (segments[i] !== scope[i]) return false;
  }
  return true;
}

/** Strictly below the scope's own collection. */
export function isBelowScope(segments: readonly string[], scope: readonly string[]): boolean {
  return segments.length > scope.length && isInsideScope(segments, scope);
}

export function sameSegments(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && isInsideScope(a, b);
}

/** Percent-encoded absolute path; collections end with a slash. */
export function toHref(segments: readonly string[], collection: boolean): string {
  if (segments.length === 0) return '/';
  const path = '/' + segments.map(encodeURIComponent).join('/');
  return collection ? path + '/' : path;
}

export function scopeSegments(scope: string): string[] {
  return scope.split('/').filter(Boolean);
}

export function scopeString(segments: readonly string[]): string {
  return '/' + segments.join('/') + '/';
}
