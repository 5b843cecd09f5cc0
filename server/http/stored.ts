// How every download of stored bytes is answered: the tree's files, the mirror's files by
// checksum, and the build proxy's replays. The validators decide 304 or 412; a single
// Range gives 206 or 416; otherwise the whole body. The callers keep only what differs:
// their headers, and where the bytes come from.
import { read, readSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { Precondition } from './conditional.js';
import { Failure } from '../domain/errors.js';
import type { FileBacked } from '../domain/stores.js';
import { HttpError } from './errors.js';
import { byteRange } from './ranges.js';
import { noteStreamedBytes } from '../storage/buffer-release.js';

/** What to send: a 304, or these bytes of the body (none when it is empty) with this status. */
export type StoredAnswer =
  | { kind: 'not-modified' }
  | { kind: 'body'; status: number; start: number; end: number; length: number; headers: { 'Content-Length': number; 'Content-Range'?: string } };

/**
 * The answer to a GET or HEAD of a stored body of `size` bytes, given how its validators
 * judged the request's conditions. `range` is the Range header when it applies (If-Range
 * held, the stored answer is a 200); several ranges or a malformed one get the whole body.
 * 412 and 416 are thrown, as every edge answers them. Pure.
 */
export function storedAnswer(size: number, precondition: Precondition, range: string | undefined, status = 200): StoredAnswer {
  if (precondition === 'not-modified') return { kind: 'not-modified' };
  if (precondition === 'failed') throw new HttpError(412, 'precondition failed');
  const asked = status === 200 && size > 0 ? byteRange(size, range) : null;
  if (asked === 'unsatisfiable') throw new HttpError(416, 'range not satisfiable', { 'Content-Range': `bytes */${size}` });
  if (asked) {
    const length = asked.end - asked.start + 1;
    return { kind: 'body', status: 206, ...asked, length, headers: { 'Content-Length': length, 'Content-Range': `bytes ${asked.start}-${asked.end}/${size}` } };
  }
  return { kind: 'body', status, start: 0, end: size - 1, length: size, headers: { 'Content-Length': size } };
}

/** Where a stored body's bytes come from: its range, read (at once or once the store answers). */
export type StoredBodyReader = (range: { start: number; end: number }) => Readable | Promise<Readable>;

/**
 * Opens what an answer will send, before its head is written, so that a store that cannot
 * give it (the bucket away, the body missing) is answered with a 503, not a cut
 * connection. Null when the answer sends no body (a 304, a HEAD, an empty body). The
 * stream returned must go to sendStoredBody (or be destroyed).
 */
export async function openStoredBody(req: IncomingMessage, answer: StoredAnswer, read: StoredBodyReader): Promise<Readable | null> {
  if (answer.kind === 'not-modified' || req.method === 'HEAD' || answer.length === 0) return null;
  let source: Readable;
  try {
    source = await read(answer);
  } catch (err) {
    const failure = new Failure('unavailable', 'the stored body cannot be read now; try again shortly', 5);
    failure.cause = err;
    throw failure;
  }
  // An error before sendStoredBody listens must not go unheard (it would end the process);
  // sendStoredBody sees it as a destroyed stream.
  source.on('error', ignore);
  return source;
}

const ignore = (): void => undefined;

/**
 * Sends the body of an answer whose head is written: nothing for HEAD or an empty body,
 * else the bytes `body` gives for its range (opened already by openStoredBody, or read
 * now). A body that fails on the way (gone from the store, the bucket away) cuts the
 * connection: never a short file. Resolves to the bytes sent.
 */
export async function sendStoredBody(req: IncomingMessage, res: ServerResponse, answer: StoredAnswer, body: Readable | null | StoredBodyReader): Promise<number> {
  if (answer.kind === 'not-modified' || req.method === 'HEAD' || answer.length === 0 || body === null) {
    if (body !== null && typeof body !== 'function') body.destroy();
    res.end();
    return 0;
  }
  let source: Readable;
  if (typeof body === 'function') {
    try {
      source = await body(answer);
    } catch {
      // The head is sent: only a cut connection can say it failed.
      res.destroy();
      return 0;
    }
  } else source = body;
  if (source.destroyed || res.destroyed) {
    source.destroy();
    res.destroy();
    return 0;
  }
  const { file } = source as Readable & Partial<FileBacked>;
  if (file) {
    // Read by position into reused buffers: a replay of 1 GiB from the volume went from
    // ~700 to ~1 100 MB/s (no buffer, page faults and collection per MiB).
    try {
      return await sendFileRange(file.fd, res, file.start, file.end, file.small === true);
    } finally {
      source.destroy();
    }
  }
  // pipe, not pipeline: pipeline makes an AbortSignal per body and a DOMException at its end,
  // which cost a 4 KiB replay more than its bytes (measured with --cpu-prof).
  return new Promise((resolve) => {
    let sent = 0;
    // Each chunk read is a fresh buffer: counted, and the collector told (buffer-release.ts).
    source.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      noteStreamedBytes(chunk.length);
    });
    // Done once the last byte is handed to the socket, not once it is flushed: the caller (a
    // replay recording its exchange) goes on while the client receives it.
    source.once('end', () => resolve(sent));
    // Every error heard (a second one must not end the process either).
    source.on('error', () => {
      res.destroy();
      resolve(sent);
    });
    // A client gone before the end: the file is closed now, not when collected.
    res.once('close', () => {
      if (source.readableEnded) return;
      source.destroy();
      resolve(sent);
    });
    source.pipe(res);
  });
}

const readAt = promisify(read);

/** Bytes of a file read at once at most, each into one of two buffers reused for the whole range. */
const FILE_CHUNK_BYTES = 256 * 1024;

/**
 * Sends bytes start..end of an open file through two reused buffers: a buffer is read into
 * again only once the socket has taken it, so a 1 GiB download allocates nothing per chunk
 * (256 KiB each: 64 KiB or 1 MiB were slower through TLS). Reads go through the thread pool:
 * a big file may not be in the page cache. `atOnce`: the caller vouches that the whole file
 * is small (a few pages, likely cached, as the tree's small files are read in webdav/files.ts),
 * so the range is read in one call on this thread instead. Ends the
 * answer once the last byte is handed to the socket; a file shorter than the range, or an
 * error, cuts it. Resolves to the bytes handed over. The caller closes the file.
 */
export async function sendFileRange(fd: number, res: ServerResponse, start: number, end: number, atOnce = false): Promise<number> {
  if (atOnce) {
    const buffer = Buffer.allocUnsafe(end - start + 1);
    let bytesRead = 0;
    try {
      bytesRead = readSync(fd, buffer, 0, buffer.length, start);
    } catch {
      // A read that failed: cut below.
    }
    if (bytesRead === buffer.length) res.end(buffer);
    else res.destroy();
    return bytesRead;
  }
  const size = Math.min(FILE_CHUNK_BYTES, end - start + 1);
  const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
  const written: (Promise<boolean> | null)[] = [null, null];
  let position = start;
  let turn = 0;
  let closed = false;
  // A write whose socket is gone may never call back: the answer's close ends the wait.
  const gone = new Promise<boolean>((resolve) =>
    res.once('close', () => {
      closed = true;
      resolve(false);
    }),
  );
  try {
    while (position <= end && !closed && !res.destroyed) {
      const slot = turn++ % 2;
      const pending = written[slot];
      if (pending && !(await Promise.race([pending, gone]))) break;
      const buffer = buffers[slot] as Buffer;
      const { bytesRead } = await readAt(fd, buffer, 0, Math.min(buffer.length, end - position + 1), position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      written[slot] = new Promise((resolve) => res.write(chunk, (err) => resolve(!err)));
    }
  } catch {
    // A read that failed: the answer is cut below.
  }
  if (position > end && !closed) res.end();
  else res.destroy();
  return position - start;
}
