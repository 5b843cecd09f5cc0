// Wires the pieces into one HTTP server: the service API under /-/, the artifact tree
// everywhere else, one access-log line per request, time limits and graceful shutdown.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import type { Config } from './config/config.js';
import { logRequest, requestLog } from './http/access-log.js';
import { answerClientError, httpErrorOf } from './http/errors.js';
import { sendErrorAnswer } from './pages/send.js';
import { errorSummary } from './domain/errors.js';
import { createServiceApi } from './api/service-api.js';
import { JobTokenVerifier, upstreamJson } from '../token-service/job-tokens.js';
import { handleTreeRequest } from './webdav/tree-handler.js';
import type { Services } from './services/services.js';
import { openRepository } from './repository.js';
import { hashWorker } from './storage/io/trailing-hasher.js';
import { Metrics } from './http/metrics.js';
import { startAdminSocket, type AdminSocket } from './admin/admin-socket.js';
import type { TokenService } from '../token-service/token-service.js';
import { markProxySocket } from './http/client.js';
import { listenOnSocket, type ClaimedSocket } from './http/unix-socket.js';
import { networkInterfaces } from 'node:os';
import { CertificateAuthority } from './proxy/authority.js';
import { createBuildProxy, type BuildProxy } from './proxy/build-proxy.js';
import { networkList, ownAddressSet } from './upstream/networks.js';
import { UpstreamClient } from './upstream/upstream.js';
import { MirrorFetcher } from './services/mirror-fetch.js';
import { openSshPublicKey } from './domain/signing.js';

export interface AppOptions {
  logger?: Logger;
  now?: () => number;
  /** false turns the argon2 proof cache off (for measuring what it saves). */
  cacheProofs?: boolean;
}

export interface App {
  server: http.Server;
  /** The build proxy (null when PROXY_PORT is 0). */
  proxy: BuildProxy | null;
  /** Where the proxy listens, once listen() is done. */
  proxyAddress: AddressInfo | null;
  tokens: TokenService;
  services: Services;
  metrics: Metrics;
  /** Set when no master existed and none was configured: show it once. */
  generatedMasterPassword: string | null;
  /** The public key sealed builds are signed with (OpenSSH line), and its fingerprint: printed at start for pinning. */
  signingKey(): Promise<{ line: string; fingerprint: string }>;
  /** Whether this process runs the scheduled work (always, without DATABASE_URL). */
  isLeader(): boolean;
  listen(): Promise<AddressInfo>;
  shutdown(): Promise<void>;
}

const KEEP_ALIVE_MS = 5_000;

export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  // Written asynchronously: the lines of one turn of the event loop go out in one write
  // instead of one blocking write per request; flushed at shutdown.
  const logger = options.logger ?? pino({ level: config.logLevel, base: undefined }, pino.destination({ dest: 1, sync: false }));
  let liveTokens = (): Promise<number> => Promise.resolve(0);
  let mirrorEntries = (): Record<'pending' | 'ok' | 'failed', number> => ({ pending: 0, ok: 0, failed: 0 });
  let leader = (): boolean => false;
  const metrics = new Metrics({
    liveTokens: () => liveTokens(),
    mirrorEntries: () => mirrorEntries(),
    leader: () => leader(),
    volumes: [
      { name: 'artifacts', dir: config.artifactsDir },
      { name: 'tokens', dir: config.tokensDir },
    ],
  });
  // The admin socket is also the lock that keeps one writer on the token store: taken
  // before the store is opened (see admin/admin-socket.ts).
  const admin: AdminSocket = await startAdminSocket(config.tokensDir, 'server', logger);
  // Its memory is there from the start, not a surprise during the first large upload.
  hashWorker.warm();
  let repository;
  try {
    repository = await openRepository(config, { logger, now: options.now, cacheProofs: options.cacheProofs, onEvent: (event) => metrics.observe(event), onJob: (job) => metrics.jobRan(job) });
  } catch (err) {
    await admin.close();
    throw err;
  }
  const repo = repository;
  admin.serve(repo);
  // With the database away, a scrape still answers: the last count it knew.
  let lastLive = 0;
  liveTokens = () => repo.tokens.liveCount().then((n) => (lastLive = n), () => lastLive);
  mirrorEntries = () => repo.mirror.counts();
  leader = () => repo.isLeader();
  const { tokens } = repo;
  const services: Services = repo;
  // The build proxy: its own listener and module, authorised by the same token service.
  const authority = config.proxyPort === 0 ? null : await CertificateAuthority.open(repo.authorityKeeper, options.now);
  const ownPorts = new Set<number>([config.port, config.proxyPort].filter((p) => p > 0));
  const ownAddresses = ownAddressSet(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)));
  // One upstream client for the build proxy and the mirror: the same TLS and network rules.
  const upstream = new UpstreamClient({ allowed: networkList(config.proxyAllowNetworks), ownPorts, ownAddresses }, config.upstreamCa?.pem ?? null);
  const proxy = authority
    ? createBuildProxy({
        config,
        tokens,
        builds: repo.builds,
        content: repo.content,
        recorder: repo.recorder,
        recordingHash: repo.recordingHash,
        emit: repo.emit,
        logger,
        authority,
        mirror: repo.mirror,
        upstream,
        now: options.now ?? Date.now,
      })
    : null;
  let proxyAddress: AddressInfo | null = null;
  // CI jobs' OpenID tokens, checked against their issuers' keys, fetched like any upstream.
  const jobTokens = config.trustedIssuers.length > 0 ? new JobTokenVerifier(config.trustedIssuers, upstreamJson(upstream), options.now) : null;
  const api = createServiceApi({ config, repo, jobTokens, metrics, requestLog, authorityPem: authority?.certPem ?? null });
  let shuttingDown = false;

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    logRequest(logger, req, res, config.trustedProxies, (sample) => metrics.observeRequest(sample));
    if (shuttingDown) res.shouldKeepAlive = false;
    const url = req.url ?? '/';
    if (url.startsWith('/-/')) {
      if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
      api(req, res);
      return;
    }
    handleTreeRequest(req, res, services).catch((err: unknown) => {
      const { error, internal } = httpErrorOf(err);
      if (internal) requestLog(req).error = errorSummary(err);
      sendErrorAnswer(req, res, error);
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
  server.on('clientError', answerClientError);

  // LISTEN_SOCKET: the same HTTP server, reached by nginx on this host through a socket
  // file instead of an address that changes when the container is recreated.
  const socketListener = net.createServer((socket) => {
    markProxySocket(socket);
    server.emit('connection', socket);
  });
  let claimedSocket: ClaimedSocket | null = null;

  repo.startHousekeeping(new MirrorFetcher(upstream, repo.content, config.mirrorMaxEntryBytes).fetch);

  return {
    server,
    proxy,
    get proxyAddress() {
      return proxyAddress;
    },
    tokens,
    services,
    metrics,
    generatedMasterPassword: repo.generatedMasterPassword,
    signingKey: async () => {
      const current = await repo.signer.current();
      return { line: openSshPublicKey(current.key), fingerprint: current.fingerprint };
    },
    isLeader: () => repo.isLeader(),
    listen: async () => {
      const address = await new Promise<AddressInfo>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
      ownPorts.add(address.port);
      if (proxy) {
        proxyAddress = await proxy.listen();
        ownPorts.add(proxyAddress.port);
      }
      if (config.listenSocket) {
        const socketPath = config.listenSocket;
        claimedSocket = await listenOnSocket(socketListener, socketPath, 0o666, () => new Error(`LISTEN_SOCKET ${socketPath} is in use by another server`));
      }
      return address;
    },
    shutdown: async () => {
      shuttingDown = true;
      repo.stopHousekeeping();
      // Connections that came through LISTEN_SOCKET are counted by its listener, not by
      // the HTTP server (which only parses them): both must drain.
      const closed = Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), claimedSocket?.close(), proxy?.close()]);
      server.closeIdleConnections();
      // Requests in flight (uploads) get the grace period, then the rest is cut.
      const grace = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownGraceSeconds * 1000).unref());
      await Promise.race([closed, grace]);
      server.closeAllConnections();
      await closed;
      await repo.mirror.stop();
      upstream.close();
      await repo.close();
      await admin.close();
      logger.flush();
    },
  };
}
