// LOCK and UNLOCK (RFC 4918 sections 9.10, 9.11): write locks, exclusive or shared, depth
// 0 or infinity, with refresh. Locking an unmapped URL creates an empty file.
import { headerValue } from '../http/headers.js';
import { Readable } from 'node:stream';
import { isInsideScope, sameSegments } from '../domain/tree-path.js';
import { principalOf, type TreeRequest } from './context.js';
import { HttpError } from '../http/errors.js';
import { readSmallBody } from '../http/request-body.js';
import { parseDepth } from './depth.js';
import { lockTimeout, MAX_LOCKS_PER_OWNER, MAX_OWNER_XML_BYTES, type LockView } from '../services/lock-manager.js';
import { type Lock } from '../domain/stores.js';
import { checkIfHeader, guardWrite } from './preconditions.js';
import { renderActiveLock } from './properties.js';
import { parseLockinfo, renderErrorBody, XmlBodyError, type LockRequest } from './xml.js';

function lockAnswer(request: TreeRequest, status: number, lock: Lock, withTokenHeader: boolean): void {
  const xml = `<?xml version="1.0" encoding="utf-8"?>\n<D:prop xmlns:D="DAV:"><D:lockdiscovery>${renderActiveLock(lock, request.services.locks.secondsLeft(lock))}</D:lockdiscovery></D:prop>\n`;
  const headers: Record<string, string | number> = { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(xml) };
  if (withTokenHeader) headers['Lock-Token'] = `<${lock.token}>`;
  request.res.writeHead(status, headers);
  request.res.end(xml);
}

export async function lock(request: TreeRequest): Promise<void> {
  const { req, res, target, services } = request;
  const principal = principalOf(request) ?? '';
  const body = await readSmallBody(req, res, services.config.maxXmlBodyBytes);
  let info: LockRequest | null;
  try {
    info = parseLockinfo(body);
  } catch (err) {
    if (err instanceof XmlBodyError) throw new HttpError(400, `bad LOCK body: ${err.message}`);
    throw err;
  }
  const timeout = lockTimeout(headerValue(req, 'timeout'));
  if (info === null) {
    // Refresh: the If header names the lock.
    const submitted = await checkIfHeader(request);
    const held = (await services.locks.covering(target.segments)).find((l) => submitted.includes(l.token) && l.principal === principal);
    const refreshed = held ? await services.locks.refresh(held, timeout) : null;
    if (!refreshed) throw new HttpError(412, 'a lock refresh needs the lock token in an If header', {}, renderErrorBody('lock-token-matches-request-uri'));
    lockAnswer(request, 200, refreshed, false);
    return;
  }
  const depth = parseDepth(headerValue(req, 'depth'), ['0', 'infinity'], 'infinity') as '0' | 'infinity';
  if (info.ownerXml !== null && Buffer.byteLength(info.ownerXml) > MAX_OWNER_XML_BYTES) throw new HttpError(400, `lock owner longer than ${MAX_OWNER_XML_BYTES} bytes`);
  // A token's locks all lie in its build: the build's locks count them.
  const refuseIfConflicting = (view: LockView): void => {
    if (view.heldBy(principal) >= MAX_LOCKS_PER_OWNER) throw new HttpError(403, `a token may hold at most ${MAX_LOCKS_PER_OWNER} locks`);
    const buildLimit = view.buildLimitProblem(depth);
    if (buildLimit) throw new HttpError(403, buildLimit);
    if (view.conflicts(target.segments, info.scope, depth).length > 0) {
      throw new HttpError(423, 'the resource is locked', {}, renderErrorBody('no-conflicting-lock'));
    }
  };
  refuseIfConflicting(await services.locks.view(target.segments));
  const existing = await services.store.stat(target.segments);
  if (!existing) await guardWrite(request, target.segments, { parentMembership: true });
  else await checkIfHeader(request);
  if (!existing) {
    if (target.trailingSlash) throw new HttpError(409, 'cannot lock a missing collection');
    const parent = await services.store.stat(target.segments.slice(0, -1));
    if (!parent?.isDirectory()) throw new HttpError(409, 'the parent collection does not exist');
    await services.catalog.storeFile(target.segments, Readable.from([]), null, 0);
  }
  // Checked again as the lock is taken: a concurrent LOCK (on any replica) may have won meanwhile.
  const created = await services.locks.create(
    {
      root: target.segments,
      rootIsCollection: existing?.isDirectory() ?? false,
      depth,
      scope: info.scope,
      ownerXml: info.ownerXml,
      principal,
      timeoutSeconds: timeout,
    },
    refuseIfConflicting,
  );
  lockAnswer(request, existing ? 200 : 201, created, true);
}

export async function unlock(request: TreeRequest): Promise<void> {
  const { req, res, target, services } = request;
  const header = headerValue(req, 'lock-token')?.trim();
  const m = header ? /^<([^<>]{1,256})>$/.exec(header) : null;
  if (!m?.[1]) throw new HttpError(400, 'Lock-Token header required, as <token>');
  const held = await services.locks.get(m[1]);
  const applies = held && (sameSegments(held.root, target.segments) || (held.depth === 'infinity' && isInsideScope(target.segments, held.root)));
  if (!held || !applies) throw new HttpError(409, 'no such lock on this resource', {}, renderErrorBody('lock-token-matches-request-uri'));
  if (held.principal !== principalOf(request)) throw new HttpError(403, 'the lock belongs to another token');
  await services.locks.release(held.token);
  res.writeHead(204);
  res.end();
}
