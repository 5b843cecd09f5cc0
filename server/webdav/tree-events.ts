// What a successful write in the tree tells the audit trail. Pure: the request's outcome in,
// at most one event out.
import type { TreeEvent } from '../domain/events.js';
import type { TreeMethod } from '../../token-service/authorise.js';

export interface WriteOutcome {
  method: TreeMethod;
  status: number;
  target: readonly string[];
  targetIsCollection: boolean;
  destination: readonly string[] | null;
  token: string;
  /** The token's build, "/t/p/42/". */
  build: string;
  /** What a PUT (or a LOCK creating an empty file) stored. */
  stored?: { size: number; sha256: string };
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** A tree path as people read it: decoded, a collection with its trailing slash. */
export function auditPath(segments: readonly string[], collection: boolean): string {
  return '/' + segments.join('/') + (collection && segments.length > 0 ? '/' : '');
}

export function treeEvent(outcome: WriteOutcome): TreeEvent | null {
  const { method, status, token, build } = outcome;
  if (status < 200 || status >= 300) return null;
  const path = auditPath(outcome.target, outcome.targetIsCollection);
  switch (method) {
    case 'PUT':
      return outcome.stored ? { event: 'file.written', build, path, size: outcome.stored.size, sha256: outcome.stored.sha256, token } : null;
    case 'LOCK':
      // Only a LOCK that created its (empty) file changed the tree.
      return status === 201 ? { event: 'file.written', build, path, size: 0, sha256: outcome.stored?.sha256 ?? EMPTY_SHA256, token } : null;
    case 'DELETE':
      return { event: 'resource.deleted', build, path, token };
    case 'MKCOL':
      return { event: 'collection.created', build, path, token };
    case 'PROPPATCH':
      return { event: 'properties.changed', build, path, token };
    case 'COPY':
    case 'MOVE': {
      if (!outcome.destination) return null;
      const to = auditPath(outcome.destination, outcome.targetIsCollection);
      return { event: method === 'COPY' ? 'resource.copied' : 'resource.moved', build, path: to, from: path, token };
    }
    default:
      return null;
  }
}
