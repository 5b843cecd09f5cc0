// Collection pages of the tree: HTML for browsers, the same view as JSON on
// `Accept: application/json`.
import type { ServerResponse } from 'node:http';
import { treePage } from '../browse/pages.js';
import { renderPage } from '../ui/render.js';
import type { PageView } from '../ui/views.js';
import type { TreeRequest } from './context.js';

export function wantsJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const json = accept.indexOf('application/json');
  const html = accept.indexOf('text/html');
  return json !== -1 && (html === -1 || json < html);
}

/** Sends a page as HTML or JSON, as the client asked. */
export function sendPage(res: ServerResponse, view: PageView, accept: string | undefined, headOnly: boolean, status = 200): void {
  const json = wantsJson(accept);
  const body = json ? JSON.stringify(view) + '\n' : renderPage(view);
  res.writeHead(status, {
    'Content-Type': json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    // The audit trail is for masters only: no cache keeps a copy.
    'Cache-Control': view.view === 'audit' ? 'no-store' : 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    Vary: 'Accept',
  });
  res.end(headOnly ? undefined : body);
}

export async function sendListing(request: TreeRequest): Promise<void> {
  const { req, res, target, services } = request;
  sendPage(res, await treePage(services, target.segments), req.headers.accept, req.method === 'HEAD');
}
