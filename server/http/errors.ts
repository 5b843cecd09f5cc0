// Error answers: short and clear, plain text in the tree, JSON under /-/. Never a stack
// trace, a server path or a secret.
import type { IncomingMessage, ServerResponse } from 'node:http';

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

export const AUTH_REALM = 'artifact-repo';

/** 429 for an address that failed too often; Retry-After says when to come back. */
export function tooManyAttempts(retryAfterSeconds: number): HttpError {
  return new HttpError(429, 'too many failed attempts; retry later', { 'Retry-After': String(retryAfterSeconds) });
}
export const CHALLENGE = { 'WWW-Authenticate': `Basic realm="${AUTH_REALM}", charset="UTF-8"` };

/** A body the client declared but we did not read: do not wait for it on this connection. */
function hasUnreadBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export function sendError(req: IncomingMessage, res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}, json = false, xmlBody?: string): void {
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
