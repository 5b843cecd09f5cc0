// The simple repository API pip reads (PEP 503 pages, PEP 691 JSON, API version 1.1 of
// PEP 700), over the catalogue's wheels and sdists. Pure: the route (api/packages-api.ts)
// chooses the form by Accept and sends what these return.
import type { PackageInBuild } from '../domain/stores.js';
import { fileNameOf, firstOfEach } from '../domain/package-rules.js';
import { toHref } from '../domain/tree-path.js';
import { esc } from './render.js';

export const PYPI_JSON = 'application/vnd.pypi.simple.v1+json';
export const PYPI_HTML = 'application/vnd.pypi.simple.v1+html';
const API_VERSION = '1.1';

/** One file a project page lists. */
export interface SimpleFile {
  filename: string;
  url: string;
  sha256: string;
  size: number;
  uploadTime: string;
  requiresPython: string | null;
  metadataSha256: string | null;
}

/** The files of a project page: the newest sealed build wins a file name, then by name. */
export function simpleFiles(found: readonly PackageInBuild[]): SimpleFile[] {
  return firstOfEach(found, (f) => fileNameOf(f.package))
    .map((f) => ({
      filename: fileNameOf(f.package),
      url: toHref([...f.build, ...f.package.path.split('/')], false),
      sha256: f.package.sha256,
      size: f.package.size,
      uploadTime: f.sealedAt,
      requiresPython: f.package.requiresPython ?? null,
      metadataSha256: f.package.metadataSha256 ?? null,
    }))
    .sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
}

export function indexJson(names: readonly string[]): string {
  return JSON.stringify({ meta: { 'api-version': API_VERSION }, projects: names.map((name) => ({ name })) });
}

export function indexHtml(names: readonly string[]): string {
  const links = names.map((name) => `    <a href="${esc(encodeURIComponent(name))}/">${esc(name)}</a>`).join('\n');
  return `<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="${API_VERSION}">\n    <title>Simple index</title>\n  </head>\n  <body>\n${links}\n  </body>\n</html>\n`;
}

export function projectJson(name: string, files: readonly SimpleFile[], versions: readonly string[]): string {
  return JSON.stringify({
    meta: { 'api-version': API_VERSION },
    name,
    versions,
    files: files.map((f) => ({
      filename: f.filename,
      url: f.url,
      hashes: { sha256: f.sha256 },
      'requires-python': f.requiresPython,
      // PEP 714's name only: pip before 23.2 (Debian 12's 23.0) fails on PEP 658's
      // "dist-info-metadata" as an object in JSON, which PEP 714 renamed it to avoid.
      'core-metadata': f.metadataSha256 ? { sha256: f.metadataSha256 } : false,
      size: f.size,
      'upload-time': f.uploadTime,
      yanked: false,
    })),
  });
}

export function projectHtml(name: string, files: readonly SimpleFile[]): string {
  const links = files
    .map((f) => {
      const attrs = [`href="${esc(`${f.url}#sha256=${f.sha256}`)}"`];
      if (f.requiresPython) attrs.push(`data-requires-python="${esc(f.requiresPython)}"`);
      if (f.metadataSha256) attrs.push(`data-core-metadata="sha256=${f.metadataSha256}"`, `data-dist-info-metadata="sha256=${f.metadataSha256}"`);
      return `    <a ${attrs.join(' ')}>${esc(f.filename)}</a><br>`;
    })
    .join('\n');
  return `<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="${API_VERSION}">\n    <title>Links for ${esc(name)}</title>\n  </head>\n  <body>\n    <h1>Links for ${esc(name)}</h1>\n${links}\n  </body>\n</html>\n`;
}
