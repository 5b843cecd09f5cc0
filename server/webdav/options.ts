// OPTIONS: what clients probe before they lock or write (davfs2, Finder, Explorer).
import { ALLOW_HEADER } from '../../token-service/authorise.js';
import type { TreeRequest } from './context.js';

export const DAV_HEADERS = { DAV: '1, 2', 'MS-Author-Via': 'DAV', Allow: ALLOW_HEADER };

export async function options({ res }: TreeRequest): Promise<void> {
  res.writeHead(200, { ...DAV_HEADERS, 'Content-Length': 0 });
  res.end();
}
