// The provenance a sealed build carries: an in-toto Statement v1 whose subjects are the
// files the repository stored (hashed as they streamed in) and whose predicate is SLSA
// Provenance v1 with what the repository saw the build download through its proxy. The
// repository observed both, so this is not a build's report about itself. Pure.
import type { KeyedHash } from './keyed-hash.js';

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
  sha256: string;
  /** Where its bytes came from: upstream (recorded now), the mirror, or a replay of a recording. */
  source: 'upstream' | 'mirror' | 'replay';
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

export function provenanceStatement(facts: ProvenanceFacts, hash: KeyedHash): Record<string, unknown> {
  const base = facts.publicUrl ? facts.publicUrl.replace(/\/+$/, '') : null;
  // One dependency per distinct URL and digest, in a stable order: two builds that fetched
  // the same things say so in the same words.
  const seen = new Map<string, { uri: string; queryHash: string | null; sha256: string; source: ProvenanceInput['source'] }>();
  for (const input of facts.inputs) {
    const { uri, queryHash } = publicUri(input.url, hash);
    seen.set(`${uri} ${queryHash ?? ''} ${input.sha256}`, { uri, queryHash, sha256: input.sha256, source: input.source });
  }
  const key = (d: { uri: string; queryHash: string | null; sha256: string }): string => `${d.uri} ${d.queryHash ?? ''} ${d.sha256}`;
  const dependencies = [...seen.values()]
    .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
    .map((d) => ({ uri: d.uri, digest: { sha256: d.sha256 }, annotations: { source: d.source, ...(d.queryHash ? { queryHash: d.queryHash } : {}) } }));
  return {
    _type: STATEMENT_TYPE,
    subject: facts.outputs.map((o) => ({ name: o.path, digest: { sha256: o.sha256 } })),
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: {
          build: base ? `${base}${facts.build}` : facts.build,
          mintedBy: [...new Set(facts.mintedBy)].sort(),
          ...(facts.replayOf.length > 0 ? { replayOf: [...new Set(facts.replayOf)].sort() } : {}),
        },
        resolvedDependencies: dependencies,
      },
      runDetails: {
        builder: { id: base ? `${base}/` : 'urn:artifact-repo:unnamed' },
        metadata: { ...(facts.startedOn ? { startedOn: facts.startedOn } : {}), finishedOn: facts.finishedOn },
      },
    },
  };
}

/** What two statements say in common: the same inputs (URL and digest), the same outputs (path and digest). */
export function compareProvenance(a: Record<string, unknown>, b: Record<string, unknown>): { inputs: boolean; outputs: boolean } {
  const outputs = (s: Record<string, unknown>): string =>
    JSON.stringify(((s.subject as ProvenanceSubject[] | undefined) ?? []).map((x) => [x.name, x.digest?.sha256]).sort());
  const inputs = (s: Record<string, unknown>): string => {
    // querySha256: what statements made before keyed hashes said of a query.
    const deps = (s.predicate as { buildDefinition?: { resolvedDependencies?: Array<{ uri: string; digest?: { sha256?: string }; annotations?: { queryHash?: string; querySha256?: string } }> } } | undefined)?.buildDefinition?.resolvedDependencies ?? [];
    return JSON.stringify(deps.map((d) => [d.uri, d.annotations?.queryHash ?? d.annotations?.querySha256 ?? null, d.digest?.sha256]).sort());
  };
  return { inputs: inputs(a) === inputs(b), outputs: outputs(a) === outputs(b) };
}
