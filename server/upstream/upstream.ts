// The one client that talks to upstream servers, for the build proxy and the mirror: the
// name is resolved, every address checked against the private-network rules, and the
// connection made to the address that was checked (no DNS rebinding); TLS is verified
// against the system's roots and UPSTREAM_CA_FILE, for the requested name; connections are
// kept alive per address and name; a connect must succeed within a bound and a response
// may not fall silent for longer than another, but a body that keeps moving has no limit.
import dns from 'node:dns/promises';
import { existsSync, readFileSync } from 'node:fs';
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { Failure } from '../domain/errors.js';
import { targetRefusal, type TargetRules } from './networks.js';

const CONNECT_TIMEOUT_MS = 10_000;
const SILENCE_TIMEOUT_MS = 60_000;
const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

// Connection-level headers (RFC 9110 section 7.6.1) and the proxy's own: never passed on.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export type UpstreamFailure = 'forbidden' | 'dns' | 'tls' | 'connect' | 'timeout' | 'protocol';

/** An upstream server that cannot be used: a refused target is `forbidden`, silence `upstream-timeout`, the rest `upstream-failed`. */
export class UpstreamError extends Failure {
  constructor(
    readonly reason: UpstreamFailure,
    message: string,
  ) {
    super(reason === 'forbidden' ? 'forbidden' : reason === 'timeout' ? 'upstream-timeout' : 'upstream-failed', message);
  }
}

/** Request headers as they go upstream: hop-by-hop ones and those Connection names left out. */
export function forwardedHeaders(raw: readonly string[]): OutgoingHttpHeaders {
  const connection = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'connection') for (const n of (raw[i + 1] as string).split(',')) connection.add(n.trim().toLowerCase());
  }
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(name) || connection.has(name) || name === 'host') continue;
    const value = raw[i + 1] as string;
    const existing = headers[name];
    headers[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return headers;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS|ALTNAME|HOSTNAME|EPROTO|ERR_SSL/;

function classify(err: NodeJS.ErrnoException, host: string): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const code = err.code ?? '';
  if (TLS_CODES.test(code)) return new UpstreamError('tls', `certificate of host ${host} not trusted (${code})`);
  if (code === 'ECONNREFUSED') return new UpstreamError('connect', `upstream ${host} refused the connection`);
  if (code === 'ETIMEDOUT') return new UpstreamError('timeout', `upstream ${host} did not answer in time`);
  if (code === 'ECONNRESET' || code === 'EPIPE') return new UpstreamError('connect', `upstream ${host} closed the connection`);
  if (code === 'HPE_HEADER_OVERFLOW') return new UpstreamError('protocol', `upstream ${host} sent more than ${http.maxHeaderSize} bytes of headers`);
  if (code.startsWith('HPE_')) return new UpstreamError('protocol', `upstream ${host} sent a malformed answer`);
  return new UpstreamError('connect', `upstream ${host} cannot be reached (${code || 'error'})`);
}

export interface UpstreamRequest {
  method: string;
  url: URL;
  headers: OutgoingHttpHeaders;
  body?: Readable | null;
  /** Set when the request is cut (the client went away): the upstream request goes too. */
  signal?: AbortSignal;
}

const RESOLVED_FOR_MS = 10_000;

export class UpstreamClient {
  // One context for every upstream connection: the agent keys its pool by the options it
  // is given, and a CA bundle among them would be copied into that key on every request.
  private readonly trust: tls.SecureContext;
  // Names resolved in the last RESOLVED_FOR_MS (a build asks for one host many times in a
  // row); the addresses are checked on every request all the same.
  private readonly resolved = new Map<string, { addresses: string[]; until: number }>();
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16, timeout: SILENCE_TIMEOUT_MS });
  private readonly httpsAgent: https.Agent;

  constructor(
    private readonly rules: TargetRules,
    extraCaPem: string | null,
    /** Resolves a name to addresses (tests may pass their own). */
    private readonly resolve: (host: string) => Promise<string[]> = async (host) => (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address),
  ) {
    const system = existsSync(SYSTEM_BUNDLE) ? [readFileSync(SYSTEM_BUNDLE, 'utf8')] : [...tls.rootCertificates];
    this.trust = tls.createSecureContext({ ca: extraCaPem ? [...system, extraCaPem] : system });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16, timeout: SILENCE_TIMEOUT_MS });
  }

  /** The address to connect to for this host and port, checked; UpstreamError if none may be used. */
  async address(host: string, port: number): Promise<string> {
    let addresses: string[];
    if (isIP(host)) addresses = [host];
    else {
      const known = this.resolved.get(host);
      if (known && known.until > Date.now()) addresses = known.addresses;
      else {
        try {
          addresses = await this.resolve(host);
        } catch {
          throw new UpstreamError('dns', `host ${host} cannot be resolved`);
        }
        if (this.resolved.size >= 1024) this.resolved.clear();
        this.resolved.set(host, { addresses, until: Date.now() + RESOLVED_FOR_MS });
      }
    }
    let refusal: string | null = null;
    for (const address of addresses) {
      const why = targetRefusal(address, port, this.rules);
      if (!why) return address;
      refusal ??= why;
    }
    throw new UpstreamError(addresses.length === 0 ? 'dns' : 'forbidden', refusal ?? `host ${host} cannot be resolved`);
  }

  async request(upstream: UpstreamRequest): Promise<IncomingMessage> {
    const { url } = upstream;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const secure = url.protocol === 'https:';
    const port = url.port ? Number(url.port) : secure ? 443 : 80;
    const address = await this.address(host, port);
    return new Promise<IncomingMessage>((resolve, reject) => {
      const options: https.RequestOptions = {
        host: address,
        port,
        method: upstream.method,
        path: `${url.pathname}${url.search}`,
        headers: { ...upstream.headers, host: url.host },
        agent: secure ? this.httpsAgent : this.httpAgent,
        ...(secure ? { servername: isIP(host) ? undefined : host, secureContext: this.trust } : {}),
        signal: upstream.signal,
      };
      const req = (secure ? https : http).request(options, (res) => {
        clearTimeout(connectTimer);
        resolve(res);
      });
      // A connection that does not come up in time; once up, silence is the agent's timeout.
      const connectTimer = setTimeout(() => req.destroy(new UpstreamError('timeout', `upstream ${host} did not accept a connection in time`)), CONNECT_TIMEOUT_MS);
      req.setTimeout(SILENCE_TIMEOUT_MS, () => req.destroy(new UpstreamError('timeout', `upstream ${host} fell silent`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(connectTimer);
        reject(classify(err, host));
      });
      if (upstream.body) upstream.body.pipe(req);
      else req.end();
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
