// Collection pages of the tree: HTML for browsers, the same view as JSON on
// `Accept: application/json`.
import { treePage } from '../pages/browse.js';
import { sendPage } from '../pages/send.js';
import type { TreeRequest } from './context.js';

/** `?offset=N` of a long listing; anything else starts at the top. */
export function offsetParam(url: string | undefined): number {
  const m = /[?&]offset=(\d{1,9})(?:&|$)/.exec(url ?? '');
  return m ? Number(m[1]) : 0;
}

export async function sendListing(request: TreeRequest): Promise<void> {
  const { req, res, target, services } = request;
  const view = await services.pageGate.run(() => treePage(services, target.segments, offsetParam(req.url)));
  sendPage(res, view, req.headers.accept, req.method === 'HEAD');
}
