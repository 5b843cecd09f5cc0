// Every store of the repository, in one place: what each keeps and what it promises. Each
// has an embedded implementation (storage/: files on the volumes, or memory) and a
// PostgreSQL one (storage/pg/, with DATABASE_URL); open-stores.ts opens one set or the
// other from the configuration, and test/conformance runs one suite over both.
import type { RepoEvent } from './events.js';
import { BUILD_DEPTH } from './tree-path.js';
import type { BuildMeta } from './build-meta.js';
import type { Readable } from 'node:stream';

export interface SealedState {
  sealedAt: string;
  files: number;
  bytes: number;
  /** The fingerprint of the key that signed its SHA256SUMS and provenance (absent: sealed unsigned, before signing). */
  signedBy?: string;
}

/** The last token ended; sealing has not completed (a full disk, a crash): retried. */
export interface PendingSeal {
  since: string;
  /** Why the last attempt failed, without any server path. */
  reason: string | null;
}

/** A build kept from retention, by whom and since when. */
export interface PinState {
  by: string;
  at: string;
}

/** A build deleted by retention: its name is never used again. */
export interface RetiredState {
  at: string;
  by: string;
}

export interface BuildRecord {
  /** What it was built from and by, as its first mint said (public). */
  meta?: BuildMeta;
  sealed?: SealedState;
  sealPending?: PendingSeal;
  pin?: PinState;
  retired?: RetiredState;
}

/** A sealed build as lists, feeds and permalinks show it (scope without slashes: type/project/build). */
export interface SealedBuildEntry {
  build: string[];
  sealedAt: string;
  files: number;
  bytes: number;
  signed: boolean;
  branch: string | null;
  revision: string | null;
}

/** Which sealed builds to list, newest first (by seal time, then name); `before` continues a list. */
export interface SealedBuildQuery {
  type?: string;
  project?: string;
  branch?: string;
  /** Exact, or a prefix of at least 7 characters. */
  revision?: string;
  before?: { sealedAt: string; scope: string } | null;
  limit: number;
}

/** The entry a build record gives the sealed builds' index, or null when it is not sealed. */
export function sealedEntry(build: readonly string[], record: BuildRecord): SealedBuildEntry | null {
  // Retention keeps a deleted build's record (its name is never used again): not listed.
  if (!record.sealed || record.retired) return null;
  return {
    build: [...build],
    sealedAt: record.sealed.sealedAt,
    files: record.sealed.files,
    bytes: record.sealed.bytes,
    signed: Boolean(record.sealed.signedBy),
    branch: record.meta?.source?.branch ?? null,
    revision: record.meta?.source?.revision ?? null,
  };
}

/** Newest first: by seal time, then by name, both descending (the order of every list and cursor). */
export function newerFirst(a: { sealedAt: string; scope: string }, b: { sealedAt: string; scope: string }): number {
  if (a.sealedAt !== b.sealedAt) return a.sealedAt < b.sealedAt ? 1 : -1;
  return a.scope === b.scope ? 0 : a.scope < b.scope ? 1 : -1;
}

/** Whether a sealed build answers a query's filters (not its cursor or limit). */
export function sealedMatches(entry: SealedBuildEntry, query: SealedBuildQuery): boolean {
  if (query.type !== undefined && entry.build[0] !== query.type) return false;
  if (query.project !== undefined && entry.build[1] !== query.project) return false;
  if (query.branch !== undefined && entry.branch !== query.branch) return false;
  if (query.revision !== undefined) {
    const r = entry.revision;
    if (r === null || !(r === query.revision || (query.revision.length >= 7 && r.startsWith(query.revision)))) return false;
  }
  return true;
}

/** Where build states are kept. */
export interface BuildRecords {
  get(build: readonly string[]): Promise<BuildRecord>;
  /** Replaces the build's record atomically (an empty record removes it). Callers hold the build's lock. */
  put(build: readonly string[], record: BuildRecord): Promise<void>;
  update(build: readonly string[], change: (record: BuildRecord) => BuildRecord): Promise<void>;
  /** Every build that has a record, as [type, project, build]. */
  all(): Promise<string[][]>;
  /** Every build that has a record, with it. */
  entries(): Promise<Array<{ build: string[]; record: BuildRecord }>>;
  /** Sealed builds, newest first, from an index kept as builds are sealed and removed (no walk of the tree). */
  sealedBuilds(query: SealedBuildQuery): Promise<SealedBuildEntry[]>;
  /** Builds not sealed yet whose first mint named this revision (whole, or a prefix of 7 or more), by name, at most `limit`. */
  openBuildsOf(revision: string, limit: number): Promise<string[][]>;
}

export interface TokenRecord {
  id: string;
  username: string;
  /** argon2 hash of the password; null once the token is revoked or expired. */
  hash: string | null;
  scope: string;
  created_by: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  revoked_by: string | null;
  /** The build proxy's mode for this token: upstream and recorded, or offline (absent: record). */
  proxy?: ProxyMode;
  /** Offline: the sealed build whose recorded inputs answer (absent: the mirror only). */
  replay?: string | null;
}

export type ProxyMode = 'record' | 'offline';

export interface MasterRecord {
  name: string;
  hash: string;
  created_at: string;
}

/**
 * Where tokens and masters are kept: the lowdb file in TOKENS_DIR, or PostgreSQL. Every
 * change that two replicas could race on is one atomic operation here (one winner).
 */
export interface TokenRecords {
  masters(): Promise<MasterRecord[]>;
  master(name: string): Promise<MasterRecord | null>;
  /** Whether an admin removed this master (MASTER_USER does not bring it back). */
  wasRemoved(name: string): Promise<boolean>;
  /** Adds a master unless one of that name exists (false then); clears a removal mark. */
  addMaster(record: MasterRecord): Promise<boolean>;
  /** Adds or replaces a master (its password set from the configuration). */
  putMaster(record: MasterRecord): Promise<void>;
  /** Removes a master, unless it is the last one, and marks it removed at `at`. */
  removeMaster(name: string, at: string): Promise<'removed' | 'unknown' | 'last'>;
  insertToken(record: TokenRecord): Promise<void>;
  token(id: string): Promise<TokenRecord | null>;
  /** The records of these tokens that exist, in one read. */
  tokensById(ids: readonly string[]): Promise<TokenRecord[]>;
  /** Every token known: live ones and tombstones. */
  tokens(): Promise<TokenRecord[]>;
  /** The tokens of one build (live and tombstones): what a mint or a seal asks, without reading them all. */
  tokensOf(scope: string): Promise<TokenRecord[]>;
  /**
   * Ends a token: revoked (`revoked` given) if it is live at `now`, or expired if its time
   * is past and its hash still there. Its hash goes. The record as it is now (no hash), or
   * null if there was nothing to end (one caller wins).
   */
  endToken(id: string, now: number, revoked: { at: string; by: string } | null): Promise<TokenRecord | null>;
  /** Forgets these tombstones. */
  forget(ids: readonly string[]): Promise<void>;
}

export interface BuildGuard {
  /** True when other processes share the repository: nothing about a build may be cached here. */
  readonly shared: boolean;
  /** Runs `work` alone for this build (on every replica). */
  exclusive<T>(scope: string, work: () => Promise<T>): Promise<T>;
  /**
   * Counts a write in flight for this build if the build is still open (`isOpen` asks the
   * build's state), and returns its end; null if it is not open. A seal that begins after
   * the count waits for the write; one that began before it refuses the write. `abort`
   * cuts the write once a seal's grace is over.
   */
  beginWrite(scope: string, isOpen: () => Promise<boolean>, abort?: () => void): Promise<(() => Promise<void>) | null>;
  /** Waits until no write is in flight for this build on any replica; cuts them after `graceMs`. */
  drainWrites(scope: string, graceMs: number): Promise<void>;
  /** Whether a write is in flight for this build in this process. */
  writingHere(scope: string): boolean;
  close(): Promise<void>;
}

export interface StoredProperty {
  ns: string;
  local: string;
  valueXml: string;
  lang?: string;
}

/**
 * A file's checksum, valid while the file on disk is still that inode with this size and
 * modification time: a replaced file is always another inode (uploads are renamed in).
 */
export interface FileRecord {
  sha256: string;
  size: number;
  mtimeMs: number;
  /** Absent in records written before inodes were recorded. */
  ino?: number;
}

export interface TempFiles {
  tempPath(label: string): string;
  settle(temp: string): void;
  discard(temp: string): Promise<void>;
}

/** Set aside by a change that may still be undone: put back with restore(), or dropped. */
export interface SetAside {
  restore(): Promise<void>;
  drop(): Promise<void>;
}

/**
 * What the repository keeps about each resource of the tree: a file's checksum record and
 * any resource's dead properties. Embedded: files under ARTIFACTS_DIR/.meta (below); with
 * DATABASE_URL: rows in PostgreSQL (pg/resource-records.ts). Every change returns what
 * undoes it, so that a write the tree then refuses leaves the metadata as it was.
 */
export interface ResourceRecords {
  fileRecord(segments: readonly string[]): Promise<FileRecord | null>;
  /** Records a file's checksum; returns what undoes it (the previous record put back). */
  setFileRecord(segments: readonly string[], record: FileRecord): Promise<SetAside>;
  properties(segments: readonly string[]): Promise<StoredProperty[]>;
  setProperties(segments: readonly string[], props: StoredProperty[]): Promise<void>;
  /** Takes a resource's metadata (and a collection's members') out of the way. */
  setAside(segments: readonly string[]): Promise<SetAside>;
  /** Forgets a resource and, for a collection, all of its members. */
  remove(segments: readonly string[]): Promise<void>;
  /** Moves metadata to `to`, replacing what was there. */
  move(from: readonly string[], to: readonly string[]): Promise<SetAside>;
  /** Copies metadata to `to` (with a collection's members if asked), replacing what was there. */
  copy(from: readonly string[], to: readonly string[], withMembers: boolean): Promise<SetAside>;
  /** Every file below a collection that has a checksum record, as [relative segments, record]. */
  fileRecordsUnder(segments: readonly string[]): Promise<[string[], FileRecord][]>;
}

/** Which paths hold a given SHA-256. Entries may be stale: the catalog checks each hit. */
export interface ChecksumIndex {
  add(sha256: string, href: string): Promise<void>;
  /** Up to `limit` paths recorded for this checksum, and whether there were more. */
  lookup(sha256: string, limit?: number): Promise<{ hrefs: string[]; more: boolean }>;
  /** Forgets one path for this checksum (a stale entry found by a lookup). */
  remove(sha256: string, href: string): Promise<void>;
}

export type AuditEntry = { time: string } & RepoEvent;

/** Where the audit trail is kept: a file beside the token store, or PostgreSQL. */
export interface AuditTrail {
  /** Records one event; never throws (reporting must not fail what caused it). */
  record(event: RepoEvent): void;
  /** One page of the entries about one build, oldest first, and how many there are. */
  forBuild(build: string, page?: { offset?: number; limit?: number }): Promise<{ entries: AuditEntry[]; total: number }>;
  /** Lets go of what it holds open (the server stops). */
  close(): void;
}

export type MirrorState = 'pending' | 'ok' | 'failed';

/** One body the mirror serves: a file's URL, or an image's manifest or blob URL. */
export interface MirroredPart {
  url: string;
  sha256: string;
  size: number;
  contentType: string;
  /** For an image's manifests and blobs: the digest the registry API names it by. */
  digest: string | null;
}

export interface MirrorEntry {
  id: string;
  kind: 'file' | 'image';
  /** The canonical URL of a file; null for an image. */
  url: string | null;
  /** registry/name@sha256:… of an image; null for a file. */
  image: string | null;
  /** The checksum the master declared, if any (a file's). */
  declaredSha256: string | null;
  note: string;
  declaredBy: string;
  declaredAt: string;
  state: MirrorState;
  /** Why the last try failed, in words a person can act on. */
  reason: string | null;
  /** When a failed entry is tried again. */
  nextTryAt: string | null;
  attempts: number;
  /** A file's checksum, or an image's digest (hex). */
  sha256: string | null;
  /** Bytes kept: a file's, or every manifest and blob of an image. */
  size: number | null;
  fetchedAt: string | null;
  /** What is served, once ok. */
  parts: MirroredPart[];
  /** The builds it answered lately, newest first (at most MIRROR_USED_BY); absent before the first. */
  usedBy?: MirrorUse[];
}

/** A build the mirror answered for, and when it first did. */
export interface MirrorUse {
  build: string;
  at: string;
}

/** How many builds an entry remembers having answered. */
export const MIRROR_USED_BY = 20;

/** The uses an entry keeps once `use` is added: newest first, each build once, at most MIRROR_USED_BY. */
export function withUse(usedBy: readonly MirrorUse[] | undefined, use: MirrorUse): MirrorUse[] {
  return [use, ...(usedBy ?? []).filter((u) => u.build !== use.build)].slice(0, MIRROR_USED_BY);
}

/** Where the mirror's entries are kept: files on the artifacts volume, or PostgreSQL. */
export interface MirrorEntryStore {
  all(): Promise<MirrorEntry[]>;
  /** Adds the entry or replaces the one with its id, whole. */
  save(entry: MirrorEntry): Promise<void>;
  remove(id: string): Promise<void>;
  /** Adds a build to an existing entry's usedBy (withUse); an entry removed meanwhile stays removed. */
  recordUse(id: string, use: MirrorUse): Promise<void>;
  /** Changes with every save and removal by anyone: whether what was read is still current. */
  generation(): Promise<number>;
}

export interface SigningKeyRecord {
  /** The OpenSSH public key line, without a comment. */
  publicKey: string;
  /** PKCS#8 PEM; null once the key is retired. */
  privatePem: string | null;
  createdAt: string;
  retiredAt: string | null;
  /**
   * Its OpenPGP twin (apt's Release files), made and rotated with it: the public key
   * armoured, and the private one armoured (null once retired). Absent on keys made before
   * the repository signed apt indexes (one is attached to the current key at start).
   */
  pgpPublic?: string | null;
  pgpPrivate?: string | null;
}

export interface SigningKeyStore {
  /** Every key: the current one first, then the retired ones, newest first. */
  list(): Promise<SigningKeyRecord[]>;
  /** Makes `key` the current key unless there is one; returns the current key. */
  createIfAbsent(key: SigningKeyRecord): Promise<SigningKeyRecord>;
  /** Makes `key` current: the current one is retired at `key.createdAt` and its private half dropped. */
  rotate(key: SigningKeyRecord): Promise<void>;
  /** Gives the key `publicKey` its OpenPGP twin unless it has one (the first one attached wins). */
  attachPgp(publicKey: string, pgpPublic: string, pgpPrivate: string): Promise<void>;
}

export interface RepositorySecrets {
  /** The secret of this name; made with `make` and kept if there is none yet (the first one made wins). */
  getOrCreate(name: string, make: () => string): Promise<string>;
  /** Every secret, for `artifact-repo migrate`. */
  all(): Promise<Record<string, string>>;
}

export type InputSource = 'upstream' | 'mirror' | 'replay';

export interface RecordedExchange {
  kind: 'exchange';
  time: string;
  method: string;
  /** Canonical URL (matching.ts): no credentials. */
  url: string;
  /** SHA-256 of the request body, for requests that have one. */
  requestSha256: string | null;
  /** Values of the request headers the response's Vary names, as keyed hashes (matching.ts). */
  varyValues: Record<string, string | null>;
  status: number;
  /** The response headers that describe the body. */
  headers: [string, string][];
  sha256: string;
  size: number;
  source: InputSource;
}

export interface RecordedMiss {
  kind: 'miss';
  time: string;
  method: string;
  url: string;
  /** The build replayed, if any. */
  replayed: string | null;
}

/** A part of a body (206, 416) passed through in record mode: asked for, not kept, not replayable. */
export interface RecordedPartial {
  kind: 'partial';
  time: string;
  method: string;
  url: string;
  status: number;
  /** The Range the request named (at most 256 characters of it). */
  range: string;
}

/** A request the build proxy refused after it knew the build (a private address, a name that does not resolve, ...): nothing went upstream. */
export interface RecordedRefusal {
  kind: 'refused';
  time: string;
  method: string;
  url: string;
  status: number;
  /** Why, as the answer said (at most 300 characters). */
  reason: string;
}

export type InputLine = RecordedExchange | RecordedMiss | RecordedPartial | RecordedRefusal;

/** How much one build's recording may hold (INPUTS_MAX_LINES, INPUTS_MAX_RECORD_SIZE). */
export interface RecordingLimits {
  maxLines: number;
  maxBytes: number;
}

export interface RecordingTotals {
  lines: number;
  bytes: number;
}

/** A line as a scan finds it: `at` finds it again (readAt), whatever the store. */
export interface ScannedLine {
  line: InputLine;
  at: number;
}

/** Where each build's recorded inputs are kept: files on the artifacts volume, or PostgreSQL. */
export interface InputStore {
  /**
   * Holds room in the build's recording for one more line, for an exchange about to be
   * made: null, or the limit that leaves no room for it and for the lines already held
   * (each held at the largest a line may be, MAX_LINE_BYTES). Across replicas too.
   */
  reserve(build: readonly string[], limits: RecordingLimits): Promise<null | 'lines' | 'bytes'>;
  /** Gives back room held by reserve() that took no line. */
  unreserve(build: readonly string[]): Promise<void>;
  /** Appends a line into room held by reserve(). */
  appendReserved(build: readonly string[], line: InputLine): Promise<void>;
  /**
   * Appends one line to the build's recording unless that would take it past `limits`
   * ('full', nothing written); lines of one build keep their order.
   */
  append(build: readonly string[], line: InputLine, limits: RecordingLimits): Promise<'appended' | 'full'>;
  /** What the build's recording holds now. */
  totals(build: readonly string[]): Promise<RecordingTotals>;
  /** The build's lines in the order they were appended, as a stream of batches; never past `limits`. */
  scan(build: readonly string[], limits: RecordingLimits): AsyncIterable<ScannedLine[]>;
  /** The line a scan found at `at`. */
  readAt(build: readonly string[], at: number): Promise<InputLine | null>;
  remove(build: readonly string[]): Promise<void>;
  /** Every build with a recording, as [type, project, build]. */
  all(): Promise<string[][]>;
}

/** Where the authority's key and certificate are kept: files on the tokens volume, or (with replicas) the database. */
export interface AuthorityKeeper {
  load(): Promise<{ keyPem: string; certPem: string } | null>;
  /** Saves a new authority unless one exists already; returns the one that is kept. */
  saveIfAbsent(keyPem: string, certPem: string): Promise<{ keyPem: string; certPem: string }>;
}

export type LockScope = 'exclusive' | 'shared';

export type LockDepth = '0' | 'infinity';

export interface Lock {
  token: string;
  root: readonly string[];
  rootIsCollection: boolean;
  depth: LockDepth;
  scope: LockScope;
  ownerXml: string | null;
  /** Build token id that took the lock: only it may use the lock token. */
  principal: string;
  timeoutSeconds: number;
  expiresAt: number;
}

/** Where locks are kept. Expiry and the owner's liveness are the manager's to judge. */
export interface LockStore {
  /**
   * The locks of the builds at or below a path: one build ("type/project/build"), or,
   * for a path above build level given as a prefix ("type/project/", "" for all), the
   * builds under it.
   */
  read(build: string, below?: boolean): Promise<Lock[]>;
  byToken(token: string): Promise<Lock | undefined>;
  put(lock: Lock): Promise<void>;
  /** Replaces a lock that is still there (a refresh); false if it is gone. */
  replace(lock: Lock): Promise<boolean>;
  remove(tokens: readonly string[]): Promise<void>;
  /** Runs `work` alone among the lock changes of this build (check, then create). */
  serially<T>(build: string, work: () => Promise<T>): Promise<T>;
}

/** The build a lock lies in, as "type/project/build". */
export function buildKey(segments: readonly string[]): string {
  return segments.slice(0, BUILD_DEPTH).join('/');
}

/** A store kept on the volume cannot be read (not valid JSON, a layout it does not know): the server does not start. */
export class StoreError extends Error {}

/** Where the stores are: the settings they are opened from. */
export interface StoreLocation {
  artifactsDir: string;
  tokensDir: string;
  databaseUrl: string | null;
  /** The tree's bytes in a bucket (the tree in the database); absent or null: files in artifactsDir. */
  blobStore?: BucketLocation | null;
}

/** A bucket of an S3-compatible server (BLOB_STORE); credentials come from the AWS SDK's own chain, never a setting. */
export interface BucketLocation {
  bucket: string;
  /** '' or ending with '/'. */
  prefix: string;
  /** S3_ENDPOINT: any S3-compatible server (null: AWS's own for the region). */
  endpoint: string | null;
  region: string;
  /** S3_FORCE_PATH_STYLE: the bucket in the path, for servers without bucket host names (Swift, Ceph RGW). */
  forcePathStyle: boolean;
}

/** The package formats the repository indexes (docs/packages.md). */
export type PackageFormat = 'deb' | 'wheel' | 'sdist';

/** One package file of a sealed build, as the indexes list it. */
export interface CataloguedPackage {
  format: PackageFormat;
  /** Below the build root, '/'-joined. */
  path: string;
  size: number;
  sha256: string;
  /** deb: its Package; wheel and sdist: the project name, PEP 503 normalised. */
  name: string;
  version: string;
  /** deb: its Architecture; '' for the others. */
  arch: string;
  /** deb: its stanza in a Packages index, `Filename:` relative to the build root. */
  stanza?: string;
  /** wheel: Requires-Python of its METADATA. */
  requiresPython?: string;
  /** wheel: the SHA-256 of its METADATA (PEP 658). */
  metadataSha256?: string;
}

/** A file that looked like a package and is not indexed, and why (shown on the build's page). */
export interface SkippedPackage {
  path: string;
  reason: string;
}

/** What one sealed build holds for apt and pip. */
export interface BuildPackages {
  build: string[];
  sealedAt: string;
  packages: CataloguedPackage[];
  skipped: SkippedPackage[];
}

/** A package with the sealed build it is in. */
export interface PackageInBuild {
  build: string[];
  sealedAt: string;
  package: CataloguedPackage;
}

/**
 * The package catalogue the seals write: what apt's and pip's indexes list. Embedded:
 * files on the artifacts volume (storage/package-catalogue.ts); with DATABASE_URL, a table.
 */
export interface PackageCatalogue {
  /** Records what a sealed build holds, replacing what was recorded for it. */
  put(entry: BuildPackages): Promise<void>;
  /** Forgets a build (retention removed it). */
  remove(build: readonly string[]): Promise<void>;
  of(build: readonly string[]): Promise<BuildPackages | null>;
  /** What a build's page says: how many of each, and what was not indexed (no stanzas read). */
  summaryOf(build: readonly string[]): Promise<{ debs: number; python: number; skipped: SkippedPackage[] } | null>;
  /** One package of a sealed build, by its path below the build's root. */
  find(build: readonly string[], path: string): Promise<CataloguedPackage | null>;
  /** The .deb packages of a project's sealed builds, newest sealed first. */
  debsOf(type: string, project: string): Promise<PackageInBuild[]>;
  /** Every project with a .deb in the catalogue, as [type, project]. */
  debProjects(): Promise<string[][]>;
  /** Every Python project name with a wheel or sdist, sorted. */
  pythonNames(): Promise<string[]>;
  /** The wheels and sdists of a (normalised) Python project name, newest sealed first. */
  pythonFiles(name: string): Promise<PackageInBuild[]>;
}

/**
 * The OpenID job tokens that minted a build credential, by a digest (never the token), so
 * that one token mints once, on any replica; kept until the token would have expired.
 */
export interface JobTokenLedger {
  /** Records `key` unless it is there; true when this call recorded it. */
  claim(key: string, expiresAt: string): Promise<boolean>;
  /** Forgets the keys whose tokens have expired. */
  purge(now: string): Promise<void>;
}

/**
 * Bytes by key (issue 32, docs/design.md): the volume's files, or an S3-compatible bucket.
 * Only what every S3 server has is asked of one: a put (one request, or multipart), a get with
 * a range, a head, a delete, a list in key order, a copy. No conditional write, tag or
 * version: what must be decided once is decided in PostgreSQL.
 */
export interface BlobStore {
  /**
   * Stores the body under `key`, visible only once whole (an aborted body leaves nothing);
   * its size and SHA-256. `size`, when the caller knows it: the body's exact length (one
   * longer or shorter fails the put), which lets a bucket take it in one streamed request.
   */
  put(key: string, body: Readable, size?: number): Promise<{ size: number; sha256: string }>;
  /** The bytes `start`..`end` (inclusive), or all of them; null when there is no such blob. */
  get(key: string, range?: { start: number; end: number }): Promise<Readable | null>;
  head(key: string): Promise<{ size: number } | null>;
  /** Removes the blobs that are there (a missing one is no error). */
  delete(keys: readonly string[]): Promise<void>;
  /** At most `limit` keys below `prefix`, in key order, after `after`; `next` to go on, or null. */
  list(prefix: string, after: string | null, limit: number): Promise<{ keys: string[]; next: string | null }>;
  copy(from: string, to: string): Promise<void>;
  /** Abandons multipart uploads begun under these keys and never completed (a replica died): their parts go. */
  abortUploads(keys: readonly string[]): Promise<void>;
  /**
   * A URL that reads the blob without credentials for `seconds` (a bucket's presigned
   * GetObject), answered with `contentType`; absent where a store has no such thing.
   */
  presignGet?(key: string, options: { contentType: string; seconds: number }): Promise<string>;
}

/** Why a blob key is refused, or null: what both a file path and an S3 key take the same. */
export function blobKeyProblem(key: string): string | null {
  if (key.length === 0 || Buffer.byteLength(key) > 1024) return 'a blob key is 1 to 1024 bytes';
  if (key.startsWith('/') || key.endsWith('/') || key.includes('//')) return 'a blob key has no empty segment';
  if (key.split('/').some((s) => s === '.' || s === '..' || s.startsWith('.'))) return 'a blob key has no segment starting with a dot';
  if (/[\u0000-\u001f\u007f\\]/.test(key)) return 'a blob key has no control character or backslash';
  return null;
}

/**
 * What an entry of the artifact tree says of itself: fs.Stats has all of it, and so do the
 * rows of a tree kept in PostgreSQL. `ino` changes whenever a file is replaced (an inode
 * on a volume, a row's version in the database): a checksum record names the one it is for.
 */
export interface TreeStats {
  isFile(): boolean;
  isDirectory(): boolean;
  size: number;
  mtimeMs: number;
  mtime: Date;
  /** When it was made (WebDAV's creationdate): 0 and the change time where a file system keeps none. */
  birthtimeMs: number;
  birthtime: Date;
  ctime: Date;
  ino: number;
}

/** A file opened for reading: what was opened, whatever replaces the path meanwhile. */
export interface OpenedFile {
  stats: TreeStats;
  /** On a volume, its descriptor (small reads use it directly; the caller closes it); null in a bucket. */
  fd: number | null;
  /** Its bytes `start`..`end` (inclusive; all by default); the descriptor, if any, is closed at the end. */
  stream(start?: number, end?: number): Promise<Readable>;
  /** In a bucket: a URL that reads all of its bytes, without credentials, for a few minutes (answered with `contentType`). */
  presign?(contentType: string): Promise<string>;
  /** Lets go of it unread. */
  close(): void;
}

/** What a write of a file did. */
export interface TreePut {
  created: boolean;
  /** Size of the file it replaced (0 for a new one). */
  replacedSize: number;
  size: number;
  sha256: string;
  /** The stored file as it is now (its checksum is valid for these stats). */
  stats: TreeStats;
}

export interface TreePutOptions {
  expectedSha256?: string | null;
  /** The declared Content-Length, if any. */
  declaredLength?: number | null;
  /**
   * Runs once the body is complete and checked, before it appears: its failure stores
   * nothing. What it returns is run if publishing fails after it.
   */
  beforePublish?: (sha256: string, stats: TreeStats) => Promise<() => Promise<void>>;
  /** Told of each chunk's size as it arrives. */
  received?: (bytes: number) => void;
  /** The modification time to give it (a migration keeps the one it had); absent: now. */
  mtimeMs?: number;
}

/** A file below a collection, as a walk finds it. */
export interface TreeFile {
  /** Below the collection walked. */
  relative: string[];
  size: number;
  mtimeMs: number;
  ino: number;
}

/**
 * The artifact tree: folders and files by path, what WebDAV writes and HTTP serves. On a
 * volume (storage/artifact-store.ts: files in ARTIFACTS_DIR, nginx may serve them), or in
 * PostgreSQL and an S3 bucket (storage/pg/bucket-tree.ts: the tree as rows, the bytes as
 * blobs). Every change appears whole or not at all. Paths were checked by parseTreePath.
 */
export interface ArtifactTree {
  /** Why a path (with members `below` bytes and `belowSegments` segments deeper) is too long for this store, or null. */
  storagePathProblem(segments: readonly string[], below?: number, belowSegments?: number): string | null;
  /** Why a write there is refused because it goes through a symbolic link (a volume's), or null. */
  symlinkProblem(segments: readonly string[]): string | null;
  stat(segments: readonly string[]): Promise<TreeStats | null>;
  /** A file opened for reading, or null (missing, or a collection: see stat). */
  open(segments: readonly string[]): Promise<OpenedFile | null>;
  /** A small file's bytes kept from an earlier download while it is the same file, or null. */
  cachedFile(segments: readonly string[]): { stats: TreeStats; bytes: Buffer } | null;
  rememberFile(segments: readonly string[], stats: TreeStats, bytes: Buffer): void;
  /** A file as a path on this machine, for readers that seek (a zip); `release` when done. Null: no such file. */
  localFile(segments: readonly string[], maxBytes: number): Promise<{ path: string; size: number; release(): Promise<void> } | null>;
  /** A collection's members with their stats, unsorted. */
  list(segments: readonly string[]): Promise<{ name: string; stats: TreeStats }[]>;
  /** A collection's members' names, unsorted, without their stats. */
  names(segments: readonly string[]): Promise<{ name: string; collection: boolean }[]>;
  /** Every file below a collection, in path order (by segment); what vanishes meanwhile is left out. */
  filesBelow(segments: readonly string[]): Promise<TreeFile[]>;
  /** The longest relative path below a collection, in bytes and segments (for COPY and MOVE). */
  deepestBelow(segments: readonly string[]): Promise<{ bytes: number; segments: number }>;
  /** Streams `body` in; it appears at `segments` once whole and checked, with any missing parents. */
  putFile(segments: readonly string[], body: Readable, options?: TreePutOptions): Promise<TreePut>;
  /** MKCOL: refused if it exists ('not-allowed') or its parent does not ('conflict'). */
  makeCollection(segments: readonly string[]): Promise<void>;
  /** Makes a collection and any missing parents. */
  ensureCollection(segments: readonly string[]): Promise<void>;
  /** Removes a file or a whole collection, at once. */
  remove(segments: readonly string[]): Promise<void>;
  /** Moves a resource, replacing what is at `to`. */
  move(from: readonly string[], to: readonly string[]): Promise<void>;
  /** Copies a resource, replacing what is at `to`; `depthZero` copies a collection without its members. */
  copy(from: readonly string[], to: readonly string[], depthZero: boolean): Promise<void>;
  /** Takes a collection out of the tree at once (gone for readers), to be dropped or put back. */
  setAside(segments: readonly string[]): Promise<SetAside>;
  /** A sealed build's bytes made unchangeable where the store can (a volume: modes 0444 and 0555). */
  makeReadOnly(segments: readonly string[]): Promise<void>;
  makeWritable(segments: readonly string[]): Promise<void>;
}

/** A body being written into the content store: fed chunk by chunk, then finished (kept) or aborted (gone). */
export interface ContentWriter {
  /** Whether it is ready for more (false: wait for drained()). */
  write(chunk: Buffer): boolean;
  /** Calls `resume` once it has room again (or failed). */
  onceDrained(resume: () => void): void;
  drained(): Promise<void>;
  /** The write failed (a full disk): the caller stops the transfer. */
  readonly error: Error | null;
  /** Keeps the body under its SHA-256 (an identical body kept already is reused); a different expected one keeps nothing (MismatchError). */
  finish(expectedSha256?: string | null): Promise<{ sha256: string; size: number }>;
  abort(): Promise<void>;
}

/**
 * What a store on a volume adds to a stream of a body it hands out: the open file behind
 * it and the range the stream would give, so that a sender can read it by position into
 * buffers of its own instead of the stream's fresh ones (http/stored.ts). Whoever takes
 * it still ends with destroying the stream, which closes the file.
 */
export interface FileBacked {
  /** `small`: the whole file is a few pages, which a sender may read at once. */
  readonly file: { fd: number; start: number; end: number; small?: boolean };
}

/**
 * Bodies by their SHA-256, kept once for the whole repository: what builds downloaded
 * through the build proxy (their recorded inputs) and what the mirror fetched. Files in
 * ARTIFACTS_DIR/.content (storage/content-store.ts), or blobs in the bucket with BLOB_STORE.
 */
export interface ContentStore {
  /**
   * A writer for a new body; whatever it needs is ready, so a full store shows before any
   * byte is sent on. `expectedBytes`: its length when known (a Content-Length), so that a
   * large one is hashed off the thread that receives it.
   */
  open(expectedBytes?: number | null): Promise<ContentWriter>;
  /** Stores a whole stream; the checksum, when given, must match (MismatchError), and it may not pass `maxBytes` (TooLargeError). */
  put(body: Readable, expectedSha256?: string | null, onBytes?: (total: number) => void, maxBytes?: number): Promise<{ sha256: string; size: number }>;
  /**
   * Keeps a small body held whole in memory. When an identical body is kept already, that
   * one is marked as used now and nothing is written (the common case: builds download the
   * same dependencies again and again).
   */
  keepWhole(body: Buffer): Promise<{ sha256: string; size: number }>;
  /** A kept body's bytes, or a range of them (inclusive); from a volume, FileBacked too. */
  read(sha256: string, range?: { start: number; end: number }): Promise<Readable & Partial<FileBacked>>;
  /** Removes every body that `keep` does not name and that was not written or used since `since` (ms). */
  sweep(keep: ReadonlySet<string>, since: number): Promise<number>;
}

/**
 * The projects' apt indexes, as files by project ([type, project]) and a path below it
 * (`dists/stable/Release`, `.../by-hash/SHA256/<sha256>`): what /-/apt/ serves. Files in
 * ARTIFACTS_DIR/.apt (nginx may serve them), or rows in PostgreSQL with BLOB_STORE. Each
 * file appears whole. Paths are the repository's own, never a request's.
 */
export interface AptIndexStore {
  /** Writes one file whole, replacing what was there. */
  replace(project: readonly string[], relative: string, body: Buffer | string): Promise<void>;
  /** Keeps `body` under `dir/by-hash/SHA256/<sha256>`: written if absent, its time set to `now` either way. */
  keepByHash(project: readonly string[], dir: string, sha256: string, body: Buffer, now: Date): Promise<void>;
  /** Sets a by-hash copy's time to `now` (it stopped being listed: its hour starts), if it is there. */
  touchByHash(project: readonly string[], dir: string, sha256: string, now: Date): Promise<void>;
  /** Removes named files in a folder (an architecture's indexes a suite no longer has). */
  removeNamed(project: readonly string[], dir: string, names: readonly string[]): Promise<void>;
  /** A file's bytes and time, or null. */
  read(project: readonly string[], relative: string): Promise<{ body: Buffer; mtime: Date } | null>;
  /** Removes the by-hash copies below `dir` not in `keep` whose time is before `before` (ms); how many went. */
  sweepByHash(project: readonly string[], dir: string, keep: ReadonlySet<string>, before: number): Promise<number>;
  /** The folders directly below `relative` (the suites' architectures). */
  directoriesBelow(project: readonly string[], relative: string): Promise<string[]>;
}
