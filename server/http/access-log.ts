// One structured line per request: method, path, status, bytes, duration, token id and the
// client's address (the one X-Forwarded-For names behind a trusted proxy, as the throttle
// uses). Never a header, a query string, a password or a hash.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { RequestSample } from './metrics.js';
import { clientAddress } from './client.js';

/** nginx's status for a request whose client went away before it was answered. */
export const CLIENT_CLOSED_STATUS = 499;

export interface RequestLog {
  tokenId?: string;
  principal?: string;
  /** Body bytes received so far: kept up to date by the handlers that read a body. */
  bytesIn?: number;
  /** What a write stored, for the audit trail. */
  stored?: { size: number; sha256: string };
  error?: string;
}

const logs = new WeakMap<IncomingMessage, RequestLog>();

export function requestLog(req: IncomingMessage): RequestLog {
  let log = logs.get(req);
  if (!log) logs.set(req, (log = {}));
  return log;
}

function logPath(url: string | undefined): string {
  const raw = url ?? '';
  const q = raw.indexOf('?');
  const path = q === -1 ? raw : raw.slice(0, q);
  return path.length > 512 ? path.slice(0, 512) + '…' : path;
}

export function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse, trustedProxies: readonly string[], observe?: (sample: RequestSample) => void): void {
  const started = performance.now();
  const socket = req.socket;
  const writtenAtStart = socket.bytesWritten;
  const client = clientAddress(req, trustedProxies);
  res.once('close', () => {
    const fields = logs.get(req);
    // Closed before the answer started (an upload cut off): not the 200 Node presets.
    const answered = res.headersSent || res.writableFinished;
    const line = {
      method: req.method,
      path: logPath(req.url),
      status: answered ? res.statusCode : CLIENT_CLOSED_STATUS,
      bytes_in: fields?.bytesIn ?? 0,
      bytes_out: socket.bytesWritten - writtenAtStart,
      ms: Math.round((performance.now() - started) * 10) / 10,
      token: fields?.tokenId,
      principal: fields?.principal,
      client,
      aborted: res.writableFinished ? undefined : true,
      error: fields?.error,
    };
    if (res.statusCode >= 500) logger.error(line, 'request');
    else logger.info(line, 'request');
    observe?.({ method: line.method ?? '', path: line.path, status: line.status, bytesIn: line.bytes_in, bytesOut: line.bytes_out, seconds: line.ms / 1000 });
  });
}
