// Installing from the repository (docs/packages.md): each project's apt repository at
// /-/apt/{type}/{project}/ (the indexes the seals wrote, and its pool, which is the builds'
// own files), and pip's simple index at /-/pypi/simple/. Public, like every download.
import { createHash } from 'node:crypto';
import type { Express, Request, Response } from 'express';
import { NAME_RE, parseTreePath, PathError, toHref } from '../domain/tree-path.js';
import { normalizeProjectName } from '../domain/python-dist.js';
import type { Services } from '../services/services.js';
import { HttpError } from '../http/errors.js';
import { requestBaseUrl } from '../http/client.js';
import { indexHtml, indexJson, projectHtml, projectJson, PYPI_HTML, PYPI_JSON, simpleFiles } from '../pages/pypi.js';

// What an index path below dists/ may be: the repository's own names (suites, component,
// binary-ARCH, by-hash/SHA256/HEX, the index files), never a dot segment.
const INDEX_SEGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_INDEX_DEPTH = 7;

function indexType(name: string, byHash: boolean): string {
  if (byHash || name.endsWith('.gz')) return byHash ? 'application/octet-stream' : 'application/gzip';
  if (name === 'Release.gpg') return 'application/pgp-signature';
  return 'text/plain; charset=utf-8';
}

function projectOf(req: Request): [string, string] {
  const { type, project } = req.params as { type?: string; project?: string };
  if (type === undefined || project === undefined || !NAME_RE.test(type) || !NAME_RE.test(project)) throw new HttpError(400, 'name a project: /-/apt/TYPE/PROJECT/');
  return [type, project];
}

export function mountPackages(app: Express, services: Services): void {
  const { packages } = services;

  // The project's indexes, as the last seal (or removal) wrote them. By-hash files never
  // change; the others do at each seal, so caches ask again.
  app.get(/^\/-\/apt\/([^/]+)\/([^/]+)\/dists\/(.+)$/, async (req: Request, res: Response) => {
    const [type, project, rest] = [req.params[0], req.params[1], req.params[2]] as [string, string, string];
    if (!NAME_RE.test(type) || !NAME_RE.test(project)) throw new HttpError(400, 'name a project: /-/apt/TYPE/PROJECT/');
    const segments = rest.split('/');
    if (segments.length > MAX_INDEX_DEPTH || !segments.every((s) => INDEX_SEGMENT_RE.test(s))) throw new HttpError(404, 'no such index');
    const found = await packages.indexFile([type, project], `dists/${segments.join('/')}`);
    if (!found) throw new HttpError(404, `no such index: /${type}/${project}/ has no .deb in a sealed build, or apt asked for an architecture it lacks`);
    const byHash = segments.includes('by-hash');
    // Validated by content only: two seals within one second write two InRelease files with
    // one Last-Modified, and apt's If-Modified-Since would get a 304 for the older one.
    res
      .set('Content-Type', indexType(segments[segments.length - 1] as string, byHash))
      .set('Cache-Control', byHash ? 'public, max-age=31536000, immutable' : 'no-cache')
      .set('ETag', `"${createHash('sha256').update(found.body).digest('hex')}"`)
      .set('X-Content-Type-Options', 'nosniff')
      .send(found.body);
  });

  // The pool: Filename: pool/BUILD/PATH is that build's own file (nginx serves it from disk).
  app.get(/^\/-\/apt\/([^/]+)\/([^/]+)\/pool\/(.+)$/, (req: Request, res: Response) => {
    let target: readonly string[];
    try {
      target = parseTreePath(`/${req.params[0]}/${req.params[1]}/${req.params[2]}`).segments;
    } catch (err) {
      throw new HttpError(400, err instanceof PathError ? err.message : 'not a path');
    }
    if (target.length < 4) throw new HttpError(404, 'name a file of a build: pool/BUILD/PATH');
    res.status(302).set('Location', toHref(target, false)).set('Cache-Control', 'public, max-age=3600').end();
  });

  // What to put in sources.list, for a person who opens the repository's URL.
  app.get('/-/apt/:type/:project/', async (req, res) => {
    const [type, project] = projectOf(req);
    if (!(await packages.indexFile([type, project], 'dists/stable/InRelease'))) throw new HttpError(404, `/${type}/${project}/ has no .deb in a sealed build`);
    const base = requestBaseUrl(req, services.config.trustedProxies, services.config.publicUrl).replace(/\/$/, '');
    res
      .set('Content-Type', 'text/plain; charset=utf-8')
      .set('Cache-Control', 'no-cache')
      .send(
        `# /${type}/${project}/ as an apt repository (suites: stable, latest). See docs/packages.md.\n` +
          `# curl -fsS ${base}/-/signing-keys.asc | sudo tee /etc/apt/keyrings/artifact-repo.asc\n` +
          `deb [signed-by=/etc/apt/keyrings/artifact-repo.asc] ${base}/-/apt/${type}/${project}/ stable main\n`,
      );
  });

  // pip: PEP 503 pages by default, PEP 691 JSON when asked for (pip asks for it first).
  function simpleForm(req: Request): 'json' | 'html' {
    const chosen = req.accepts([PYPI_HTML, PYPI_JSON, 'text/html']);
    if (chosen === false) throw new HttpError(406, `answers ${PYPI_JSON}, ${PYPI_HTML} or text/html`);
    return chosen === PYPI_JSON ? 'json' : 'html';
  }

  function sendSimple(req: Request, res: Response, form: 'json' | 'html', body: string): void {
    const type = form === 'json' ? PYPI_JSON : req.accepts([PYPI_HTML, 'text/html']) === PYPI_HTML ? PYPI_HTML : 'text/html; charset=utf-8';
    // A Buffer: Express would add a charset to the PEP 691 type, which has none.
    res.set('Content-Type', type).set('Vary', 'Accept').set('Cache-Control', 'no-cache').set('X-Content-Type-Options', 'nosniff').send(Buffer.from(body));
  }

  // (Express's string routes ignore a trailing slash: the one without is a regex.)
  app.get(/^\/-\/pypi\/simple$/, (_req, res) => res.redirect(301, '/-/pypi/simple/'));
  app.get('/-/pypi/simple/', async (req, res) => {
    const form = simpleForm(req);
    const names = await packages.catalogue.pythonNames();
    sendSimple(req, res, form, form === 'json' ? indexJson(names) : indexHtml(names));
  });

  app.get(/^\/-\/pypi\/simple\/([^/]+)(\/?)$/, async (req: Request, res: Response) => {
    const asked = req.params[0] as string;
    const normal = normalizeProjectName(asked);
    if (!/^[a-z0-9](?:[a-z0-9-]{0,198}[a-z0-9])?$/.test(normal)) throw new HttpError(404, 'no such project');
    if (asked !== normal || req.params[1] !== '/') {
      res.redirect(301, `/-/pypi/simple/${normal}/`);
      return;
    }
    const form = simpleForm(req);
    const found = await packages.catalogue.pythonFiles(normal);
    const files = simpleFiles(found);
    if (files.length === 0) throw new HttpError(404, `no wheel or sdist of ${normal} in a sealed build`);
    const versions = [...new Set(found.map((f) => f.package.version))].sort();
    sendSimple(req, res, form, form === 'json' ? projectJson(normal, files, versions) : projectHtml(normal, files));
  });
}
