// PROPFIND (RFC 4918 section 9.1): public, Depth 0 or 1; infinity is refused with 403
// (DAV:propfind-finite-depth), as RFC 4918 allows.
import { headerValue } from '../http/headers.js';
import type { ServerResponse } from 'node:http';
import { toHref } from '../domain/tree-path.js';
import type { TreeRequest } from './context.js';
import { HttpError } from '../http/errors.js';
import { readSmallBody } from '../http/request-body.js';
import type { LockView } from '../services/lock-manager.js';
import type { Lock, TreeStats } from '../domain/stores.js';
import { davName, liveProperty, livePropertyValues } from './properties.js';
import { MULTISTATUS_CLOSE, MULTISTATUS_OPEN, parsePropfind, renderErrorBody, renderMultistatusEntry, XmlBodyError, type MultistatusEntry, type PropfindRequest, type PropStat, type PropValue } from './xml.js';

function finiteDepth(header: string | undefined): '0' | '1' {
  const value = header?.trim().toLowerCase();
  if (value === '0' || value === '1') return value;
  if (value === undefined || value === 'infinity') {
    throw new HttpError(403, 'PROPFIND with Depth infinity is not supported; use Depth 0 or 1', {}, renderErrorBody('propfind-finite-depth'));
  }
  throw new HttpError(400, 'Depth must be 0 or 1');
}

// Each requested name is answered for every member of a Depth 1 listing: the request's
// size must not multiply the answer beyond reason.
export const MAX_REQUESTED_NAMES = { '0': 1000, '1': 100 } as const;
// A long listing lets other requests in every so many members.
const YIELD_EVERY = 200;

async function describe(request: TreeRequest, segments: readonly string[], stats: TreeStats, query: PropfindRequest, locks: LockView): Promise<MultistatusEntry> {
  const { services } = request;
  const secondsLeft = (lock: Lock): number => services.locks.secondsLeft(lock);
  const href = toHref(segments, stats.isDirectory());
  const dead = await services.meta.properties(segments);
  const deadValues: PropValue[] = dead.map((p) => ({ name: { ns: p.ns, local: p.local }, valueXml: p.valueXml, lang: p.lang }));
  const live = livePropertyValues(segments, stats, locks, secondsLeft);
  if (query.kind === 'propname') {
    return { href, propstats: [{ status: 200, props: [...live, ...deadValues].map((p) => ({ name: p.name })) }] };
  }
  if (query.kind === 'allprop') {
    return { href, propstats: [{ status: 200, props: [...live, ...deadValues] }] };
  }
  const found: PropValue[] = [];
  const missing: PropValue[] = [];
  const byName = new Map(deadValues.map((p) => [`{${p.name.ns}}${p.name.local}`, p]));
  for (const name of query.props) {
    const valueXml = name.ns === 'DAV:' ? liveProperty(name.local, segments, stats, locks, secondsLeft) : undefined;
    if (valueXml !== undefined) {
      found.push({ name: davName(name.local), valueXml });
      continue;
    }
    const deadValue = byName.get(`{${name.ns}}${name.local}`);
    if (deadValue) found.push(deadValue);
    else missing.push({ name });
  }
  const propstats: PropStat[] = [];
  if (found.length) propstats.push({ status: 200, props: found });
  if (missing.length) propstats.push({ status: 404, props: missing });
  if (!propstats.length) propstats.push({ status: 200, props: [] });
  return { href, propstats };
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export async function propfind(request: TreeRequest): Promise<void> {
  const { req, res, target, services } = request;
  const depth = finiteDepth(headerValue(req, 'depth'));
  const body = await readSmallBody(req, res, services.config.maxXmlBodyBytes);
  let query: PropfindRequest;
  try {
    query = parsePropfind(body);
  } catch (err) {
    if (err instanceof XmlBodyError) throw new HttpError(400, `bad PROPFIND body: ${err.message}`);
    throw err;
  }
  if (query.kind === 'prop' && query.props.length > MAX_REQUESTED_NAMES[depth]) {
    throw new HttpError(400, `a PROPFIND of Depth ${depth} may ask for at most ${MAX_REQUESTED_NAMES[depth]} properties`);
  }
  const stats = await services.store.stat(target.segments);
  if (!stats || (target.trailingSlash && !stats.isDirectory())) throw new HttpError(404, 'not found');
  // The locks are read once: every member of the collection lies in its build or below it.
  const locks = await services.locks.view(target.segments);
  const first = renderMultistatusEntry(await describe(request, target.segments, stats, query, locks));
  if (depth === '0' || !stats.isDirectory()) {
    const xml = MULTISTATUS_OPEN + first + MULTISTATUS_CLOSE;
    res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(xml) });
    res.end(xml);
    return;
  }
  // A collection's members are streamed one response at a time: a big build or many locks
  // must not build the whole answer in memory.
  const members = await services.store.list(target.segments);
  res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8' });
  res.write(MULTISTATUS_OPEN + first);
  let count = 0;
  for (const member of members) {
    if (res.destroyed) return;
    const entry = renderMultistatusEntry(await describe(request, [...target.segments, member.name], member.stats, query, locks));
    if (!res.write(entry)) await drained(res);
    else if (++count % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  res.end(MULTISTATUS_CLOSE);
}
