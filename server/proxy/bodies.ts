// What flows through an exchange of the build proxy: bodies fed to several sinks at the
// pace of the slowest, request bodies hashed on their way, response headers as they may
// be passed on, and whether a stored answer satisfies a conditional request.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { noteStreamedBytes } from '../storage/buffer-release.js';
import { evaluateValidators } from '../http/conditional.js';
import { headerValue, type HeaderList } from '../domain/matching.js';

// Sockets to clients buffer up to this before they push back: at the default 16 KiB every
// TLS record from upstream would pause and resume it (measured: 3x slower).
export const TUNNEL_BUFFER = 256 * 1024;

// Response headers never passed to the client as they came: the connection's own.
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-authenticate', 'proxy-connection', 'upgrade', 'trailer']);

/** Raw response headers without hop-by-hop ones, as a flat list for writeHead. */
export function passedHeaders(raw: readonly string[], drop: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP_RESPONSE.has(name) || drop.has(name)) continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Whether a conditional request is answered 304 by a stored (or upstream) 200 with these
 * headers: If-None-Match against its ETag, else If-Modified-Since against its
 * Last-Modified, as http/conditional.ts judges them. Only for GET and HEAD.
 */
export function notModified(method: string, status: number, requestHeaders: IncomingHttpHeaders | HeaderList, answer: HeaderList): boolean {
  if ((method !== 'GET' && method !== 'HEAD') || status !== 200) return false;
  const lastModified = Date.parse(headerValue(answer, 'last-modified') ?? '');
  const conditions = { 'if-none-match': headerValue(requestHeaders, 'if-none-match'), 'if-modified-since': headerValue(requestHeaders, 'if-modified-since') };
  return evaluateValidators(conditions, { etag: headerValue(answer, 'etag') ?? null, modifiedMs: Number.isFinite(lastModified) ? lastModified : null }, true) === 'not-modified';
}

/** Hashes a request body on its way upstream (or nowhere, offline), losing no byte. */
export function hashedBody(req: IncomingMessage): { body: Readable | null; sha256: () => Promise<string | null> } {
  if (!hasBody(req)) return { body: null, sha256: async () => null };
  const hash = createHash('sha256');
  const tee = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const digest = new Promise<string>((resolve, reject) => {
    tee.once('end', () => resolve(hash.digest('hex')));
    req.once('error', reject);
    req.once('aborted', () => reject(new Error('the request body was cut off')));
  });
  digest.catch(() => undefined);
  req.pipe(tee);
  return { body: tee, sha256: () => digest };
}

/** Where a body goes: a write that says whether to go on, and a wait for room. */
export interface Sink {
  write(chunk: Buffer): boolean;
  onceDrained(resume: () => void): void;
}

/**
 * Feeds a readable to its sinks (the client, the content store), pausing while any of
 * them is full and resuming once all have room; resolves at the end of the readable.
 */
export function pump(source: Readable, sinks: Sink[], onChunk: (n: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let waiting = 0;
    const resume = (): void => {
      if (--waiting === 0) source.resume();
    };
    source.on('data', (chunk: Buffer) => {
      onChunk(chunk.length);
      noteStreamedBytes(chunk.length);
      for (const sink of sinks) {
        if (!sink.write(chunk)) {
          waiting++;
          sink.onceDrained(resume);
        }
      }
      if (waiting > 0) source.pause();
    });
    source.once('end', () => resolve());
    source.once('error', reject);
    source.once('aborted', () => reject(new Error('upstream closed mid-body')));
    source.once('close', () => {
      if (!source.readableEnded) reject(new Error('upstream closed mid-body'));
    });
  });
}

export function clientSink(res: ServerResponse): Sink {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    res.uncork();
  };
  return {
    // The TLS records that arrive together leave together: one write, not one per record.
    write: (chunk) => {
      if (!corked) {
        corked = true;
        res.cork();
        process.nextTick(uncork);
      }
      return res.write(chunk);
    },
    onceDrained: (resume) => {
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        resume();
      };
      res.on('drain', done);
      res.on('close', done);
    },
  };
}
