// The service's own endpoints under /-/: health and the token service.
import { access, constants } from 'node:fs/promises';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Config } from '../config.js';
import { NAME_RE, parseTreePath, scopeString, splitTarget } from '../domain/tree-path.js';
import type { ArtifactStore } from '../storage/artifact-store.js';
import type { Builds } from '../storage/builds.js';
import type { TokenService } from '../../token-service/token-service.js';
import { checkTtl } from '../../token-service/token-rules.js';
import { clientAddress, requestBaseUrl } from './client.js';
import { parseBasicAuth } from './credentials.js';
import { HttpError } from './errors.js';
import type { RequestLog } from './access-log.js';
import type { TreeServices } from './context.js';
import { sendPage } from './listing.js';
import { describeFile } from './files.js';
import { comparePage, crumbsOf, PageError, searchPage } from '../browse/pages.js';
import type { PageView } from '../ui/views.js';
import { authenticateBuildToken, authenticateMaster } from './authorise.js';

export interface ServiceApiDeps {
  config: Config;
  tokens: TokenService;
  store: ArtifactStore;
  builds: Builds;
  /** What the browsing pages read: the tree, checksums, builds. */
  pages: TreeServices;
  requestLog: (req: Request) => RequestLog;
}

export function createServiceApi({ config, tokens, store, builds, pages, requestLog }: ServiceApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const requireMaster = (req: Request): Promise<string> => authenticateMaster(req, tokens, clientAddress(req, config.trustedProxies));

  app.get('/-/health', async (_req, res) => {
    try {
      await access(store.incomingDir, constants.W_OK);
      await access(config.tokensDir, constants.W_OK);
    } catch {
      throw new HttpError(503, 'storage not writable');
    }
    res.json({ status: 'ok' });
  });

  app.post('/-/tokens', async (req, res, next) => {
    const master = await requireMaster(req);
    requestLog(req).principal = `master:${master}`;
    if (!req.is('application/json')) throw new HttpError(415, 'Content-Type must be application/json');
    express.json({ limit: '16kb', strict: true })(req, res, (err?: unknown) => {
      if (err) {
        next(err);
        return;
      }
      mintFromBody(req, res, master).catch(next);
    });
  });

  async function mintFromBody(req: Request, res: Response, master: string): Promise<void> {
    const body: unknown = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object');
    const fields = body as Record<string, unknown>;
    const segments: string[] = [];
    for (const field of ['type', 'project', 'build'] as const) {
      const value = fields[field];
      if (typeof value !== 'string' || !NAME_RE.test(value)) throw new HttpError(400, `${field} must be a string matching ${NAME_RE.source}`);
      segments.push(value);
    }
    const ttl = checkTtl(fields.ttl, config.tokenTtlDefaultSeconds, config.tokenTtlMaxSeconds);
    if (!ttl.ok) throw new HttpError(400, ttl.error);
    const scope = scopeString(segments);
    // Alone for this build: it cannot be sealed between the check and the mint.
    const minted = await builds.exclusive(scope, async () => {
      if (await builds.isSealed(segments)) throw new HttpError(409, `build ${scope} is sealed: its artifacts never change, so no token can be minted for it`);
      await store.ensureCollection(segments);
      return tokens.mint(scope, ttl.seconds, master);
    });
    requestLog(req).tokenId = minted.id;
    const base = requestBaseUrl(req, config.trustedProxies, config.publicUrl);
    res.status(201).set('Cache-Control', 'no-store').json({
      id: minted.id,
      username: minted.username,
      password: minted.password,
      scope,
      url: new URL(scope.slice(1), base).href,
      expires_at: minted.expires_at,
    });
  }

  app.get('/-/tokens', async (req, res) => {
    const master = await requireMaster(req);
    requestLog(req).principal = `master:${master}`;
    res.set('Cache-Control', 'no-store').json(tokens.listLive());
  });

  app.delete('/-/tokens/:id', async (req, res) => {
    const id = String(req.params.id);
    const credentials = parseBasicAuth(req.headers.authorization);
    // A build revoking its own token uses that token's credentials.
    if (credentials && tokens.isTokenUsername(credentials.username)) {
      const token = await authenticateBuildToken(req, tokens, clientAddress(req, config.trustedProxies));
      requestLog(req).tokenId = token.id;
      if (token.id !== id) throw new HttpError(403, 'a token can revoke only itself');
      await tokens.revoke(id, `token:${id}`);
      res.status(204).end();
      return;
    }
    const master = await requireMaster(req);
    requestLog(req).principal = `master:${master}`;
    requestLog(req).tokenId = id;
    const result = await tokens.revoke(id, `master:${master}`);
    if (result === 'unknown') throw new HttpError(404, 'unknown token id');
    res.status(204).end();
  });

  /** A browsing page as HTML or JSON; bad queries answer with an error page of their status. */
  async function page(req: Request, res: Response, build: () => Promise<PageView>): Promise<void> {
    const headOnly = req.method === 'HEAD';
    try {
      sendPage(res, await build(), req.headers.accept, headOnly);
    } catch (err) {
      if (!(err instanceof PageError)) throw err;
      sendPage(res, { view: 'error', path: req.path, crumbs: crumbsOf([]), status: err.status, message: err.message }, req.headers.accept, headOnly, err.status);
    }
  }

  // nginx's subrequest before it sends a file from disk (see nginx/templates).
  app.get(/^\/-\/describe(\/.*)$/, async (req, res) => {
    let segments: readonly string[];
    try {
      segments = parseTreePath(splitTarget(req.originalUrl.slice('/-/describe'.length))).segments;
    } catch {
      res.set('X-Accel-Expires', '0').status(200).end();
      return;
    }
    res.set(Object.fromEntries(Object.entries(await describeFile(pages, segments)).map(([k, v]) => [k, String(v)]))).status(200).end();
  });

  app.get('/-/search', (req, res) => page(req, res, () => searchPage(pages, queryString(req.query.sha256))));
  app.get('/-/compare', (req, res) => page(req, res, () => comparePage(pages, queryString(req.query.from), queryString(req.query.to))));

  app.all('/-/tokens', () => {
    throw new HttpError(405, 'use POST to mint or GET to list', { Allow: 'GET, POST' });
  });
  app.all('/-/tokens/:id', () => {
    throw new HttpError(405, 'use DELETE to revoke', { Allow: 'DELETE' });
  });
  app.use(() => {
    throw new HttpError(404, 'no such service endpoint');
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { status, message, headers } = apiError(err);
    if (status >= 500) requestLog(req).error = err instanceof Error ? err.message : String(err);
    res.status(status).set(headers).set('Cache-Control', 'no-store').json({ error: message });
  });
  return app;
}

function queryString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function apiError(err: unknown): { status: number; message: string; headers: Record<string, string> } {
  if (err instanceof HttpError) return { status: err.status, message: err.message, headers: err.headers };
  const e = err as { type?: string; status?: number };
  if (e.type === 'entity.parse.failed') return { status: 400, message: 'malformed JSON body', headers: {} };
  if (e.type === 'entity.too.large') return { status: 413, message: 'request body too large', headers: {} };
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') return { status: 415, message: 'unsupported body encoding', headers: {} };
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return { status: e.status, message: 'bad request', headers: {} };
  return { status: 500, message: 'internal error', headers: {} };
}
