// apt's index files, as text: Packages (one stanza per package) and Release (what a suite
// holds, with the SHA-256 of each index). A sealed build is a flat repository (its
// Packages and Release at its root); a project is a repository with suites `stable` and
// `latest`, component `main`, by-hash indexes (docs/packages.md). Pure: the services sign
// and write what these return.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { PackageInBuild } from './stores.js';
import { debKey, firstOfEach } from './package-rules.js';

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

/** A Packages index and its gzip form, from stanzas in order. */
export function packagesFiles(dir: string, stanzas: readonly string[]): IndexFile[] {
  const text = Buffer.from(stanzas.join('\n'));
  const prefix = dir ? `${dir}/` : '';
  // gzip without a name or a time in its header: the same index is the same bytes.
  return [indexFile(`${prefix}Packages`, text), indexFile(`${prefix}Packages.gz`, gzipSync(text, { level: 9 }))];
}

/** What a suite lists: `latest`, the newest sealed build's packages; `stable`, every build's, the newest build winning a clash. */
export function suitePackages(debs: readonly PackageInBuild[], suite: Suite): PackageInBuild[] {
  if (suite === 'latest') {
    const newest = debs[0]?.build.join('/');
    return firstOfEach(
      debs.filter((d) => d.build.join('/') === newest),
      (d) => debKey(d.package),
    );
  }
  return firstOfEach(debs, (d) => debKey(d.package));
}

/**
 * A suite's Packages indexes, one `binary-<arch>` per architecture present. `Architecture:
 * all` packages go in each of them and in `binary-all` (the Release says so, as Debian's
 * does); with none but those, `binary-all` alone.
 */
export function suiteIndexes(listed: readonly PackageInBuild[], filenameOf: (d: PackageInBuild) => string): { architectures: string[]; files: IndexFile[] } {
  const byArch = new Map<string, string[]>();
  const all: string[] = [];
  const sorted = [...listed].sort((a, b) => cmp(a.package.name, b.package.name) || cmp(a.package.version, b.package.version) || cmp(a.package.arch, b.package.arch));
  for (const d of sorted) {
    const stanza = withFilename(d.package.stanza ?? '', filenameOf(d));
    if (d.package.arch === 'all') all.push(stanza);
    else byArch.set(d.package.arch, [...(byArch.get(d.package.arch) ?? []), stanza]);
  }
  const arches = [...byArch.keys()].sort();
  const files: IndexFile[] = [];
  for (const arch of arches) files.push(...packagesFiles(`${COMPONENT}/binary-${arch}`, [...(byArch.get(arch) ?? []), ...all]));
  files.push(...packagesFiles(`${COMPONENT}/binary-all`, all));
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
