// What a Debian package's control file (DEBIAN/control, deb822: one stanza of fields) says,
// and the stanza an apt Packages index lists for it. The control file is a build's, read
// from an untrusted .deb: parsed strictly, and re-serialised from the parsed fields rather
// than copied, so that no byte of it can start a second stanza in the index.
import { PackageProblem } from './package-problem.js';

export { PackageProblem };

export const MAX_CONTROL_FIELDS = 100;
// deb822: printable ASCII but the colon, not starting with '#' (a comment) or '-' (a PGP
// armour line).
const FIELD_NAME_RE = /^[!"$-,.-9;-~][!-9;-~]*$/;
const PACKAGE_RE = /^[a-z0-9][a-z0-9+.-]{1,127}$/;
// Debian's architecture names are short (amd64, ppc64el, hurd-amd64, musl-linux-arm64):
// an index folder is named after each.
const ARCHITECTURE_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;
const MAX_VERSION_CHARS = 256;
// Control characters other than tab: a carriage return or NUL would read differently to
// each parser of the index (apt, python-debian, a page).
const CONTROL_CHAR_RE = /[\u0000-\u0008\u000b-\u001f\u007f]/;
// Set by the repository from the bytes it serves, never taken from the control file.
const REPOSITORY_FIELDS = new Set(['filename', 'size', 'md5sum', 'sha1', 'sha256', 'sha512']);

function quoted(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

/**
 * The fields of a control file, by name as written, in their order. A value keeps its
 * continuation lines exactly (a multi-line Description), joined by "\n"; its first line
 * loses the blanks around it. Refuses a second stanza, a duplicate field, a bad name.
 */
export function parseControl(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  const seen = new Set<string>();
  const lines = text.split('\n');
  let current: string | null = null;
  let ended = 0; // the line of a blank line after the fields, if any
  for (const [index, line] of lines.entries()) {
    const number = index + 1;
    const bad = CONTROL_CHAR_RE.exec(line);
    if (bad) throw new PackageProblem(`control: line ${number} holds a control character (U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()})`);
    // A line of only blanks ends a stanza for some parsers: it is a blank line here too.
    if (/^[ \t]*$/.test(line)) {
      if (current !== null && ended === 0) ended = number;
      continue;
    }
    if (line.startsWith('#')) continue; // a comment, as dpkg reads it
    if (ended !== 0) throw new PackageProblem(`control: the blank line ${ended} ends the stanza, and line ${number} follows (one stanza only)`);
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (current === null) throw new PackageProblem(`control: line ${number} continues no field`);
      fields.set(current, `${fields.get(current)}\n${line}`);
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    if (colon < 0) throw new PackageProblem(`control: line ${number} is not a field (name: value)`);
    if (!FIELD_NAME_RE.test(name)) throw new PackageProblem(`control: line ${number}: ${quoted(name)} is not a field name`);
    if (seen.has(name.toLowerCase())) throw new PackageProblem(`control: the field ${name} is given twice`);
    if (seen.size === MAX_CONTROL_FIELDS) throw new PackageProblem(`control: more than ${MAX_CONTROL_FIELDS} fields`);
    seen.add(name.toLowerCase());
    fields.set(name, line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, ''));
    current = name;
  }
  if (current === null) throw new PackageProblem('control: no fields');
  return fields;
}

/** A field's value, its name matched regardless of case (as deb822 reads names). */
export function controlField(fields: ReadonlyMap<string, string>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of fields) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** Why a text is not a Debian version (policy 5.6.12: [epoch:]upstream[-revision]), or null. */
export function debVersionProblem(version: string): string | null {
  if (version.length === 0 || version.length > MAX_VERSION_CHARS) return `must be 1 to ${MAX_VERSION_CHARS} characters`;
  const colon = version.indexOf(':');
  const epoch = colon >= 0 ? version.slice(0, colon) : null;
  if (epoch !== null && !/^[0-9]+$/.test(epoch)) return 'its epoch must be digits';
  const rest = version.slice(colon + 1);
  // The last hyphen starts the revision: the upstream part holds one only if a revision follows.
  const dash = rest.lastIndexOf('-');
  const upstream = dash >= 0 ? rest.slice(0, dash) : rest;
  if (dash >= 0 && !/^[A-Za-z0-9+.~]+$/.test(rest.slice(dash + 1))) return 'its revision must be of A-Za-z0-9+.~';
  if (!/^[0-9]/.test(upstream)) return 'its upstream version must start with a digit';
  // A colon in the upstream part is allowed only after an epoch (which tells it apart).
  if (!(epoch !== null ? /^[A-Za-z0-9.+~:-]+$/ : /^[A-Za-z0-9.+~-]+$/).test(upstream)) return `its upstream version must be of A-Za-z0-9.+~-${epoch !== null ? ':' : ''}`;
  return null;
}

export interface DebIdentity {
  package: string;
  version: string;
  architecture: string;
}

/** The name, version and architecture a control file gives, checked as apt and dpkg need them. */
export function debIdentity(fields: ReadonlyMap<string, string>): DebIdentity {
  const value = (name: string): string => {
    const found = controlField(fields, name);
    if (found === undefined || found === '') throw new PackageProblem(`control: no ${name} field`);
    return found;
  };
  const pkg = value('Package');
  if (!PACKAGE_RE.test(pkg)) throw new PackageProblem(`control: Package ${quoted(pkg)} is not a Debian package name (${PACKAGE_RE.source})`);
  const version = value('Version');
  const problem = debVersionProblem(version);
  if (problem !== null) throw new PackageProblem(`control: Version ${quoted(version)} is not a Debian version: ${problem}`);
  const architecture = value('Architecture');
  if (!ARCHITECTURE_RE.test(architecture)) throw new PackageProblem(`control: Architecture ${quoted(architecture)} is not an architecture name (${ARCHITECTURE_RE.source})`);
  return { package: pkg, version, architecture };
}

function fieldLines(name: string, value: string): string {
  // A value whose first line is empty (Conffiles:) keeps the name alone on its line.
  return value === '' || value.startsWith('\n') ? `${name}:${value}\n` : `${name}: ${value}\n`;
}

/**
 * The stanza an apt Packages index lists for a package: Package first, then the control
 * file's other fields in their order, then the file's place, size and digest as the
 * repository measured them (any the control file gives are left out). Ends with one "\n":
 * stanzas are joined with "\n". The file's name is a build's, so it must be one token.
 */
export function packagesStanza(fields: ReadonlyMap<string, string>, file: { filename: string; size: number; sha256: string }): string {
  if (!/^[^\s\p{Cc}\p{Cf}\p{Cs}\p{Z}]+$/u.test(file.filename)) throw new PackageProblem(`the file name ${quoted(file.filename)} cannot be listed in a Packages index (it holds a space or a control character)`);
  if (!Number.isSafeInteger(file.size) || file.size < 0) throw new RangeError(`size ${file.size} is not a byte count`);
  if (!/^[0-9a-f]{64}$/.test(file.sha256)) throw new RangeError('sha256 must be 64 lower-case hex digits');
  // Checked again here, whoever made the map: a name or a line that could end the stanza
  // is refused, not written.
  for (const [name, value] of fields) {
    if (!FIELD_NAME_RE.test(name)) throw new PackageProblem(`control: ${quoted(name)} is not a field name`);
    if (CONTROL_CHAR_RE.test(value) || value.split('\n').slice(1).some((line) => !/^[ \t]/.test(line) || /^[ \t]*$/.test(line))) throw new PackageProblem(`control: the value of ${name} holds a line that is not a continuation`);
  }
  const packageName = [...fields.keys()].find((name) => name.toLowerCase() === 'package');
  if (packageName === undefined) throw new PackageProblem('control: no Package field');
  let out = fieldLines(packageName, fields.get(packageName) ?? '');
  for (const [name, value] of fields) {
    if (name === packageName || REPOSITORY_FIELDS.has(name.toLowerCase())) continue;
    out += fieldLines(name, value);
  }
  return `${out}Filename: ${file.filename}\nSize: ${file.size}\nSHA256: ${file.sha256}\n`;
}
