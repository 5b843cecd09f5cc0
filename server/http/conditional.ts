// HTTP validators and conditional requests (RFC 9110 section 13). Pure.
import type { Stats } from 'node:fs';

/** The same ETag nginx computes ("mtime-size" in hex), so both servers agree. */
export function etagOf(stats: Pick<Stats, 'mtimeMs' | 'size'>): string {
  return `"${Math.floor(stats.mtimeMs / 1000).toString(16)}-${stats.size.toString(16)}"`;
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

function tagList(header: string): string[] {
  return header.split(',').map((t) => t.trim()).filter(Boolean);
}

/** If-None-Match uses weak comparison. */
export function noneMatch(header: string, etag: string | null): boolean {
  if (etag === null) return true;
  if (header.trim() === '*') return false;
  return !tagList(header).some((t) => opaque(t) === opaque(etag));
}

/** If-Match uses strong comparison. */
export function matches(header: string, etag: string | null): boolean {
  if (etag === null) return false;
  if (header.trim() === '*') return true;
  return tagList(header).some((t) => !t.startsWith('W/') && t === etag);
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

export type Precondition = 'ok' | 'not-modified' | 'failed';

export interface ConditionalHeaders {
  'if-match'?: string;
  'if-none-match'?: string;
  'if-modified-since'?: string;
  'if-unmodified-since'?: string;
}

/** What a stored answer is validated by: its entity tag, and when it was last modified. */
export interface Validators {
  etag: string | null;
  modifiedMs: number | null;
}

/**
 * Evaluates the conditional headers in RFC 9110's order against a resource's validators;
 * `validators` null means the resource does not exist. For GET and HEAD a failed
 * If-None-Match means 304, for others 412.
 */
export function evaluateValidators(h: ConditionalHeaders, validators: Validators | null, readOnly: boolean): Precondition {
  const etag = validators?.etag ?? null;
  const modified = validators?.modifiedMs ?? null;
  // "*" asks whether the resource exists, whether or not it has an entity tag.
  const exists = validators !== null;
  if (h['if-match'] !== undefined) {
    if (h['if-match'].trim() === '*' ? !exists : !matches(h['if-match'], etag)) return 'failed';
  } else if (h['if-unmodified-since'] !== undefined && modified !== null) {
    const since = Date.parse(h['if-unmodified-since']);
    if (!Number.isNaN(since) && seconds(modified) > seconds(since)) return 'failed';
  }
  if (h['if-none-match'] !== undefined) {
    if (h['if-none-match'].trim() === '*' ? exists : !noneMatch(h['if-none-match'], etag)) return readOnly ? 'not-modified' : 'failed';
  } else if (readOnly && h['if-modified-since'] !== undefined && modified !== null) {
    const since = Date.parse(h['if-modified-since']);
    if (!Number.isNaN(since) && seconds(modified) <= seconds(since)) return 'not-modified';
  }
  return 'ok';
}

/** evaluateValidators for a file in the tree (`stats` null: no such file). */
export function evaluatePreconditions(h: ConditionalHeaders, stats: Pick<Stats, 'mtimeMs' | 'size'> | null, readOnly: boolean): Precondition {
  return evaluateValidators(h, stats ? { etag: etagOf(stats), modifiedMs: stats.mtimeMs } : null, readOnly);
}

/** If-Range: the Range applies only while the validator still names the current file. */
export function ifRangeHolds(header: string | undefined, stats: Pick<Stats, 'mtimeMs' | 'size'>): boolean {
  if (header === undefined) return true;
  const value = header.trim();
  if (value.startsWith('"')) return value === etagOf(stats);
  if (value.startsWith('W/')) return false;
  const date = Date.parse(value);
  return !Number.isNaN(date) && seconds(date) === seconds(stats.mtimeMs);
}
