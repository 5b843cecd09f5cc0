// A CI job's OpenID Connect ID token, checked (docs/ci.md): signed by a trusted issuer's
// key (its JWKS, from its discovery document, fetched through the one upstream client and
// its network rules), with an asymmetric algorithm, for our audience, and in time. jose
// verifies; this file decides which issuer, when to fetch keys again, and what to tell the
// client: a short reason, never the token.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { Failure } from '../server/domain/errors.js';
import type { TrustedIssuer } from '../server/domain/job-token-rules.js';
import type { UpstreamClient } from '../server/upstream/upstream.js';

/** Asymmetric signatures only: `none` and HMAC (a key anyone holding the public key could use) never. */
export const JOB_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const CLOCK_SKEW_SECONDS = 60;
// An unknown key is looked for again at most this often (a token naming keys nobody has
// must not make the repository ask the issuer on every request).
const REFETCH_EVERY_MS = 60_000;
// Keys are asked for again after this long even when every kid is known (rotations that reuse a kid).
const KEYS_FOR_MS = 60 * 60_000;
const MAX_TOKEN_CHARS = 16 * 1024;
const MAX_DOCUMENT_BYTES = 1024 * 1024;
const FETCH_TIMEOUT_MS = 10_000;

export interface VerifiedJobToken {
  issuer: TrustedIssuer;
  claims: JWTPayload;
  /** The token's digest (by `jti`, or the whole token without one): what makes it mint once. */
  key: string;
  /** When the token expires (ISO 8601): the ledger keeps its key until then. */
  expiresAt: string;
}

export type FetchJson = (url: URL) => Promise<unknown>;

/** GET of a JSON document through the upstream client: its network rules, its TLS trust, bounded. */
export function upstreamJson(upstream: UpstreamClient): FetchJson {
  return async (url) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    try {
      const res: IncomingMessage = await upstream.request({ method: 'GET', url, headers: { accept: 'application/json' }, signal: controller.signal });
      if (res.statusCode !== 200) {
        res.resume();
        throw new Error(`${url.href} answered ${res.statusCode}`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_DOCUMENT_BYTES) {
          res.destroy();
          throw new Error(`${url.href} is larger than ${MAX_DOCUMENT_BYTES} bytes`);
        }
        chunks.push(chunk);
      }
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    } finally {
      clearTimeout(timer);
    }
  };
}

function unauthenticated(reason: string): Failure {
  return new Failure('unauthenticated', `job token refused: ${reason}`);
}

interface Keys {
  getKey: JWTVerifyGetKey;
  fetchedAt: number;
}

// Keys kept through failed fetches at most this long: a key the issuer withdrew is not
// trusted for ever because its JWKS cannot be reached.
const STALE_KEYS_FOR_MS = 24 * 60 * 60_000;
// A token living longer than this is refused (the ledger keeps each until it expires).
const MAX_TOKEN_LIFE_SECONDS = 31 * 24 * 3600;
// The ledger keeps a token's digest this long after it expires: replicas' clocks differ.
const LEDGER_MARGIN_SECONDS = 15 * 60;

export class JobTokenVerifier {
  private readonly byIssuer: ReadonlyMap<string, TrustedIssuer>;
  private readonly keys = new Map<string, Keys>();
  private readonly fetching = new Map<string, Promise<Keys>>();
  /** When each issuer was last asked, whatever came of it: never more than once a minute. */
  private readonly askedAt = new Map<string, number>();

  constructor(
    issuers: readonly TrustedIssuer[],
    private readonly fetchJson: FetchJson,
    private readonly now: () => number = Date.now,
  ) {
    this.byIssuer = new Map(issuers.map((i) => [i.issuer, i]));
  }

  /** The issuer's keys, from its JWKS (one fetch at a time per issuer). */
  private fetchKeys(issuer: TrustedIssuer): Promise<Keys> {
    let running = this.fetching.get(issuer.issuer);
    if (running) return running;
    this.askedAt.set(issuer.issuer, this.now());
    running = (async () => {
      let jwksUri = issuer.jwksUri;
      if (!jwksUri) {
        const discovery = await this.fetchJson(new URL(`${issuer.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`));
        const doc = (discovery ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
        // OpenID Connect Discovery 1.0, section 4.3: the document is the issuer's own.
        if (doc.issuer !== issuer.issuer) throw new Error(`the discovery document names issuer ${String(doc.issuer).slice(0, 100)}`);
        if (typeof doc.jwks_uri !== 'string' || !doc.jwks_uri.startsWith('https://')) throw new Error('the discovery document has no https jwks_uri');
        jwksUri = doc.jwks_uri;
      }
      const jwks = (await this.fetchJson(new URL(jwksUri))) as JSONWebKeySet;
      if (!jwks || !Array.isArray(jwks.keys) || jwks.keys.length > 100) throw new Error('the JWKS is not a set of at most 100 keys');
      const keys = { getKey: createLocalJWKSet(jwks), fetchedAt: this.now() };
      this.keys.set(issuer.issuer, keys);
      return keys;
    })().finally(() => this.fetching.delete(issuer.issuer));
    this.fetching.set(issuer.issuer, running);
    return running;
  }

  /**
   * Keys to verify with: cached, or fetched. The issuer is asked at most once a minute,
   * whatever came of the last try (anonymous requests naming a trusted `iss` must not make
   * the repository hammer it); 503 when there are no keys to use.
   */
  private async keysOf(issuer: TrustedIssuer, again: boolean): Promise<Keys> {
    const now = this.now();
    const cached = this.keys.get(issuer.issuer);
    const usable = cached && now - cached.fetchedAt <= STALE_KEYS_FOR_MS ? cached : undefined;
    const due = !cached || now - cached.fetchedAt > (again ? REFETCH_EVERY_MS : KEYS_FOR_MS);
    const mayAsk = now - (this.askedAt.get(issuer.issuer) ?? -Infinity) >= REFETCH_EVERY_MS || this.fetching.has(issuer.issuer);
    if (!due && cached) return cached;
    if (mayAsk) {
      try {
        return await this.fetchKeys(issuer);
      } catch {
        // What failed is for the operator (the issuer's URL, an address): not for whoever asked.
      }
    }
    // Keys fetched before still verify what they signed (not an unknown kid's); without any, the issuer is away.
    if (usable && !again) return usable;
    if (usable && again && !mayAsk) return usable;
    throw new Failure('unavailable', `the keys of issuer ${issuer.issuer} cannot be fetched now; try again shortly`);
  }

  async verify(token: string): Promise<VerifiedJobToken> {
    if (token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) throw unauthenticated('not a JWT');
    let alg: unknown;
    let iss: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
      iss = decodeJwt(token).iss;
    } catch {
      throw unauthenticated('not a JWT');
    }
    if (typeof alg !== 'string' || !JOB_TOKEN_ALGORITHMS.includes(alg)) throw unauthenticated(`algorithm ${JSON.stringify(String(alg).slice(0, 20))} is not accepted (asymmetric signatures only)`);
    const issuer = typeof iss === 'string' ? this.byIssuer.get(iss) : undefined;
    if (!issuer) throw unauthenticated('its issuer is not trusted here (TRUSTED_ISSUERS_FILE)');
    const options = { issuer: issuer.issuer, audience: issuer.audience, algorithms: JOB_TOKEN_ALGORITHMS, clockTolerance: CLOCK_SKEW_SECONDS, requiredClaims: ['exp', 'iat'], currentDate: new Date(this.now()) };
    let payload: JWTPayload;
    try {
      payload = (await jwtVerify(token, (await this.keysOf(issuer, false)).getKey, options)).payload;
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw refusal(err);
      // A key the issuer published since (a rotation): asked for again, at most once a minute.
      try {
        payload = (await jwtVerify(token, (await this.keysOf(issuer, true)).getKey, options)).payload;
      } catch (again) {
        throw refusal(again);
      }
    }
    const nowSeconds = this.now() / 1000;
    if (typeof payload.iat === 'number' && payload.iat > nowSeconds + CLOCK_SKEW_SECONDS) throw unauthenticated('issued in the future (iat)');
    const exp = payload.exp as number;
    if (exp > nowSeconds + MAX_TOKEN_LIFE_SECONDS) throw unauthenticated('it expires more than 31 days from now');
    // Without a jti, the signed part names the token: a signature has other encodings that
    // verify alike (spare bits, ECDSA's mirrored s), the signed bytes have one.
    const once = typeof payload.jti === 'string' && payload.jti !== '' ? `jti\u0000${payload.jti}` : `signed\u0000${token.slice(0, token.lastIndexOf('.'))}`;
    return {
      issuer,
      claims: payload,
      key: createHash('sha256').update(`${issuer.issuer}\u0000${once}`).digest('hex'),
      expiresAt: new Date((exp + LEDGER_MARGIN_SECONDS) * 1000).toISOString(),
    };
  }
}

/** What jose found wrong, as a short reason (jose's messages never hold the token). */
function refusal(err: unknown): Failure {
  if (err instanceof Failure) return err;
  if (err instanceof errors.JWTExpired) return unauthenticated('expired');
  if (err instanceof errors.JWTClaimValidationFailed) return unauthenticated(`the "${err.claim}" claim ${err.reason === 'check_failed' ? 'does not match' : err.reason.replace(/_/g, ' ')}`);
  if (err instanceof errors.JWKSNoMatchingKey) return unauthenticated('signed with a key the issuer does not publish');
  if (err instanceof errors.JWSSignatureVerificationFailed) return unauthenticated('the signature does not verify');
  if (err instanceof errors.JOSEAlgNotAllowed) return unauthenticated('algorithm not accepted (asymmetric signatures only)');
  if (err instanceof errors.JWKSMultipleMatchingKeys) return unauthenticated('the issuer publishes several keys that could have signed it');
  if (err instanceof errors.JOSEError) return unauthenticated('malformed');
  return unauthenticated('malformed');
}
