// apt's index files, as text: Packages (one stanza per package) and Release (what a suite
// holds, with the SHA-256 of each index). A sealed build is a flat repository (its
// Packages and Release at its root); a project is a repository with suites `stable` and
// `latest`, component `main`, by-hash indexes (docs/packages.md). Pure: the services sign
// and write what these return.
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { PackageInBuild } from './stores.js';
import { debKey, firstOfEach, MAX_SUITE_ARCHITECTURES, MAX_SUITE_BYTES } from './package-rules.js';

const gzipped = promisify(gzip);

export const FLAT_INDEX_FILES = ['Packages', 'Packages.gz', 'Release', 'InRelease', 'Release.gpg'] as const;
export const SUITES = ['stable', 'latest'] as const;
export type Suite = (typeof SUITES)[number];
export const COMPONENT = 'main';

/** An index file of a suite: its path below the suite (or the flat root) and its bytes. */
export interface IndexFile {
  path: string;
  body: Buffer;
  sha256: string;
}

export function indexFile(path: string, body: Buffer): IndexFile {
  return { path, body, sha256: createHash('sha256').update(body).digest('hex') };
}

/** The stanza with its `Filename:` set to where this index serves the package from. */
export function withFilename(stanza: string, filename: string): string {
  // The stanza is the repository's own (packagesStanza): exactly one line starts so.
  return stanza.replace(/^Filename: .*$/m, () => `Filename: ${filename}`);
}

/** A Packages index and its gzip form (made in the thread pool), from stanzas in order. */
export async function packagesFiles(dir: string, stanzas: readonly string[]): Promise<IndexFile[]> {
  const text = Buffer.from(stanzas.join('\n'));
  const prefix = dir ? `${dir}/` : '';
  // gzip without a name or a time in its header: the same index is the same bytes.
  return [indexFile(`${prefix}Packages`, text), indexFile(`${prefix}Packages.gz`, await gzipped(text, { level: 9 }))];
}

/**
 * What a suite lists, newest sealed first: `latest`, the packages of the newest sealed
 * build that holds any; `stable`, every build's, the newest build winning a clash. Within
 * bounds: at most MAX_SUITE_ARCHITECTURES architectures, and MAX_SUITE_BYTES of indexes
 * (an `all` stanza counted once per architecture it is copied into); what does not fit
 * (the oldest) is left out.
 */
export function suitePackages(debs: readonly PackageInBuild[], suite: Suite): PackageInBuild[] {
  const newest = debs[0]?.build.join('/');
  const candidates = firstOfEach(suite === 'latest' ? debs.filter((d) => d.build.join('/') === newest) : debs, (d) => debKey(d.package));
  const arches = new Set<string>();
  let allBytes = 0;
  let total = 0;
  const listed: PackageInBuild[] = [];
  for (const d of candidates) {
    const bytes = Buffer.byteLength(d.package.stanza ?? '') + 1;
    const arch = d.package.arch;
    const newArch = arch !== 'all' && !arches.has(arch);
    if (newArch && arches.size >= MAX_SUITE_ARCHITECTURES) continue;
    // binary-all, plus one copy in each architecture's index; a new architecture gets every `all` stanza.
    const cost = arch === 'all' ? bytes * (arches.size + 1) : bytes + (newArch ? allBytes : 0);
    if (total + cost > MAX_SUITE_BYTES) continue;
    total += cost;
    if (arch === 'all') allBytes += bytes;
    else arches.add(arch);
    listed.push(d);
  }
  return listed;
}

/**
 * A suite's Packages indexes, one `binary-<arch>` per architecture present. `Architecture:
 * all` packages go in each of them and in `binary-all` (the Release says so, as Debian's
 * does); with none but those, `binary-all` alone.
 */
export async function suiteIndexes(listed: readonly PackageInBuild[], filenameOf: (d: PackageInBuild) => string): Promise<{ architectures: string[]; files: IndexFile[] }> {
  const byArch = new Map<string, string[]>();
  const all: string[] = [];
  const sorted = [...listed].sort((a, b) => cmp(a.package.name, b.package.name) || cmp(a.package.version, b.package.version) || cmp(a.package.arch, b.package.arch));
  for (const d of sorted) {
    const stanza = withFilename(d.package.stanza ?? '', filenameOf(d));
    if (d.package.arch === 'all') all.push(stanza);
    else {
      let stanzas = byArch.get(d.package.arch);
      if (!stanzas) byArch.set(d.package.arch, (stanzas = []));
      stanzas.push(stanza);
    }
  }
  const arches = [...byArch.keys()].sort();
  const files: IndexFile[] = [];
  for (const arch of arches) files.push(...(await packagesFiles(`${COMPONENT}/binary-${arch}`, [...(byArch.get(arch) ?? []), ...all])));
  files.push(...(await packagesFiles(`${COMPONENT}/binary-all`, all)));
  return { architectures: [...arches, 'all'], files };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** apt's date form (RFC 1123, in UTC, as Debian's Release files write it). */
export function releaseDate(at: Date): string {
  return at.toUTCString().replace(/GMT$/, 'UTC');
}

export interface ReleaseFields {
  origin: string;
  label: string;
  suite?: string;
  date: Date;
  architectures?: readonly string[];
  components?: readonly string[];
  description?: string;
  /** Every index also under by-hash/SHA256/<hex> beside it. */
  byHash: boolean;
  /** The binary-<arch> indexes hold the `all` packages too (apt need not fetch binary-all). */
  archAllInEach: boolean;
}

/** A Release file listing these index files (paths relative to it). */
export function releaseText(fields: ReleaseFields, files: readonly IndexFile[]): string {
  const lines = [`Origin: ${fields.origin}`, `Label: ${fields.label}`];
  if (fields.suite) lines.push(`Suite: ${fields.suite}`, `Codename: ${fields.suite}`);
  lines.push(`Date: ${releaseDate(fields.date)}`);
  if (fields.architectures) lines.push(`Architectures: ${fields.architectures.join(' ')}`);
  if (fields.components) lines.push(`Components: ${fields.components.join(' ')}`);
  if (fields.archAllInEach) lines.push('No-Support-for-Architecture-all: Packages');
  if (fields.byHash) lines.push('Acquire-By-Hash: yes');
  if (fields.description) lines.push(`Description: ${fields.description}`);
  lines.push('SHA256:');
  for (const f of files) lines.push(` ${f.sha256} ${String(f.body.length).padStart(16)} ${f.path}`);
  return `${lines.join('\n')}\n`;
}

/** The index files a Release lists (its SHA256 section): path and digest. */
export function listedIn(release: string): Array<{ path: string; sha256: string }> {
  const out: Array<{ path: string; sha256: string }> = [];
  let inSha256 = false;
  for (const line of release.split('\n')) {
    if (!line.startsWith(' ')) inSha256 = line === 'SHA256:';
    else if (inSha256) {
      const [sha256, , file] = line.trim().split(/ +/);
      if (sha256 && file && /^[0-9a-f]{64}$/.test(sha256)) out.push({ path: file, sha256 });
    }
  }
  return out;
}
