// COPY and MOVE (RFC 4918 sections 9.8, 9.9), both inside one token's scope. A copy is
// assembled outside the tree and appears whole; a move is a rename.
import { headerValue } from '../http/headers.js';
import { isInsideScope, sameSegments } from '../domain/tree-path.js';
import type { TreeRequest } from './context.js';
import { HttpError } from '../http/errors.js';
import { parseDepth } from './depth.js';
import { guardWrite } from './preconditions.js';

function overwriteAllowed(header: string | undefined): boolean {
  if (header === undefined) return true;
  const value = header.trim().toUpperCase();
  if (value === 'T') return true;
  if (value === 'F') return false;
  throw new HttpError(400, 'Overwrite must be T or F');
}

export async function copyOrMove(request: TreeRequest): Promise<void> {
  const { req, res, method, target, destination, services } = request;
  if (!destination) throw new HttpError(400, 'Destination header required');
  const from = target.segments;
  const to = destination.segments;
  const isMove = method === 'MOVE';
  const depth = isMove ? parseDepth(headerValue(req, 'depth'), ['infinity'], 'infinity') : parseDepth(headerValue(req, 'depth'), ['0', 'infinity'], 'infinity');
  const overwrite = overwriteAllowed(headerValue(req, 'overwrite'));
  const source = await services.store.stat(from);
  if (!source) throw new HttpError(404, 'not found');
  if (sameSegments(from, to)) throw new HttpError(403, 'source and destination are the same');
  if (source.isDirectory() && isInsideScope(to, from)) throw new HttpError(403, 'Destination is inside the source');
  const parent = await services.store.stat(to.slice(0, -1));
  if (!parent?.isDirectory()) throw new HttpError(409, 'the Destination parent collection does not exist');
  const existing = await services.store.stat(to);
  if (existing && !overwrite) throw new HttpError(412, 'Destination exists and Overwrite is F');
  if (source.isDirectory() && depth !== '0') {
    // Its members' paths grow by what the destination adds: they must still fit the volume.
    const deepest = await services.store.deepestBelow(from);
    const problem = services.store.storagePathProblem(to, deepest.bytes, deepest.segments);
    if (problem) throw new HttpError(414, problem);
  }
  await guardWrite(request, to, { members: true, parentMembership: true });
  if (isMove) await guardWrite(request, from, { members: true, parentMembership: true });
  // All or nothing: the metadata moves (or is copied) first and is put back if the tree
  // change fails; a copy's records are then re-keyed to the new files' inodes.
  const metaChange = isMove ? await services.meta.move(from, to) : await services.meta.copy(from, to, depth !== '0');
  try {
    if (isMove) await services.store.move(from, to);
    else await services.store.copy(from, to, depth === '0');
  } catch (err) {
    await metaChange.restore().catch(() => undefined);
    throw err;
  }
  await metaChange.drop();
  if (isMove) {
    await services.locks.releaseWithin(from);
    await services.catalog.indexUnder(to);
  } else await services.catalog.recordCopies(to);
  if (existing) await services.locks.releaseWithin(to);
  res.writeHead(existing ? 204 : 201, { 'Content-Length': 0 });
  res.end();
}
