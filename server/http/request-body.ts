// Small request bodies (XML, JSON) read into memory under a hard cap. The cap is checked
// against Content-Length before a byte is read, and again while a chunked body arrives.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './errors.js';
import { requestLog } from './access-log.js';

export function declaredLength(req: IncomingMessage): number | null {
  const raw = req.headers['content-length'];
  if (raw === undefined) return null;
  return Number(raw);
}

export function checkDeclaredSize(req: IncomingMessage, limit: number): void {
  const length = declaredLength(req);
  if (length !== null && length > limit) throw new HttpError(413, `request body too large (limit ${limit} bytes)`);
}

export function readSmallBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer> {
  checkDeclaredSize(req, limit);
  const length = declaredLength(req);
  if (length === 0 || (length === null && req.headers['transfer-encoding'] === undefined)) return Promise.resolve(Buffer.alloc(0));
  if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
  return new Promise((resolve, reject) => {
    // One buffer, grown by doubling: a body sent as a million one-byte chunks must not
    // become a million Buffer objects.
    let body = Buffer.allocUnsafe(Math.min(length ?? 16 * 1024, limit));
    let size = 0;
    const onData = (chunk: Buffer): void => {
      if (size + chunk.length > limit) {
        req.off('data', onData);
        reject(new HttpError(413, `request body too large (limit ${limit} bytes)`));
        return;
      }
      if (size + chunk.length > body.length) {
        const grown = Buffer.allocUnsafe(Math.min(limit, Math.max(body.length * 2, size + chunk.length)));
        body.copy(grown, 0, 0, size);
        body = grown;
      }
      chunk.copy(body, size);
      size += chunk.length;
    };
    req.on('data', onData);
    req.once('end', () => {
      requestLog(req).bytesIn = size;
      resolve(body.subarray(0, size));
    });
    req.once('error', () => reject(new HttpError(400, 'request body was not received completely')));
  });
}
