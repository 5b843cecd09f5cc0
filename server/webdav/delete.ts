// DELETE (RFC 4918 section 9.6): a file, or a collection with everything in it, at once.
import { headerValue } from '../http/headers.js';
import type { TreeRequest } from './context.js';
import { HttpError } from '../http/errors.js';
import { parseDepth } from './depth.js';
import { guardWrite } from './preconditions.js';

export async function deleteResource(request: TreeRequest): Promise<void> {
  const { req, res, target, services } = request;
  const stats = await services.store.stat(target.segments);
  if (!stats) throw new HttpError(404, 'not found');
  if (stats.isDirectory()) parseDepth(headerValue(req, 'depth'), ['infinity'], 'infinity');
  await guardWrite(request, target.segments, { members: true, parentMembership: true });
  // The metadata is set aside first and put back if the tree refuses: a file never loses
  // its checksum or properties to a DELETE that did not happen, nor a new file at the same
  // path inherits them.
  const aside = await services.meta.setAside(target.segments);
  try {
    await services.store.remove(target.segments);
  } catch (err) {
    await aside.restore().catch(() => undefined);
    throw err;
  }
  await aside.drop();
  await services.locks.releaseWithin(target.segments);
  res.writeHead(204);
  res.end();
}
