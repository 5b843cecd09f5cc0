// The provenance a sealed build carries: an in-toto Statement v1 whose subjects are the
// files the repository stored (hashed as they streamed in) and whose predicate is SLSA
// Provenance v1 with what the repository saw the build download through its proxy. The
// repository observed both, so this is not a build's report about itself. Pure.
import { createHash } from 'node:crypto';
import type { KeyedHash } from './keyed-hash.js';
import type { BuildMeta } from './build-meta.js';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** What the build type means: a build that uploaded its outputs to, and fetched its inputs through, this repository. */
export const BUILD_TYPE = 'urn:artifact-repo:build-type:observed:v1';

export interface ProvenanceSubject {
  name: string;
  digest: { sha256: string };
}

export interface ProvenanceInput {
  url: string;
  /** Null for a part of a body passed through unrecorded (`partial`). */
  sha256: string | null;
  /** Where its bytes came from: upstream (recorded now), the mirror, or a replay of a recording. */
  source: 'upstream' | 'mirror' | 'replay';
  /** Only part of it was asked for (a Range), passed through and not recorded. */
  partial?: boolean;
}

export interface ProvenanceFacts {
  /** The repository's public URL, or null when PUBLIC_URL is not set. */
  publicUrl: string | null;
  /** `/type/project/build/` */
  build: string;
  /** The masters that minted the build's tokens, each once. */
  mintedBy: readonly string[];
  /** The sealed build a replaying token answered from, if any. */
  replayOf: readonly string[];
  /** Output files, relative to the build, with their checksums (SHA256SUMS's lines). */
  outputs: ReadonlyArray<{ path: string; sha256: string }>;
  inputs: readonly ProvenanceInput[];
  /** The recording holds more than its limits let be read: the inputs stop there. */
  inputsTruncated?: boolean;
  /** What the build's first mint said it was built from and by (null: nothing). */
  meta?: BuildMeta | null;
  /** The first mint and the seal, ISO 8601. */
  startedOn: string | null;
  finishedOn: string;
}

/** Parses SHA256SUMS (`<hex>  <path>` lines, as sha256sum writes them) into outputs. */
export function parseSums(text: string): Array<{ path: string; sha256: string }> {
  const out: Array<{ path: string; sha256: string }> = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    // A line starting with "\\" has its name escaped (a backslash or newline in it), as sha256sum writes it.
    const match = /^(\\?)([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!match) throw new Error(`not a SHA256SUMS line: ${JSON.stringify(line.slice(0, 80))}`);
    const name = match[1] ? (match[3] as string).replace(/\\(\\|n)/g, (_m, c: string) => (c === 'n' ? '\n' : '\\')) : (match[3] as string);
    out.push({ sha256: match[2] as string, path: name });
  }
  return out;
}

/**
 * A URL as anyone may see it (a statement, a public listing): no userinfo, no fragment,
 * and no query (presigned links and `?token=` carry credentials). A query is kept only as
 * a keyed hash, so that two builds that asked for different ones still differ, and nobody
 * can recover it by hashing guesses.
 */
export function publicUri(raw: string, hash: KeyedHash): { uri: string; queryHash: string | null } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { uri: 'urn:artifact-repo:unparsable-url', queryHash: hash(raw) };
  }
  const query = url.search;
  url.username = '';
  url.password = '';
  url.hash = '';
  url.search = '';
  return { uri: url.href, queryHash: query ? hash(query) : null };
}

interface Dependency {
  /** What orders and tells dependencies apart: URI, query hash, digest. */
  key: string;
  uri: string;
  queryHash: string | null;
  sha256: string | null;
  source: ProvenanceInput['source'];
  partial: boolean;
}

function dependencyOf(input: ProvenanceInput, hash: KeyedHash): Dependency {
  const { uri, queryHash } = publicUri(input.url, hash);
  return { key: `${uri} ${queryHash ?? ''} ${input.sha256 ?? 'partial'}`, uri, queryHash, sha256: input.sha256, source: input.source, partial: input.partial === true };
}

const byKey = (a: Dependency, b: Dependency): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

function dependencyEntry(d: Dependency): Record<string, unknown> {
  return {
    uri: d.uri,
    ...(d.sha256 ? { digest: { sha256: d.sha256 } } : {}),
    annotations: { source: d.source, ...(d.queryHash ? { queryHash: d.queryHash } : {}), ...(d.partial ? { partial: true } : {}) },
  };
}

function subjectEntry(o: { path: string; sha256: string }): Record<string, unknown> {
  return { name: o.path, digest: { sha256: o.sha256 } };
}

/**
 * The source as a dependency (SLSA's convention for a git checkout: `git+URI@REF`, the
 * commit as `gitCommit` when the revision is one), or none when no repository was named.
 */
export function sourceDependency(meta: BuildMeta | null | undefined): Record<string, unknown> | null {
  const source = meta?.source;
  if (!source?.uri) return null;
  const commit = source.revision !== undefined && /^([0-9a-f]{40}|[0-9a-f]{64})$/i.test(source.revision);
  return {
    uri: `git+${source.uri}${source.branch ? `@${source.branch}` : ''}`,
    ...(commit ? { digest: { gitCommit: (source.revision as string).toLowerCase() } } : {}),
    annotations: { source: 'source', ...(source.revision !== undefined && !commit ? { revision: source.revision } : {}) },
  };
}

export function provenanceStatement(facts: ProvenanceFacts, hash: KeyedHash, dependencies?: Array<Record<string, unknown>>): Record<string, unknown> {
  const base = facts.publicUrl ? facts.publicUrl.replace(/\/+$/, '') : null;
  // One dependency per distinct URL and digest, in a stable order: two builds that fetched
  // the same things say so in the same words.
  const seen = new Map<string, Dependency>();
  for (const input of facts.inputs) {
    const dependency = dependencyOf(input, hash);
    seen.set(dependency.key, dependency);
  }
  return {
    _type: STATEMENT_TYPE,
    subject: facts.outputs.map(subjectEntry),
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: {
          build: base ? `${base}${facts.build}` : facts.build,
          mintedBy: [...new Set(facts.mintedBy)].sort(),
          ...(facts.replayOf.length > 0 ? { replayOf: [...new Set(facts.replayOf)].sort() } : {}),
          ...(facts.meta?.source ? { source: facts.meta.source } : {}),
          ...(facts.meta?.properties ? { properties: facts.meta.properties } : {}),
        },
        ...(facts.inputsTruncated ? { internalParameters: { inputsTruncated: 'the recording holds more than the repository reads of it (INPUTS_MAX_LINES, INPUTS_MAX_RECORD_SIZE): the inputs listed stop there' } } : {}),
        resolvedDependencies: dependencies ?? [...(sourceDependency(facts.meta) ? [sourceDependency(facts.meta) as Record<string, unknown>] : []), ...[...seen.values()].sort(byKey).map(dependencyEntry)],
      },
      runDetails: {
        // The CI that ran the build when its mint named one; the repository otherwise.
        builder: { id: facts.meta?.builder?.id ?? (base ? `${base}/` : 'urn:artifact-repo:unnamed') },
        metadata: { ...(facts.meta?.builder?.url ? { invocationId: facts.meta.builder.url } : {}), ...(facts.startedOn ? { startedOn: facts.startedOn } : {}), finishedOn: facts.finishedOn },
      },
    },
  };
}

/**
 * The statement of provenanceStatement as JSON bytes, the very same, made a slice at a
 * time (`pause` between slices) and never held as one string: a build with 50 000 inputs
 * or as many outputs must not hold the event loop for the time its statement takes.
 */
export async function provenanceStatementBytes(facts: ProvenanceFacts, hash: KeyedHash, pause: () => Promise<void>, sliceItems = 1000, sliceChars = 1 << 20): Promise<Buffer> {
  /** JSON of each item, joined by commas, as buffers of at most `sliceItems` items or about `sliceChars` characters. */
  const listed = async <T>(items: readonly T[], json: (item: T) => string): Promise<Buffer[]> => {
    const out: Buffer[] = [];
    let part: string[] = [];
    let chars = 0;
    const flush = async (): Promise<void> => {
      out.push(Buffer.from((out.length === 0 ? '' : ',') + part.join(',')));
      part = [];
      chars = 0;
      await pause();
    };
    for (const item of items) {
      const text = json(item);
      part.push(text);
      chars += text.length;
      if (part.length >= sliceItems || chars >= sliceChars) await flush();
    }
    if (part.length > 0) await flush();
    return out;
  };
  const subjects = await listed(facts.outputs, (o) => JSON.stringify(subjectEntry(o)));
  const seen = new Map<string, Dependency>();
  let chars = 0;
  for (const [i, input] of facts.inputs.entries()) {
    const dependency = dependencyOf(input, hash);
    seen.set(dependency.key, dependency);
    chars += input.url.length;
    if (i % sliceItems === sliceItems - 1 || chars >= sliceChars) {
      chars = 0;
      await pause();
    }
  }
  const sorted = [...seen.values()].sort(byKey);
  await pause();
  const source = sourceDependency(facts.meta);
  const dependencies = await listed([...(source ? [JSON.stringify(source)] : []), ...sorted.map((d) => JSON.stringify(dependencyEntry(d)))], (json) => json);
  // The rest is small: written whole, the two lists put in where they belong (a key inside
  // a string is escaped, so these are the statement's own keys).
  const skeleton = JSON.stringify(provenanceStatement({ ...facts, inputs: [], outputs: [] }, hash, []));
  const subjectAt = skeleton.indexOf('"subject":[]') + '"subject":['.length;
  const dependenciesAt = skeleton.indexOf('"resolvedDependencies":[]') + '"resolvedDependencies":['.length;
  return Buffer.concat([
    Buffer.from(skeleton.slice(0, subjectAt)),
    ...subjects,
    Buffer.from(skeleton.slice(subjectAt, dependenciesAt)),
    ...dependencies,
    Buffer.from(skeleton.slice(dependenciesAt)),
  ]);
}

/** What a statement says, as two digests: its inputs (URI, query hash, digest) and its outputs (path, digest), each in any order. */
export function provenanceDigests(s: Record<string, unknown>): { inputs: string; outputs: string } {
  const digest = (rows: unknown[][]): string => createHash('sha256').update(rows.map((row) => JSON.stringify(row)).sort().join('\n')).digest('hex');
  const subjects = (s.subject as ProvenanceSubject[] | undefined) ?? [];
  // querySha256: what statements made before keyed hashes said of a query.
  const deps = (s.predicate as { buildDefinition?: { resolvedDependencies?: Array<{ uri: string; digest?: { sha256?: string }; annotations?: { queryHash?: string; querySha256?: string } }> } } | undefined)?.buildDefinition?.resolvedDependencies ?? [];
  return {
    inputs: digest(deps.map((d) => [d.uri, d.annotations?.queryHash ?? d.annotations?.querySha256 ?? null, d.digest?.sha256])),
    outputs: digest(subjects.map((x) => [x.name, x.digest?.sha256])),
  };
}

/** What two statements say in common: the same inputs (URL and digest), the same outputs (path and digest). */
export function compareProvenance(a: Record<string, unknown>, b: Record<string, unknown>): { inputs: boolean; outputs: boolean } {
  const [x, y] = [provenanceDigests(a), provenanceDigests(b)];
  return { inputs: x.inputs === y.inputs, outputs: x.outputs === y.outputs };
}
