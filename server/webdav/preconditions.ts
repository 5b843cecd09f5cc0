// WebDAV write preconditions: the If header (RFC 4918 section 10.4) and locks. Every
// write handler calls guardWrite before it changes anything.
import { headerValue } from '../http/headers.js';
import { etagOf } from '../http/conditional.js';
import { ownHosts } from '../http/client.js';
import { principalOf, type TreeRequest } from './context.js';
import { parseDestination } from './destination.js';
import { HttpError } from '../http/errors.js';
import { toHref } from '../domain/tree-path.js';
import { evaluateIf, IfHeaderError, parseIfHeader, submittedLockTokens, taggedResources, type IfResourceState } from './if-header.js';
import { xmlEscape } from './xml.js';
import type { Lock } from '../domain/stores.js';

const submittedCache = new WeakMap<TreeRequest, string[]>();

async function stateOf(request: TreeRequest, resource: string | null): Promise<IfResourceState> {
  const { services } = request;
  let segments = request.target.segments;
  if (resource !== null) {
    try {
      segments = parseDestination(resource, ownHosts(request.req, services.config.trustedProxies, services.config.publicUrl)).segments;
    } catch {
      return { etag: null, lockTokens: [] };
    }
  }
  const stats = await services.store.stat(segments);
  return { etag: stats ? etagOf(stats) : null, lockTokens: (await services.locks.covering(segments)).map((l) => l.token) };
}

/**
 * Evaluates the If header once per request: 400 when malformed, 412 when false.
 * Returns the lock tokens it submits.
 */
export async function checkIfHeader(request: TreeRequest): Promise<string[]> {
  const cached = submittedCache.get(request);
  if (cached) return cached;
  const header = headerValue(request.req, 'if');
  let submitted: string[] = [];
  if (header !== undefined) {
    let lists;
    try {
      lists = parseIfHeader(header);
    } catch (err) {
      if (err instanceof IfHeaderError) throw new HttpError(400, `malformed If header: ${err.message}`);
      throw err;
    }
    const states = new Map<string | null, IfResourceState>();
    for (const resource of taggedResources(lists)) states.set(resource, await stateOf(request, resource));
    const ok = evaluateIf(lists, (resource) => states.get(resource) ?? { etag: null, lockTokens: [] });
    if (!ok) throw new HttpError(412, 'the If header condition is false');
    submitted = submittedLockTokens(lists);
  }
  submittedCache.set(request, submitted);
  return submitted;
}

export interface GuardOptions {
  /** The whole subtree changes (DELETE, MOVE, replacing a collection). */
  members?: boolean;
  /** A member is added to or removed from the parent collection. */
  parentMembership?: boolean;
}

/** Locks that stop this change unless their tokens are submitted by their owner. */
export async function blockingLocks(request: TreeRequest, segments: readonly string[], options: GuardOptions): Promise<Lock[]> {
  // One read of the locks: the parent of a build's root lies above build level, where every lock is.
  const view = await request.services.locks.view(options.parentMembership && segments.length > 0 ? segments.slice(0, -1) : segments);
  const found = new Map<string, Lock>();
  for (const lock of view.covering(segments)) found.set(lock.token, lock);
  if (options.members) for (const lock of view.within(segments)) found.set(lock.token, lock);
  if (options.parentMembership && segments.length > 0) for (const lock of view.covering(segments.slice(0, -1))) found.set(lock.token, lock);
  return [...found.values()];
}

export async function guardWrite(request: TreeRequest, segments: readonly string[], options: GuardOptions = {}): Promise<void> {
  const submitted = await checkIfHeader(request);
  const principal = principalOf(request);
  for (const lock of await blockingLocks(request, segments, options)) {
    if (!submitted.includes(lock.token) || lock.principal !== principal) {
      const href = xmlEscape(toHref(lock.root, lock.rootIsCollection));
      throw new HttpError(423, 'the resource is locked', {}, `<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"><D:lock-token-submitted><D:href>${href}</D:href></D:lock-token-submitted></D:error>\n`);
    }
  }
}
