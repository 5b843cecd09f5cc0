// Collection indexes: HTML for browsers, JSON for `Accept: application/json`.
import { toHref } from '../domain/tree-path.js';
import type { TreeRequest } from './context.js';

export interface ListingEntry {
  name: string;
  type: 'file' | 'collection';
  size: number | null;
  modified: string;
  href: string;
}

export function wantsJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const json = accept.indexOf('application/json');
  const html = accept.indexOf('text/html');
  return json !== -1 && (html === -1 || json < html);
}

// Natural order, so build 10 comes after build 9.
const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

export async function listEntries(request: TreeRequest): Promise<ListingEntry[]> {
  const { target, services } = request;
  const entries = await services.store.list(target.segments);
  return entries
    .map(({ name, stats }) => {
      const collection = stats.isDirectory();
      return {
        name,
        type: collection ? ('collection' as const) : ('file' as const),
        size: collection ? null : stats.size,
        modified: stats.mtime.toISOString(),
        href: toHref([...target.segments, name], collection),
      };
    })
    .sort((a, b) => (a.type === b.type ? collator.compare(a.name, b.name) : a.type === 'collection' ? -1 : 1));
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function humanSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function renderListingHtml(segments: readonly string[], entries: ListingEntry[]): string {
  const crumbs = ['<a href="/">root</a>'];
  segments.forEach((s, i) => crumbs.push(`<a href="${escapeHtml(toHref(segments.slice(0, i + 1), true))}">${escapeHtml(s)}</a>`));
  const title = escapeHtml(toHref(segments, true));
  const rows = entries
    .map((e) => `<tr><td><a href="${escapeHtml(e.href)}">${escapeHtml(e.name)}${e.type === 'collection' ? '/' : ''}</a></td><td class="n">${e.size === null ? '' : humanSize(e.size)}</td><td>${e.modified.slice(0, 19).replace('T', ' ')}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
:root{color-scheme:light dark;font-family:system-ui,sans-serif}
body{max-width:60rem;margin:1rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{padding:.3rem .5rem;text-align:left;border-bottom:1px solid #8884}
.n{text-align:right;white-space:nowrap}nav a{margin-right:.2rem}
</style></head><body>
<nav>${crumbs.join(' / ')}</nav>
<h1>${title}</h1>
<table><thead><tr><th>name</th><th class="n">size</th><th>modified (UTC)</th></tr></thead><tbody>
${rows || '<tr><td colspan="3">empty</td></tr>'}
</tbody></table>
</body></html>
`;
}

export async function sendListing(request: TreeRequest): Promise<void> {
  const { req, res, target } = request;
  const entries = await listEntries(request);
  const json = wantsJson(req.headers.accept);
  const body = json ? JSON.stringify({ path: toHref(target.segments, true), entries }) + '\n' : renderListingHtml(target.segments, entries);
  res.writeHead(200, {
    'Content-Type': json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-cache',
    Vary: 'Accept',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
