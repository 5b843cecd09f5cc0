// Mints, verifies, lists and revokes build tokens and authenticates build masters.
// The HTTP edge calls only this class; it never sees a hash.
import { FailureThrottle, type ThrottleVerdict } from './failure-throttle.js';
import { ProofCache } from './proof-cache.js';
import { hashMasterPassword, hashTokenPassword, newMasterPassword, newTokenId, newTokenPassword, verifyPassword } from './secrets.js';
import type { ProxyMode, TokenRecord, TokenRecords } from '../server/domain/stores.js';
import type { TokenEvent, TokenUsage } from '../server/domain/token-events.js';
import { TOMBSTONE_MS, isTokenLive, isoSeconds } from '../server/domain/token-rules.js';

export interface LiveToken {
  id: string;
  username: string;
  scope: string;
  proxy: ProxyMode;
  replay: string | null;
}

export interface ProxySettings {
  proxy: ProxyMode;
  replay: string | null;
}

export interface MintedToken extends LiveToken {
  password: string;
  expires_at: string;
}

export interface TokenSummary {
  id: string;
  username: string;
  scope: string;
  created_at: string;
  created_by: string;
  expires_at: string;
}

export type MasterAuthResult =
  | { ok: true; master: string }
  | { ok: false; reason: 'bad-credentials' }
  | { ok: false; reason: 'throttled'; retryAfterSeconds: number };

export type TokenAuthResult =
  | { ok: true; token: LiveToken }
  | { ok: false; reason: 'bad-credentials' }
  | { ok: false; reason: 'throttled'; retryAfterSeconds: number };

export type RevokeResult = 'revoked' | 'already-dead' | 'unknown';

export interface MasterSummary {
  name: string;
  created_at: string;
}

export type AddMasterResult = { ok: true; password: string } | { ok: false; error: 'exists' };
export type RemoveMasterResult = 'removed' | 'unknown' | 'last';

export interface TokenServiceOptions {
  now?: () => number;
  masterFailureLimit?: number;
  masterLockoutMs?: number;
  /** Wrong passwords for live tokens from one address before it is refused for a while. */
  tokenFailureLimit?: number;
  tokenLockoutMs?: number;
  /** Turns the proof cache off, to measure what it saves. */
  cacheProofs?: boolean;
  /**
   * Runs every argon2 verification: the server bounds how many run at once and how many
   * wait (the rest are refused), so that unauthenticated guesses cannot fill the thread
   * pool that file I/O shares.
   */
  verificationLimit?: { run<T>(work: () => Promise<T>): Promise<T> };
  /** Awaited after a token stops being live (revoked or expired): the build may be sealed. */
  afterTokenEnded?: (token: TokenRecord, how: 'revoked' | 'expired') => Promise<void>;
  /** Told of mints, first uses, ends, failed logins and master changes (the audit trail). */
  onEvent?: (event: TokenEvent) => void;
}

export class TokenService {
  private readonly now: () => number;
  private readonly proofs = new ProofCache();
  private readonly masterThrottle: FailureThrottle;
  private readonly tokenThrottle: FailureThrottle;
  private readonly cacheProofs: boolean;
  private verifications = 0;
  // First and last use of each live token, for the audit line written when it ends. In
  // memory: a write per request to the store would cost more than the request.
  private readonly usage = new Map<string, { first: number; last: number; uses: number }>();
  private readonly emit: (event: TokenEvent) => void;
  private readonly mastersBeingAdded = new Set<string>();

  constructor(
    private readonly store: TokenRecords,
    private readonly options: TokenServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.cacheProofs = options.cacheProofs ?? true;
    this.emit = options.onEvent ?? (() => undefined);
    this.masterThrottle = new FailureThrottle(options.masterFailureLimit ?? 10, options.masterLockoutMs ?? 300_000, this.now);
    this.tokenThrottle = new FailureThrottle(options.tokenFailureLimit ?? 20, options.tokenLockoutMs ?? 60_000, this.now);
  }

  // ---- masters ----

  /**
   * Makes sure the configured master exists with this password. With no password given and
   * no master stored, generates one and returns its password (to be shown once).
   */
  async provisionMaster(name: string, password: string | null): Promise<{ generatedPassword: string | null; removedByAdmin: boolean }> {
    const existing = await this.store.master(name);
    // An admin removed it (a leaked password, say): a restart with the old setting must not undo that.
    if (!existing && (await this.store.wasRemoved(name))) return { generatedPassword: null, removedByAdmin: true };
    if (password === null) {
      if ((await this.store.masters()).length > 0) return { generatedPassword: null, removedByAdmin: false };
      const generated = newMasterPassword();
      await this.store.putMaster({ name, hash: await hashMasterPassword(generated), created_at: isoSeconds(this.now()) });
      this.emit({ event: 'master.added', master: name, by: 'configuration' });
      return { generatedPassword: generated, removedByAdmin: false };
    }
    if (existing && (await verifyPassword(existing.hash, password))) return { generatedPassword: null, removedByAdmin: false };
    await this.store.putMaster({ name, hash: await hashMasterPassword(password), created_at: existing?.created_at ?? isoSeconds(this.now()) });
    this.proofs.forget(masterOwner(name));
    if (!existing) this.emit({ event: 'master.added', master: name, by: 'configuration' });
    return { generatedPassword: null, removedByAdmin: false };
  }

  /** Adds a master with a generated password, returned once; never replaces one. */
  async addMaster(name: string, by: string): Promise<AddMasterResult> {
    if (this.mastersBeingAdded.has(name) || (await this.store.master(name))) return { ok: false, error: 'exists' };
    // Reserved while argon2 runs: a second add of the same name must not slip in meanwhile.
    this.mastersBeingAdded.add(name);
    const password = newMasterPassword();
    try {
      if (!(await this.store.addMaster({ name, hash: await hashMasterPassword(password), created_at: isoSeconds(this.now()) }))) return { ok: false, error: 'exists' };
    } finally {
      this.mastersBeingAdded.delete(name);
    }
    this.emit({ event: 'master.added', master: name, by });
    return { ok: true, password };
  }

  async listMasters(): Promise<MasterSummary[]> {
    return (await this.store.masters())
      .map(({ name, created_at }) => ({ name, created_at }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Removes a master, unless it is the last one (no one could mint any more). */
  async removeMaster(name: string, by: string): Promise<RemoveMasterResult> {
    const result = await this.store.removeMaster(name, isoSeconds(this.now()));
    if (result !== 'removed') return result;
    this.proofs.forget(masterOwner(name));
    this.emit({ event: 'master.removed', master: name, by });
    return 'removed';
  }

  /**
   * Guesses are throttled per address and name together (so guesses at one name, or from
   * one address, lock out neither another name nor the owner of the right password who is
   * already proven), and per name from all addresses at ten times the limit (an attacker
   * with many addresses). A credential already proven is never throttled.
   */
  private throttled(throttle: FailureThrottle, address: string, name: string): ThrottleVerdict {
    const here = throttle.check(`${address}\0${name}`);
    if (!here.allowed) return here;
    return throttle.check(`\0${name}`);
  }

  private noteFailure(throttle: FailureThrottle, address: string, name: string): void {
    throttle.recordFailure(`${address}\0${name}`);
    throttle.recordFailure(`\0${name}`, 10);
  }

  private noteSuccess(throttle: FailureThrottle, address: string, name: string): void {
    throttle.recordSuccess(`${address}\0${name}`);
  }

  async authenticateMaster(name: string, password: string, address: string): Promise<MasterAuthResult> {
    const key = this.proofs.proofKey(name, password);
    const proven = this.cacheProofs && this.proofs.owner(key) === masterOwner(name);
    if (!proven) {
      const verdict = this.throttled(this.masterThrottle, address, name);
      if (!verdict.allowed) {
        this.emit({ event: 'auth.failed', kind: 'master', throttled: true });
        return { ok: false, reason: 'throttled', retryAfterSeconds: verdict.retryAfterSeconds };
      }
      // A new verification counts as a failure until proven otherwise, so a burst of
      // parallel guesses cannot all slip in before the first one fails. One being verified
      // by a request in flight adds nothing: a master's parallel mints at start-up share
      // one argon2 run and are never throttled.
      if (!this.proofs.isPending(key)) this.noteFailure(this.masterThrottle, address, name);
    }
    // A proof remembered here says the password was right; whether the master still exists
    // (removed through another server) is asked of the store every time.
    const ok = (await this.checkPassword(masterOwner(name), name, password, async () => (await this.store.master(name))?.hash ?? null)) && (await this.store.master(name)) !== null;
    if (!ok) {
      this.emit({ event: 'auth.failed', kind: 'master', throttled: false });
      return { ok: false, reason: 'bad-credentials' };
    }
    this.noteSuccess(this.masterThrottle, address, name);
    return { ok: true, master: name };
  }

  // ---- tokens ----

  async mint(scope: string, ttlSeconds: number, master: string, settings: ProxySettings = { proxy: 'record', replay: null }): Promise<MintedToken> {
    const id = newTokenId();
    const password = newTokenPassword();
    const hash = await hashTokenPassword(password);
    const now = this.now();
    const record: TokenRecord = {
      id,
      username: id,
      hash,
      scope,
      created_by: master,
      created_at: isoSeconds(now),
      expires_at: isoSeconds(Math.ceil((now + ttlSeconds * 1000) / 1000) * 1000),
      revoked_at: null,
      revoked_by: null,
      proxy: settings.proxy,
      replay: settings.replay,
    };
    await this.store.insertToken(record);
    this.emit({ event: 'token.minted', token: id, build: scope, by: master, ttl_seconds: ttlSeconds, expires_at: record.expires_at, proxy: settings.proxy, replay: settings.replay });
    return { ...liveTokenOf(record), password, expires_at: record.expires_at };
  }

  /**
   * The live token these credentials open, or why not. Revocation and expiry apply at
   * once. Wrong passwords for a live token are throttled per address: each costs argon2.
   */
  async authenticateToken(username: string, password: string, address: string): Promise<TokenAuthResult> {
    const record = await this.liveRecord(username);
    if (!record) return this.tokenFailure(false);
    const key = this.proofs.proofKey(username, password);
    const proven = this.cacheProofs && this.proofs.owner(key) === record.id;
    if (!proven) {
      const verdict = this.throttled(this.tokenThrottle, address, record.id);
      if (!verdict.allowed) return { ...this.tokenFailure(true), retryAfterSeconds: verdict.retryAfterSeconds };
      if (!this.proofs.isPending(key)) this.noteFailure(this.tokenThrottle, address, record.id);
    }
    const ok = await this.checkPassword(record.id, username, password, async () => (await this.liveRecord(record.id))?.hash ?? null);
    // The token may have been revoked while argon2 ran (here or on another replica).
    if (!ok || (!proven && !(await this.liveRecord(record.id)))) return this.tokenFailure(false);
    this.noteSuccess(this.tokenThrottle, address, record.id);
    this.noteUse(record);
    return { ok: true, token: liveTokenOf(record) };
  }

  private tokenFailure(throttled: true): { ok: false; reason: 'throttled' };
  private tokenFailure(throttled: false): { ok: false; reason: 'bad-credentials' };
  private tokenFailure(throttled: boolean): { ok: false; reason: 'throttled' | 'bad-credentials' } {
    this.emit({ event: 'auth.failed', kind: 'token', throttled });
    return { ok: false, reason: throttled ? 'throttled' : 'bad-credentials' };
  }

  private noteUse(record: TokenRecord): void {
    const now = this.now();
    const seen = this.usage.get(record.id);
    if (seen) {
      seen.last = now;
      seen.uses++;
      return;
    }
    this.usage.set(record.id, { first: now, last: now, uses: 1 });
    this.emit({ event: 'token.first_use', token: record.id, build: record.scope });
  }

  private usageOf(id: string): TokenUsage {
    const seen = this.usage.get(id);
    this.usage.delete(id);
    return seen
      ? { first_used_at: new Date(seen.first).toISOString(), last_used_at: new Date(seen.last).toISOString(), uses: seen.uses }
      : { first_used_at: null, last_used_at: null, uses: 0 };
  }

  /** Live tokens of a build, and its tokens that ended (kept as tombstones for a week). */
  async tokenCounts(scope: string): Promise<{ live: number; ended: number }> {
    const now = this.now();
    const counts = { live: 0, ended: 0 };
    for (const token of await this.store.tokensOf(scope)) {
      if (isTokenLive(token, now)) counts.live++;
      else counts.ended++;
    }
    return counts;
  }

  /** Who minted the tokens of a build (live or ended within the week the store keeps them). */
  async mintersOf(scope: string): Promise<string[]> {
    return [...new Set((await this.store.tokensOf(scope)).map((t) => t.created_by))];
  }

  /** Builds whose every token has ended: each should be sealed (already, or still to do). */
  async scopesWithOnlyEndedTokens(): Promise<string[]> {
    const now = this.now();
    const live = new Set<string>();
    const ended = new Set<string>();
    for (const token of await this.store.tokens()) (isTokenLive(token, now) ? live : ended).add(token.scope);
    return [...ended].filter((scope) => !live.has(scope));
  }

  /** The live token with this id, or null (a tunnel's token, checked at every request in it). */
  async liveToken(id: string): Promise<LiveToken | null> {
    const record = await this.liveRecord(id);
    return record ? liveTokenOf(record) : null;
  }

  /** Which of these tokens are live now, from the store (locks die with their token). */
  async liveAmong(ids: readonly string[]): Promise<Set<string>> {
    const now = this.now();
    return new Set((await this.store.tokensById(ids)).filter((r) => isTokenLive(r, now)).map((r) => r.id));
  }

  /** The build scope of a token the store knows, live or not. */
  async scopeOf(id: string): Promise<string | null> {
    return (await this.store.token(id))?.scope ?? null;
  }

  /** Names a token the store knows, live or not: such a username is never a master's. */
  async isTokenUsername(username: string): Promise<boolean> {
    return (await this.store.token(username)) !== null;
  }

  async revoke(id: string, by: string): Promise<RevokeResult> {
    const record = await this.store.endToken(id, this.now(), { at: isoSeconds(this.now()), by });
    if (!record) return (await this.store.token(id)) ? 'already-dead' : 'unknown';
    this.ended(record, 'revoked', by);
    await this.options.afterTokenEnded?.(record, 'revoked');
    return 'revoked';
  }

  async listLive(): Promise<TokenSummary[]> {
    const now = this.now();
    return (await this.store.tokens())
      .filter((t) => isTokenLive(t, now))
      .map(({ id, username, scope, created_at, created_by, expires_at }) => ({ id, username, scope, created_at, created_by, expires_at }));
  }

  /** What a build's live tokens let it do, and until when (its public page shows it: no id, no name). */
  async liveModesOf(scope: string): Promise<Array<{ proxy: ProxyMode; replay: string | null; expires_at: string }>> {
    const now = this.now();
    return (await this.store.tokensOf(scope)).filter((t) => isTokenLive(t, now)).map((t) => ({ proxy: t.proxy ?? 'record', replay: t.replay ?? null, expires_at: t.expires_at }));
  }

  async liveCount(): Promise<number> {
    const now = this.now();
    let count = 0;
    for (const token of await this.store.tokens()) if (isTokenLive(token, now)) count++;
    return count;
  }

  /**
   * Ends expired tokens (dropping their hashes) and forgets tombstones after a week.
   * Run at start and on a timer; authentication never depends on it having run.
   */
  async purge(): Promise<{ expired: number; forgotten: number }> {
    const now = this.now();
    const ended: TokenRecord[] = [];
    const forgotten: string[] = [];
    for (const record of await this.store.tokens()) {
      if (record.hash !== null && !isTokenLive(record, now)) {
        // Another replica may end it first: then it is that one's to report.
        const done = await this.store.endToken(record.id, now, null);
        if (!done) continue;
        this.ended(done, 'expired', null);
        ended.push(done);
      } else if (record.hash === null && now - endedAt(record) > TOMBSTONE_MS) forgotten.push(record.id);
    }
    await this.store.forget(forgotten);
    for (const record of ended) await this.options.afterTokenEnded?.(record, 'expired');
    return { expired: ended.length, forgotten: forgotten.length };
  }

  /** argon2 verifications run so far: what the proof cache saves shows here. */
  get passwordVerifications(): number {
    return this.verifications;
  }

  get cachedProofs(): number {
    return this.proofs.size;
  }

  private dummyHash(): Promise<string> {
    dummy ??= hashMasterPassword(newMasterPassword());
    return dummy;
  }

  /** The token's record if it is live now: read from the store on every request. */
  private async liveRecord(id: string): Promise<TokenRecord | null> {
    const record = await this.store.token(id);
    return record && isTokenLive(record, this.now()) ? record : null;
  }

  /** What follows the end of a token (its store record already changed). */
  private ended(record: TokenRecord, how: 'revoked' | 'expired', by: string | null): void {
    this.proofs.forget(record.id);
    const usage = this.usageOf(record.id);
    if (how === 'revoked') this.emit({ event: 'token.revoked', token: record.id, build: record.scope, by: by ?? 'unknown', ...usage });
    else this.emit({ event: 'token.expired', token: record.id, build: record.scope, ...usage });
  }

  private async checkPassword(owner: string, username: string, password: string, currentHash: () => Promise<string | null>): Promise<boolean> {
    const key = this.proofs.proofKey(username, password);
    if (this.cacheProofs && this.proofs.owner(key) === owner) return true;
    const limit = this.options.verificationLimit;
    const verify = async (): Promise<boolean> => {
      const hash = await currentHash();
      if (hash === null) {
        // An unknown name costs what a wrong password costs, so timing tells no names.
        const dummyHash = await this.dummyHash();
        await (limit ? limit.run(() => verifyPassword(dummyHash, password)) : verifyPassword(dummyHash, password));
        return false;
      }
      this.verifications++;
      return limit ? limit.run(() => verifyPassword(hash, password)) : verifyPassword(hash, password);
    };
    const ok = this.cacheProofs ? await this.proofs.verifyOnce(key, verify) : await verify();
    // Not remembered if the credential died while argon2 ran.
    if (ok && this.cacheProofs && (await currentHash()) !== null) this.proofs.remember(key, owner);
    return ok;
  }
}

let dummy: Promise<string> | null = null;

function liveTokenOf(record: TokenRecord): LiveToken {
  return { id: record.id, username: record.username, scope: record.scope, proxy: record.proxy ?? 'record', replay: record.replay ?? null };
}

function masterOwner(name: string): string {
  // Token ids are alphanumeric, so this prefix cannot collide with one.
  return `master:${name}`;
}

function endedAt(record: TokenRecord): number {
  return Date.parse(record.revoked_at ?? record.expires_at);
}
