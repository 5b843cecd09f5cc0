// One structured line per request: method, path, status, bytes, duration, token id.
// Never a header, a query string, a password or a hash.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { RequestSample } from '../metrics/metrics.js';

export interface RequestLog {
  tokenId?: string;
  principal?: string;
  /** Body bytes received: set by the handlers that read a body. */
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

export function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse, observe?: (sample: RequestSample) => void): void {
  const started = performance.now();
  const socket = req.socket;
  const writtenAtStart = socket.bytesWritten;
  res.once('close', () => {
    const fields = logs.get(req);
    const line = {
      method: req.method,
      path: logPath(req.url),
      status: res.statusCode,
      bytes_in: fields?.bytesIn ?? 0,
      bytes_out: socket.bytesWritten - writtenAtStart,
      ms: Math.round((performance.now() - started) * 10) / 10,
      token: fields?.tokenId,
      principal: fields?.principal,
      client: socket.remoteAddress,
      aborted: res.writableFinished ? undefined : true,
      error: fields?.error,
    };
    if (res.statusCode >= 500) logger.error(line, 'request');
    else logger.info(line, 'request');
    observe?.({ method: line.method ?? '', path: line.path, status: line.status, bytesIn: line.bytes_in, bytesOut: line.bytes_out, seconds: line.ms / 1000 });
  });
}
