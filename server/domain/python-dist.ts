// What a Python distribution's file name and core metadata (a wheel's METADATA, an sdist's
// PKG-INFO) say it is: the project and version pip will see. Both are a build's, so both are
// read strictly, and a wheel is listed only when the two agree (package-reader.ts).
import { PackageProblem } from './package-problem.js';

export interface DistName {
  /** The project's name, normalised (PEP 503): what pip's simple index lists it under. */
  name: string;
  /** The name as the file writes it (underscores for runs of -_.). */
  distribution: string;
  version: string;
}

// PEP 440 taken loosely: the characters a version may use, not its grammar.
export const VERSION_RE = /^[A-Za-z0-9.+!_-]{1,128}$/;
// The escaped distribution name of wheel and sdist file names: no hyphen, which separates.
const DISTRIBUTION_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?$/;
// A project name in core metadata (PEP 508's identifier).
const PROJECT_NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const BUILD_TAG_RE = /^[0-9][A-Za-z0-9_.]*$/;
const TAG_RE = /^[A-Za-z0-9_.]+$/;
const MAX_REQUIRES_PYTHON = 256;
const PRINTABLE_RE = /^[^\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]*$/u;
// The core metadata fields read here, which may be given once only (a second Name would
// leave which one pip believes to its parser).
const SINGLE_FIELDS = new Set(['metadata-version', 'name', 'version', 'requires-python']);

/** A project name as PEP 503 compares them: runs of -_. as one "-", lower case. */
export function normalizeProjectName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

function distName(distribution: string, version: string): DistName | null {
  if (!DISTRIBUTION_RE.test(distribution) || !VERSION_RE.test(version)) return null;
  return { name: normalizeProjectName(distribution), distribution, version };
}

/** A wheel's name, version and distribution from its file name (PEP 427), or null if it is not one. */
export function parseWheelName(filename: string): DistName | null {
  if (!filename.endsWith('.whl')) return null;
  // {distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}
  const parts = filename.slice(0, -'.whl'.length).split('-');
  if (parts.length !== 5 && parts.length !== 6) return null;
  const [distribution = '', version = ''] = parts;
  if (parts.length === 6 && !BUILD_TAG_RE.test(parts[2] ?? '')) return null;
  if (!parts.slice(-3).every((tag) => TAG_RE.test(tag))) return null;
  return distName(distribution, version);
}

/** An sdist's name and version from its file name (PEP 625: {name}-{version}.tar.gz), or null. */
export function parseSdistName(filename: string): DistName | null {
  if (!filename.endsWith('.tar.gz')) return null;
  // Both parts normalised, so neither holds a hyphen: foo-bar-1.0.tar.gz is a legacy name.
  const parts = filename.slice(0, -'.tar.gz'.length).split('-');
  if (parts.length !== 2) return null;
  const [distribution = '', version = ''] = parts;
  return distName(distribution, version);
}

export interface CoreMetadata {
  name: string;
  version: string;
  requiresPython: string | null;
}

/**
 * Name, Version and Requires-Python from core metadata: e-mail style headers up to the
 * first blank line (the description follows), names regardless of case, a line starting
 * with a blank continuing the one before. Refuses a missing or malformed field.
 */
export function parseCoreMetadata(text: string): CoreMetadata {
  const fields = new Map<string, string>();
  let current: string | null = null;
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    if (line === '') break;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (current === null) throw new PackageProblem(`METADATA: line ${index + 1} continues no header`);
      if (fields.has(current)) fields.set(current, `${fields.get(current)} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon).toLowerCase();
    if (!/^[!-9;-~]+$/.test(name)) throw new PackageProblem(`METADATA: line ${index + 1} is not a header (Name: value)`);
    current = name;
    if (!SINGLE_FIELDS.has(name)) continue;
    if (fields.has(name)) throw new PackageProblem(`METADATA: ${line.slice(0, colon)} is given twice`);
    fields.set(name, line.slice(colon + 1).trim());
  }
  const name = fields.get('name');
  if (name === undefined || name === '') throw new PackageProblem('METADATA: no Name');
  if (!PROJECT_NAME_RE.test(name)) throw new PackageProblem(`METADATA: Name ${JSON.stringify(name.slice(0, 64))} is not a project name`);
  const version = fields.get('version');
  if (version === undefined || version === '') throw new PackageProblem('METADATA: no Version');
  if (!VERSION_RE.test(version)) throw new PackageProblem(`METADATA: Version ${JSON.stringify(version.slice(0, 64))} is not a version (${VERSION_RE.source})`);
  const requiresPython = fields.get('requires-python') ?? null;
  if (requiresPython !== null && (requiresPython.length > MAX_REQUIRES_PYTHON || !PRINTABLE_RE.test(requiresPython))) {
    throw new PackageProblem(`METADATA: Requires-Python must be at most ${MAX_REQUIRES_PYTHON} printable characters`);
  }
  return { name, version, requiresPython: requiresPython === '' ? null : requiresPython };
}
