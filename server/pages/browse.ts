// The browsing views (tree pages, search by checksum, compare two builds) as view models;
// server/ui renders them as HTML, and the JSON answers are the same objects.
import { BUILD_DEPTH, NAME_RE, parseTreePath, PathError, scopeString, toHref } from '../domain/tree-path.js';
import { Failure } from '../domain/errors.js';
import { SHA256_HEX_RE } from '../domain/checksum.js';
import type { Services } from '../services/services.js';
import type { AuditEntryView, BuildPackagesView, BuildSummary, Crumb, EntryView, InputView, MirrorEntryView, NameHit, PageView, Paging, PublicInputView, SealedBuildView } from './views.js';
import { encodeCursor, FRONT_PAGE_BUILDS, LIST_MAX } from '../domain/build-lists.js';
import { REVISION_RE } from '../domain/build-meta.js';
import type { SealedBuildEntry, SealedBuildQuery } from '../domain/stores.js';
import { compareRecordings, inputsPageOf, isDependency, type InputSummary } from '../services/input-reading.js';
import type { AuditEntry } from '../domain/stores.js';
import { sortYielding, yieldToLoop } from '../domain/gate.js';
import { PROVENANCE_FILE } from '../domain/seal-files.js';
import { publicUri } from '../domain/provenance.js';
import type { SkippedPackage } from '../domain/stores.js';
import { provenanceChecker } from '../services/provenance-check.js';

/** Natural order: build 10 after build 9. */
export const naturalOrder = new Intl.Collator('en', { numeric: true, sensitivity: 'base' }).compare;

/** Entries on one page of a listing, and builds on one page of a project. */
export const PAGE_ENTRIES = 1000;
export const PAGE_BUILDS = 100;
/** Files listed per category in a compare (counts are always complete). */
export const COMPARE_LISTED = 1000;
// Loops over many files let other requests in every so many steps.
const YIELD_EVERY = 200;

/** A page's query that names nothing it can show: answered with an error page. */
export class PageError extends Failure {
  constructor(kind: 'invalid' | 'not-found', message: string) {
    super(kind, message);
  }
}

export function crumbsOf(segments: readonly string[]): Crumb[] {
  return [{ name: 'artifacts', href: '/' }, ...segments.map((name, i) => ({ name, href: toHref(segments.slice(0, i + 1), true) }))];
}

type Named = { name: string; collection: boolean };
const entryOrder = (a: Named, b: Named): number => (a.collection === b.collection ? naturalOrder(a.name, b.name) : a.collection ? -1 : 1);
const newestFirst = (a: Named, b: Named): number => naturalOrder(b.name, a.name);

// Sorted listings of recently shown collections, kept while the folder is unchanged: the
// pages of a folder of 20 000 files sort it once, not once per page.
const sortedCache = new Map<string, { version: string; names: Named[] }>();
const SORTED_CACHE_ENTRIES = 64;

async function sortedNames(services: Services, segments: readonly string[], order: (a: Named, b: Named) => number): Promise<Named[]> {
  const stats = await services.store.stat(segments);
  if (!stats?.isDirectory()) return [];
  const key = `${order === entryOrder ? 'e' : 'n'}:${segments.join('/')}`;
  const version = `${stats.ino}:${stats.mtimeMs}`;
  const cached = sortedCache.get(key);
  if (cached?.version === version) return cached.names;
  const names = await sortYielding(await services.store.names(segments), order);
  if (sortedCache.size >= SORTED_CACHE_ENTRIES) sortedCache.delete(sortedCache.keys().next().value as string);
  sortedCache.set(key, { version, names });
  return names;
}

/** Which slice of a long list a page shows, with links to its neighbours. */
function pagingOf(path: string, offset: number, limit: number, total: number): Paging {
  const href = (from: number): string => `${path}?offset=${from}`;
  return {
    offset,
    limit,
    total,
    previousHref: offset > 0 ? href(Math.max(0, offset - limit)) : null,
    nextHref: offset + limit < total ? href(offset + limit) : null,
  };
}

async function entryOf(services: Services, segments: readonly string[], name: string): Promise<EntryView | null> {
  const child = [...segments, name];
  const stats = await services.store.stat(child);
  if (!stats || (!stats.isFile() && !stats.isDirectory())) return null;
  const collection = stats.isDirectory();
  return {
    name,
    href: toHref(child, collection),
    type: collection ? 'collection' : 'file',
    size: collection ? null : stats.size,
    modified: stats.mtime.toISOString(),
    sha256: collection ? null : await services.catalog.checksumOf(child, stats),
  };
}

/** One page of a collection's entries: collections first, then files, in natural order. */
async function entriesOf(services: Services, segments: readonly string[], offset: number, limit: number): Promise<{ entries: EntryView[]; total: number }> {
  const names = await sortedNames(services, segments, entryOrder);
  const entries: EntryView[] = [];
  for (const { name } of names.slice(offset, offset + limit)) {
    const entry = await entryOf(services, segments, name);
    if (entry) entries.push(entry);
    if (entries.length % YIELD_EVERY === 0) await yieldToLoop();
  }
  return { entries, total: names.length };
}

// withLive: the build's own page only (one read of its tokens, not one per build of a list).
async function summaryOf(services: Services, build: readonly string[], previous: readonly string[] | null, withLive = false): Promise<BuildSummary> {
  const stats = await services.builds.stats(build);
  const meta = stats.meta;
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
    signed: Boolean(stats.sealed?.signedBy),
    source: meta?.source ?? null,
    builder: meta?.builder ?? null,
    properties: meta?.properties ?? null,
    live: stats.sealed !== null || !withLive ? [] : (await services.tokens.liveModesOf(scopeString(build))).map((t) => ({ proxy: t.proxy, replay: t.replay, expiresAt: t.expires_at })),
    previous: previousHref,
    compareHref: previousHref ? `/-/compare?from=${encodeURIComponent(previousHref)}&to=${encodeURIComponent(href)}` : null,
    packages: stats.sealed !== null && withLive ? packagesOf(await services.packages.catalogue.summaryOf(build), href) : null,
  };
}

function packagesOf(summary: { debs: number; python: number; skipped: SkippedPackage[] } | null, href: string): BuildPackagesView | null {
  return summary ? { ...summary, aptHref: summary.debs > 0 ? href : null } : null;
}

/** The builds of a project, newest (highest in natural order) first. */
async function buildNames(services: Services, project: readonly string[]): Promise<string[]> {
  const names = await sortedNames(services, project, newestFirst);
  return names.filter((e) => e.collection).map((e) => e.name);
}

/** The page for a collection of the tree; long ones come in pages (`offset`). */
export async function treePage(services: Services, segments: readonly string[], offset = 0): Promise<PageView> {
  const path = toHref(segments, true);
  const crumbs = crumbsOf(segments);
  if (segments.length === 2) {
    const names = await buildNames(services, segments);
    const shown = names.slice(offset, offset + PAGE_BUILDS);
    const builds: BuildSummary[] = [];
    for (const [i, name] of shown.entries()) {
      const older = names[offset + i + 1];
      builds.push(await summaryOf(services, [...segments, name], older !== undefined ? [...segments, older] : null));
    }
    // Entries mirror the builds of this page for JSON clients (files beside them on the first).
    const { entries: all } = offset === 0 ? await entriesOf(services, segments, 0, PAGE_ENTRIES) : { entries: [] };
    const entries = [...builds.map((b): EntryView => ({ name: b.name, href: b.href, type: 'collection', size: null, modified: b.modified, sha256: null })), ...all.filter((e) => e.type === 'file')];
    return { view: 'project', path, crumbs, builds, entries, paging: pagingOf(path, offset, PAGE_BUILDS, names.length) };
  }
  const { entries, total } = await entriesOf(services, segments, offset, PAGE_ENTRIES);
  const paging = pagingOf(path, offset, PAGE_ENTRIES, total);
  if (segments.length === 0) {
    const recent = (await services.builds.sealedBuilds({ limit: FRONT_PAGE_BUILDS })).map(sealedBuildView);
    return { view: 'root', path: '/', crumbs, entries, paging, recent };
  }
  if (segments.length === 1) return { view: 'type', path, crumbs, entries, paging };
  const build = segments.slice(0, BUILD_DEPTH);
  const siblings = await buildNames(services, build.slice(0, 2));
  const older = siblings[siblings.indexOf(build[2] as string) + 1];
  return { view: 'directory', path, crumbs, build: await summaryOf(services, build, older !== undefined ? [...build.slice(0, 2), older] : null, true), entries, paging };
}

/** A sealed build as lists show it. */
export function sealedBuildView(e: SealedBuildEntry): SealedBuildView {
  const [type, project, build] = e.build as [string, string, string];
  return { type, project, build, path: `/${e.build.join('/')}/`, href: toHref(e.build, true), sealedAt: e.sealedAt, files: e.files, bytes: e.bytes, signed: e.signed, branch: e.branch, revision: e.revision };
}

/** A page of the sealed builds, newest first (/-/builds), with the link to the next page. */
export async function buildsPage(services: Services, query: SealedBuildQuery, params: Record<string, string | undefined>): Promise<Extract<PageView, { view: 'builds' }>> {
  const found = await services.builds.sealedBuilds(query);
  const last = found.length === query.limit ? found[found.length - 1] : undefined;
  const next = last ? encodeCursor(last) : null;
  const kept = new URLSearchParams();
  for (const name of ['type', 'project', 'branch', 'revision', 'limit'] as const) if (params[name] !== undefined) kept.set(name, params[name] as string);
  const feed = kept.toString();
  if (next) kept.set('before', next);
  return {
    view: 'builds',
    path: '/-/builds',
    crumbs: [{ name: 'artifacts', href: '/' }, { name: 'builds', href: '/-/builds' }],
    filters: { type: query.type ?? null, project: query.project ?? null, branch: query.branch ?? null, revision: query.revision ?? null },
    builds: found.map(sealedBuildView),
    next,
    nextHref: next ? `/-/builds?${kept.toString()}` : null,
    feedHref: `/-/builds.atom${feed ? `?${feed}` : ''}`,
  };
}

/** The builds minted from a revision (whole, or a prefix of 7 or more): sealed ones newest first, open ones by name, at most LIST_MAX of each. */
export async function revisionSearchPage(services: Services, revision: string): Promise<PageView> {
  if (!REVISION_RE.test(revision)) throw new PageError('invalid', 'revision must be 1 to 128 of A-Za-z0-9._-');
  // Both at once: with PostgreSQL each is a round trip.
  const [sealed, opened] = await Promise.all([services.builds.sealedBuilds({ revision, limit: LIST_MAX }), services.builds.openBuildsOf(revision, LIST_MAX)]);
  const builds = sealed.map(sealedBuildView);
  const open = opened.map((b): NameHit => ({ kind: 'build', path: `/${b.join('/')}/`, href: toHref(b, true) }));
  const crumbs: Crumb[] = [{ name: 'artifacts', href: '/' }, { name: 'search', href: '/-/search' }];
  return { view: 'search', path: '/-/search', crumbs, query: revision, sha256: null, error: null, more: builds.length === LIST_MAX, results: [], names: [], builds, open };
}

/** Names a name search lists at most. */
export const NAME_HITS = 100;
const NAME_QUERY_CHARS = 200;

/** What the search box asked for: a file's checksum, or (part of) a project's or build's name. */
export function searchQuery(q: string): { sha256: string } | { parts: string[] } | { error: string } {
  const text = q.trim();
  if (SHA256_HEX_RE.test(text.toLowerCase())) return { sha256: text.toLowerCase() };
  if (text.length > NAME_QUERY_CHARS) return { error: `a name to search for has at most ${NAME_QUERY_CHARS} characters` };
  const parts = text.split('/').filter((p) => p !== '');
  if (parts.length === 0 || parts.length > 3) return { error: 'search for a SHA-256, a project name (hello), PROJECT/BUILD or TYPE/PROJECT/BUILD' };
  return { parts };
}

/**
 * Projects whose name holds the word (any case), or the builds PROJECT/BUILD and
 * TYPE/PROJECT/BUILD name, at most NAME_HITS: folder listings only (no file names, which
 * are found by their checksum), so its cost is that of listing the types and their projects.
 */
async function nameSearch(services: Services, parts: readonly string[]): Promise<{ names: NameHit[]; more: boolean }> {
  const names: NameHit[] = [];
  const add = (kind: NameHit['kind'], segments: string[]): boolean => {
    names.push({ kind, path: `/${segments.join('/')}/`, href: toHref(segments, true) });
    return names.length > NAME_HITS;
  };
  const isBuild = async (segments: string[]): Promise<boolean> => segments.every((s) => NAME_RE.test(s)) && Boolean((await services.store.stat(segments))?.isDirectory());
  const types = (await sortedNames(services, [], entryOrder)).filter((e) => e.collection).map((e) => e.name);
  if (parts.length === 3) {
    if (await isBuild([...parts])) add('build', [...parts]);
  } else {
    let seen = 0;
    for (const type of types) {
      if (parts.length === 2) {
        if ((await isBuild([type, parts[0] as string, parts[1] as string])) && add('build', [type, parts[0] as string, parts[1] as string])) break;
        continue;
      }
      const needle = (parts[0] as string).toLowerCase();
      let full = false;
      for (const project of await sortedNames(services, [type], entryOrder)) {
        if (++seen % YIELD_EVERY === 0) await yieldToLoop();
        if (project.collection && project.name.toLowerCase().includes(needle) && (full = add('project', [type, project.name]))) break;
      }
      if (full) break;
    }
  }
  return { names: names.slice(0, NAME_HITS), more: names.length > NAME_HITS };
}

export async function searchPage(services: Services, query: string | undefined, checksumOnly = false): Promise<PageView> {
  const crumbs: Crumb[] = [{ name: 'artifacts', href: '/' }, { name: 'search', href: '/-/search' }];
  if (query === undefined || query.trim() === '') return { view: 'search', path: '/-/search', crumbs, query: null, sha256: null, error: null, more: false, results: [], names: [] };
  if (checksumOnly && !SHA256_HEX_RE.test(query.trim().toLowerCase())) throw new PageError('invalid', 'sha256 must be 64 hexadecimal digits');
  const asked = searchQuery(query);
  if ('error' in asked) throw new PageError('invalid', asked.error);
  if ('parts' in asked) {
    const { names, more } = await nameSearch(services, asked.parts);
    return { view: 'search', path: '/-/search', crumbs, query: query.trim(), sha256: null, error: null, more, results: [], names };
  }
  const { sha256 } = asked;
  const { hits, more } = await services.catalog.search(sha256);
  return {
    view: 'search',
    path: '/-/search',
    crumbs,
    query: sha256,
    names: [],
    sha256,
    error: null,
    more,
    results: hits
      .sort((a, b) => naturalOrder(a.path, b.path))
      .map((h) => ({ path: decodeURIComponent(h.path), href: h.path, size: h.size, build: decodeURIComponent(h.build), buildHref: h.build, modified: h.modified })),
  };
}

function buildParam(name: string, value: string | undefined): string[] {
  if (!value) throw new PageError('invalid', `${name} must name a build, like /dpkg/hello/42/`);
  let segments: readonly string[];
  try {
    segments = parseTreePath(value.startsWith('/') ? value : `/${value}`).segments;
  } catch (err) {
    throw new PageError('invalid', `${name}: ${err instanceof PathError ? err.message : 'not a path'}`);
  }
  if (segments.length !== BUILD_DEPTH) throw new PageError('invalid', `${name} must name a build, like /dpkg/hello/42/`);
  return [...segments];
}

interface FileFacts {
  sha256: string;
  size: number;
  modified: string;
}

async function buildContents(services: Services, build: readonly string[], name: string): Promise<Map<string, FileFacts>> {
  if (!(await services.store.stat(build))?.isDirectory()) throw new PageError('not-found', `${name}: no such build ${toHref(build, true)}`);
  const contents = new Map<string, FileFacts>();
  let count = 0;
  for (const file of await services.builds.files(build)) {
    if (++count % YIELD_EVERY === 0) await yieldToLoop();
    let sha256: string;
    try {
      sha256 = (await services.catalog.checksumOf([...build, ...file.relative], file)) ?? (await services.catalog.ensureChecksum([...build, ...file.relative]));
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
export async function comparePage(services: Services, fromParam: string | undefined, toParam: string | undefined, form = false): Promise<PageView> {
  // A browser with nothing to compare yet gets the form to pick two builds.
  if (form && fromParam === undefined && toParam === undefined) return { view: 'compare-form', path: '/-/compare', crumbs: [{ name: 'artifacts', href: '/' }, { name: 'compare', href: '/-/compare' }] };
  const from = buildParam('from', fromParam);
  const to = buildParam('to', toParam);
  const [before, after] = [await buildContents(services, from, 'from'), await buildContents(services, to, 'to')];
  // Checked in a worker thread meanwhile: the two statements may run to tens of megabytes.
  const provenance = compareSignedProvenance(services, from, to);
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
  let count = 0;
  for (const [relative, facts] of after) {
    if (++count % YIELD_EVERY === 0) await yieldToLoop();
    const old = before.get(relative);
    if (!old) added.push(entry(to, relative, facts));
    else if (old.sha256 === facts.sha256) identical.push(entry(to, relative, facts));
    else changed.push({ path: relative, href: toHref([...to, ...relative.split('/')], false), fromSha256: old.sha256, toSha256: facts.sha256, fromSize: old.size, toSize: facts.size });
  }
  for (const [relative, facts] of before) if (!after.has(relative)) removed.push(entry(from, relative, facts));
  const byName = (a: { name?: string; path?: string }, b: { name?: string; path?: string }): number => naturalOrder(a.name ?? a.path ?? '', b.name ?? b.path ?? '');
  // Counts are complete; each list shows its first COMPARE_LISTED files in natural order.
  const listed = async <T extends { name?: string; path?: string }>(items: T[]): Promise<T[]> => (await sortYielding(items, byName)).slice(0, COMPARE_LISTED);
  const counts = { added: added.length, removed: removed.length, changed: changed.length, identical: identical.length };
  const inputs = await compareInputs(services, from, to);
  return {
    view: 'compare',
    path: '/-/compare',
    crumbs: [{ name: 'artifacts', href: '/' }, { name: 'compare', href: '/-/compare' }],
    from: toHref(from, true),
    to: toHref(to, true),
    error: null,
    counts,
    added: await listed(added),
    removed: await listed(removed),
    changed: await listed(changed),
    identical: await listed(identical),
    inputs,
    reproducible: counts.added + counts.removed + counts.changed === 0 && (inputs === null || inputs.counts.added + inputs.counts.removed + inputs.counts.changed === 0),
    provenance: await provenance,
  };
}

/** Whether two sealed builds' signed provenance agree on inputs and outputs (null unless both have one that verifies). */
async function compareSignedProvenance(services: Services, from: readonly string[], to: readonly string[]): Promise<{ inputs: boolean; outputs: boolean } | null> {
  const keys = (await services.signer.publicKeys()).map((k) => k.key);
  const [a, b] = await Promise.all([from, to].map((build) => provenanceChecker.digests(services.store, [...build, PROVENANCE_FILE], keys)));
  return a && b ? { inputs: a.inputs === b.inputs, outputs: a.outputs === b.outputs } : null;
}

/** An input as masters see it (/-/inputs): the whole URL. */
function inputView(s: InputSummary): InputView {
  return { method: s.method, url: s.url, status: s.status, sha256: s.sha256, size: s.size, time: s.time, source: s.source, changed: s.changed };
}

/** An input as anyone sees it (compare): as the signed provenance names it, its query only as a keyed hash. */
function publicInputView(services: Services, s: InputSummary): PublicInputView {
  const { uri, queryHash } = publicUri(s.url, services.recordingHash);
  return { method: s.method, url: uri, queryHash, sha256: s.sha256, source: s.source };
}

/** The two builds' recorded inputs by request: added, removed, answered differently, the same. */
async function compareInputs(services: Services, from: readonly string[], to: readonly string[]): Promise<Extract<PageView, { view: 'compare' }>['inputs']> {
  const compared = await compareRecordings(services.inputs, from, to, services.inputLimits, COMPARE_LISTED, isDependency);
  if (!compared) return null;
  return {
    counts: compared.counts,
    added: compared.added.map((s) => publicInputView(services, s)),
    removed: compared.removed.map((s) => publicInputView(services, s)),
    changed: compared.changed.map(({ from: old, to: now }) => {
      const { url, queryHash } = publicInputView(services, now);
      return { url, queryHash, method: now.method, fromSha256: old.sha256, toSha256: now.sha256 };
    }),
    unlisted: compared.unlisted,
  };
}

/** Misses (and parts passed through) listed on a build's inputs page (all are counted). */
export const MISSES_LISTED = 1000;

/** A build's recorded inputs, for masters: distinct requests in pages, and the first misses. */
export async function inputsPage(services: Services, build: readonly string[], offset: number): Promise<PageView> {
  const { exchanges, total, misses, missTotal, partials, partialTotal, refusals, refusalTotal } = await inputsPageOf(services.inputs, build, services.inputLimits, { offset, size: PAGE_ENTRIES, misses: MISSES_LISTED });
  const scope = `/${build.join('/')}/`;
  const path = '/-/inputs';
  const href = (at: number): string => `${path}?build=${encodeURIComponent(scope)}&offset=${at}`;
  return {
    view: 'inputs',
    path,
    crumbs: crumbsOf(build),
    build: scope,
    buildHref: toHref(build, true),
    exchanges: exchanges.map(inputView),
    misses: misses.map((m) => ({ method: m.method, url: m.url, time: m.time, replayed: m.replayed })),
    missTotal,
    partials: partials.map((p) => ({ method: p.method, url: p.url, status: p.status, range: p.range, time: p.time })),
    partialTotal,
    refusals: refusals.map((r) => ({ method: r.method, url: r.url, status: r.status, reason: r.reason, time: r.time })),
    refusalTotal,
    paging: { offset, limit: PAGE_ENTRIES, total, previousHref: offset > 0 ? href(Math.max(0, offset - PAGE_ENTRIES)) : null, nextHref: offset + PAGE_ENTRIES < total ? href(offset + PAGE_ENTRIES) : null },
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

/** The mirror's entries (public: URLs of public artifacts, notes, states). */
export function mirrorPage(entries: MirrorEntryView[]): PageView {
  return { view: 'mirror', path: '/-/mirror', crumbs: [...crumbsOf([]), { name: 'mirror', href: '/-/mirror' }], entries };
}

/** One mirror entry's page: what it is, its state and why, and the builds it served. */
export function mirrorEntryPage(entry: MirrorEntryView): PageView {
  const path = `/-/mirror/${encodeURIComponent(entry.id)}`;
  return { view: 'mirror-entry', path, crumbs: [...crumbsOf([]), { name: 'mirror', href: '/-/mirror' }, { name: entry.id, href: path }], entry };
}
