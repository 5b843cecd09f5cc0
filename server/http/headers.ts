// Headers of requests and of downloads, for every edge.
import type { IncomingMessage } from 'node:http';
import { reprDigest } from '../domain/checksum.js';

/** One request header as a string (Node types extension headers as string | string[]). */
export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The checksum of a download, as curl, Artifactory clients and RFC 9530 read it. */
export function checksumHeaders(sha256: string): Record<string, string> {
  return { 'X-Checksum-Sha256': sha256, 'Repr-Digest': reprDigest(sha256) };
}

// A sealed build never changes: browsers and nginx's cache of descriptions may keep its files.
export const SEALED_MAX_AGE_SECONDS = 24 * 3600;
