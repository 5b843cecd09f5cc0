// The build proxy's edge: a forward HTTP proxy on PROXY_PORT for the build tokens. It
// takes absolute-form requests (`GET http://host/path`) and CONNECT tunnels (tunnels.ts),
// inside which it terminates TLS with a certificate of its own authority (authority.ts).
// Each request is authenticated (token-service/authorise.ts: the build token in
// Proxy-Authorization), then answered by the mirror (mirrored.ts) or, by the token's mode,
// fetched upstream and recorded as an input of its build (record.ts) or answered from a
// sealed build's recording with no network at all (replay.ts). Failures are answered as
// every edge answers them (http/errors.ts), with 407 for missing credentials. See
// docs/inputs.md.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProxyOutcome } from '../domain/events.js';
import { errorSummary } from '../domain/errors.js';
import { authenticateBuildToken, stillLive } from '../../token-service/authorise.js';
import { answerClientError, HttpError, httpErrorOf, sendHttpError } from '../http/errors.js';
import { clientAddress } from '../http/client.js';
import { RecordingFull } from '../services/recorder.js';
import { auditUrl, canonicalUrl } from '../domain/matching.js';
import type { LiveToken } from '../../token-service/token-service.js';
import { hasBody, TUNNEL_BUFFER } from './bodies.js';
import { reportExchange, type Exchange, type ProxyServices } from './context.js';
import { mirrored, registryRoot } from './mirrored.js';
import { record } from './record.js';
import { Replayer } from './replay.js';
import { Tunnels } from './tunnels.js';
import { keepsRefusal, proxyStatus, RefusalLog } from './refusals.js';

export type { ProxyServices } from './context.js';
export { REPLAY_MISS_HEADER } from './replay.js';

export interface BuildProxy {
  server: http.Server;
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

export function createBuildProxy(services: ProxyServices): BuildProxy {
  const { config, tokens, mirror, logger } = services;
  const replayer = new Replayer(services);
  const headersTimeout = config.headersTimeoutSeconds * 1000;
  const refusals = new RefusalLog(services);
  const tunnels = new Tunnels(services, headersTimeout, refusals);
  const serverOptions = { requestTimeout: 0, headersTimeout, keepAliveTimeout: 5_000, connectionsCheckingInterval: Math.min(headersTimeout, 5000), highWaterMark: TUNNEL_BUFFER };

  /**
   * Answers a failure as every edge does (407 for credentials), with the reason in a
   * Proxy-Status header; for a known build (`token`) it is kept in its inputs too. Says
   * whether it was refused or failed, and why.
   */
  function answerFailure(res: ServerResponse, err: unknown, url: string | null, token: LiveToken | null): { outcome: ProxyOutcome; reason: string } {
    let { error, internal } = httpErrorOf(err, 'proxy');
    if (internal) {
      logger.warn({ url: url === null ? undefined : auditUrl(url), reason: errorSummary(err) }, 'proxy exchange failed');
      error = new HttpError(502, 'the exchange failed');
    }
    const answered = res.headersSent;
    if (error.status !== 407 && !answered) res.setHeader('Proxy-Status', proxyStatus(err, error.status, error.message));
    sendHttpError(res.req, res, error);
    if (token && url !== null && keepsRefusal(error.status, answered)) refusals.note(token, res.req.method ?? 'GET', url, error.status, error.message);
    return { outcome: err instanceof RecordingFull || error.status < 500 ? 'refused' : 'failed', reason: error.message };
  }

  async function handle(exchange: Exchange): Promise<void> {
    const { req, res, token, url } = exchange;
    const started = performance.now();
    let outcome: ProxyOutcome = 'failed';
    let reason: string | undefined;
    try {
      // Every exchange is recorded, and a recording keeps URLs of a bounded length.
      if (url.length > config.inputs.maxUrlLength) throw new HttpError(414, `the URL is ${url.length} characters long; the build proxy records URLs of at most ${config.inputs.maxUrlLength} (INPUTS_MAX_URL)`);
      const read = (req.method === 'GET' || req.method === 'HEAD') && !hasBody(req);
      const part = read ? mirror.answer(url) : null;
      if (part) outcome = await mirrored(services, exchange, part);
      else if (read && token.proxy === 'offline' && mirror.isRegistryRoot(url)) outcome = registryRoot(services, res);
      else outcome = token.proxy === 'offline' ? await replayer.offline(exchange) : await record(services, exchange);
    } catch (err) {
      ({ outcome, reason } = answerFailure(res, err, url, token));
      reportExchange(services, token.proxy, outcome);
    } finally {
      // The URL without its query (which may carry credentials), as the access log does.
      logger.info({ method: req.method, url: auditUrl(url), status: res.statusCode, token: token.id, outcome, reason, ms: Math.round(performance.now() - started) }, 'proxy');
    }
  }

  const serve = (req: IncomingMessage, res: ServerResponse, url: string) => (token: LiveToken) => handle({ req, res, token, url });

  // Absolute-form requests (plain HTTP through the proxy).
  const server = http.createServer(serverOptions, (req, res) => {
    const url = canonicalUrl(req.url ?? '');
    if (!url) {
      sendHttpError(req, res, new HttpError(400, 'this is a forward proxy: send absolute http:// or https:// URLs, or CONNECT host:port'));
      return;
    }
    authenticateBuildToken(req, tokens, clientAddress(req, []), 'proxy-authorization').then(serve(req, res, url), (err: unknown) => void answerFailure(res, err, null, null));
  });

  // Requests inside CONNECT tunnels, for the tunnel's origin, each for a token still live.
  const inner = http.createServer(serverOptions, (req, res) => {
    tunnels.requestArrived(req.socket);
    res.once('finish', () => tunnels.awaitHeaders(req.socket));
    const tunnel = tunnels.of(req.socket);
    const target = req.url ?? '/';
    const url = tunnel && target.startsWith('/') ? canonicalUrl(`${tunnel.origin}${target}`) : null;
    if (!tunnel || !url) {
      sendHttpError(req, res, new HttpError(400, 'inside a tunnel, requests name a path of its origin'));
      return;
    }
    stillLive(tokens, tunnel.tokenId).then(serve(req, res, url), (err: unknown) => {
      res.shouldKeepAlive = false;
      answerFailure(res, err, null, null);
    });
  });

  server.on('connect', (req: IncomingMessage, socket, head: Buffer) => tunnels.connect(req, socket, head, server, inner));
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
