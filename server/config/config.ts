// All settings, read and validated once at start. Everything else receives a Config.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isIP } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { masterNameProblem } from '../domain/token-rules.js';
import { parseRetentionPolicy, PolicyError, type RetentionPolicy } from '../domain/retention-policy.js';
import { socketPathProblem } from '../domain/path-limits.js';
import { parse as parseYaml, YAMLError } from 'yaml';
import type { BucketLocation } from '../domain/stores.js';
import { IssuersProblem, parseTrustedIssuers, type TrustedIssuer } from '../domain/job-token-rules.js';

export interface Config {
  port: number;
  host: string;
  /** The build proxy's port on `host`; 0 turns the proxy off. */
  proxyPort: number;
  /** Extra authorities that upstream servers' certificates may chain to (UPSTREAM_CA_FILE). */
  upstreamCa: { file: string; pem: string } | null;
  /** postgres://…: tokens, masters, the audit trail, inputs and the mirror in PostgreSQL. */
  databaseUrl: string | null;
  /** BLOB_STORE=s3://…: the tree's bytes in an S3-compatible bucket (the tree itself in PostgreSQL); null: files in ARTIFACTS_DIR. */
  blobStore: BucketLocation | null;
  /** Private networks the proxy and the mirror may connect to all the same (CIDRs). */
  proxyAllowNetworks: string[];
  /** A Unix socket to listen on as well, for nginx on the same host; its requests come from a trusted proxy. */
  listenSocket: string | null;
  artifactsDir: string;
  tokensDir: string;
  masterUser: string;
  /** null when neither MASTER_PASSWORD nor MASTER_PASSWORD_FILE is set. */
  masterPassword: string | null;
  publicUrl: URL | null;
  tokenTtlDefaultSeconds: number;
  tokenTtlMaxSeconds: number;
  /** Peers whose X-Forwarded-* headers are believed (the bundled nginx): addresses and CIDRs. */
  trustedProxies: string[];
  /** Started as root, the process becomes this user once its secrets are read (the image: node). */
  runAsUser: string | null;
  /** Cap on the body of every method but PUT (XML bodies, token requests). */
  maxXmlBodyBytes: number;
  shutdownGraceSeconds: number;
  /** How long sealing waits for a build's uploads in flight before it cuts them. */
  sealGraceSeconds: number;
  /** A request's headers must arrive within this; bodies have no total limit. */
  headersTimeoutSeconds: number;
  /** A connection with no traffic at all for this long is closed. */
  idleTimeoutSeconds: number;
  logLevel: string;
  masterFailureLimit: number;
  masterLockoutSeconds: number;
  tokenFailureLimit: number;
  tokenLockoutSeconds: number;
  /** Off only to measure what the argon2 proof cache saves. */
  proofCache: boolean;
  /** From the JSON file RETENTION_POLICY; null keeps every build. */
  retentionPolicy: RetentionPolicy | null;
  /** From TRUSTED_ISSUERS_FILE: the OpenID issuers whose job tokens mint build credentials (none: Bearer is refused). */
  trustedIssuers: TrustedIssuer[];
  /** Seconds between scheduled retention runs; 0 runs it only on demand. */
  retentionIntervalSeconds: number;
  /** What one mirror entry (a file, or an image with all its parts) may hold. */
  mirrorMaxEntryBytes: number;
  /** What one build's recording of inputs may hold, and the longest URL it records. */
  inputs: { maxLines: number; maxBytes: number; maxUrlLength: number };
  /** Tunnels one build token may hold open through the build proxy at once. */
  proxyMaxTunnels: number;
}

export class ConfigError extends Error {}

// S3's own rules for bucket names (the dotted ones too).
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** BLOB_STORE and the S3_ settings, checked; S3 mode keeps the tree in PostgreSQL, so it needs DATABASE_URL. */
export function bucketLocation(env: Env, databaseUrl: string | null): BucketLocation | null {
  const value = env.BLOB_STORE;
  if (!value) {
    const stray = ['S3_ENDPOINT', 'S3_REGION', 'S3_FORCE_PATH_STYLE'].find((name) => env[name]);
    if (stray) throw new ConfigError(`${stray} is set but BLOB_STORE is not: set BLOB_STORE=s3://bucket/prefix to keep the bytes in a bucket`);
    return null;
  }
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(value);
  if (!match) throw new ConfigError(`BLOB_STORE must look like s3://bucket or s3://bucket/prefix, got "${value}"`);
  const bucket = match[1] as string;
  if (!BUCKET_RE.test(bucket) || bucket.includes('..')) throw new ConfigError(`BLOB_STORE: "${bucket}" is not a valid bucket name (3 to 63 lower-case letters, digits, dots and hyphens)`);
  const path = (match[2] ?? '').replace(/\/+$/, '');
  if (path.split('/').some((s) => s === '.' || s === '..' || s.startsWith('.')) && path !== '') throw new ConfigError('BLOB_STORE: the prefix has no segment that starts with a dot');
  if (path.includes('//') || /[\u0000-\u001f\u007f\\]/.test(path) || path.length > 256) throw new ConfigError('BLOB_STORE: the prefix has no empty segment, control character or backslash, and at most 256 characters');
  if (!databaseUrl) throw new ConfigError('BLOB_STORE needs DATABASE_URL: with the bytes in a bucket, the tree (folders, names, records) is kept in PostgreSQL');
  let endpoint: string | null = null;
  if (env.S3_ENDPOINT) {
    let url: URL;
    try {
      url = new URL(env.S3_ENDPOINT);
    } catch {
      // Not echoed: what was meant as a URL may carry credentials.
      throw new ConfigError('S3_ENDPOINT must be a URL like https://s3.example.org');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`S3_ENDPOINT must be http:// or https://, got ${url.protocol}//`);
    if (url.username || url.password) throw new ConfigError('S3_ENDPOINT holds credentials: give them as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the SDK\'s other sources) instead');
    endpoint = url.origin + url.pathname.replace(/\/+$/, '');
  }
  const region = env.S3_REGION || env.AWS_REGION || 'us-east-1';
  if (!/^[a-z0-9-]{1,64}$/.test(region)) throw new ConfigError(`S3_REGION must be a region name like us-east-1, got "${region}"`);
  return { bucket, prefix: path ? `${path}/` : '', endpoint, region, forcePathStyle: onOff(env, 'S3_FORCE_PATH_STYLE', false) };
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** A size in bytes, with an optional binary unit as nginx writes them: 512, 64k, 32M, 20g, 1T. */
function size(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const m = /^(\d+)([kKmMgGtT]?)$/.exec(raw);
  if (!m) throw new ConfigError(`${name} must be a size in bytes, optionally with k, M, G or T (as 512, 64k, 32M, 20G), got "${raw}"`);
  const value = Number(m[1]) * (SIZE_UNITS[(m[2] as string).toLowerCase()] as number);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max} bytes, got ${value}`);
  return value;
}

function onOff(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  // true and false too: what the AWS tools and most compose files write.
  if (raw === 'on' || raw === 'true') return true;
  if (raw === 'off' || raw === 'false') return false;
  throw new ConfigError(`${name} must be on or off, got "${raw}"`);
}

/**
 * A secret given as NAME, or as NAME_FILE (a file holding it, as docker secrets are
 * mounted; one trailing newline dropped). Returns the value and where it came from.
 */
function secret(env: Env, name: string): { value: string; source: string } | null {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct && file) throw new ConfigError(`set ${name} or ${name}_FILE, not both`);
  if (!file) return direct ? { value: direct, source: name } : null;
  let value: string;
  try {
    value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(`${name}_FILE cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}): ${file}`);
  }
  if (value === '') throw new ConfigError(`${name}_FILE is empty: ${file}`);
  return { value, source: `${name}_FILE` };
}

function readPassword(env: Env): string | null {
  const found = secret(env, 'MASTER_PASSWORD');
  if (!found) return null;
  if (found.value.length < 12) throw new ConfigError(`${found.source}: the master password must be at least 12 characters long`);
  return found.value;
}

function publicUrl(raw: string | undefined): URL | null {
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`PUBLIC_URL is not a URL: "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('PUBLIC_URL must start with http:// or https://');
  if (url.search || url.hash || url.username || url.password) throw new ConfigError('PUBLIC_URL must be a plain base URL (no query, fragment or credentials)');
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

// Express's names for the usual ranges (proxy-addr), so that a compose network can be
// trusted without knowing its subnet: `TRUSTED_PROXIES=uniquelocal`.
const PROXY_KEYWORDS: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** Addresses, CIDR ranges and keywords (`172.28.0.10`, `172.28.0.0/24`, `::1`, `uniquelocal`). */
function addressList(name: string, raw: string | undefined): string[] {
  if (!raw) return [];
  const list: string[] = [];
  for (const entry of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const expanded = PROXY_KEYWORDS[entry.toLowerCase()];
    if (expanded) {
      list.push(...expanded);
      continue;
    }
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new ConfigError(`${name} holds "${entry}", which is not an IP address, a CIDR range, or one of ${Object.keys(PROXY_KEYWORDS).join(', ')}`);
    }
    list.push(entry);
  }
  return list;
}

/** PostgreSQL's URL (DATABASE_URL, or DATABASE_URL_FILE: it holds a password); never echoed. */
function databaseUrl(env: Env): string | null {
  const found = secret(env, 'DATABASE_URL');
  if (!found) return null;
  let url: URL;
  try {
    url = new URL(found.value);
  } catch {
    throw new ConfigError(`${found.source} must be a URL like postgres://user:password@host:5432/database`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new ConfigError(`${found.source} must start with postgres:// (got ${url.protocol}//)`);
  if (!url.hostname) throw new ConfigError(`${found.source} names no host`);
  return found.value;
}

/** Extra certificate authorities for upstream servers: a readable file of PEM certificates. */

function upstreamCa(file: string | undefined, cwd: string): { file: string; pem: string } | null {
  if (!file) return null;
  const { full, text: pem } = settingFile('UPSTREAM_CA_FILE', file, cwd);
  const certificates = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (certificates.length === 0) throw new ConfigError(`UPSTREAM_CA_FILE holds no PEM certificate: ${full}`);
  for (const certificate of certificates) {
    try {
      new X509Certificate(certificate);
    } catch {
      throw new ConfigError(`UPSTREAM_CA_FILE holds a certificate that does not parse: ${full}`);
    }
  }
  return { file: full, pem: certificates.join('\n') + '\n' };
}

function listenSocket(raw: string | undefined, cwd: string): string | null {
  if (!raw) return null;
  const full = path.resolve(cwd, raw);
  const problem = socketPathProblem(full);
  if (problem) throw new ConfigError(`LISTEN_SOCKET: ${problem}`);
  return full;
}

/** A user name or a numeric uid, as in /etc/passwd. */
function runAsUser(raw: string | undefined): string | null {
  if (!raw) return null;
  if (!/^(?:[a-z_][a-z0-9_-]{0,31}|\d{1,10})$/.test(raw)) throw new ConfigError(`RUN_AS_USER must be a user name or a numeric uid, got "${raw}"`);
  return raw;
}

/** The text of the file a setting names (relative to the working directory), or a ConfigError naming the setting. */
function settingFile(name: string, file: string, cwd: string): { full: string; text: string } {
  const full = path.resolve(cwd, file);
  try {
    return { full, text: readFileSync(full, 'utf8') };
  } catch (err) {
    throw new ConfigError(`${name} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}): ${full}`);
  }
}

function retentionPolicy(file: string | undefined, cwd: string): RetentionPolicy | null {
  if (!file) return null;
  const { full, text } = settingFile('RETENTION_POLICY', file, cwd);
  try {
    return parseRetentionPolicy(text);
  } catch (err) {
    if (err instanceof PolicyError) throw new ConfigError(`RETENTION_POLICY ${full}: ${err.message}`);
    throw err;
  }
}

function trustedIssuers(file: string | undefined, cwd: string, maxTtl: number): TrustedIssuer[] {
  if (!file) return [];
  const { full, text } = settingFile('TRUSTED_ISSUERS_FILE', file, cwd);
  try {
    // YAML, of which JSON is a part.
    return parseTrustedIssuers(parseYaml(text, { maxAliasCount: 0 }), maxTtl);
  } catch (err) {
    if (err instanceof IssuersProblem || err instanceof YAMLError) throw new ConfigError(`TRUSTED_ISSUERS_FILE ${full}: ${err.message.split('\n')[0]}`);
    throw err;
  }
}

export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): Config {
  const dataDir = path.resolve(cwd, env.DATA_DIR || './data');
  const artifactsDir = path.resolve(cwd, env.ARTIFACTS_DIR || path.join(dataDir, 'artifacts'));
  const tokensDir = path.resolve(cwd, env.TOKENS_DIR || path.join(dataDir, 'tokens'));
  const fromArtifacts = path.relative(artifactsDir, tokensDir);
  if (fromArtifacts === '' || (!fromArtifacts.startsWith('..') && !path.isAbsolute(fromArtifacts))) {
    // The token store must never be reachable through the public tree.
    throw new ConfigError('TOKENS_DIR must not be inside ARTIFACTS_DIR');
  }
  const masterUser = env.MASTER_USER || 'buildbot';
  const nameProblem = masterNameProblem(masterUser);
  if (nameProblem) throw new ConfigError(`MASTER_USER: ${nameProblem}, got "${masterUser}"`);
  const host = env.HOST || '127.0.0.1';
  if (isIP(host) === 0 && host !== 'localhost') throw new ConfigError(`HOST must be an IP address, got "${host}"`);
  const tokenTtlMaxSeconds = integer(env, 'TOKEN_TTL_MAX', 24 * 3600, 1, 366 * 24 * 3600);
  const tokenTtlDefaultSeconds = integer(env, 'TOKEN_TTL_DEFAULT', Math.min(6 * 3600, tokenTtlMaxSeconds), 1, tokenTtlMaxSeconds);
  const logLevel = env.LOG_LEVEL || 'info';
  const database = databaseUrl(env);
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  return {
    port: integer(env, 'PORT', 8080, 0, 65535),
    proxyPort: integer(env, 'PROXY_PORT', 8081, 0, 65535),
    upstreamCa: upstreamCa(env.UPSTREAM_CA_FILE, cwd),
    databaseUrl: database,
    blobStore: bucketLocation(env, database),
    proxyAllowNetworks: addressList('PROXY_ALLOW_NETWORKS', env.PROXY_ALLOW_NETWORKS),
    host,
    listenSocket: listenSocket(env.LISTEN_SOCKET, cwd),
    artifactsDir,
    tokensDir,
    masterUser,
    masterPassword: readPassword(env),
    publicUrl: publicUrl(env.PUBLIC_URL),
    tokenTtlDefaultSeconds,
    tokenTtlMaxSeconds,
    trustedProxies: addressList('TRUSTED_PROXIES', env.TRUSTED_PROXIES),
    runAsUser: runAsUser(env.RUN_AS_USER),
    maxXmlBodyBytes: integer(env, 'MAX_XML_BODY', 1024 * 1024, 1024, 64 * 1024 * 1024),
    shutdownGraceSeconds: integer(env, 'SHUTDOWN_GRACE', 30, 0, 3600),
    sealGraceSeconds: integer(env, 'SEAL_GRACE', 30, 0, 3600),
    headersTimeoutSeconds: integer(env, 'HEADERS_TIMEOUT', 20, 1, 600),
    idleTimeoutSeconds: integer(env, 'IDLE_TIMEOUT', 120, 1, 3600),
    logLevel,
    masterFailureLimit: integer(env, 'MASTER_FAILURE_LIMIT', 10, 1, 10000),
    masterLockoutSeconds: integer(env, 'MASTER_LOCKOUT', 300, 1, 86400),
    tokenFailureLimit: integer(env, 'TOKEN_FAILURE_LIMIT', 20, 1, 100000),
    tokenLockoutSeconds: integer(env, 'TOKEN_LOCKOUT', 60, 1, 86400),
    proofCache: onOff(env, 'PROOF_CACHE', true),
    retentionPolicy: retentionPolicy(env.RETENTION_POLICY, cwd),
    trustedIssuers: trustedIssuers(env.TRUSTED_ISSUERS_FILE, cwd, tokenTtlMaxSeconds),
    retentionIntervalSeconds: integer(env, 'RETENTION_INTERVAL', 3600, 0, 30 * 24 * 3600),
    mirrorMaxEntryBytes: size(env, 'MIRROR_MAX_ENTRY_SIZE', 32 * 1024 ** 3, 1024, 1024 ** 5),
    inputs: {
      maxLines: integer(env, 'INPUTS_MAX_LINES', 50_000, 1, 10_000_000),
      // At least one line of the longest kind (input-records.ts, MAX_LINE_BYTES).
      maxBytes: size(env, 'INPUTS_MAX_RECORD_SIZE', 32 * 1024 ** 2, 64 * 1024, 4 * 1024 ** 3),
      maxUrlLength: integer(env, 'INPUTS_MAX_URL', 8192, 256, 16_384),
    },
    proxyMaxTunnels: integer(env, 'PROXY_MAX_TUNNELS', 128, 1, 100_000),
  };
}
