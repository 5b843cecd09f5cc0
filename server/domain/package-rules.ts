// What the package indexes list, decided from the catalogue (docs/packages.md): which of
// two sealed builds wins a clash, and what one build may make the catalogue keep. Pure.
import type { CataloguedPackage, PackageInBuild } from './stores.js';

/** Package files one build's seal reads (indexed or not): past it, the rest are listed as not indexed. */
export const MAX_PACKAGES_PER_BUILD = 2000;
/** What a seal may decompress, over all its packages' control members and METADATA files. */
export const SEAL_READ_BUDGET_BYTES = 256 * 1024 * 1024;
/** The stanzas of one build's packages, together: real ones are a few KiB each. */
export const MAX_BUILD_STANZA_BYTES = 8 * 1024 * 1024;
/** The architectures one suite lists (Debian has a few dozen); packages of others are left out. */
export const MAX_SUITE_ARCHITECTURES = 32;
/** A suite's Packages indexes together (the `all` stanzas in each architecture's): the oldest packages are left out past it. */
export const MAX_SUITE_BYTES = 64 * 1024 * 1024;
/** Files a build's page lists as not indexed (the first ones, in path order). */
export const MAX_SKIPPED_LISTED = 100;
/** One package's stanza in a Packages index: real control files are a few KiB. */
export const MAX_STANZA_BYTES = 64 * 1024;

/** Newest sealed first; the same seal time, by build name (descending), so the order is total. */
export function newestSealedFirst(a: PackageInBuild, b: PackageInBuild): number {
  if (a.sealedAt !== b.sealedAt) return a.sealedAt < b.sealedAt ? 1 : -1;
  const x = a.build.join('/');
  const y = b.build.join('/');
  return x === y ? 0 : x < y ? 1 : -1;
}

/** The first of each key in an order (newest first): the newest sealed build wins a clash. */
export function firstOfEach<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** apt's key for a clash: one package, version and architecture. */
export function debKey(p: CataloguedPackage): string {
  return `${p.name}\u0000${p.version}\u0000${p.arch}`;
}

/** pip's key for a clash: one file name. */
export function fileNameOf(p: CataloguedPackage): string {
  return p.path.slice(p.path.lastIndexOf('/') + 1);
}
