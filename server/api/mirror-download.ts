// GET /-/mirror/sha256/<hex>: a mirrored file by its checksum, named as its URL names it,
// so a Bazel `urls = [...]` with `sha256`, or any script, can use the mirror without the
// build proxy. Like every download: its checksum in the headers, ranges, validators.
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import type { ContentStore } from '../storage/content-store.js';
import type { MirroredPart } from '../storage/stores.js';
import { checksumHeaders } from '../webdav/files.js';
import { noneMatch } from '../http/conditional.js';
import { HttpError } from '../http/errors.js';
import { byteRange } from '../http/ranges.js';

/** `attachment; filename="…"`, with the UTF-8 form for names that are not plain ASCII (RFC 6266). */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return ascii === name ? `attachment; filename="${name}"` : `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

export async function sendMirrored(req: Request, res: Response, content: ContentStore, part: MirroredPart, fileName: string): Promise<void> {
  const etag = `"sha256:${part.sha256}"`;
  const headers: Record<string, string | number> = {
    'Content-Type': part.contentType,
    'Content-Disposition': contentDisposition(fileName),
    ETag: etag,
    'Accept-Ranges': 'bytes',
    // Its checksum is its name: it never changes.
    'Cache-Control': 'public, max-age=31536000, immutable',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': 'sandbox',
    ...checksumHeaders(part.sha256),
  };
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch !== undefined && !noneMatch(ifNoneMatch, etag)) {
    res.writeHead(304, { ETag: etag, 'Cache-Control': headers['Cache-Control'] as string });
    res.end();
    return;
  }
  let start = 0;
  let end = part.size - 1;
  let status = 200;
  const range = part.size > 0 ? byteRange(part.size, req.headers.range) : null;
  if (range === 'unsatisfiable') throw new HttpError(416, 'range not satisfiable', { 'Content-Range': `bytes */${part.size}` });
  if (range) {
    ({ start, end } = range);
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${part.size}`;
  }
  const length = part.size === 0 ? 0 : end - start + 1;
  headers['Content-Length'] = length;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  // A body gone from the store (removed by hand) cuts the connection: never a short file.
  await pipeline(content.read(part.sha256, { start, end }), res).catch(() => res.destroy());
}
