// Entry for every request to the artifact tree: path rules, method allow-list, body caps,
// authorisation, then the method's handler. Nothing reaches a handler unchecked.
import { headerValue } from '../http/headers.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { newNameProblem, parseTreePath, splitTarget } from '../domain/tree-path.js';
import { copyOrMove } from './copy-move.js';
import { deleteResource } from './delete.js';
import { lock, unlock } from './lock.js';
import { mkcol } from './mkcol.js';
import { DAV_HEADERS, options } from './options.js';
import { propfind } from './propfind.js';
import { proppatch } from './proppatch.js';
import { ALLOW_HEADER, authenticateBuildToken, authorise, isTreeMethod, isWriteMethod, type TreeMethod } from '../../token-service/authorise.js';
import { clientAddress, ownHosts } from '../http/client.js';
import type { TreeRequest } from './context.js';
import type { Services } from '../services/services.js';
import { parseDestination } from './destination.js';
import { HttpError } from '../http/errors.js';
import { getOrHead, put } from './files.js';
import { checkDeclaredSize } from '../http/request-body.js';
import { requestLog } from '../http/access-log.js';
import { treeEvent } from './tree-events.js';

const HANDLERS: Record<TreeMethod, (request: TreeRequest) => Promise<void>> = {
  GET: getOrHead,
  HEAD: getOrHead,
  OPTIONS: options,
  PROPFIND: propfind,
  PUT: put,
  MKCOL: mkcol,
  DELETE: deleteResource,
  COPY: copyOrMove,
  MOVE: copyOrMove,
  PROPPATCH: proppatch,
  LOCK: lock,
  UNLOCK: unlock,
};

/**
 * Names a write would create must be NFC, every path must fit the volume's limits, and no
 * write goes through a symbolic link someone placed on disk.
 */
function checkNewPaths(method: string, target: readonly string[], destination: readonly string[] | null, services: Services): void {
  const created = method === 'COPY' || method === 'MOVE' ? destination : method === 'PUT' || method === 'MKCOL' || method === 'LOCK' ? target : null;
  const nameProblem = created ? newNameProblem(created) : null;
  if (nameProblem) throw new HttpError(400, nameProblem);
  for (const segments of [target, destination]) {
    if (!segments) continue;
    const problem = services.store.storagePathProblem(segments);
    if (problem) throw new HttpError(414, problem);
    const link = services.store.symlinkProblem(segments);
    if (link) throw new HttpError(403, link);
  }
}

export async function handleTreeRequest(req: IncomingMessage, res: ServerResponse, services: Services): Promise<void> {
  const method = req.method ?? '';
  if (!isTreeMethod(method)) throw new HttpError(405, `method ${method.slice(0, 32)} not allowed`, { Allow: ALLOW_HEADER });
  if (req.url === '*' && method === 'OPTIONS') {
    res.writeHead(200, { ...DAV_HEADERS, 'Content-Length': 0 });
    res.end();
    return;
  }
  const target = parseTreePath(splitTarget(req.url ?? '/'));
  // Only PUT carries large bodies; the rest are refused before a byte is read.
  if (method !== 'PUT') checkDeclaredSize(req, services.config.maxXmlBodyBytes);
  const destination =
    method === 'COPY' || method === 'MOVE' ? parseDestination(headerValue(req, 'destination'), ownHosts(req, services.config.trustedProxies, services.config.publicUrl)) : null;
  const token = isWriteMethod(method) ? await authenticateBuildToken(req, services.tokens, clientAddress(req, services.config.trustedProxies)) : null;
  if (token) requestLog(req).tokenId = token.id;
  const auth = authorise(method, target, destination, token);
  if (auth.kind === 'token') checkNewPaths(method, target.segments, destination?.segments ?? null, services);
  const handle = (): Promise<void> => HANDLERS[method]({ req, res, method, target, destination, auth, services });
  // A write still running when its build is sealed is cut after the grace: the socket goes,
  // the upload fails and leaves nothing.
  if (auth.kind === 'token') await services.builds.whileWriting(auth.token.scope, handle, () => req.socket.destroy());
  else await handle();
  if (auth.kind === 'token') {
    if (method === 'DELETE' || method === 'COPY' || method === 'MOVE' || method === 'LOCK') services.builds.noteChange(auth.token.scope);
    const event = treeEvent({
      method,
      status: res.statusCode,
      target: target.segments,
      targetIsCollection: target.trailingSlash || method === 'MKCOL',
      destination: destination?.segments ?? null,
      token: auth.token.id,
      build: auth.token.scope,
      stored: requestLog(req).stored,
    });
    if (event) services.emit(event);
  }
}
