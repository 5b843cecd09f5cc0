// Wires the pieces into one HTTP server: the service API under /-/, the artifact tree
// everywhere else, one access-log line per request, time limits and graceful shutdown.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import type { Config } from './config.js';
import { ArtifactStore, StorageError, storageError } from './storage/artifact-store.js';
import { MetaStore } from './storage/meta-store.js';
import { Catalog } from './storage/catalog.js';
import { ChecksumIndex } from './storage/checksum-index.js';
import { Builds } from './storage/builds.js';
import { LockManager } from './webdav/lock-manager.js';
import { TokenStore } from '../token-service/store.js';
import { TokenService } from '../token-service/token-service.js';
import { logRequest, requestLog } from './http/access-log.js';
import { HttpError, sendError, sendHttpError } from './http/errors.js';
import { createServiceApi } from './http/service-api.js';
import { handleTreeRequest } from './http/tree-handler.js';
import type { TreeServices } from './http/context.js';

export interface AppOptions {
  logger?: Logger;
  now?: () => number;
  /** false turns the argon2 proof cache off (for measuring what it saves). */
  cacheProofs?: boolean;
}

export interface App {
  server: http.Server;
  tokens: TokenService;
  services: TreeServices;
  /** Set when no master existed and none was configured: show it once. */
  generatedMasterPassword: string | null;
  listen(): Promise<AddressInfo>;
  shutdown(): Promise<void>;
}

const KEEP_ALIVE_MS = 5_000;

// What Node's parser reports before a request exists, as the status line to answer.
const CLIENT_ERROR_STATUS: Record<string, string> = {
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_URI_TOO_LONG: '414 URI Too Long',
};
const PURGE_EVERY_MS = 60_000;

export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  // Written asynchronously: the lines of one turn of the event loop go out in one write
  // instead of one blocking write per request; flushed at shutdown.
  const logger = options.logger ?? pino({ level: config.logLevel, base: undefined }, pino.destination({ dest: 1, sync: false }));
  const now = options.now ?? Date.now;
  const store = new ArtifactStore(config.artifactsDir);
  const { staleRemoved } = await store.init();
  if (staleRemoved > 0) logger.warn({ removed: staleRemoved }, 'removed unfinished uploads left by a previous process');
  const tokenStore = await TokenStore.open(config.tokensDir);
  const meta = new MetaStore(config.artifactsDir, store);
  const catalog = new Catalog(store, meta, new ChecksumIndex(config.artifactsDir, store));
  // The token service and the builds know each other: a token's end may seal its build,
  // and sealing asks whether a live token is left.
  let builds: Builds | null = null;
  const tokens = new TokenService(tokenStore, {
    now,
    cacheProofs: options.cacheProofs ?? config.proofCache,
    masterFailureLimit: config.masterFailureLimit,
    masterLockoutMs: config.masterLockoutSeconds * 1000,
    tokenFailureLimit: config.tokenFailureLimit,
    tokenLockoutMs: config.tokenLockoutSeconds * 1000,
    afterTokenEnded: async (token, how) => {
      logger.info({ token: token.id, scope: token.scope, how }, 'token ended');
      await sealOrRetryLater(token.scope);
    },
  });
  builds = new Builds(store, meta, catalog, (scope) => tokens.liveTokenCount(scope), now);
  // A build whose sealing failed (a full disk, say) is tried again by the housekeeping timer.
  const sealsToRetry = new Set<string>();
  async function sealOrRetryLater(scope: string): Promise<void> {
    try {
      if (await builds?.sealIfUnused(scope)) logger.info({ scope }, 'build sealed');
      sealsToRetry.delete(scope);
    } catch (err) {
      sealsToRetry.add(scope);
      logger.error({ scope, err: String(err) }, 'sealing failed; will retry');
    }
  }
  const { generatedPassword } = await tokens.provisionMaster(config.masterUser, config.masterPassword);
  await tokens.purge();
  const services: TreeServices = {
    config,
    store,
    meta,
    locks: new LockManager(now, (id) => tokens.isLive(id)),
    tokens,
    catalog,
    builds,
  };
  const api = createServiceApi({ config, tokens, store, builds, pages: services, requestLog });
  let shuttingDown = false;

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    logRequest(logger, req, res);
    if (shuttingDown) res.shouldKeepAlive = false;
    const url = req.url ?? '/';
    if (url.startsWith('/-/')) {
      if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
      api(req, res);
      return;
    }
    handleTreeRequest(req, res, services).catch((err: unknown) => {
      if (err instanceof HttpError) return sendHttpError(req, res, err);
      // File system failures (ENOSPC -> 507, ENAMETOOLONG -> 400, ...) answered as such.
      const failure = err instanceof StorageError || (err as NodeJS.ErrnoException).code ? storageError(err) : null;
      if (failure && failure.status < 500) return sendError(req, res, failure.status, failure.message);
      if (failure?.status === 507) return sendError(req, res, 507, failure.message);
      requestLog(req).error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      sendError(req, res, 500, 'internal error');
    });
  }

  // Headers must arrive promptly; a body may take as long as it keeps moving (no
  // requestTimeout), and a connection silent for the idle timeout is closed.
  const headersTimeout = config.headersTimeoutSeconds * 1000;
  const server = http.createServer(
    { requestTimeout: 0, headersTimeout, keepAliveTimeout: KEEP_ALIVE_MS, connectionsCheckingInterval: Math.min(headersTimeout, 5000) },
    handle,
  );
  // Answer Expect: 100-continue only once the request is authorised (the PUT handler does).
  server.on('checkContinue', handle);
  server.setTimeout(config.idleTimeoutSeconds * 1000, (socket) => socket.destroy());
  // Node hands CONNECT to this event instead of the request handler: no proxying here.
  server.on('connect', (_req, socket) => {
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || socket.destroyed) {
      socket.destroy();
      return;
    }
    const status = CLIENT_ERROR_STATUS[err.code ?? ''] ?? '400 Bad Request';
    // end() alone can leave a paused socket open: destroy once the answer is flushed.
    socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
  });

  // Housekeeping: end expired tokens, and clear `.incoming` of anything no operation of
  // this process owns (what a crash or a bug left behind).
  const purgeTimer = setInterval(() => {
    tokens.purge().catch((err: unknown) => logger.error({ err: String(err) }, 'token purge failed'));
    store.sweepIncoming().catch((err: unknown) => logger.error({ err: String(err) }, 'sweep of .incoming failed'));
    for (const scope of sealsToRetry) void sealOrRetryLater(scope);
  }, PURGE_EVERY_MS);
  purgeTimer.unref();

  return {
    server,
    tokens,
    services,
    generatedMasterPassword: generatedPassword,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    shutdown: async () => {
      shuttingDown = true;
      clearInterval(purgeTimer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Requests in flight (uploads) get the grace period, then the rest is cut.
      const grace = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownGraceSeconds * 1000).unref());
      await Promise.race([closed, grace]);
      server.closeAllConnections();
      await closed;
      logger.flush();
    },
  };
}
