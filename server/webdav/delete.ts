// DELETE (RFC 4918 section 9.6): a file, or a collection with everything in it, at once.
import { headerValue } from '../http/headers.js';
import type { TreeRequest } from '../http/context.js';
import { HttpError } from '../http/errors.js';
import { parseDepth } from './depth.js';
import { guardWrite } from './preconditions.js';

export async function deleteResource(request: TreeRequest): Promise<void> {
  const { req, res, target, services } = request;
  const stats = await services.store.stat(target.segments);
  if (!stats) throw new HttpError(404, 'not found');
  if (stats.isDirectory()) parseDepth(headerValue(req, 'depth'), ['infinity'], 'infinity');
  await guardWrite(request, target.segments, { members: true, parentMembership: true });
  await services.store.remove(target.segments);
  await services.meta.remove(target.segments);
  services.locks.releaseWithin(target.segments);
  res.writeHead(204);
  res.end();
}
