// What was built lately and which is the newest: /-/builds (JSON or a page), its Atom feed,
// and the permalinks /-/latest/{type}/{project}/[path] to the newest sealed build. All read
// the sealed builds' index the build records keep (no walk of the tree).
import type { Express, Request, Response } from 'express';
import { branchProblem, listQuery } from '../domain/build-lists.js';
import { NAME_RE, parseTreePath, PathError, toHref } from '../domain/tree-path.js';
import type { Services } from '../services/services.js';
import type { Config } from '../config/config.js';
import { HttpError } from '../http/errors.js';
import { requestBaseUrl } from '../http/client.js';
import { buildsPage } from '../pages/browse.js';
import { atomFeed } from '../pages/atom.js';
import { sendPage } from '../pages/send.js';

/** The query's string parameters; one given twice, or as an object, is refused (400). */
function stringParams(req: Request, names: readonly string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const name of names) {
    const value = req.query[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new HttpError(400, `${name} must be given once`);
    out[name] = value;
  }
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

const LIST_PARAMS = ['type', 'project', 'branch', 'revision', 'limit', 'before'] as const;

export function mountBuildLists(app: Express, config: Config, services: Services): void {
  async function list(req: Request): Promise<Awaited<ReturnType<typeof buildsPage>>> {
    const params = stringParams(req, LIST_PARAMS);
    const query = listQuery(params);
    if ('error' in query) throw new HttpError(400, query.error);
    // As many at once as listings may run: a filter no index serves reads many rows.
    return services.pageGate.run(() => buildsPage(services, query, params));
  }

  app.get('/-/builds', async (req, res) => {
    sendPage(res, await list(req), req.headers.accept, req.method === 'HEAD');
  });

  app.get('/-/builds.atom', async (req, res) => {
    const view = await list(req);
    const base = new URL(requestBaseUrl(req, config.trustedProxies, config.publicUrl));
    const self = new URL(req.originalUrl, base);
    const body = atomFeed(view.builds, base, self, new Date().toISOString());
    res.set('Content-Type', 'application/atom+xml; charset=utf-8').set('Cache-Control', 'no-cache').set('X-Content-Type-Options', 'nosniff').send(body);
  });

  // /-/latest/{type}/{project}/ and /-/latest/{type}/{project}/{path}: 302 to the newest sealed build.
  app.get(/^\/-\/latest\/.*$/, async (req: Request, res: Response) => {
    let segments: readonly string[];
    let trailingSlash: boolean;
    try {
      const target = parseTreePath(req.path.slice('/-/latest'.length));
      segments = target.segments;
      trailingSlash = target.trailingSlash;
    } catch (err) {
      throw new HttpError(400, err instanceof PathError ? err.message : 'not a path');
    }
    const [type, project, ...rest] = segments;
    if (type === undefined || project === undefined || !NAME_RE.test(type) || !NAME_RE.test(project)) throw new HttpError(400, 'name a project: /-/latest/TYPE/PROJECT/[PATH]');
    if (rest.length === 0 && !trailingSlash) throw new HttpError(400, 'name a project with a trailing slash: /-/latest/TYPE/PROJECT/');
    const { branch } = stringParams(req, ['branch']);
    if (branch !== undefined && branchProblem(branch)) throw new HttpError(400, branchProblem(branch) as string);
    const [newest] = await services.builds.sealedBuilds({ type, project, ...(branch !== undefined ? { branch } : {}), limit: 1 });
    if (!newest) throw new HttpError(404, `no sealed build of /${type}/${project}/${branch !== undefined ? ` on branch ${branch}` : ''}`);
    const target = [...newest.build, ...rest];
    if (rest.length > 0 && !(await services.store.stat(target))) throw new HttpError(404, `the newest sealed build, /${newest.build.join('/')}/, has no ${rest.join('/')}${trailingSlash ? '/' : ''}`);
    // The query goes along as it came (but the branch, which chose the build).
    const raw = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
    const query = raw
      .split('&')
      .filter((piece) => piece !== '' && safeDecode(piece.split('=')[0] as string) !== 'branch')
      .join('&');
    res.status(302).set('Location', `${toHref(target, rest.length === 0 || trailingSlash)}${query ? `?${query}` : ''}`).set('Cache-Control', 'no-cache').end();
  });
}
