// The service's own endpoints under /-/: health, the token service, browsing (search,
// compare), nginx's describe subrequest, and the masters' operations (audit, pins,
// retention); metrics for Prometheus.
import { mountClientDownload } from './client-download.js';
import { mountPackages } from './packages-api.js';
import { mountBuildLists } from './build-lists.js';
import { access, constants } from 'node:fs/promises';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Config } from '../config/config.js';
import { NAME_RE, parseTreePath, scopeString, splitTarget } from '../domain/tree-path.js';
import type { Services } from '../services/services.js';
import type { Metrics } from '../http/metrics.js';
import type { ProxySettings, TokenSummary } from '../../token-service/token-service.js';
import { parseBuildMeta } from '../domain/build-meta.js';
import { checkTtl, mintFieldsProblem } from '../domain/token-rules.js';
import { clientAddress, requestBaseUrl } from '../http/client.js';
import { parseBasicAuth } from '../../token-service/credentials.js';
import { httpErrorOf, HttpError } from '../http/errors.js';
import { errorSummary } from '../domain/errors.js';
import { allowedSignersLine, openSshPublicKey } from '../domain/signing.js';
import type { RequestLog } from '../http/access-log.js';
import { sendErrorAnswer, sendPage, wantsJson, wantsPage } from '../pages/send.js';
import { describeFile } from './describe.js';
import { auditPage, comparePage, crumbsOf, inputsPage, mirrorEntryPage, mirrorPage, PageError, revisionSearchPage, searchPage } from '../pages/browse.js';
import { parseDeclaration } from '../services/mirror.js';
import { sendMirrored } from './mirror-download.js';
import type { PageView } from '../pages/views.js';
import { authenticateBuildToken, authenticateJobToken, authenticateMaster, crossSiteProblem, jobPrincipal } from '../../token-service/authorise.js';
import type { JobTokenVerifier } from '../../token-service/job-tokens.js';
import { bodyConflict, JOB_MINT_FIELDS, matchingRule, metaFromClaims, renderBuild } from '../domain/job-token-rules.js';
import type { BuildMeta } from '../domain/build-meta.js';

export interface ServiceApiDeps {
  config: Config;
  repo: Services;
  /** Checks CI jobs' OpenID tokens (null without TRUSTED_ISSUERS_FILE: a Bearer token is 401). */
  jobTokens: JobTokenVerifier | null;
  metrics: Metrics;
  requestLog: (req: Request) => RequestLog;
  /** The build proxy's certificate authority (PEM), or null with the proxy off. */
  authorityPem: string | null;
}

/** A live token as GET /-/tokens lists it (who minted it is for the admin CLI). */
function listedToken({ id, username, scope, created_at, expires_at }: TokenSummary): Omit<TokenSummary, 'created_by'> {
  return { id, username, scope, created_at, expires_at };
}

export function createServiceApi({ config, repo, jobTokens, metrics, requestLog, authorityPem }: ServiceApiDeps): express.Express {
  const { tokens, store, builds } = repo;
  /** What the browsing pages read: the tree, checksums, builds. */
  const pages: Services = repo;
  const app = express();
  app.disable('x-powered-by');
  // nginx matches /-/tokens and /-/metrics exactly (masters' networks only): /-/TOKENS must
  // not reach the same handlers past it.
  app.set('case sensitive routing', true);
  app.set('etag', false);

  const requireMaster = (req: Request): Promise<string> => authenticateMaster(req, tokens, clientAddress(req, config.trustedProxies));

  app.get('/-/health', async (_req, res) => {
    try {
      await access(repo.incoming.dir, constants.W_OK);
      await access(config.tokensDir, constants.W_OK);
    } catch {
      throw new HttpError(503, 'storage not writable');
    }
    res.json({ status: 'ok' });
  });

  const parseJson = express.json({ limit: '16kb', strict: true });
  const parseForm = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 16 });
  /** A master's JSON body (415 for anything else: no cross-site form can send JSON). */
  async function jsonBody(req: Request, res: Response): Promise<unknown> {
    if (!req.is('application/json')) throw new HttpError(415, 'Content-Type must be application/json');
    await new Promise<void>((resolve, reject) => parseJson(req, res, (err?: unknown) => (err ? reject(err) : resolve())));
    // body-parser read exactly the declared length (a chunked body of up to 16 KiB goes uncounted).
    requestLog(req).bytesIn = Number(req.headers['content-length'] ?? 0) || 0;
    return req.body;
  }

  app.post('/-/tokens', async (req, res) => {
    // A CI job's OpenID token (docs/ci.md), or a master's Basic credentials.
    if (/^bearer /i.test(req.headers.authorization ?? '')) return mintForJob(req, res);
    const master = await requireMaster(req);
    requestLog(req).principal = `master:${master}`;
    await jsonBody(req, res);
    await mintFromBody(req, res, master);
  });

  /** A build credential for a job token: the first rule its claims meet says which build. */
  async function mintForJob(req: Request, res: Response): Promise<void> {
    const job = await authenticateJobToken(req, jobTokens);
    const principal = jobPrincipal(job.issuer.issuer, job.claims);
    requestLog(req).principal = principal;
    // The body is optional: the rule names the build.
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    const body: unknown = hasBody ? await jsonBody(req, res) : {};
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object');
    const fields = body as Record<string, unknown>;
    const unknown = Object.keys(fields).find((k) => !(JOB_MINT_FIELDS as readonly string[]).includes(k));
    if (unknown !== undefined) throw new HttpError(400, `unknown field "${unknown.slice(0, 64)}" (a job's mint takes ${JOB_MINT_FIELDS.join(', ')}; what it was built from comes from its token)`);
    const rule = matchingRule(job.issuer.rules, job.claims);
    if (!rule) throw new HttpError(403, `no rule for issuer ${job.issuer.issuer} allows this job (subject ${JSON.stringify(String(job.claims.sub ?? '').slice(0, 200))})`);
    const rendered = renderBuild(rule.build, job.claims);
    if ('error' in rendered) throw new HttpError(403, rendered.error);
    const maxTtl = Math.min(rule.ttl ?? config.tokenTtlDefaultSeconds, config.tokenTtlMaxSeconds);
    const allowed = { type: rule.type, project: rule.project, build: rendered.build, ttl: maxTtl };
    const conflict = bodyConflict(allowed, fields);
    if (conflict) throw new HttpError(403, conflict);
    const ttl = checkTtl(fields.ttl ?? maxTtl, maxTtl, maxTtl);
    if (!ttl.ok) throw new HttpError(400, ttl.error);
    // A replay reads a build's recorded downloads: only a build of the rule's own project.
    if (fields.replay !== undefined && fields.replay !== null) {
      const { segments } = buildParam(fields.replay, 'replay');
      if (segments[0] !== allowed.type || segments[1] !== allowed.project) throw new HttpError(403, `replay: a job may replay only builds of /${allowed.type}/${allowed.project}/`);
    }
    const segments = [allowed.type, allowed.project, allowed.build];
    await mintScope(req, res, segments, ttl.seconds, await proxySettings(fields), metaFromClaims(job.issuer.issuer, job.claims), principal, {
      first: async () => {
        // A build another minter began (a master, another repository's jobs) is not this job's to join.
        const others = (await tokens.mintersOf(scopeString(segments))).filter((m) => m !== principal);
        if (others.length > 0) throw new HttpError(409, `build ${scopeString(segments)} was begun by another minter: a job joins only builds its own kind of job began`);
      },
      last: async () => {
        // Once it is sure to mint: a token refused for another reason may be used again.
        if (!(await repo.jobTokenLedger.claim(job.key, job.expiresAt))) throw new HttpError(409, 'this job token has minted a build credential already: each mints once');
      },
    });
  }

  /** The build proxy's mode from a mint request: "proxy" and "replay" (docs/inputs.md). */
  async function proxySettings(fields: Record<string, unknown>): Promise<ProxySettings> {
    const { proxy, replay } = fields;
    if (proxy !== undefined && proxy !== 'record' && proxy !== 'offline') throw new HttpError(400, 'proxy must be "record" or "offline"');
    if (replay === undefined || replay === null) return { proxy: proxy ?? 'record', replay: null };
    if (proxy === 'record') throw new HttpError(400, 'replay needs "proxy": "offline" (a recording build goes upstream)');
    const { segments, scope } = buildParam(replay, 'replay');
    if (!(await store.stat(segments))?.isDirectory()) throw new HttpError(404, `replay: no build ${scope}`);
    if (!(await builds.isSealed(segments))) throw new HttpError(409, `replay: build ${scope} is not sealed (its inputs may still change)`);
    return { proxy: 'offline', replay: scope };
  }

  async function mintFromBody(req: Request, res: Response, master: string): Promise<void> {
    const body: unknown = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object');
    const fields = body as Record<string, unknown>;
    const fieldsProblem = mintFieldsProblem(fields);
    if (fieldsProblem) throw new HttpError(400, fieldsProblem);
    const segments: string[] = [];
    for (const field of ['type', 'project', 'build'] as const) {
      const value = fields[field];
      if (typeof value !== 'string' || !NAME_RE.test(value)) throw new HttpError(400, `${field} must be a string matching ${NAME_RE.source}`);
      segments.push(value);
    }
    const ttl = checkTtl(fields.ttl, config.tokenTtlDefaultSeconds, config.tokenTtlMaxSeconds);
    if (!ttl.ok) throw new HttpError(400, ttl.error);
    const settings = await proxySettings(fields);
    const given = parseBuildMeta(fields);
    if ('error' in given) throw new HttpError(400, given.error);
    await mintScope(req, res, segments, ttl.seconds, settings, given.meta, master);
  }

  /** Mints for a build, alone for it, and answers the credential; `checks.first` runs before anything is kept, `checks.last` just before the mint. */
  async function mintScope(req: Request, res: Response, segments: string[], ttlSeconds: number, settings: ProxySettings, meta: BuildMeta, principal: string, checks: { first?: () => Promise<void>; last?: () => Promise<void> } = {}): Promise<void> {
    const scope = scopeString(segments);
    // Alone for this build: it cannot be sealed between the check and the mint.
    const minted = await builds.exclusive(scope, async () => {
      const refusal = await builds.mintRefusal(segments);
      if (refusal) throw new HttpError(409, refusal);
      await checks.first?.();
      const conflict = await builds.settleMeta(segments, meta);
      if (conflict) throw new HttpError(409, `${conflict} differs from what the first mint of build ${scope} gave (what a build is built from is said once)`);
      await checks.last?.();
      await store.ensureCollection(segments);
      return tokens.mint(scope, ttlSeconds, principal, settings);
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
    res.set('Cache-Control', 'no-store').json((await tokens.listLive()).map(listedToken));
  });

  app.delete('/-/tokens/:id', async (req, res) => {
    const id = String(req.params.id);
    const credentials = parseBasicAuth(req.headers.authorization);
    // A build revoking its own token uses that token's credentials.
    if (credentials && (await tokens.isTokenUsername(credentials.username))) {
      const token = await authenticateBuildToken(req, tokens, clientAddress(req, config.trustedProxies));
      requestLog(req).tokenId = token.id;
      if (token.id !== id) throw new HttpError(403, 'a token can revoke only itself');
      await tokens.revoke(id, `token:${id}`);
      await answerRevoked(res, id);
      return;
    }
    const master = await requireMaster(req);
    requestLog(req).principal = `master:${master}`;
    requestLog(req).tokenId = id;
    const result = await tokens.revoke(id, `master:${master}`);
    if (result === 'unknown') throw new HttpError(404, 'unknown token id');
    await answerRevoked(res, id);
  });

  /**
   * 204, and what became of the token's build: sealed, still being sealed (an upload in
   * flight holds it up, or sealing failed and is retried), or open (another token is live).
   */
  async function answerRevoked(res: Response, id: string): Promise<void> {
    const scope = await tokens.scopeOf(id);
    if (scope) res.set('X-Artifact-Repo-Seal', await repo.sealStatus(scope));
    res.status(204).end();
  }

  /** A browsing page as HTML or JSON; bad queries answer with an error page of their status. */
  async function page(req: Request, res: Response, build: () => Promise<PageView>): Promise<void> {
    const headOnly = req.method === 'HEAD';
    try {
      sendPage(res, await build(), req.headers.accept, headOnly);
    } catch (err) {
      if (!(err instanceof PageError)) throw err;
      const { status, message } = httpErrorOf(err).error;
      sendPage(res, { view: 'error', path: req.path, crumbs: crumbsOf([]), status, message }, req.headers.accept, headOnly, status);
    }
  }

  // nginx's subrequest before it sends a file from disk (see nginx/templates). No capture
  // group: express would decode it, and a path it cannot decode must still be described
  // (as nothing), never fail the download with a 4xx that nginx turns into a 500.
  app.get(/^\/-\/describe\/.*$/, async (req, res) => {
    let segments: readonly string[];
    try {
      segments = parseTreePath(splitTarget(req.originalUrl.slice('/-/describe'.length))).segments;
    } catch {
      res.set('X-Accel-Expires', '0').status(200).end();
      return;
    }
    res.set(Object.fromEntries(Object.entries(await describeFile(pages, segments)).map(([k, v]) => [k, String(v)]))).status(200).end();
  });

  // Public: builds add it to the roots their tools trust. Its key is never served.
  app.get('/-/proxy/ca.pem', (_req, res) => {
    if (!authorityPem) throw new HttpError(404, 'the build proxy is off (PROXY_PORT=0)');
    res.set('Content-Type', 'application/x-pem-file').set('Cache-Control', 'public, max-age=3600').set('Content-Disposition', 'inline; filename="artifact-repo-proxy-ca.pem"').send(authorityPem);
  });

  // The client for workers (client-download.ts); the lists of sealed builds and the permalinks (build-lists.ts).
  mountClientDownload(app);
  mountBuildLists(app, config, repo);
  // apt's and pip's indexes (packages-api.ts).
  mountPackages(app, repo);

  // Public: what sealed builds' signatures verify against (docs/provenance.md). Only the
  // public halves are ever served; a rotation shows on every replica at once.
  app.get('/-/signing-key', async (req, res) => {
    const current = await repo.signer.current();
    res.set('Cache-Control', 'no-cache').set('X-Key-Fingerprint', current.fingerprint);
    if (req.accepts(['text/plain', 'application/x-pem-file']) === 'application/x-pem-file') {
      res.set('Content-Type', 'application/x-pem-file').send(current.key.export({ type: 'spki', format: 'pem' }).toString());
      return;
    }
    res.set('Content-Type', 'text/plain; charset=utf-8').send(`${openSshPublicKey(current.key)}\n`);
  });
  app.get('/-/signing-keys', async (req, res) => {
    const keys = await repo.signer.publicKeys();
    res.set('Cache-Control', 'no-cache');
    if (wantsJson(req.headers.accept)) {
      res.json(keys.map((k) => ({ publicKey: openSshPublicKey(k.key), fingerprint: k.fingerprint, createdAt: k.createdAt, retiredAt: k.retiredAt, current: k.retiredAt === null })));
      return;
    }
    // An allowed_signers file (ssh-keygen(1)): every key that signed a seal still verifies with it.
    const lines = keys.flatMap((k) => [`# ${k.fingerprint}, made ${k.createdAt}${k.retiredAt ? `, retired ${k.retiredAt}` : ', current'}`, allowedSignersLine(k.key)]);
    res.set('Content-Type', 'text/plain; charset=utf-8').send(`${lines.join('\n')}\n`);
  });

  // The OpenPGP twins, for apt's `signed-by` (docs/packages.md): the current key, and every
  // key that ever signed an index (after a rotation, old and new), one armoured block each.
  app.get('/-/signing-key.asc', async (_req, res) => {
    const current = await repo.signer.currentPgp();
    res.set('Cache-Control', 'no-cache').set('X-Key-Fingerprint', current.fingerprint).set('Content-Type', 'application/pgp-keys').send(current.armored);
  });
  app.get('/-/signing-keys.asc', async (_req, res) => {
    const keys = (await repo.signer.publicKeys()).flatMap((k) => (k.pgpPublic ? [k.pgpPublic] : []));
    res.set('Cache-Control', 'no-cache').set('Content-Type', 'application/pgp-keys').send(keys.map((k) => (k.endsWith('\n') ? k : `${k}\n`)).join(''));
  });

  // ?q= is the search box (a checksum or a name), ?sha256= the checksum alone (the interface since v1).
  // A name search lists folders: as many at once as listings may run (pageGate).
  app.get('/-/search', (req, res) => {
    const q = queryString(req.query.q);
    const revision = queryString(req.query.revision);
    if (revision !== undefined) return page(req, res, () => revisionSearchPage(pages, revision));
    return page(req, res, () => repo.pageGate.run(() => searchPage(pages, q ?? queryString(req.query.sha256), q === undefined)));
  });
  app.get('/-/compare', (req, res) => page(req, res, () => repo.compareGate.run(() => comparePage(pages, queryString(req.query.from), queryString(req.query.to), wantsPage(req)))));

  app.get('/-/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.contentType).set('Cache-Control', 'no-store').send(await metrics.render());
  });

  /** The build named by a query or body field, which must exist. */
  async function existingBuild(value: unknown, field: string): Promise<{ segments: string[]; scope: string }> {
    const build = buildParam(value, field);
    if (!(await store.stat(build.segments))?.isDirectory()) throw new HttpError(404, `no build ${build.scope}`);
    return build;
  }

  // The life of a build, for masters: who minted, used and ended its tokens, what was
  // written, sealed, pinned. Kept after the tokens are forgotten.
  app.get('/-/audit', async (req, res) => {
    const master = await requireMaster(req);
    requestLog(req).principal = `master:${master}`;
    // A deleted build keeps its trail: no existence check.
    const { scope } = buildParam(req.query.build, 'build');
    const offset = pageNumber(req.query.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = pageNumber(req.query.limit, 'limit', AUDIT_PAGE, 1, AUDIT_PAGE_MAX);
    const { entries, total } = await repo.audit.forBuild(scope, { offset, limit });
    await page(req, res, async () => auditPage(scope, entries, offset, limit, total));
  });

  app.get('/-/inputs', async (req, res) => {
    const master = await requireMaster(req);
    requestLog(req).principal = `master:${master}`;
    const { segments } = buildParam(req.query.build, 'build');
    const offset = pageNumber(req.query.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
    // Masters only, and never cached: URLs may carry what builds were given.
    res.set('Cache-Control', 'no-store');
    await page(req, res, async () => inputsPage(pages, segments, offset));
  });

  // The mirror (docs/mirror.md): declared by masters, listed and downloaded by everyone.
  /**
   * The mirror page's forms: a master, from this site's own pages only (Origin or
   * Sec-Fetch-Site), the fields as a browser posts them. A refusal is a page; success
   * answers 303 to the page that shows the result.
   */
  async function fromForm(req: Request, res: Response, act: (master: string, fields: Record<string, string>) => Promise<string>): Promise<void> {
    try {
      const crossSite = crossSiteProblem(req.headers, config.publicUrl);
      if (crossSite) throw new HttpError(403, crossSite);
      const master = await requireMaster(req);
      requestLog(req).principal = `master:${master}`;
      await new Promise<void>((resolve, reject) => parseForm(req, res, (err?: unknown) => (err ? reject(new HttpError(400, 'the form could not be read')) : resolve())));
      const fields: Record<string, string> = {};
      for (const [name, value] of Object.entries((req.body ?? {}) as Record<string, unknown>)) if (typeof value === 'string' && value.trim() !== '') fields[name] = value.trim();
      res.status(303).set('Location', await act(master, fields)).set('Cache-Control', 'no-store').end();
    } catch (err) {
      const { error, internal } = httpErrorOf(err);
      if (internal) requestLog(req).error = errorSummary(err);
      sendPage(res, { view: 'error', path: req.path, crumbs: crumbsOf([]), status: error.status, message: error.message }, 'text/html', false, error.status, error.headers);
    }
  }

  app.post('/-/mirror', async (req, res) => {
    // A browser's form (it names its origin); a program's form is refused as not JSON (415).
    if (req.is('application/x-www-form-urlencoded') && (req.headers.origin !== undefined || req.headers['sec-fetch-site'] !== undefined)) {
      return fromForm(req, res, async (master, fields) => {
        const declaration = parseDeclaration({ url: fields.url, sha256: fields.sha256, image: fields.image, note: fields.note });
        if ('error' in declaration) throw new HttpError(400, declaration.error);
        const { entry } = await repo.mirror.declare(declaration, `master:${master}`);
        return `/-/mirror/${encodeURIComponent(entry.id)}`;
      });
    }
    const master = await requireMaster(req);
    requestLog(req).principal = `master:${master}`;
    const declaration = parseDeclaration(await jsonBody(req, res));
    if ('error' in declaration) throw new HttpError(400, declaration.error);
    const { entry, created } = await repo.mirror.declare(declaration, `master:${master}`);
    res.status(created ? 202 : 200).set('Cache-Control', 'no-store').json(entry);
  });

  // Other replicas may have changed the mirror: what it holds is read again if so.
  app.get('/-/mirror', (req, res) =>
    page(req, res, async () => {
      await repo.mirror.refresh();
      return mirrorPage(repo.mirror.list());
    }),
  );

  app.get('/-/mirror/sha256/:hex', async (req, res) => {
    const hex = String(req.params.hex);
    // A download comes from disk: with the database away, from what this replica knows.
    if (/^[0-9a-f]{64}$/.test(hex)) await repo.mirror.refresh().catch(() => undefined);
    const found = /^[0-9a-f]{64}$/.test(hex) ? repo.mirror.file(hex) : null;
    if (!found) throw new HttpError(404, 'no mirrored file has this SHA-256');
    await sendMirrored(req, res, repo.content, found.part, found.fileName);
  });

  app.get('/-/mirror/:id', async (req, res) => {
    await repo.mirror.refresh();
    const entry = repo.mirror.get(String(req.params.id));
    if (!entry) throw new HttpError(404, 'no such mirror entry');
    // A browser gets the entry's page; a program the entry, as it always did.
    if (wantsPage(req)) return sendPage(res, mirrorEntryPage(entry), req.headers.accept, req.method === 'HEAD');
    res.set('Cache-Control', 'no-cache').json(entry);
  });

  // The entry page's "remove" button (an HTML form cannot send DELETE); anything else: 405.
  app.post('/-/mirror/:id', (req, res, next) => {
    if (!req.is('application/x-www-form-urlencoded')) return next();
    return fromForm(req, res, async (master, fields) => {
      if (fields.action !== 'remove') throw new HttpError(400, 'the form asks for nothing this page does');
      if (!(await repo.mirror.remove(String(req.params.id), `master:${master}`))) throw new HttpError(404, 'no such mirror entry');
      repo.sweepContent().catch(() => undefined);
      return '/-/mirror';
    });
  });

  app.delete('/-/mirror/:id', async (req, res) => {
    const master = await requireMaster(req);
    requestLog(req).principal = `master:${master}`;
    if (!(await repo.mirror.remove(String(req.params.id), `master:${master}`))) throw new HttpError(404, 'no such mirror entry');
    // Its bytes go now unless a build's inputs (or another entry) still refer to them.
    // A clean-up that fails here (a disk error) is done again by the next one.
    repo.sweepContent().catch(() => undefined);
    res.status(204).end();
  });

  app.get('/-/pins', async (req, res) => {
    const master = await requireMaster(req);
    requestLog(req).principal = `master:${master}`;
    const pinned = (await builds.pinned()).map(({ build, pin }) => ({ build: scopeString(build), pinned_by: pin.by, pinned_at: pin.at }));
    res.set('Cache-Control', 'no-store').json(pinned);
  });

  app.post('/-/pins', async (req, res) => {
    const master = await requireMaster(req);
    requestLog(req).principal = `master:${master}`;
    const body = (await jsonBody(req, res)) as Record<string, unknown> | null;
    const { segments, scope } = await existingBuild(body && typeof body === 'object' ? body.build : undefined, 'build');
    const pinned = await builds.pin(segments, `master:${master}`);
    if (!pinned) throw new HttpError(404, `no build ${scope}`);
    const { pin, created } = pinned;
    if (created) repo.emit({ event: 'build.pinned', build: scope, by: `master:${master}` });
    res.status(created ? 201 : 200).set('Cache-Control', 'no-store').json({ build: scope, pinned_by: pin.by, pinned_at: pin.at });
  });

  app.delete('/-/pins', async (req, res) => {
    const master = await requireMaster(req);
    requestLog(req).principal = `master:${master}`;
    const { segments, scope } = await existingBuild(queryString(req.query.build), 'build');
    if (!(await builds.unpin(segments))) throw new HttpError(404, `build ${scope} is not pinned`);
    repo.emit({ event: 'build.unpinned', build: scope, by: `master:${master}` });
    res.status(204).end();
  });

  // On demand; ?dry_run=1 only lists what would go.
  app.post('/-/retention', async (req, res) => {
    const master = await requireMaster(req);
    requestLog(req).principal = `master:${master}`;
    // As for pins and tokens: a browser holding a master's Basic credentials cannot be
    // made to run a deletion by a cross-site form.
    await jsonBody(req, res);
    const dry = queryString(req.query.dry_run);
    if (dry !== undefined && dry !== '1' && dry !== '0' && dry !== 'true' && dry !== 'false') throw new HttpError(400, 'dry_run must be 1 or 0');
    if (!repo.retention.policy) throw new HttpError(409, 'no retention policy is configured (RETENTION_POLICY)');
    const report = await repo.retention.run({ dryRun: dry === '1' || dry === 'true', by: `master:${master}` });
    res.set('Cache-Control', 'no-store').json(report);
  });

  app.all('/-/tokens', () => {
    throw new HttpError(405, 'use POST to mint or GET to list', { Allow: 'GET, POST' });
  });
  app.all('/-/tokens/:id', () => {
    throw new HttpError(405, 'use DELETE to revoke', { Allow: 'DELETE' });
  });
  app.all('/-/pins', () => {
    throw new HttpError(405, 'use GET to list, POST to pin or DELETE ?build= to unpin', { Allow: 'GET, POST, DELETE' });
  });
  app.all('/-/mirror', () => {
    throw new HttpError(405, 'use GET to list or POST to declare', { Allow: 'GET, HEAD, POST' });
  });
  app.all('/-/mirror/:id', () => {
    throw new HttpError(405, 'use GET to see an entry or DELETE to remove it', { Allow: 'GET, HEAD, POST, DELETE' });
  });
  app.all('/-/retention', () => {
    throw new HttpError(405, 'use POST (with ?dry_run=1 to only list)', { Allow: 'POST' });
  });
  app.use(() => {
    throw new HttpError(404, 'no such service endpoint');
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { error, internal } = httpErrorOf(err);
    if (internal) requestLog(req).error = errorSummary(err);
    // JSON for programs, a page for a browser (a master-only page asking for credentials, say).
    if (wantsPage(req)) return sendErrorAnswer(req, res, error);
    res.status(error.status).set(error.headers).set('Cache-Control', 'no-store').json({ error: error.message });
  });
  return app;
}

// A page of the audit trail: enough for the life of a build, bounded for a runaway one.
const AUDIT_PAGE = 1000;
const AUDIT_PAGE_MAX = 10_000;

function pageNumber(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d{1,16}$/.test(value) || Number(value) < min || Number(value) > max) throw new HttpError(400, `${name} must be a whole number from ${min} to ${max}`);
  return Number(value);
}

/** A build named as "/type/project/build/" in a query or a body; 400 otherwise. */
function buildParam(value: unknown, field: string): { segments: string[]; scope: string } {
  let segments: readonly string[] = [];
  if (typeof value === 'string') {
    try {
      segments = parseTreePath(splitTarget(value)).segments;
    } catch {
      segments = [];
    }
  }
  if (segments.length !== 3) throw new HttpError(400, `${field} must name a build as /type/project/build/`);
  return { segments: [...segments], scope: scopeString(segments) };
}

function queryString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

