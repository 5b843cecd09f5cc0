// GET and HEAD of files, with validators, ranges and conditional answers: from a volume by
// its descriptor, or streamed from the bucket's blob; PUT streamed into the tree, which
// shows the file only once whole (a temporary file renamed in, or a blob then its row).
import { close, readSync } from 'node:fs';
import { sendFileRange, sendStoredBody, storedAnswer } from '../http/stored.js';
import { contentTypeOf } from '../http/content-types.js';
import { toHref } from '../domain/tree-path.js';
import { declaredChecksum } from '../domain/checksum.js';
import { CACHED_FILE_BYTES } from '../storage/served-files.js';
import { Failure } from '../domain/errors.js';
import type { TreeStats } from '../domain/stores.js';
import { buildOf } from '../services/builds.js';
import { guardWrite } from './preconditions.js';
import { evaluatePreconditions, etagOf, ifRangeHolds } from '../http/conditional.js';
import type { TreeRequest } from './context.js';
import { HttpError } from '../http/errors.js';
import { sendListing } from './listing.js';
import { requestLog } from '../http/access-log.js';
import { declaredLength } from '../http/request-body.js';
import { checksumHeaders, headerValue, SEALED_MAX_AGE_SECONDS } from '../http/headers.js';

/** nginx's internal location that fetches a presigned URL (nginx/bucket.conf): /.bucket/SCHEME/HOST/PATH?QUERY. */
const BUCKET_REDIRECT_PREFIX = '/.bucket/';

// Small files are read in one call; larger ones are streamed with bounded buffers.
const SMALL_FILE_BYTES = 128 * 1024;

function fileHeaders(stats: TreeStats, name: string): Record<string, string | number> {
  return {
    'Content-Type': contentTypeOf(name),
    ETag: etagOf(stats),
    'Last-Modified': stats.mtime.toUTCString(),
    'Accept-Ranges': 'bytes',
    'X-Content-Type-Options': 'nosniff',
    // Artifacts are whatever a build produced: never let them script this origin.
    'Content-Security-Policy': 'sandbox',
  };
}

export async function getOrHead(request: TreeRequest): Promise<void> {
  const { req, res, target, services } = request;
  // A small file downloaded before and unchanged since: its bytes are still in memory.
  const cached = target.trailingSlash ? null : services.store.cachedFile(target.segments);
  // The headers describe exactly the bytes sent: the open file is stat'ed, not the path.
  const opened = cached || target.trailingSlash ? null : await services.store.open(target.segments);
  const found = cached ?? opened;
  if (!found) {
    const stats = await services.store.stat(target.segments);
    if (stats?.isDirectory()) {
      if (!target.trailingSlash) {
        const location = toHref(target.segments, true);
        res.writeHead(301, { Location: location, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': location.length + 1 });
        res.end(req.method === 'HEAD' ? undefined : location + '\n');
        return;
      }
      await sendListing(request);
      return;
    }
    // A wheel's METADATA beside it (PEP 658), which its sealed build announces to pip.
    const metadata = target.trailingSlash ? null : await services.packages.coreMetadata(target.segments);
    if (!metadata) throw new HttpError(404, 'not found');
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': metadata.length, 'Cache-Control': `public, max-age=${SEALED_MAX_AGE_SECONDS}, immutable`, 'X-Content-Type-Options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : metadata);
    return;
  }
  const { stats } = found;
  const fd = opened?.fd ?? null;
  let handedOver = false;
  try {
    if (target.trailingSlash || !stats.isFile()) throw new HttpError(404, 'not found');
    const name = target.segments[target.segments.length - 1] ?? '';
    const headers = fileHeaders(stats, name);
    // Every download carries its checksum: one missing (a file from before, a write cut
    // off between steps) is computed now, from these bytes, and recorded.
    Object.assign(headers, checksumHeaders(await services.catalog.ensureChecksum(target.segments, stats)));
    const build = buildOf(target.segments);
    const sealed = build !== null && (await services.builds.sealedForServing(build));
    if (sealed) headers['Cache-Control'] = `public, max-age=${SEALED_MAX_AGE_SECONDS}, immutable`;
    const range = ifRangeHolds(headerValue(req, 'if-range'), stats) ? req.headers.range : undefined;
    const answer = storedAnswer(stats.size, evaluatePreconditions(req.headers, stats, true), range);
    if (answer.kind === 'not-modified') {
      res.writeHead(304, { ETag: headers.ETag as string, 'Last-Modified': headers['Last-Modified'] as string });
      res.end();
      return;
    }
    const { start, end, length } = answer;
    // nginx in front that can fetch from the bucket itself (nginx/bucket.conf): a whole
    // file is its to send, by an internal redirect to a presigned URL of the blob, with
    // these headers (docs/deployment.md). Ranges and the rest stream from here.
    // (A URL that cannot be signed, say the credentials unreadable now, streams instead.)
    const presigned = req.method === 'GET' && answer.status === 200 && length > 0 && opened?.presign && headerValue(req, 'x-accel-bucket') === 'on' ? await opened.presign(headers['Content-Type'] as string).catch(() => null) : null;
    if (presigned) {
      const url = new URL(presigned);
      res.writeHead(200, { ...headers, 'Content-Length': 0, 'X-Accel-Redirect': `${BUCKET_REDIRECT_PREFIX}${url.protocol.slice(0, -1)}/${url.host}${url.pathname}${url.search}` });
      res.end();
      return;
    }
    // A bucket's blob is asked for before anything is sent: a store that is away is a 503, not a cut answer.
    const sending = req.method !== 'HEAD' && length > 0;
    const blob = sending && opened && fd === null ? await opened.stream(start, end) : null;
    res.writeHead(answer.status, { ...headers, ...answer.headers });
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    if (cached) {
      res.end(length === stats.size ? cached.bytes : cached.bytes.subarray(start, end + 1));
      return;
    }
    if (!opened) throw new Error('a file to read was not opened');
    if (blob || fd === null) {
      // Its bytes stream through (no descriptor here); a store that fails midway cuts the answer.
      handedOver = true;
      if (blob) await sendStoredBody(req, res, answer, blob);
      else res.destroy();
      return;
    }
    if (length <= SMALL_FILE_BYTES) {
      // A whole small file is kept for the next download (in its own allocation: a slice
      // of Node's shared pool would keep the whole pool alive).
      const whole = length === stats.size && length <= CACHED_FILE_BYTES;
      const buffer = whole ? Buffer.allocUnsafeSlow(length) : Buffer.allocUnsafe(length);
      const bytesRead = readSync(fd, buffer, 0, length, start);
      if (whole && bytesRead === length) services.store.rememberFile(target.segments, stats, buffer);
      res.end(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
      return;
    }
    handedOver = true;
    await sendFileRange(fd, res, start, end).finally(() => close(fd, () => undefined));
  } finally {
    if (!handedOver) opened?.close();
  }
}

export async function put(request: TreeRequest): Promise<void> {
  const { req, res, target, services } = request;
  if (target.trailingSlash) throw new HttpError(405, 'PUT needs a file path, not a collection');
  // RFC 9110 section 14.5: a partial PUT would store a fragment as the whole file.
  if (req.headers['content-range'] !== undefined) throw new HttpError(400, 'PUT with Content-Range is not supported; send the whole file');
  const existing = await services.store.stat(target.segments);
  if (existing?.isDirectory()) throw new HttpError(405, 'a collection exists at this path');
  const verdict = evaluatePreconditions(req.headers, existing, false);
  if (verdict !== 'ok') throw new HttpError(412, 'precondition failed');
  const declared = declaredChecksum(headerValue(req, 'x-checksum-sha256'), headerValue(req, 'content-digest'));
  if (!declared.ok) throw new HttpError(400, declared.error);
  await guardWrite(request, target.segments, { parentMembership: existing === null });
  if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
  const log = requestLog(req);
  log.bytesIn = 0;
  let result;
  try {
    result = await services.catalog.storeFile(target.segments, req, declared.sha256, declaredLength(req), (bytes) => (log.bytesIn = (log.bytesIn ?? 0) + bytes));
  } catch (err) {
    // A known storage failure (507 for a full disk) first; otherwise a client that went
    // away mid-body is a client error, whatever the stream reported.
    if (err instanceof Failure && err.kind !== 'internal') throw err;
    if (!req.complete) throw new HttpError(400, 'request body incomplete: upload aborted');
    throw err;
  }
  log.bytesIn = result.size;
  log.stored = { size: result.size, sha256: result.sha256 };
  if (request.auth.kind === 'token') services.builds.notePut(request.auth.token.scope, result);
  const headers: Record<string, string | number> = { 'Content-Length': 0, ETag: etagOf(result.stats), ...checksumHeaders(result.sha256) };
  if (result.created) headers.Location = toHref(target.segments, false);
  res.writeHead(result.created ? 201 : 204, headers);
  res.end();
}
