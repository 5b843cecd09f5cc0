// Which sealed builds retention removes: pure decisions, tested directly.
//
// A policy names a rule per project ("dpkg/hello"), per type ("dpkg") and a default; the
// most specific one applies, and a project no rule covers keeps everything. A rule keeps
// the newest `keep_newest` sealed builds and every build sealed less than `keep_days` ago.
// Open builds and pinned builds are never removed.
import { NAME_RE } from './tree-path.js';

export interface RetentionRule {
  keepNewest: number;
  keepDays: number;
}

export interface RetentionPolicy {
  default: RetentionRule | null;
  types: Map<string, RetentionRule>;
  /** Keyed "type/project". */
  projects: Map<string, RetentionRule>;
}

export class PolicyError extends Error {}

const MAX_KEEP = 1_000_000;

function rule(value: unknown, where: string): RetentionRule {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new PolicyError(`${where} must be an object like {"keep_newest": 10, "keep_days": 30}`);
  const fields = value as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key !== 'keep_newest' && key !== 'keep_days') throw new PolicyError(`${where}: unknown field "${key}" (use keep_newest and keep_days)`);
  }
  const count = (key: string): number => {
    const n = fields[key];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_KEEP) throw new PolicyError(`${where}.${key} must be a whole number from 0 to ${MAX_KEEP}`);
    return n;
  };
  return { keepNewest: count('keep_newest'), keepDays: count('keep_days') };
}

function rules(value: unknown, where: string, keyShape: RegExp, keyHelp: string): Map<string, RetentionRule> {
  const found = new Map<string, RetentionRule>();
  if (value === undefined) return found;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new PolicyError(`${where} must be an object`);
  for (const [key, entry] of Object.entries(value)) {
    if (!keyShape.test(key)) throw new PolicyError(`${where}: "${key}" is not ${keyHelp}`);
    found.set(key, rule(entry, `${where}["${key}"]`));
  }
  return found;
}

/** Parses and validates a policy file's text; every mistake is named with its place. */
export function parseRetentionPolicy(text: string): RetentionPolicy {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new PolicyError(`not valid JSON (${(err as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new PolicyError('must be a JSON object with "default", "types" and/or "projects"');
  const top = parsed as Record<string, unknown>;
  for (const key of Object.keys(top)) {
    if (!['default', 'types', 'projects'].includes(key)) throw new PolicyError(`unknown field "${key}" (use default, types, projects)`);
  }
  const name = NAME_RE.source.replace(/^\^|\$$/g, '');
  return {
    default: top.default === undefined ? null : rule(top.default, 'default'),
    types: rules(top.types, 'types', NAME_RE, 'a type name'),
    projects: rules(top.projects, 'projects', new RegExp(`^${name}/${name}$`), 'a "type/project" name'),
  };
}

/** The rule for a project: its own, else its type's, else the default, else none. */
export function ruleFor(policy: RetentionPolicy, type: string, project: string): RetentionRule | null {
  return policy.projects.get(`${type}/${project}`) ?? policy.types.get(type) ?? policy.default;
}

export interface BuildCandidate {
  /** [type, project, build] */
  segments: string[];
  /** ISO time the build was sealed; null while it is open. */
  sealedAt: string | null;
  pinned: boolean;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * The builds of one project that a rule removes: sealed, unpinned, not among the newest
 * `keepNewest` sealed builds, and sealed at least `keepDays` days before `now`.
 * Oldest first, so an interrupted run has removed the oldest.
 */
export function buildsToDelete<T extends BuildCandidate>(builds: readonly T[], rule: RetentionRule, now: number): T[] {
  const sealed = builds
    .filter((b): b is T & { sealedAt: string } => b.sealedAt !== null)
    .sort((a, b) => Date.parse(b.sealedAt) - Date.parse(a.sealedAt) || compareNames(b.segments, a.segments));
  return sealed
    .filter((b, newestFirst) => !b.pinned && newestFirst >= rule.keepNewest && now - Date.parse(b.sealedAt) >= rule.keepDays * DAY_MS)
    .reverse();
}

function compareNames(a: readonly string[], b: readonly string[]): number {
  return (a[2] ?? '').localeCompare(b[2] ?? '', 'en', { numeric: true });
}
