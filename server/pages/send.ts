// Sending a page: HTML for browsers, the same view as JSON on `Accept: application/json`,
// with the headers every page carries.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type HttpError, sendHttpError } from '../http/errors.js';
import { renderPage } from './render.js';
import { STYLE } from './style.js';
import type { PageView } from './views.js';

export function wantsJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const json = accept.indexOf('application/json');
  const html = accept.indexOf('text/html');
  return json !== -1 && (html === -1 || json < html);
}

/**
 * Every page: no script runs on it and no other site may frame it (artifacts have their
 * own, stricter sandbox: webdav/files.ts).
 */
export const PAGE_SECURITY_HEADERS = {
  // The one inline stylesheet, by its hash; nothing else loads or runs.
  'Content-Security-Policy': `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
} as const;

/** Whether a request is a browser's: a GET or HEAD whose Accept names HTML before JSON. */
export function wantsPage(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  return (req.method === 'GET' || req.method === 'HEAD') && accept !== undefined && accept.includes('text/html') && !wantsJson(accept);
}

/**
 * A refusal as the client can read it: a styled page for a browser (a missing path, a
 * master-only page asking for credentials), the short text or JSON otherwise. The error's
 * headers (WWW-Authenticate, Retry-After, ...) go with either.
 */
export function sendErrorAnswer(req: IncomingMessage, res: ServerResponse, error: HttpError, json = false): void {
  if (res.headersSent || error.xmlBody !== undefined || !wantsPage(req)) return sendHttpError(req, res, error, json);
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const body = renderPage({ view: 'error', path, crumbs: [{ name: 'artifacts', href: '/' }], status: error.status, message: error.message });
  res.writeHead(error.status, { ...error.headers, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...PAGE_SECURITY_HEADERS, Vary: 'Accept' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Sends a page as HTML or JSON, as the client asked. */
export function sendPage(res: ServerResponse, view: PageView, accept: string | undefined, headOnly: boolean, status = 200, headers: Record<string, string> = {}): void {
  const json = wantsJson(accept);
  const body = json ? JSON.stringify(view) + '\n' : renderPage(view);
  res.writeHead(status, {
    ...headers,
    'Content-Type': json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    // The audit trail and the inputs are for masters only: no cache keeps a copy.
    'Cache-Control': view.view === 'audit' || view.view === 'inputs' ? 'no-store' : 'no-cache',
    ...PAGE_SECURITY_HEADERS,
    Vary: 'Accept',
  });
  res.end(headOnly ? undefined : body);
}

