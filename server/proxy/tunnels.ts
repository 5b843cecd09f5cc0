// CONNECT tunnels: the proxy answers 200, then terminates TLS inside the tunnel with a
// certificate of its own authority for the host asked for, and hands the decrypted
// connection to the inner server (build-proxy.ts), whose requests are all for that
// origin. What one token may cost is bounded here: its tunnels open at once, the pace of
// new ones, and of certificates for names not seen lately (each a TLS handshake on the
// main thread, or a signature).
import type { IncomingMessage, Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { Failure, errorSummary } from '../domain/errors.js';
import { authenticateBuildToken } from '../../token-service/authorise.js';
import { clientAddress } from '../http/client.js';
import { HttpError, httpErrorOf } from '../http/errors.js';
import type { LiveToken } from '../../token-service/token-service.js';
import { proxyStatus, type RefusalLog, keepsRefusal } from './refusals.js';
import { Gate, Pacer } from '../domain/gate.js';
import { TUNNEL_BUFFER } from './bodies.js';
import type { ProxyServices } from './context.js';

// New tunnels of one token: a burst at once, then this many a second (what comes faster
// waits): each costs a TLS handshake on the main thread (about 1.4 ms here; 700 a second
// from one token kept a health check within 81 ms, bench/stall-probe.mjs r4).
const TUNNEL_RATE = { perSecond: 200, burst: 400, waiting: 1024 };
// Certificates for host names not seen lately, per token: each costs a signature and a
// TLS context besides the handshake (177 a second kept health within 160 ms).
const LEAF_RATE = { perSecond: 20, burst: 200, waiting: 1024 };

const AUTHORITY_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/;

/** What a CONNECT tunnel was opened for: every request inside it is for this origin. */
export interface Tunnel {
  tokenId: string;
  origin: string;
}

export class Tunnels {
  private readonly opened = new WeakMap<Duplex, Tunnel>();
  // Open tunnels per token, and the pace of new ones and of new certificates.
  private readonly openPerToken = new Map<string, number>();
  private readonly tunnelPace = new Pacer('new tunnels for this token', TUNNEL_RATE.perSecond, TUNNEL_RATE.burst, TUNNEL_RATE.waiting);
  private readonly leafPace = new Pacer('new host names for this token', LEAF_RATE.perSecond, LEAF_RATE.burst, LEAF_RATE.waiting);
  // Certificates are made a few at a time whoever asks: the rest wait, and past that, 503.
  private readonly leafGate = new Gate('certificates being made', 2, 512);
  // The server inside tunnels is never listen()ed, so Node does not check its headers
  // timeout: a request's headers must arrive within it of the tunnel opening, or of the
  // end of the answer before, or the tunnel is closed. So a tunnel can be held open only
  // by requests, each of which checks that its token is still live.
  private readonly headerDeadlines = new WeakMap<Duplex, NodeJS.Timeout>();

  constructor(
    private readonly services: ProxyServices,
    private readonly headersTimeoutMs: number,
    private readonly refusals: RefusalLog,
  ) {}

  /** The tunnel a decrypted connection belongs to. */
  of(socket: Duplex): Tunnel | undefined {
    return this.opened.get(socket);
  }

  /** A request's headers arrived inside the tunnel: no deadline until its answer is sent. */
  requestArrived(socket: Duplex): void {
    clearTimeout(this.headerDeadlines.get(socket));
  }

  /** The next request's headers must arrive in time, or the tunnel closes. */
  awaitHeaders(socket: Duplex): void {
    clearTimeout(this.headerDeadlines.get(socket));
    this.headerDeadlines.set(socket, setTimeout(() => socket.destroy(), this.headersTimeoutMs).unref());
  }

  /** The proxy server's 'connect' handler: `outer` takes back a connection answered 407, `inner` the tunnel's decrypted one. */
  connect(req: IncomingMessage, socket: Duplex, head: Buffer, outer: Server, inner: Server): void {
    const { config, mirror, upstream, authority, tokens, logger } = this.services;
    socket.on('error', () => undefined);
    const m = AUTHORITY_RE.exec(req.url ?? '');
    const port = m ? Number(m[2]) : 0;
    const answer = (status: number, message: string, headers: Record<string, string> = {}): void => {
      // A client that sends credentials only after a 407 retries on this connection.
      const keepOpen = status === 407;
      const body = message + '\n';
      const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(body)}`];
      if (!keepOpen) lines.push('Connection: close');
      socket.write(lines.join('\r\n') + '\r\n\r\n' + body);
      if (keepOpen) {
        if (head.length) socket.unshift(head);
        outer.emit('connection', socket);
      } else socket.end();
    };
    if (!m || port < 1 || port > 65535) return answer(400, 'CONNECT needs host:port');
    const host = (m[1] as string).replace(/^\[|\]$/g, '');
    let counted: string | null = null;
    const uncount = (): void => {
      if (counted === null) return;
      const left = (this.openPerToken.get(counted) ?? 1) - 1;
      if (left <= 0) this.openPerToken.delete(counted);
      else this.openPerToken.set(counted, left);
      counted = null;
    };
    let known: LiveToken | null = null;
    authenticateBuildToken(req, tokens, clientAddress(req, []), 'proxy-authorization')
      .then(async (token) => {
        known = token;
        const open = this.openPerToken.get(token.id) ?? 0;
        if (open >= config.proxyMaxTunnels) throw new Failure('throttled', `this token holds ${open} tunnels open, the most PROXY_MAX_TUNNELS allows; close one first`, 1);
        this.openPerToken.set(token.id, open + 1);
        counted = token.id;
        socket.once('close', uncount);
        await this.tunnelPace.pass(token.id);
        // Record mode checks the target now (and connects per request to the checked
        // address), unless the mirror serves that origin (it may be gone upstream: its
        // requests are checked one by one); offline mode does not even look the name up.
        const origin = `https://${host.includes(':') ? `[${host}]` : host}${port === 443 ? '' : `:${port}`}`;
        if (token.proxy === 'record' && !mirror.servesOrigin(origin)) await upstream.address(host, port);
        if (!authority.hasContextFor(host)) await this.leafPace.pass(token.id);
        const context = await this.leafGate.run(() => authority.contextFor(host));
        if (socket.destroyed) return;
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) socket.unshift(head);
        const options: tls.TLSSocketOptions & { highWaterMark: number } = { isServer: true, secureContext: context, ALPNProtocols: ['http/1.1'], highWaterMark: TUNNEL_BUFFER };
        const secure = new tls.TLSSocket(socket as net.Socket, options);
        secure.on('error', () => secure.destroy());
        this.opened.set(secure, { tokenId: token.id, origin });
        secure.once('close', () => clearTimeout(this.headerDeadlines.get(secure)));
        this.awaitHeaders(secure);
        inner.emit('connection', secure);
      })
      .catch((err: unknown) => {
        uncount();
        let { error, internal } = httpErrorOf(err, 'proxy');
        if (internal) {
          logger.warn({ reason: errorSummary(err) }, 'proxy tunnel failed');
          error = new HttpError(502, 'the tunnel could not be opened');
        }
        if (error.status === 407) return answer(error.status, error.message, error.headers);
        const target = `https://${(req.url ?? '').slice(0, 512)}`;
        logger.info({ method: 'CONNECT', url: target, status: error.status, token: known?.id, reason: error.message }, 'proxy tunnel refused');
        answer(error.status, error.message, { ...error.headers, 'Proxy-Status': proxyStatus(err, error.status, error.message) });
        if (known && m && keepsRefusal(error.status, false)) this.refusals.note(known, 'CONNECT', target, error.status, error.message);
      });
  }
}
