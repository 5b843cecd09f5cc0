// Build credentials for a CI job's OpenID Connect ID token (docs/ci.md): which issuers are
// trusted (TRUSTED_ISSUERS_FILE) and which rule of theirs a token's claims meet, the build
// a rule names (a template over claims), and what the minted build says it was built from.
// Pure: the token service verifies the signature and calls these.
import { NAME_RE } from './tree-path.js';
import { parseBuildMeta, type BuildMeta } from './build-meta.js';

export interface IssuerRule {
  /** Every one must equal the token's claim of that name (compared as text). */
  claims: Record<string, string>;
  type: string;
  project: string;
  /** A template over claims: "{pipeline_id}.{job_id}". */
  build: string;
  /** The longest a credential it mints lives, in seconds (null: the repository's default). */
  ttl: number | null;
}

export interface TrustedIssuer {
  /** The `iss` the tokens carry, an https URL. */
  issuer: string;
  /** What `aud` must contain. */
  audience: string;
  /** Where its keys are (else its OpenID discovery document says). */
  jwksUri: string | null;
  rules: IssuerRule[];
}

export class IssuersProblem extends Error {}

const TEMPLATE_RE = /\{([A-Za-z_][A-Za-z0-9_.-]{0,63})\}/g;
const CLAIM_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;
// Names every JavaScript object has: never a claim a rule or a template may read.
const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty']);
const MAX_ISSUERS = 64;
const MAX_RULES = 256;
const MAX_RULE_CLAIMS = 32;

function object(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new IssuersProblem(`${where} must be a mapping`);
  return value as Record<string, unknown>;
}

function onlyKeys(value: Record<string, unknown>, keys: readonly string[], where: string): void {
  for (const key of Object.keys(value)) if (!keys.includes(key)) throw new IssuersProblem(`${where}: unknown field "${key}" (fields: ${keys.join(', ')})`);
}

function httpsUrl(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new IssuersProblem(`${where} must be a URL`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new IssuersProblem(`${where} is not a URL: ${JSON.stringify(value.slice(0, 100))}`);
  }
  if (url.protocol !== 'https:') throw new IssuersProblem(`${where} must be an https URL`);
  if (url.username || url.password) throw new IssuersProblem(`${where} must not hold credentials`);
  return value;
}

/** A claim's value as a rule and a template see it: strings, numbers and booleans, as text. */
export function claimText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  return null;
}

function rule(value: unknown, where: string, maxTtl: number): IssuerRule {
  const r = object(value, where);
  onlyKeys(r, ['claims', 'type', 'project', 'build', 'ttl'], where);
  // No prototype: a claim named "__proto__" is a claim like another, never dropped.
  const claims: Record<string, string> = Object.create(null) as Record<string, string>;
  const given = object(r.claims ?? null, `${where}.claims`);
  const entries = Object.entries(given);
  // A rule that asks nothing of the token would let every job of the issuer mint.
  if (entries.length === 0) throw new IssuersProblem(`${where}.claims must name at least one claim (the project, say)`);
  if (entries.length > MAX_RULE_CLAIMS) throw new IssuersProblem(`${where}.claims: at most ${MAX_RULE_CLAIMS}`);
  for (const [name, v] of entries) {
    if (!CLAIM_NAME_RE.test(name) || RESERVED_NAMES.has(name)) throw new IssuersProblem(`${where}.claims: ${JSON.stringify(name.slice(0, 64))} is not a claim name`);
    // Text only: YAML reads `ref: 1.10` as the number 1.1, which a branch named "1.1" would meet.
    if (typeof v !== 'string') throw new IssuersProblem(`${where}.claims.${name} must be quoted text ("${String(v)}"), as the token's claim is compared as text`);
    claims[name] = v;
  }
  for (const field of ['type', 'project'] as const) {
    if (typeof r[field] !== 'string' || !NAME_RE.test(r[field] as string)) throw new IssuersProblem(`${where}.${field} must match ${NAME_RE.source}`);
  }
  if (typeof r.build !== 'string' || r.build === '' || r.build.length > 256) throw new IssuersProblem(`${where}.build must be a template such as "{pipeline_id}.{job_id}"`);
  // Outside its placeholders, the template may only hold what a build name may.
  if (!/^[A-Za-z0-9._+-]*$/.test(r.build.replace(TEMPLATE_RE, ''))) throw new IssuersProblem(`${where}.build: only letters, digits, ".", "_", "+", "-" and {claim} placeholders`);
  let ttl: number | null = null;
  if (r.ttl !== undefined) {
    if (typeof r.ttl !== 'number' || !Number.isInteger(r.ttl) || r.ttl < 1 || r.ttl > maxTtl) throw new IssuersProblem(`${where}.ttl must be a whole number of seconds from 1 to ${maxTtl} (TOKEN_TTL_MAX)`);
    ttl = r.ttl;
  }
  return { claims, type: r.type as string, project: r.project as string, build: r.build, ttl };
}

/**
 * The trusted issuers of a TRUSTED_ISSUERS_FILE, parsed (YAML or JSON) by the caller.
 * Refuses anything it does not understand, naming where: a rule that is too wide (no
 * claim at all) is an error at start, not a credential for every job of an issuer.
 */
export function parseTrustedIssuers(doc: unknown, maxTtl: number): TrustedIssuer[] {
  const top = object(doc, 'the file');
  onlyKeys(top, ['issuers'], 'the file');
  if (!Array.isArray(top.issuers) || top.issuers.length === 0) throw new IssuersProblem('issuers must be a list of at least one issuer');
  if (top.issuers.length > MAX_ISSUERS) throw new IssuersProblem(`issuers: at most ${MAX_ISSUERS}`);
  const seen = new Set<string>();
  return top.issuers.map((value: unknown, i: number) => {
    const where = `issuers[${i}]`;
    const it = object(value, where);
    onlyKeys(it, ['issuer', 'audience', 'jwks_uri', 'rules'], where);
    const issuer = httpsUrl(it.issuer, `${where}.issuer`);
    if (seen.has(issuer)) throw new IssuersProblem(`${where}.issuer: ${issuer} is listed twice`);
    seen.add(issuer);
    if (typeof it.audience !== 'string' || it.audience === '' || it.audience.length > 1024) throw new IssuersProblem(`${where}.audience must be the audience its tokens carry (the repository's URL, say)`);
    const jwksUri = it.jwks_uri === undefined ? null : httpsUrl(it.jwks_uri, `${where}.jwks_uri`);
    if (!Array.isArray(it.rules) || it.rules.length === 0) throw new IssuersProblem(`${where}.rules must be a list of at least one rule`);
    if (it.rules.length > MAX_RULES) throw new IssuersProblem(`${where}.rules: at most ${MAX_RULES}`);
    return { issuer, audience: it.audience, jwksUri, rules: it.rules.map((r: unknown, j: number) => rule(r, `${where}.rules[${j}]`, maxTtl)) };
  });
}

/** The first rule whose every claim the token's claims equal, or null. */
export function matchingRule(rules: readonly IssuerRule[], claims: Readonly<Record<string, unknown>>): IssuerRule | null {
  return rules.find((r) => Object.entries(r.claims).every(([name, value]) => claimText(ownClaim(claims, name)) === value)) ?? null;
}

/** The token's own claim of that name (never one every object inherits). */
function ownClaim(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}

/** The build a rule names for these claims, or why it cannot (a claim missing, or a bad name). */
export function renderBuild(template: string, claims: Readonly<Record<string, unknown>>): { build: string } | { error: string } {
  let missing: string | null = null;
  const build = template.replace(TEMPLATE_RE, (_all, name: string) => {
    const text = RESERVED_NAMES.has(name) ? null : claimText(ownClaim(claims, name));
    if (text === null) missing ??= name;
    return text ?? '';
  });
  if (missing !== null) return { error: `the token has no claim "${missing}" for the build name` };
  if (!NAME_RE.test(build)) return { error: `the claims make the build name ${JSON.stringify(build.slice(0, 140))}, which is not a valid name (${NAME_RE.source})` };
  return { build };
}

/** What a mint body asks that the rule does not allow (403), or null. */
export function bodyConflict(allowed: { type: string; project: string; build: string; ttl: number }, body: Readonly<Record<string, unknown>>): string | null {
  for (const field of ['type', 'project', 'build'] as const) {
    if (body[field] !== undefined && body[field] !== allowed[field]) return `${field} ${JSON.stringify(body[field])} is not what the rule for this job allows (${allowed[field]})`;
  }
  if (body.ttl !== undefined && (typeof body.ttl !== 'number' || body.ttl > allowed.ttl)) return `ttl may be at most ${allowed.ttl} for this job`;
  return null;
}

/** The fields a job's mint body may give: the rule's four, and the proxy mode. */
export const JOB_MINT_FIELDS = ['type', 'project', 'build', 'ttl', 'proxy', 'replay'] as const;

function text(claims: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = claimText(ownClaim(claims, name));
  return value === null || value === '' ? undefined : value;
}

/**
 * What the build was built from and by, from the issuer's standard claims: GitLab's
 * (project_path, sha, ref, pipeline_id, job_id), or GitHub's and Forgejo's (repository,
 * sha, ref, run_id, workflow_ref). What does not pass the rules of build metadata is left out.
 */
export function metaFromClaims(issuer: string, claims: Readonly<Record<string, unknown>>): BuildMeta {
  const origin = new URL(issuer).origin;
  const sha = text(claims, 'sha');
  const ref = text(claims, 'ref');
  const branch = ref?.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : text(claims, 'ref_type') === 'branch' ? ref : undefined;
  let fields: Record<string, unknown> = {};
  const gitlabProject = text(claims, 'project_path');
  const repository = text(claims, 'repository');
  if (gitlabProject) {
    const pipeline = text(claims, 'pipeline_id');
    const job = text(claims, 'job_id');
    fields = {
      source: { uri: `${origin}/${gitlabProject}.git`, ...(sha ? { revision: sha } : {}), ...(branch ? { branch } : {}) },
      builder: { id: `${origin}/${gitlabProject}/-/pipelines${pipeline ? `/${pipeline}` : ''}`, ...(job ? { url: `${origin}/${gitlabProject}/-/jobs/${job}` } : {}) },
    };
  } else if (repository) {
    // GitHub's tokens come from token.actions.githubusercontent.com; Forgejo's from the forge itself.
    const web = origin === 'https://token.actions.githubusercontent.com' ? 'https://github.com' : origin;
    const run = text(claims, 'run_id');
    const workflow = text(claims, 'workflow_ref');
    fields = {
      source: { uri: `${web}/${repository}.git`, ...(sha ? { revision: sha } : {}), ...(branch ? { branch } : {}) },
      builder: { id: workflow ? `${web}/${workflow}` : `${web}/${repository}/actions`, ...(run ? { url: `${web}/${repository}/actions/runs/${run}` } : {}) },
    };
  }
  // Each part alone: a claim that does not pass (an odd ref) drops its part, not the mint.
  const meta: BuildMeta = {};
  for (const part of ['source', 'builder'] as const) {
    if (!fields[part]) continue;
    const parsed = parseBuildMeta({ [part]: fields[part] });
    if (!('error' in parsed) && parsed.meta[part]) Object.assign(meta, { [part]: parsed.meta[part] });
  }
  return meta;
}
