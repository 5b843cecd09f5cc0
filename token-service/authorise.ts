// Where every request is authorised, for every edge (the tree, the /-/ API, the build
// proxy). Reads of the tree are public; writes need a live build token, the request path
// (and a COPY/MOVE Destination) must lie inside the token's scope; whether its build is
// still open is decided where the write is admitted (builds.ts). The token service needs a
// master's credentials; the build proxy a build token in Proxy-Authorization. Refusals are
// failures of a kind (unauthenticated, forbidden, throttled): each edge answers them
// through http/errors.ts, the proxy with 407 where the others say 401.
import type { IncomingMessage } from 'node:http';
import { isBelowScope, isInsideScope, sameSegments, scopeSegments, type TreePath } from '../server/domain/tree-path.js';
import type { LiveToken, TokenService } from './token-service.js';
import { parseBasicAuth } from './credentials.js';
import { Failure } from '../server/domain/errors.js';
import { sealFileLookalike } from '../server/domain/seal-files.js';
import type { JobTokenVerifier, VerifiedJobToken } from './job-tokens.js';

export const READ_METHODS = ['GET', 'HEAD', 'OPTIONS', 'PROPFIND'] as const;
export const WRITE_METHODS = ['PUT', 'MKCOL', 'DELETE', 'COPY', 'MOVE', 'PROPPATCH', 'LOCK', 'UNLOCK'] as const;
export const ALLOW_HEADER = [...READ_METHODS, ...WRITE_METHODS].join(', ');

export type TreeMethod = (typeof READ_METHODS)[number] | (typeof WRITE_METHODS)[number];

const READ_SET = new Set<string>(READ_METHODS);
const WRITE_SET = new Set<string>(WRITE_METHODS);

export function isTreeMethod(method: string): method is TreeMethod {
  return READ_SET.has(method) || WRITE_SET.has(method);
}

export function isWriteMethod(method: string): boolean {
  return WRITE_SET.has(method);
}

export type Authorisation = { kind: 'public' } | { kind: 'token'; token: LiveToken; scope: readonly string[] };

/**
 * Why a token with `scope` may not do `method` on `target` (and `destination`), or null
 * when it may. Pure: the whole scope policy is here.
 */
export function scopeRefusal(method: TreeMethod, target: readonly string[], destination: readonly string[] | null, scope: readonly string[]): string | null {
  if (!isInsideScope(target, scope)) return `outside this token's scope /${scope.join('/')}/`;
  // The seal's own files (the checksum list, its signature, the provenance, apt's flat index): a folder or
  // file of such a name would keep the build from being sealed, or pass for the repository's.
  const created = method === 'COPY' || method === 'MOVE' ? destination : method === 'PUT' || method === 'MKCOL' || method === 'LOCK' ? target : null;
  // At any depth: a PUT of Release/x makes the folder Release/ on its way.
  const name = created?.[scope.length];
  const folder = method === 'MKCOL' || (created !== null && created.length > scope.length + 1);
  const reserved = created !== null && created.length > scope.length && isInsideScope(created, scope) && name !== undefined ? sealFileLookalike(name, folder) : null;
  if (reserved !== null) {
    return reserved === name
      ? `${name} at the build root is written by the repository when the build is sealed`
      : `${JSON.stringify(name)} at the build root would pass for ${reserved}, which the repository writes when the build is sealed`;
  }
  if ((method === 'DELETE' || method === 'MOVE') && sameSegments(target, scope)) return 'the build collection itself cannot be deleted or moved';
  if (method === 'PUT' && sameSegments(target, scope)) return 'cannot PUT onto the build collection';
  if (destination !== null && !isBelowScope(destination, scope)) return `Destination is outside this token's scope /${scope.join('/')}/`;
  return null;
}

/**
 * Whether a tree request may go on: reads are public; a write needs the build token the
 * request authenticated with (`token`, null when it is a read) and a target inside its
 * scope. `forbidden` otherwise.
 */
export function authorise(method: TreeMethod, target: TreePath, destination: TreePath | null, token: LiveToken | null): Authorisation {
  if (!isWriteMethod(method)) return { kind: 'public' };
  if (!token) throw new Failure('unauthenticated', 'authentication required: use the build token as Basic credentials');
  const scope = scopeSegments(token.scope);
  const refusal = scopeRefusal(method, target.segments, destination?.segments ?? null, scope);
  if (refusal) throw new Failure('forbidden', refusal);
  // Whether the build is sealed is decided once, where the write is admitted
  // (Builds.whileWriting, 409): in the same step that counts the write, so that a seal
  // cannot slip between a check here and the write (and, with DATABASE_URL, in one query).
  return { kind: 'token', token, scope };
}

/** Which header carries the credentials: the server's, or the build proxy's (answered 407 when missing). */
export type CredentialsHeader = 'authorization' | 'proxy-authorization';

const throttled = (retryAfterSeconds: number): Failure => new Failure('throttled', 'too many failed attempts; retry later', retryAfterSeconds);

/** The live build token of the request's Basic credentials; `unauthenticated` or `throttled` otherwise. */
export async function authenticateBuildToken(req: IncomingMessage, tokens: TokenService, clientAddress: string, header: CredentialsHeader = 'authorization'): Promise<LiveToken> {
  const credentials = parseBasicAuth(req.headers[header]);
  if (!credentials) {
    throw new Failure('unauthenticated', header === 'authorization' ? 'authentication required: use the build token as Basic credentials' : 'proxy authentication required: the build token as Basic credentials');
  }
  const result = await tokens.authenticateToken(credentials.username, credentials.password, clientAddress);
  if (result.ok) return result.token;
  if (result.reason === 'throttled') throw throttled(result.retryAfterSeconds);
  throw new Failure('unauthenticated', 'invalid, revoked or expired credentials');
}

/** A token authenticated earlier (when a proxy tunnel opened), if it is still live; revoked or expired since, `unauthenticated`. */
export async function stillLive(tokens: TokenService, tokenId: string): Promise<LiveToken> {
  const token = await tokens.liveToken(tokenId);
  if (!token) throw new Failure('unauthenticated', 'the token of this tunnel was revoked or expired');
  return token;
}

/** The master named by the request's Basic credentials; `unauthenticated` or `throttled` otherwise. */
export async function authenticateMaster(req: IncomingMessage, tokens: TokenService, clientAddress: string): Promise<string> {
  const credentials = parseBasicAuth(req.headers.authorization);
  if (!credentials) throw new Failure('unauthenticated', 'master credentials required');
  const result = await tokens.authenticateMaster(credentials.username, credentials.password, clientAddress);
  if (result.ok) return result.master;
  if (result.reason === 'throttled') throw throttled(result.retryAfterSeconds);
  throw new Failure('unauthenticated', 'invalid master credentials');
}

/**
 * The CI job a request's `Authorization: Bearer` ID token stands for (docs/ci.md): checked
 * by the verifier (signature, issuer, audience, time); `unauthenticated` otherwise, and
 * always without TRUSTED_ISSUERS_FILE. The token itself is never repeated.
 */
export async function authenticateJobToken(req: IncomingMessage, verifier: JobTokenVerifier | null): Promise<VerifiedJobToken> {
  const header = req.headers.authorization ?? '';
  if (!verifier) throw new Failure('unauthenticated', 'job tokens are not accepted here (no TRUSTED_ISSUERS_FILE): use master credentials');
  return verifier.verify(header.replace(/^bearer\s+/i, '').trim());
}

/** Who minted, as the token store and the audit trail say it: the issuer and the job's subject. */
export function jobPrincipal(issuer: string, claims: { sub?: unknown }): string {
  const subject = typeof claims.sub === 'string' ? claims.sub.slice(0, 256) : '?';
  return `job:${subject}@${issuer}`;
}

/**
 * Why a browser's form post is refused as cross-site, or null. A browser that holds a
 * master's Basic credentials sends them with any site's form, so a form that changes
 * something (the mirror page's) is taken only from this site's own pages: Sec-Fetch-Site
 * says same-origin, or else Origin names the host the request was sent to. With neither
 * header (no browser sends a form post without both today), it is refused too: programs
 * use the JSON interface, which no cross-site form can produce.
 */
export function crossSiteProblem(headers: { origin?: string; host?: string; 'sec-fetch-site'?: string }, publicUrl: URL | null): string | null {
  const site = headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' ? null : `a form from another site (Sec-Fetch-Site: ${site.slice(0, 32)}) may not change anything here`;
  const origin = headers.origin;
  if (origin === undefined || origin === 'null') return 'a form post without its Origin is not taken: use the JSON interface';
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return 'a form post with a malformed Origin is not taken';
  }
  const ours = [headers.host, publicUrl?.host].filter((h): h is string => h !== undefined);
  return ours.includes(host) ? null : `a form from ${origin.slice(0, 100)} may not change anything here`;
}
