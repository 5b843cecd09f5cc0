// Collection pages of the tree: HTML for browsers, the same view as JSON on
// `Accept: application/json`.
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { treePage } from '../pages/browse.js';
import { renderPage } from '../pages/render.js';
import { STYLE } from '../pages/style.js';
import type { PageView } from '../pages/views.js';
import type { TreeRequest } from './context.js';

export function wantsJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const json = accept.indexOf('application/json');
  const html = accept.indexOf('text/html');
  return json !== -1 && (html === -1 || json < html);
}

/**
 * Every page: no script runs on it and no other site may frame it (artifacts have their
 * own, stricter sandbox: files.ts).
 */
export const PAGE_SECURITY_HEADERS = {
  // The one inline stylesheet, by its hash; nothing else loads or runs.
  'Content-Security-Policy': `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
} as const;

/** Sends a page as HTML or JSON, as the client asked. */
export function sendPage(res: ServerResponse, view: PageView, accept: string | undefined, headOnly: boolean, status = 200): void {
  const json = wantsJson(accept);
  const body = json ? JSON.stringify(view) + '\n' : renderPage(view);
  res.writeHead(status, {
    'Content-Type': json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    // The audit trail and the inputs are for masters only: no cache keeps a copy.
    'Cache-Control': view.view === 'audit' || view.view === 'inputs' ? 'no-store' : 'no-cache',
    ...PAGE_SECURITY_HEADERS,
    Vary: 'Accept',
  });
  res.end(headOnly ? undefined : body);
}

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
