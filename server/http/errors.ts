// Error answers: short and clear, plain text in the tree, JSON under /-/. Never a stack
// trace, a server path or a secret.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Failure, isSystemError, systemFailure, type FailureKind } from '../domain/errors.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    /** XML body (a DAV:error element) instead of plain text, for WebDAV preconditions. */
    readonly xmlBody?: string,
  ) {
    super(message);
  }
}

const AUTH_REALM = 'artifact-repo';
const CHALLENGE = { 'WWW-Authenticate': `Basic realm="${AUTH_REALM}", charset="UTF-8"` };
const PROXY_CHALLENGE = { 'Proxy-Authenticate': `Basic realm="${AUTH_REALM}", charset="UTF-8"` };

/** Who asks for credentials: the server (401, WWW-Authenticate) or the build proxy (407, Proxy-Authenticate). */
export type Challenger = 'server' | 'proxy';

const STATUS_OF: Record<FailureKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  'not-allowed': 405,
  conflict: 409,
  'too-large': 413,
  'too-long': 414,
  throttled: 429,
  internal: 500,
  'upstream-failed': 502,
  unavailable: 503,
  'upstream-timeout': 504,
  'insufficient-storage': 507,
};

/** The answer to a failure of a kind: its status, and the headers that kind calls for. Pure. */
function answerOf(failure: Failure, challenger: Challenger = 'server'): HttpError {
  const headers: Record<string, string> = {};
  if (failure.retryAfterSeconds !== undefined) headers['Retry-After'] = String(failure.retryAfterSeconds);
  if (failure.kind === 'unauthenticated') {
    if (challenger === 'proxy') return new HttpError(407, failure.message, { ...headers, ...PROXY_CHALLENGE });
    Object.assign(headers, CHALLENGE);
  }
  return new HttpError(STATUS_OF[failure.kind], failure.message, headers);
}

/**
 * The one mapping from whatever a handler threw to the answer a client gets, for every
 * edge: the edges' own HttpErrors as they are; a failure by its kind (answerOf); a system
 * call's error by what it means (a full disk is 507); express's body errors; anything
 * else is a 500 whose details go to the log only (`internal` is true).
 */
export function httpErrorOf(err: unknown, challenger: Challenger = 'server'): { error: HttpError; internal: boolean } {
  if (err instanceof HttpError) return { error: err, internal: false };
  // zlib's Z_* codes are a client's bad body, not a system call's.
  const failure = err instanceof Failure ? err : isSystemError(err) ? systemFailure(err) : null;
  if (failure) {
    if (failure.kind === 'internal') return { error: new HttpError(500, 'internal error'), internal: true };
    return { error: answerOf(failure, challenger), internal: false };
  }
  const e = err as { type?: unknown; status?: unknown };
  // express's body parser, and a path it could not decode.
  if (e.type === 'entity.parse.failed') return { error: new HttpError(400, 'malformed JSON body'), internal: false };
  if (e.type === 'entity.too.large') return { error: new HttpError(413, 'request body too large'), internal: false };
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') return { error: new HttpError(415, 'unsupported body encoding'), internal: false };
  if (err instanceof URIError) return { error: new HttpError(400, 'malformed percent-encoding or invalid UTF-8 in path'), internal: false };
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return { error: new HttpError(e.status, 'bad request'), internal: false };
  return { error: new HttpError(500, 'internal error'), internal: true };
}

/** A body the client declared but we did not read: do not wait for it on this connection. */
// A refused request's unread body up to this size is read and dropped by Node after the
// answer, and the connection kept. Closing with bytes still unread makes the kernel reset
// it, which can destroy the answer on its way: nginx then reports 502 instead of the 423
// (litmus notowner_modify through nginx, seen once in CI). Larger or chunked bodies are
// not worth reading: the connection closes.
const DRAINED_BODY_BYTES = 64 * 1024;

function hasUnreadBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0' && !(Number(length) <= DRAINED_BODY_BYTES));
}

// What Node's parser reports before a request exists, as the status line to answer.
const CLIENT_ERROR_STATUS: Record<string, string> = {
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_URI_TOO_LONG: '414 URI Too Long',
};

/** A server's clientError handler: a bare status line, then the connection goes. */
export function answerClientError(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  if (!socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  const status = CLIENT_ERROR_STATUS[err.code ?? ''] ?? '400 Bad Request';
  // end() alone can leave a paused socket open: destroy once the answer is flushed.
  socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
}

function sendError(req: IncomingMessage, res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}, json = false, xmlBody?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = xmlBody ?? (json ? JSON.stringify({ error: message }) + '\n' : message + '\n');
  const type = xmlBody ? 'application/xml; charset=utf-8' : json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8';
  const extra: Record<string, string | number> = { ...headers, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' };
  if (hasUnreadBody(req)) extra.Connection = 'close';
  res.writeHead(status, extra);
  res.end(req.method === 'HEAD' ? undefined : body);
}

export function sendHttpError(req: IncomingMessage, res: ServerResponse, err: HttpError, json = false): void {
  sendError(req, res, err.status, err.message, err.headers, json, err.xmlBody);
}
