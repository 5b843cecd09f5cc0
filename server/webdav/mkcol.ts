// MKCOL (RFC 4918 section 9.3): 201, 405 when it exists, 409 when the parent is missing,
// 415 with a body.
import type { TreeRequest } from './context.js';
import { HttpError } from '../http/errors.js';
import { readSmallBody } from '../http/request-body.js';
import { guardWrite } from './preconditions.js';

export async function mkcol(request: TreeRequest): Promise<void> {
  const { req, res, target, services } = request;
  const body = await readSmallBody(req, res, services.config.maxXmlBodyBytes);
  if (body.length > 0) throw new HttpError(415, 'MKCOL with a body is not supported');
  if (await services.store.stat(target.segments)) throw new HttpError(405, 'the resource already exists');
  await guardWrite(request, target.segments, { parentMembership: true });
  await services.store.makeCollection(target.segments);
  res.writeHead(201, { 'Content-Length': 0 });
  res.end();
}
