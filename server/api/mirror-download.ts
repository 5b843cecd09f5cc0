// GET /-/mirror/sha256/<hex>: a mirrored file by its checksum, named as its URL names it,
// so a Bazel `urls = [...]` with `sha256`, or any script, can use the mirror without the
// build proxy. Like every download: its checksum in the headers, ranges, validators.
import type { Request, Response } from 'express';
import type { ContentStore, MirroredPart } from '../domain/stores.js';
import { checksumHeaders } from '../http/headers.js';
import { evaluateValidators } from '../http/conditional.js';
import { openStoredBody, sendStoredBody, storedAnswer } from '../http/stored.js';

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
  const precondition = evaluateValidators({ 'if-none-match': req.headers['if-none-match'] }, { etag, modifiedMs: null }, true);
  const answer = storedAnswer(part.size, precondition, req.headers.range);
  if (answer.kind === 'not-modified') {
    res.writeHead(304, { ETag: etag, 'Cache-Control': headers['Cache-Control'] as string });
    res.end();
    return;
  }
  // Opened before the head: a store that cannot give the body is a 503, not a cut connection.
  const body = await openStoredBody(req, answer, (range) => content.read(part.sha256, range));
  try {
    res.writeHead(answer.status, { ...headers, ...answer.headers });
  } catch (err) {
    body?.destroy();
    throw err;
  }
  await sendStoredBody(req, res, answer, body);
}
