// The Destination header of COPY and MOVE: an absolute URL on this server or an absolute
// path, parsed with the same rules as a request path.
import { parseTreePath, PathError, type TreePath } from '../domain/tree-path.js';
import { HttpError } from '../http/errors.js';

const ABSOLUTE_URL_RE = /^(https?):\/\/([^/?#]+)(\/[^?#]*)?(\?[^#]*)?(#.*)?$/i;

export function parseDestination(header: string | undefined, ownHosts: Set<string>): TreePath {
  if (!header) throw new HttpError(400, 'Destination header required');
  let rawPath: string;
  if (header.startsWith('/')) {
    rawPath = header.split('?')[0] as string;
  } else {
    const m = ABSOLUTE_URL_RE.exec(header);
    if (!m) throw new HttpError(400, 'Destination must be an absolute URL or path');
    const host = (m[2] as string).toLowerCase();
    if (host.includes('@')) throw new HttpError(400, 'Destination must not carry credentials');
    if (!ownHosts.has(host) && !ownHosts.has(host.replace(/:80$/, ''))) throw new HttpError(403, 'Destination is on another server');
    rawPath = m[3] ?? '/';
  }
  try {
    return parseTreePath(rawPath);
  } catch (err) {
    if (err instanceof PathError) throw new PathError(err.kind as 'invalid' | 'too-long', `Destination: ${err.message}`);
    throw err;
  }
}
