// The files a seal writes at a build's root: the repository's, never a build's output. A
// token may not create them, nor a name that would pass for one in a listing: the same
// but for case, spaces, compatibility forms (full-width letters) or Unicode confusables
// (a Cyrillic "Ѕ" for "S"), mapped to their Latin lookalikes by the confusables library.
import { remove as removeConfusables } from 'confusables';

export const SUMS_FILE = 'SHA256SUMS';
export const SUMS_SIGNATURE_FILE = 'SHA256SUMS.sig';
export const PROVENANCE_FILE = 'provenance.intoto.jsonl';
/** A sealed build holding a .deb is a flat apt repository: these are its index and signatures (docs/packages.md). */
export const FLAT_APT_FILES: ReadonlySet<string> = new Set(['Packages', 'Packages.gz', 'Release', 'InRelease', 'Release.gpg']);
export const SEAL_FILES: ReadonlySet<string> = new Set([SUMS_FILE, SUMS_SIGNATURE_FILE, PROVENANCE_FILE, ...FLAT_APT_FILES]);

// Latin letters and digits that pass for one another in most fonts (Unicode's confusables
// list maps them so): i, l, a capital I, the digit 1, | and a dotless ı as one; the digit 0
// as o; "rn" as m; "vv" as w. Applied to both sides, after the case is set aside.
const ASCII_LOOKALIKES: ReadonlyArray<[RegExp, string]> = [
  [/[il1|ı]/g, 'l'],
  [/0/g, 'o'],
  [/rn/g, 'm'],
  [/vv/g, 'w'],
];

/** What a name looks like once case, white space, compatibility forms and confusables are set aside. */
export function lookalikeKey(name: string): string {
  let key = removeConfusables(name.normalize('NFKC')).normalize('NFKC').toLowerCase().replace(/[\s\u00ad]+/gu, '');
  for (const [pattern, replacement] of ASCII_LOOKALIKES) key = key.replace(pattern, replacement);
  return key;
}

const RESERVED = new Map([...SEAL_FILES].map((name) => [lookalikeKey(name), name]));

/**
 * The seal file this build-root name is, or would pass for; null for any other name. A
 * folder is refused the exact names (it would keep the seal from writing them) and the
 * lookalikes of the checksum and provenance files; a folder `release/` or `packages/`
 * shows as a folder in a listing and cannot pass for apt's index files.
 */
export function sealFileLookalike(name: string, folder = false): string | null {
  if (SEAL_FILES.has(name)) return name;
  const found = RESERVED.get(lookalikeKey(name)) ?? null;
  return folder && found !== null && FLAT_APT_FILES.has(found) ? null : found;
}
