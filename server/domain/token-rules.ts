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
