// What a build was built from and by, as its first mint says: the source (repository,
// revision, branch), the builder (the CI job and its run) and a few properties. Public,
// kept with the build, never changed once given, and carried into its provenance. The
// rules here are the interface's (docs/interface.md, "Who built it").

export interface BuildSource {
  uri?: string;
  revision?: string;
  branch?: string;
}

export interface BuildBuilder {
  id?: string;
  url?: string;
}

export interface BuildMeta {
  source?: BuildSource;
  builder?: BuildBuilder;
  properties?: Record<string, string>;
}

export const META_FIELDS = ['source', 'builder', 'properties'] as const;
const URI_CHARS = 1024;
export const MAX_PROPERTIES = 32;
export const REVISION_RE = /^[A-Za-z0-9._-]{1,128}$/;
const PROPERTY_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// Printable: no control or format characters (which hide or reorder text on a page).
const PRINTABLE_RE = /^[^\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]*$/u;

/** Whether a text holds only printable characters (no control, format or separator character, no lone surrogate). */
export function isPrintable(text: string): boolean {
  return PRINTABLE_RE.test(text);
}
const SCP_LIKE_RE = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s:][^\s]*$/;

class MetaProblem extends Error {}

function object(value: unknown, field: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new MetaProblem(`${field} must be an object`);
  return value as Record<string, unknown>;
}

function onlyKeys(value: Record<string, unknown>, field: string, keys: readonly string[]): void {
  const unknown = Object.keys(value).find((k) => !keys.includes(k));
  if (unknown !== undefined) throw new MetaProblem(`unknown field ${field}.${JSON.stringify(unknown.slice(0, 64)).slice(1, -1)} (${field} takes ${keys.join(', ')})`);
}

function text(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || !PRINTABLE_RE.test(value)) throw new MetaProblem(`${field} must be a string of 1 to ${max} printable characters`);
  return value;
}

function uri(value: unknown, field: string, schemes: readonly string[] | null, scpLike: boolean): string {
  const raw = text(value, field, URI_CHARS);
  if (scpLike && SCP_LIKE_RE.test(raw)) return raw;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new MetaProblem(`${field} must be an absolute ${schemes ? schemes.join(', ') : ''} URL${scpLike ? ' or user@host:path' : ''}`.replace('  ', ' '));
  }
  if (schemes && !schemes.includes(url.protocol.slice(0, -1))) throw new MetaProblem(`${field} must be a ${schemes.join(', ')} URL${scpLike ? ' or user@host:path' : ''}`);
  // Public for ever (a page, a signed provenance): a URL that carries credentials
  // (https://gitlab-ci-token:TOKEN@..., https://TOKEN@...) is refused, not published. An
  // ssh user name is no secret.
  if (url.password !== '' || (url.username !== '' && url.protocol !== 'ssh:')) throw new MetaProblem(`${field} must not carry credentials (user or password): it is public`);
  if (/\s/.test(raw)) throw new MetaProblem(`${field} must not hold spaces`);
  return raw;
}

/** The metadata of a mint request (its `source`, `builder` and `properties`), or why it is refused, naming the field. */
export function parseBuildMeta(fields: Record<string, unknown>): { meta: BuildMeta } | { error: string } {
  try {
    const meta: BuildMeta = {};
    if (fields.source !== undefined && fields.source !== null) {
      const s = object(fields.source, 'source');
      onlyKeys(s, 'source', ['uri', 'revision', 'branch']);
      const source: BuildSource = {};
      if (s.uri !== undefined) source.uri = uri(s.uri, 'source.uri', ['http', 'https', 'ssh', 'git'], true);
      if (s.revision !== undefined) {
        if (typeof s.revision !== 'string' || !REVISION_RE.test(s.revision)) throw new MetaProblem('source.revision must be 1 to 128 of A-Za-z0-9._-');
        source.revision = s.revision;
      }
      if (s.branch !== undefined) source.branch = text(s.branch, 'source.branch', 255);
      if (Object.keys(source).length === 0) throw new MetaProblem('source must give uri, revision or branch');
      meta.source = source;
    }
    if (fields.builder !== undefined && fields.builder !== null) {
      const b = object(fields.builder, 'builder');
      onlyKeys(b, 'builder', ['id', 'url']);
      const builder: BuildBuilder = {};
      if (b.id !== undefined) builder.id = uri(b.id, 'builder.id', null, false);
      if (b.url !== undefined) builder.url = uri(b.url, 'builder.url', ['http', 'https'], false);
      if (Object.keys(builder).length === 0) throw new MetaProblem('builder must give id or url');
      meta.builder = builder;
    }
    if (fields.properties !== undefined && fields.properties !== null) {
      const p = object(fields.properties, 'properties');
      const keys = Object.keys(p);
      if (keys.length > MAX_PROPERTIES) throw new MetaProblem(`properties may hold at most ${MAX_PROPERTIES} entries`);
      const properties: Record<string, string> = {};
      for (const key of keys.sort()) {
        if (!PROPERTY_KEY_RE.test(key)) throw new MetaProblem(`properties: the key ${JSON.stringify(key.slice(0, 64))} must match ${PROPERTY_KEY_RE.source}`);
        properties[key] = text(p[key], `properties.${key}`, URI_CHARS);
      }
      meta.properties = properties;
    }
    return { meta };
  } catch (err) {
    if (err instanceof MetaProblem) return { error: err.message };
    throw err;
  }
}

/** Every value the metadata gives, by its field's name (source.revision, properties.worker). */
function leaves(meta: BuildMeta): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(meta.source ?? {})) if (v !== undefined) out.set(`source.${k}`, v);
  for (const [k, v] of Object.entries(meta.builder ?? {})) if (v !== undefined) out.set(`builder.${k}`, v);
  for (const [k, v] of Object.entries(meta.properties ?? {})) out.set(`properties.${k}`, v);
  return out;
}

/**
 * The first field a later mint gives differently from the build's first mint, or null. A
 * later mint may leave fields out; one it gives must be what the first mint gave (a field
 * the first mint did not give cannot be added: what a build came from is said once).
 */
export function metaConflict(first: BuildMeta, later: BuildMeta): string | null {
  const known = leaves(first);
  for (const [field, value] of leaves(later)) if (known.get(field) !== value) return field;
  return null;
}

/** Whether the metadata says anything. */
export function hasMeta(meta: BuildMeta | undefined): meta is BuildMeta {
  return meta !== undefined && (meta.source !== undefined || meta.builder !== undefined || meta.properties !== undefined);
}

/** The revision named by a search: a whole one, or a prefix of at least 7 characters. */
export function revisionQueryProblem(revision: string): string | null {
  if (!REVISION_RE.test(revision)) return 'revision must be 1 to 128 of A-Za-z0-9._-';
  return null;
}

/** Whether a build's revision answers a search for `query` (exact, or a prefix of 7 or more). */
export function revisionMatches(revision: string | undefined, query: string): boolean {
  if (revision === undefined) return false;
  return revision === query || (query.length >= 7 && revision.startsWith(query));
}
