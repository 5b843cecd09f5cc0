// The Depth header (RFC 4918 section 10.2). Pure.
import { HttpError } from '../http/errors.js';

export type Depth = '0' | '1' | 'infinity';

/** The request's Depth, or `fallback` when absent; a value outside `allowed` is a 400. */
export function parseDepth(header: string | undefined, allowed: readonly Depth[], fallback: Depth): Depth {
  if (header === undefined) return fallback;
  const value = header.trim().toLowerCase();
  if ((value === '0' || value === '1' || value === 'infinity') && allowed.includes(value)) return value;
  throw new HttpError(400, `Depth must be ${allowed.join(' or ')}`);
}
