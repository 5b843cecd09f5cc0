// What a tree request handler is given: the parsed request and the services behind it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TreePath } from '../domain/tree-path.js';
import type { Authorisation, TreeMethod } from '../../token-service/authorise.js';
import type { Services } from '../services/services.js';

export interface TreeRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: TreeMethod;
  target: TreePath;
  destination: TreePath | null;
  auth: Authorisation;
  services: Services;
}

/** The token id acting, or null for a public request. */
export function principalOf(request: TreeRequest): string | null {
  return request.auth.kind === 'token' ? request.auth.token.id : null;
}
