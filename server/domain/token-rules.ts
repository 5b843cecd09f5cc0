// Pure decisions about tokens, tested directly.

/** Live: neither revoked nor past its expiry, at the instant `nowMs`. */
export function isTokenLive(token: { revoked_at: string | null; expires_at: string; hash: string | null }, nowMs: number): boolean {
  return token.revoked_at === null && token.hash !== null && Date.parse(token.expires_at) > nowMs;
}

/** How long revoked and expired tokens are remembered, so that a repeated DELETE still answers 204. */
export const TOMBSTONE_MS = 7 * 24 * 3600 * 1000;

export type TtlCheck = { ok: true; seconds: number } | { ok: false; error: string };

export function checkTtl(value: unknown, defaultSeconds: number, maxSeconds: number): TtlCheck {
  if (value === undefined || value === null) return { ok: true, seconds: defaultSeconds };
  if (typeof value !== 'number' || !Number.isInteger(value)) return { ok: false, error: 'ttl must be a whole number of seconds' };
  if (value < 1 || value > maxSeconds) return { ok: false, error: `ttl must be between 1 and ${maxSeconds} seconds` };
  return { ok: true, seconds: value };
}

/** The fields a mint request may carry (docs/interface.md); anything else is a typo to report, not ignore. */
export const MINT_FIELDS: readonly string[] = ['type', 'project', 'build', 'ttl', 'proxy', 'replay', 'source', 'builder', 'properties'];

/**
 * Why a mint request's field names are refused, or null: an unknown field (`tll`,
 * `replay_of`) would otherwise mint a build other than the one meant, silently.
 */
export function mintFieldsProblem(fields: Record<string, unknown>): string | null {
  const unknown = Object.keys(fields).find((name) => !MINT_FIELDS.includes(name));
  if (unknown !== undefined) return `unknown field ${JSON.stringify(unknown.slice(0, 64))} (a mint takes ${MINT_FIELDS.join(', ')})`;
  const missing = ['type', 'project', 'build'].find((name) => fields[name] === undefined || fields[name] === null);
  if (missing !== undefined) return `${missing} is required`;
  return null;
}

const MASTER_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;
// Names the store's plain JSON objects would take for their prototype, not a key.
const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

/** Why a master name is refused, or null when it is fine. */
export function masterNameProblem(name: string): string | null {
  if (!MASTER_NAME_RE.test(name)) return `a master name must match ${MASTER_NAME_RE.source}`;
  if (RESERVED_NAMES.has(name)) return `"${name}" is reserved`;
  return null;
}

/** ISO 8601 without milliseconds, as the mint answer's expires_at shows it (docs/interface.md). */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
