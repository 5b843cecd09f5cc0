// What the token service reports as it works: the audit trail records these and the metrics
// count them. Names and ids only, never a password or a hash.

/** When a token was first and last used, and how often (kept in memory). */
export interface TokenUsage {
  first_used_at: string | null;
  last_used_at: string | null;
  uses: number;
}

export type TokenEvent =
  | { event: 'token.minted'; token: string; build: string; by: string; ttl_seconds: number; expires_at: string; proxy: 'record' | 'offline'; replay: string | null }
  | { event: 'token.first_use'; token: string; build: string }
  | ({ event: 'token.revoked'; token: string; build: string; by: string } & TokenUsage)
  | ({ event: 'token.expired'; token: string; build: string } & TokenUsage)
  | { event: 'auth.failed'; kind: 'master' | 'token'; throttled: boolean }
  | { event: 'master.added'; master: string; by: string }
  | { event: 'master.removed'; master: string; by: string };
