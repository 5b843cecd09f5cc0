// The build proxy's edge: a forward HTTP proxy on PROXY_PORT for the build tokens. It
// takes absolute-form requests (`GET http://host/path`) and CONNECT tunnels, in which it
// terminates TLS with a certificate of its own authority (authority.ts). Each request is
// authorised by the token service (Proxy-Authorization: Basic, the build token), then
// either fetched upstream and recorded as an input of the token's build ("record"), or
// answered from a sealed build's recording and the mirror with no network at all
// ("offline"). See the inputs contract, "The build proxy".
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Transform, type Duplex, type Readable } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { scopeSegments } from '../domain/tree-path.js';
import type { EventSink, ProxyOutcome } from '../domain/events.js';
import { errorSummary } from '../domain/errors.js';
import { parseBasicAuth } from '../auth/credentials.js';
import { answerClientError } from '../http/errors.js';
import { clientAddress } from '../http/client.js';
import { byteRange } from '../http/ranges.js';
import type { Builds } from '../builds/builds.js';
import type { ContentStore, ContentWriter } from '../storage/content-store.js';
import { noteStreamedBytes } from '../storage/buffer-release.js';
import { RecordingFull, type InputRecorder, type RecordingTicket } from '../recordings/recorder.js';
import { MAX_LINE_BYTES, serialiseLine } from '../storage/recording-lines.js';
import { type InputSource, type RecordedExchange } from '../storage/stores.js';
import type { MirroredPart } from '../storage/stores.js';
import type { Mirror } from '../mirror/mirror.js';
import { Busy, Gate, Pacer } from '../support/gate.js';
import type { LiveToken, TokenService } from '../../token-service/token-service.js';
import type { CertificateAuthority } from './authority.js';
import { auditUrl, canonicalUrl, notModified, recordedHeaders, varyValues, type HeaderList, type KeyedHash } from '../recordings/matching.js';
import { ReplayIndex } from '../recordings/replay-index.js';
import { forwardedHeaders, UpstreamError, type UpstreamClient } from '../upstream/upstream.js';

export const PROXY_REALM = 'artifact-repo';
const PROXY_CHALLENGE = `Basic realm="${PROXY_REALM}", charset="UTF-8"`;
export const REPLAY_MISS_HEADER = 'X-Artifact-Repo-Replay';

// Response headers never passed to the client as they came: the connection's own.
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-authenticate', 'proxy-connection', 'upgrade', 'trailer']);

// A build's misses each get an audit line up to this many (per process); all are in its recording.
export const AUDITED_MISSES = 100;
// New tunnels of one token: a burst at once, then this many a second (what comes faster
// waits): each costs a TLS handshake on the main thread (about 1.4 ms here; 700 a second
// from one token kept a health check within 81 ms, bench/stall-probe.mjs r4).
const TUNNEL_RATE = { perSecond: 200, burst: 400, waiting: 1024 };
// Certificates for host names not seen lately, per token: each costs a signature and a
// TLS context besides the handshake (177 a second kept health within 160 ms).
const LEAF_RATE = { perSecond: 20, burst: 200, waiting: 1024 };

export interface ProxyServices {
  config: Config;
  tokens: TokenService;
  builds: Builds;
  content: ContentStore;
  /** Each build's recording, within its limits. */
  recorder: InputRecorder;
  /** The keyed hash recordings keep of request header values. */
  recordingHash: KeyedHash;
  mirror: Mirror;
  emit: EventSink;
  logger: Logger;
  authority: CertificateAuthority;
  upstream: UpstreamClient;
  now: () => number;
}

/** What a CONNECT tunnel was opened for: every request inside it is for this origin. */
interface Tunnel {
  tokenId: string;
  origin: string;
}

class ProxyRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function sendPlain(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = message + '\n';
  res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Raw response headers without hop-by-hop ones, as a flat list for writeHead. */
function passedHeaders(raw: readonly string[], drop: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP_RESPONSE.has(name) || drop.has(name)) continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

const TUNNEL_BUFFER = 256 * 1024;

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Where a body goes: a write that says whether to go on, and a wait for room. */
interface Sink {
  write(chunk: Buffer): boolean;
  onceDrained(resume: () => void): void;
}

/**
 * Feeds a readable to its sinks (the client, the content store), pausing while any of
 * them is full and resuming once all have room; resolves at the end of the readable.
 */
function pump(source: Readable, sinks: Sink[], onChunk: (n: number) => void): Promise<void> {
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

function clientSink(res: ServerResponse): Sink {
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

export interface BuildProxy {
  server: http.Server;
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

export function createBuildProxy(services: ProxyServices): BuildProxy {
  const { config, tokens, builds, content, recorder, recordingHash, mirror, emit, logger, authority, upstream } = services;
  const tunnels = new WeakMap<Duplex, Tunnel>();
  const replays = new ReplayIndex(recorder.store, recorder.limits);
  const recorderUrlLimit = config.inputs.maxUrlLength;
  // Open tunnels per token, and the pace of new ones and of new certificates (proxy-hardening).
  const openTunnels = new Map<string, number>();
  const tunnelPace = new Pacer('new tunnels for this token', TUNNEL_RATE.perSecond, TUNNEL_RATE.burst, TUNNEL_RATE.waiting);
  const leafPace = new Pacer('new host names for this token', LEAF_RATE.perSecond, LEAF_RATE.burst, LEAF_RATE.waiting);
  // Certificates are made a few at a time whoever asks: the rest wait, and past that, 503.
  const leafGate = new Gate('certificates being made', 2, 512);
  // Misses audited so far per build (AUDITED_MISSES), for the builds seen lately.
  const auditedMisses = new Map<string, number>();
  const headersTimeout = config.headersTimeoutSeconds * 1000;
  // Sockets to clients buffer up to TUNNEL_BUFFER before they push back: at the default
  // 16 KiB every TLS record from upstream would pause and resume it (measured: 3x slower).
  const serverOptions = { requestTimeout: 0, headersTimeout, keepAliveTimeout: 5_000, connectionsCheckingInterval: Math.min(headersTimeout, 5000), highWaterMark: TUNNEL_BUFFER };

  const report = (mode: LiveToken['proxy'], outcome: ProxyOutcome, bytes = 0): void => emit({ event: 'proxy.exchange', mode, outcome, bytes });

  function logLine(req: IncomingMessage, url: string, status: number, token: string | undefined, outcome: string, started: number): void {
    // The URL without its query (which may carry credentials), as the access log does.
    logger.info({ method: req.method, url: auditUrl(url), status, token, outcome, ms: Math.round(performance.now() - started) }, 'proxy');
  }

  async function authenticate(req: IncomingMessage): Promise<LiveToken> {
    const credentials = parseBasicAuth(req.headers['proxy-authorization']);
    if (!credentials) throw new ProxyRefusal(407, 'proxy authentication required: the build token as Basic credentials', { 'Proxy-Authenticate': PROXY_CHALLENGE });
    const result = await tokens.authenticateToken(credentials.username, credentials.password, clientAddress(req, []));
    if (result.ok) return result.token;
    if (result.reason === 'throttled') throw new ProxyRefusal(429, 'too many failed attempts; retry later', { 'Retry-After': String(result.retryAfterSeconds) });
    throw new ProxyRefusal(407, 'invalid, revoked or expired credentials', { 'Proxy-Authenticate': PROXY_CHALLENGE });
  }

  /** The live token a request inside a tunnel acts for: revoked meanwhile, it opens nothing. */
  async function tunnelToken(tunnel: Tunnel): Promise<LiveToken> {
    const token = await tokens.liveToken(tunnel.tokenId);
    if (!token) throw new ProxyRefusal(407, 'the token of this tunnel was revoked or expired', { 'Proxy-Authenticate': PROXY_CHALLENGE });
    return token;
  }

  /** Hashes a request body on its way upstream (or nowhere, offline), losing no byte. */
  function hashedBody(req: IncomingMessage): { body: Readable | null; sha256: () => Promise<string | null> } {
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

  async function handle(req: IncomingMessage, res: ServerResponse, token: LiveToken, url: string): Promise<void> {
    const started = performance.now();
    let outcome: ProxyOutcome = 'failed';
    try {
      // Every exchange is recorded, and a recording keeps URLs of a bounded length.
      if (url.length > recorderUrlLimit) throw new ProxyRefusal(414, `the URL is ${url.length} characters long; the build proxy records URLs of at most ${recorderUrlLimit} (INPUTS_MAX_URL)`);
      const read = (req.method === 'GET' || req.method === 'HEAD') && !hasBody(req);
      const part = read ? mirror.answer(url) : null;
      if (part) outcome = await mirrored(req, res, token, url, part);
      else if (read && token.proxy === 'offline' && mirror.isRegistryRoot(url)) outcome = registryRoot(res);
      else outcome = token.proxy === 'offline' ? await offline(req, res, token, url) : await record(req, res, token, url);
    } catch (err) {
      if (err instanceof ProxyRefusal) {
        outcome = err.status >= 500 ? 'failed' : 'refused';
        sendPlain(res, err.status, err.message, err.headers);
      } else if (err instanceof UpstreamError) {
        outcome = err.kind === 'forbidden' ? 'refused' : 'failed';
        sendPlain(res, err.status, err.message);
      } else if (err instanceof RecordingFull) {
        outcome = 'refused';
        sendPlain(res, 507, err.message);
      } else {
        const status = (err as { status?: number }).status === 409 ? 409 : 502;
        if (status === 502) logger.warn({ url: auditUrl(url), reason: errorSummary(err) }, 'proxy exchange failed');
        sendPlain(res, status, status === 409 ? 'the build is sealed: its inputs never change' : 'the exchange failed');
      }
      report(token.proxy, outcome);
    } finally {
      logLine(req, url, res.statusCode, token.id, outcome, started);
    }
  }

  /** Record mode: fetched upstream, streamed to the client and the content store at once. */
  async function record(req: IncomingMessage, res: ServerResponse, token: LiveToken, url: string): Promise<ProxyOutcome> {
    const method = req.method ?? 'GET';
    const target = new URL(url);
    const headers = forwardedHeaders(req.rawHeaders);
    // A conditional request is fetched whole and recorded; the 304 is the proxy's. (A Range
    // goes as it came: a partial answer is passed through, not recorded, as the contract
    // says; replay answers ranges from a whole body.)
    const ranged = req.headers.range !== undefined;
    if (!ranged) {
      delete headers['if-none-match'];
      delete headers['if-modified-since'];
    }
    const body = hashedBody(req);
    return builds.whileWriting(
      token.scope,
      async () => {
        const ticket = await recorder.admit(scopeSegments(token.scope));
        try {
          return await recordAdmitted(req, res, url, method, target, headers, body, ticket);
        } finally {
          ticket.release();
        }
      },
      () => res.destroy(),
    );
  }

  /** A recording exchange admitted to its build's recording: fetched, streamed to the client and the content store, recorded. */
  async function recordAdmitted(
    req: IncomingMessage,
    res: ServerResponse,
    url: string,
    method: string,
    target: URL,
    headers: ReturnType<typeof forwardedHeaders>,
    body: ReturnType<typeof hashedBody>,
    ticket: RecordingTicket,
  ): Promise<ProxyOutcome> {
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const answer = await upstream.request({ method, url: target, headers, body: body.body, signal: abort.signal });
    const status = answer.statusCode ?? 502;
    // A part of a body (206, or 416 for a range it does not have) is not the resource: it
    // goes to the client, and the recording says only that it was asked for.
    if (req.headers.range !== undefined && (status === 206 || status === 416)) {
      res.writeHead(status, passedHeaders(answer.rawHeaders));
      let bytes = 0;
      await pump(answer, [clientSink(res)], (n) => (bytes += n)).catch(() => res.destroy());
      if (!res.destroyed) await ticket.record({ kind: 'partial', time: new Date(services.now()).toISOString(), method, url, status, range: String(req.headers.range).slice(0, 256) });
      res.end();
      report('record', 'passed', bytes);
      return 'passed' as const;
    }
    const kept = recordedHeaders(answer.rawHeaders);
    const vary = varyValues(answer.headers.vary, req.headers, recordingHash);
    // What the line will hold is known now: one too long to record is refused before a byte is sent.
    try {
      serialiseLine({ kind: 'exchange', time: new Date(services.now()).toISOString(), method, url, requestSha256: '0'.repeat(64), varyValues: vary, status, headers: kept, sha256: '0'.repeat(64), size: Number.MAX_SAFE_INTEGER, source: 'upstream' });
    } catch {
      answer.destroy();
      throw new ProxyRefusal(502, `the upstream's answer has more headers than a recording keeps (a line of at most ${MAX_LINE_BYTES} bytes)`);
    }
    let writer: ContentWriter;
    try {
      writer = await content.open();
    } catch {
      answer.destroy();
      throw new ProxyRefusal(507, 'the recording of this download cannot be stored (insufficient storage)');
    }
    const conditionalHit = notModified(method, status, req.headers, answer.headers);
    const sinks: Sink[] = [writer];
    if (conditionalHit) {
      res.writeHead(304, passedHeaders(answer.rawHeaders, new Set(['content-length', 'content-type', 'content-encoding', 'set-cookie'])));
      res.end();
    } else {
      res.writeHead(status, passedHeaders(answer.rawHeaders));
      sinks.push(clientSink(res));
    }
    let bytes = 0;
    try {
      await pump(answer, sinks, (n) => {
        bytes += n;
        if (writer.error) answer.destroy(writer.error);
      });
      if (!conditionalHit && !res.writableFinished && res.destroyed) throw new Error('the client went away');
      const stored = await writer.finish();
      const requestSha256 = await body.sha256();
      const line: RecordedExchange = {
        kind: 'exchange',
        time: new Date(services.now()).toISOString(),
        method,
        url,
        requestSha256,
        varyValues: vary,
        status,
        headers: kept,
        sha256: stored.sha256,
        size: stored.size,
        source: 'upstream',
      };
      await ticket.record(line);
    } catch (err) {
      await writer.abort();
      // After the headers, only a cut connection can say it failed.
      res.destroy();
      throw err;
    }
    if (!conditionalHit) res.end();
    report('record', 'recorded', bytes);
    return 'recorded' as const;
  }

  /** A mirrored URL, in either mode: answered from the mirror, recorded as an input marked so. */
  async function mirrored(req: IncomingMessage, res: ServerResponse, token: LiveToken, url: string, part: MirroredPart): Promise<ProxyOutcome> {
    const headers: [string, string][] = [
      ['content-type', part.contentType],
      ['content-length', String(part.size)],
      ['etag', `"${part.digest ?? `sha256:${part.sha256}`}"`],
      ['accept-ranges', 'bytes'],
      ['x-checksum-sha256', part.sha256],
    ];
    if (part.digest) headers.push(['docker-content-digest', part.digest]);
    const exchange: RecordedExchange = {
      kind: 'exchange',
      time: new Date(services.now()).toISOString(),
      method: req.method ?? 'GET',
      url,
      requestSha256: null,
      varyValues: {},
      status: 200,
      headers,
      sha256: part.sha256,
      size: part.size,
      source: 'mirror',
    };
    return builds.whileWriting(token.scope, async () => {
      const ticket = await recorder.admit(scopeSegments(token.scope));
      try {
        const bytes = await serveRecorded(req, res, exchange);
        await ticket.record(exchange);
        report(token.proxy, 'mirrored', bytes);
        return 'mirrored' as const;
      } finally {
        ticket.release();
      }
    });
  }

  /** The registry API's root, offline, for a registry the mirror holds images of (no input: it carries nothing). */
  function registryRoot(res: ServerResponse): ProxyOutcome {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 2, 'Docker-Distribution-API-Version': 'registry/2.0' });
    res.end(res.req.method === 'HEAD' ? undefined : '{}');
    report('offline', 'mirrored');
    return 'mirrored';
  }

  /** Offline: the replayed build's recording answers (the mirror did already), or a miss. */
  async function offline(req: IncomingMessage, res: ServerResponse, token: LiveToken, url: string): Promise<ProxyOutcome> {
    const method = req.method ?? 'GET';
    const body = hashedBody(req);
    body.body?.resume();
    const requestSha256 = await body.sha256();
    const found = token.replay ? await replays.find(token.replay, method, url, requestSha256, req.headers, recordingHash) : null;
    const build = scopeSegments(token.scope);
    return builds.whileWriting(token.scope, async () => {
      const ticket = await recorder.admit(build);
      try {
        if (!found) {
          await ticket.record({ kind: 'miss', time: new Date(services.now()).toISOString(), method, url, replayed: token.replay });
          auditMiss(token, method, url);
          const text = `not recorded: ${method} ${auditUrl(url)} is not in ${token.replay ? `the recording of ${token.replay} nor in the mirror` : 'the mirror'} (offline build proxy)`;
          sendPlain(res, 404, text, { [REPLAY_MISS_HEADER]: 'miss' });
          report('offline', 'miss');
          return 'miss' as const;
        }
        const bytes = await serveRecorded(req, res, found);
        await ticket.record({ ...found, time: new Date(services.now()).toISOString(), source: 'replay' as InputSource });
        report('offline', 'replayed', bytes);
        return 'replayed' as const;
      } finally {
        ticket.release();
      }
    });
  }

  /** The first AUDITED_MISSES misses of a build each get an audit line; the rest are in its recording (and counted at the seal). */
  function auditMiss(token: LiveToken, method: string, url: string): void {
    const seen = auditedMisses.get(token.scope) ?? 0;
    if (seen >= AUDITED_MISSES) return;
    if (auditedMisses.size >= 10_000 && seen === 0) auditedMisses.delete(auditedMisses.keys().next().value as string);
    auditedMisses.set(token.scope, seen + 1);
    emit({ event: 'input.missed', build: token.scope, method, url: auditUrl(url), replayed: token.replay, token: token.id });
  }

  /** A recorded answer: its status, headers and body; Date is now; ranges and 304 from the whole body. */
  async function serveRecorded(req: IncomingMessage, res: ServerResponse, found: RecordedExchange): Promise<number> {
    const recorded: HeaderList = Object.fromEntries(found.headers);
    const head = req.method === 'HEAD';
    const base = found.headers.filter(([name]) => name !== 'content-length');
    const out: string[] = ['Date', new Date(services.now()).toUTCString()];
    for (const [name, value] of base) out.push(name, value);
    if (notModified(req.method ?? 'GET', found.status, req.headers, recorded)) {
      const validators = ['Date', out[1] as string];
      for (const [name, value] of base) if (name !== 'content-type' && name !== 'content-encoding') validators.push(name, value);
      res.writeHead(304, validators);
      res.end();
      return 0;
    }
    let range: { start: number; end: number } | null = null;
    let status = found.status;
    const asked = found.status === 200 && found.size > 0 ? byteRange(found.size, req.headers.range) : null;
    if (asked === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${found.size}`, 'Content-Length': 0 });
      res.end();
      return 0;
    }
    if (asked) {
      range = asked;
      status = 206;
      out.push('Content-Range', `bytes ${range.start}-${range.end}/${found.size}`);
    }
    // A recorded HEAD has no body: its own Content-Length says what a GET would carry.
    const length = range ? range.end - range.start + 1 : found.method === 'HEAD' ? Number(recorded['content-length'] ?? 0) : found.size;
    out.push('Content-Length', String(length));
    res.writeHead(status, out);
    if (head || found.method === 'HEAD' || length === 0) {
      res.end();
      return 0;
    }
    let bytes = 0;
    await pump(content.read(found.sha256, range ?? { start: 0, end: found.size - 1 }), [clientSink(res)], (n) => (bytes += n)).catch(() => res.destroy());
    res.end();
    return bytes;
  }

  function refuse(res: ServerResponse, err: unknown): void {
    if (err instanceof ProxyRefusal) sendPlain(res, err.status, err.message, err.headers);
    else if (err instanceof UpstreamError) sendPlain(res, err.status, err.message);
    else {
      logger.warn({ reason: errorSummary(err) }, 'proxy request failed');
      sendPlain(res, 502, 'the request failed');
    }
  }

  // Absolute-form requests (plain HTTP through the proxy).
  const server = http.createServer(serverOptions, (req, res) => {
    const url = canonicalUrl(req.url ?? '');
    if (!url) {
      sendPlain(res, 400, 'this is a forward proxy: send absolute http:// or https:// URLs, or CONNECT host:port');
      return;
    }
    authenticate(req).then(
      (token) => handle(req, res, token, url),
      (err: unknown) => refuse(res, err),
    );
  });

  // Requests inside CONNECT tunnels, for the tunnel's origin.
  // The server inside tunnels is never listen()ed, so Node does not check its headers
  // timeout: a request's headers must arrive within it of the tunnel opening, or of the
  // end of the answer before, or the tunnel is closed. So a tunnel can be held open only
  // by requests, each of which checks that its token is still live.
  const headerDeadlines = new WeakMap<Duplex, NodeJS.Timeout>();
  const awaitHeaders = (socket: Duplex): void => {
    clearTimeout(headerDeadlines.get(socket));
    headerDeadlines.set(socket, setTimeout(() => socket.destroy(), headersTimeout).unref());
  };
  const inner = http.createServer(serverOptions, (req, res) => {
    clearTimeout(headerDeadlines.get(req.socket));
    res.once('finish', () => awaitHeaders(req.socket));
    const tunnel = tunnels.get(req.socket);
    const target = req.url ?? '/';
    const url = tunnel && target.startsWith('/') ? canonicalUrl(`${tunnel.origin}${target}`) : null;
    if (!tunnel || !url) {
      sendPlain(res, 400, 'inside a tunnel, requests name a path of its origin');
      return;
    }
    tunnelToken(tunnel).then(
      (token) => handle(req, res, token, url),
      (err: unknown) => {
        res.shouldKeepAlive = false;
        refuse(res, err);
      },
    );
  });

  const AUTHORITY_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/;

  server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const m = AUTHORITY_RE.exec(req.url ?? '');
    const port = m ? Number(m[2]) : 0;
    const answer = (status: number, reason: string, message: string, headers: Record<string, string> = {}, keepOpen = false): void => {
      const body = message + '\n';
      const lines = [`HTTP/1.1 ${status} ${reason}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(body)}`];
      if (!keepOpen) lines.push('Connection: close');
      socket.write(lines.join('\r\n') + '\r\n\r\n' + body);
      if (keepOpen) {
        // A client that sends credentials only after a 407 retries on this connection.
        if (head.length) socket.unshift(head);
        server.emit('connection', socket);
      } else socket.end();
    };
    if (!m || port < 1 || port > 65535) return answer(400, 'Bad Request', 'CONNECT needs host:port');
    const host = (m[1] as string).replace(/^\[|\]$/g, '');
    let counted: string | null = null;
    const uncount = (): void => {
      if (counted === null) return;
      const left = (openTunnels.get(counted) ?? 1) - 1;
      if (left <= 0) openTunnels.delete(counted);
      else openTunnels.set(counted, left);
      counted = null;
    };
    authenticate(req)
      .then(async (token) => {
        // What one token may cost: its tunnels open at once, the pace of new ones and of
        // certificates for names not seen lately (each a TLS handshake, or a signature).
        const open = openTunnels.get(token.id) ?? 0;
        if (open >= config.proxyMaxTunnels) throw new ProxyRefusal(429, `this token holds ${open} tunnels open, the most PROXY_MAX_TUNNELS allows; close one first`, { 'Retry-After': '1' });
        openTunnels.set(token.id, open + 1);
        counted = token.id;
        socket.once('close', uncount);
        await tunnelPace.pass(token.id);
        // Record mode checks the target now (and connects per request to the checked
        // address), unless the mirror serves that origin (it may be gone upstream: its
        // requests are checked one by one); offline mode does not even look the name up.
        const origin = `https://${host.includes(':') ? `[${host}]` : host}${port === 443 ? '' : `:${port}`}`;
        if (token.proxy === 'record' && !mirror.servesOrigin(origin)) await upstream.address(host, port);
        if (!authority.hasContextFor(host)) await leafPace.pass(token.id);
        const context = await leafGate.run(() => authority.contextFor(host));
        if (socket.destroyed) return;
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) socket.unshift(head);
        const options: tls.TLSSocketOptions & { highWaterMark: number } = { isServer: true, secureContext: context, ALPNProtocols: ['http/1.1'], highWaterMark: TUNNEL_BUFFER };
        const secure = new tls.TLSSocket(socket as net.Socket, options);
        secure.on('error', () => secure.destroy());
        tunnels.set(secure, { tokenId: token.id, origin });
        secure.once('close', () => clearTimeout(headerDeadlines.get(secure)));
        awaitHeaders(secure);
        inner.emit('connection', secure);
      })
      .catch((err: unknown) => {
        uncount();
        if (err instanceof ProxyRefusal) return answer(err.status, err.status === 407 ? 'Proxy Authentication Required' : err.status === 429 ? 'Too Many Requests' : 'Refused', err.message, err.headers, err.status === 407);
        if (err instanceof UpstreamError) return answer(err.status, err.status === 403 ? 'Forbidden' : 'Bad Gateway', err.message);
        if (err instanceof Busy) {
          const overall = err.what === leafGate.what;
          return answer(overall ? 503 : 429, overall ? 'Service Unavailable' : 'Too Many Requests', err.message, { 'Retry-After': String(err.retryAfterSeconds) });
        }
        logger.warn({ reason: errorSummary(err) }, 'proxy tunnel failed');
        answer(502, 'Bad Gateway', 'the tunnel could not be opened');
      });
  });

  for (const s of [server, inner]) {
    s.on('clientError', answerClientError);
    s.setTimeout(config.idleTimeoutSeconds * 1000, (socket) => socket.destroy());
  }

  return {
    server,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.proxyPort, config.host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      inner.closeIdleConnections();
      const grace = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownGraceSeconds * 1000).unref());
      await Promise.race([closed, grace]);
      server.closeAllConnections();
      inner.closeAllConnections();
      await closed;
    },
  };
}

