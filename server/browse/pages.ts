// The browsing views (tree pages, search by checksum, compare two builds) as view models;
// server/ui renders them as HTML, and the JSON answers are the same objects.
import { BUILD_DEPTH, parseTreePath, PathError, toHref } from '../domain/tree-path.js';
import { SHA256_HEX_RE } from '../domain/checksum.js';
import type { TreeServices } from '../http/context.js';
import type { AuditEntryView, BuildSummary, Crumb, EntryView, PageView } from '../ui/views.js';
import type { AuditEntry } from '../audit/audit-log.js';

/** Natural order: build 10 after build 9. */
export const naturalOrder = new Intl.Collator('en', { numeric: true, sensitivity: 'base' }).compare;

export class PageError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function crumbsOf(segments: readonly string[]): Crumb[] {
  return [{ name: 'artifacts', href: '/' }, ...segments.map((name, i) => ({ name, href: toHref(segments.slice(0, i + 1), true) }))];
}

async function entriesOf(services: TreeServices, segments: readonly string[]): Promise<EntryView[]> {
  const listed = await services.store.list(segments);
  const entries = await Promise.all(
    listed.map(async ({ name, stats }): Promise<EntryView> => {
      const collection = stats.isDirectory();
      const child = [...segments, name];
      return {
        name,
        href: toHref(child, collection),
        type: collection ? 'collection' : 'file',
        size: collection ? null : stats.size,
        modified: stats.mtime.toISOString(),
        sha256: collection ? null : await services.catalog.checksumOf(child, stats),
      };
    }),
  );
  return entries.sort((a, b) => (a.type === b.type ? naturalOrder(a.name, b.name) : a.type === 'collection' ? -1 : 1));
}

async function summaryOf(services: TreeServices, build: readonly string[], previous: readonly string[] | null): Promise<BuildSummary> {
  const stats = await services.builds.stats(build);
  const href = toHref(build, true);
  const previousHref = previous ? toHref(previous, true) : null;
  return {
    name: build[BUILD_DEPTH - 1] as string,
    href,
    modified: stats.modified.toISOString(),
    files: stats.files,
    bytes: stats.bytes,
    sealed: stats.sealed !== null,
    sealedAt: stats.sealed?.sealedAt ?? null,
    previous: previousHref,
    compareHref: previousHref ? `/-/compare?from=${encodeURIComponent(previousHref)}&to=${encodeURIComponent(href)}` : null,
  };
}

/** The builds of a project, newest (highest in natural order) first. */
async function buildNames(services: TreeServices, project: readonly string[]): Promise<string[]> {
  return (await services.store.list(project))
    .filter((e) => e.stats.isDirectory())
    .map((e) => e.name)
    .sort(naturalOrder)
    .reverse();
}

/** The page for a collection of the tree. */
export async function treePage(services: TreeServices, segments: readonly string[]): Promise<PageView> {
  const path = toHref(segments, true);
  const crumbs = crumbsOf(segments);
  const entries = await entriesOf(services, segments);
  if (segments.length === 0) return { view: 'root', path: '/', crumbs, entries };
  if (segments.length === 1) return { view: 'type', path, crumbs, entries };
  if (segments.length === 2) {
    const names = await buildNames(services, segments);
    const builds = await Promise.all(names.map((name, i) => summaryOf(services, [...segments, name], names[i + 1] !== undefined ? [...segments, names[i + 1] as string] : null)));
    return { view: 'project', path, crumbs, builds, entries };
  }
  const build = segments.slice(0, BUILD_DEPTH);
  const siblings = await buildNames(services, build.slice(0, 2));
  const older = siblings[siblings.indexOf(build[2] as string) + 1];
  return { view: 'directory', path, crumbs, build: await summaryOf(services, build, older !== undefined ? [...build.slice(0, 2), older] : null), entries };
}

export async function searchPage(services: TreeServices, query: string | undefined): Promise<PageView> {
  const crumbs: Crumb[] = [{ name: 'artifacts', href: '/' }, { name: 'search', href: '/-/search' }];
  if (query === undefined || query.trim() === '') return { view: 'search', path: '/-/search', crumbs, sha256: null, error: null, results: [] };
  const sha256 = query.trim().toLowerCase();
  if (!SHA256_HEX_RE.test(sha256)) throw new PageError(400, 'sha256 must be 64 hexadecimal digits');
  const hits = await services.catalog.search(sha256);
  return {
    view: 'search',
    path: '/-/search',
    crumbs,
    sha256,
    error: null,
    results: hits
      .sort((a, b) => naturalOrder(a.path, b.path))
      .map((h) => ({ path: decodeURIComponent(h.path), href: h.path, size: h.size, build: decodeURIComponent(h.build), buildHref: h.build, modified: h.modified })),
  };
}

function buildParam(name: string, value: string | undefined): string[] {
  if (!value) throw new PageError(400, `${name} must name a build, like /dpkg/hello/42/`);
  let segments: readonly string[];
  try {
    segments = parseTreePath(value.startsWith('/') ? value : `/${value}`).segments;
  } catch (err) {
    throw new PageError(400, `${name}: ${err instanceof PathError ? err.message : 'not a path'}`);
  }
  if (segments.length !== BUILD_DEPTH) throw new PageError(400, `${name} must name a build, like /dpkg/hello/42/`);
  return [...segments];
}

interface FileFacts {
  sha256: string;
  size: number;
  modified: string;
}

async function buildContents(services: TreeServices, build: readonly string[], name: string): Promise<Map<string, FileFacts>> {
  if (!(await services.store.stat(build))?.isDirectory()) throw new PageError(404, `${name}: no such build ${toHref(build, true)}`);
  const contents = new Map<string, FileFacts>();
  for (const file of await services.builds.files(build)) {
    let sha256: string;
    try {
      sha256 = await services.catalog.ensureChecksum([...build, ...file.relative]);
    } catch (err) {
      // Deleted since the build was listed (an open build changes under our feet).
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    contents.set(file.relative.join('/'), { sha256, size: file.size, modified: new Date(file.mtimeMs).toISOString() });
  }
  return contents;
}

/** Files added, removed, changed and identical by checksum between two builds. */
export async function comparePage(services: TreeServices, fromParam: string | undefined, toParam: string | undefined): Promise<PageView> {
  const from = buildParam('from', fromParam);
  const to = buildParam('to', toParam);
  const [before, after] = [await buildContents(services, from, 'from'), await buildContents(services, to, 'to')];
  const entry = (build: readonly string[], relative: string, facts: FileFacts): EntryView => ({
    name: relative,
    href: toHref([...build, ...relative.split('/')], false),
    type: 'file',
    size: facts.size,
    modified: facts.modified,
    sha256: facts.sha256,
  });
  const added: EntryView[] = [];
  const removed: EntryView[] = [];
  const identical: EntryView[] = [];
  const changed: Extract<PageView, { view: 'compare' }>['changed'] = [];
  for (const [relative, facts] of after) {
    const old = before.get(relative);
    if (!old) added.push(entry(to, relative, facts));
    else if (old.sha256 === facts.sha256) identical.push(entry(to, relative, facts));
    else changed.push({ path: relative, href: toHref([...to, ...relative.split('/')], false), fromSha256: old.sha256, toSha256: facts.sha256, fromSize: old.size, toSize: facts.size });
  }
  for (const [relative, facts] of before) if (!after.has(relative)) removed.push(entry(from, relative, facts));
  const byName = (a: { name?: string; path?: string }, b: { name?: string; path?: string }): number => naturalOrder(a.name ?? a.path ?? '', b.name ?? b.path ?? '');
  return {
    view: 'compare',
    path: '/-/compare',
    crumbs: [{ name: 'artifacts', href: '/' }, { name: 'compare', href: '/-/compare' }],
    from: toHref(from, true),
    to: toHref(to, true),
    error: null,
    added: added.sort(byName),
    removed: removed.sort(byName),
    changed: changed.sort(byName),
    identical: identical.sort(byName),
    reproducible: added.length + removed.length + changed.length === 0,
  };
}

/** One page of a build's audit trail, oldest first, with links to the pages around it. */
export function auditPage(build: string, entries: readonly AuditEntry[], offset: number, limit: number, total: number): PageView {
  const segments = build.split('/').filter(Boolean);
  const href = (from: number): string => `/-/audit?build=${encodeURIComponent(build)}&offset=${from}&limit=${limit}`;
  return {
    view: 'audit',
    path: '/-/audit',
    crumbs: crumbsOf(segments),
    build,
    buildHref: toHref(segments, true),
    entries: entries.map((entry) => ({ ...entry }) as AuditEntryView),
    offset,
    total,
    previousHref: offset > 0 ? href(Math.max(0, offset - limit)) : null,
    nextHref: offset + entries.length < total ? href(offset + entries.length) : null,
  };
}
