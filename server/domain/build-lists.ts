// The lists of sealed builds (/-/builds, its feed, the front page) and the permalinks to
// the newest one (/-/latest): their query parameters and cursors, decided here.
import { isPrintable, REVISION_RE } from './build-meta.js';
import type { SealedBuildEntry, SealedBuildQuery } from './stores.js';
import { NAME_RE } from './tree-path.js';

export const LIST_DEFAULT = 50;
export const LIST_MAX = 200;
/** Builds the front page shows. */
export const FRONT_PAGE_BUILDS = 20;

/** An opaque cursor for the list after `entry` (its seal time and name), URL-safe. */
export function encodeCursor(entry: Pick<SealedBuildEntry, 'sealedAt' | 'build'>): string {
  return Buffer.from(JSON.stringify([entry.sealedAt, entry.build.join('/')])).toString('base64url');
}

/** The position a cursor names, or null when it is not one of ours. */
export function decodeCursor(text: string): { sealedAt: string; scope: string } | null {
  if (text.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(text)) return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString());
    if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string' || typeof value[1] !== 'string') return null;
    if (Number.isNaN(Date.parse(value[0])) || value[1].split('/').length !== 3) return null;
    return { sealedAt: value[0], scope: value[1] };
  } catch {
    return null;
  }
}

type Params = Record<string, string | undefined>;

/** A branch as a mint gives it: 1 to 255 characters, none of them control characters. */
export function branchProblem(branch: string): string | null {
  return branch.length >= 1 && branch.length <= 255 && isPrintable(branch) ? null : 'branch must be 1 to 255 printable characters';
}

/** The query of a list (/-/builds, its feed): filters, limit and cursor, or why it is refused (400). */
export function listQuery(params: Params): SealedBuildQuery | { error: string } {
  const query: SealedBuildQuery = { limit: LIST_DEFAULT };
  for (const name of ['type', 'project'] as const) {
    const value = params[name];
    if (value === undefined) continue;
    if (!NAME_RE.test(value)) return { error: `${name} must match ${NAME_RE.source}` };
    query[name] = value;
  }
  if (params.branch !== undefined) {
    const problem = branchProblem(params.branch);
    if (problem) return { error: problem };
    query.branch = params.branch;
  }
  if (params.revision !== undefined) {
    if (!REVISION_RE.test(params.revision)) return { error: 'revision must be 1 to 128 of A-Za-z0-9._-' };
    query.revision = params.revision;
  }
  if (params.limit !== undefined) {
    if (!/^\d{1,3}$/.test(params.limit) || Number(params.limit) < 1 || Number(params.limit) > LIST_MAX) return { error: `limit must be a whole number from 1 to ${LIST_MAX}` };
    query.limit = Number(params.limit);
  }
  if (params.before !== undefined) {
    const before = decodeCursor(params.before);
    if (!before) return { error: 'before must be a cursor given as "next" by an earlier answer' };
    query.before = before;
  }
  return query;
}
