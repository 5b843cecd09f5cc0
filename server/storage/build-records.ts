// The state of each build, apart from its files' metadata: sealed (and its size), a seal
// that is due but not done yet, a master's pin, and the tombstone of a build deleted by
// retention. Written only under the build's lock (builds.ts), and never by a tree request:
// no PROPPATCH or upload can touch it. Embedded: one small JSON file per build,
// ARTIFACTS_DIR/.builds/TYPE/PROJECT/BUILD.json; with DATABASE_URL: pg/build-records.ts.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TempFiles } from '../domain/stores.js';
import { sealedEntry, type BuildRecord, type BuildRecords, type SealedBuildEntry, type SealedBuildQuery } from '../domain/stores.js';
import { SealedIndex } from './sealed-index.js';
import { SealedSnapshot } from './sealed-snapshot.js';
import { revisionMatches } from '../domain/build-meta.js';
import { NAME_RE } from '../domain/tree-path.js';
import { cleanRecord, isEmptyRecord } from '../domain/record-rules.js';

export const BUILDS_DIR = '.builds';

/** A record file's text as a record; one that is not JSON (cut by a crash, edited by hand) counts as none. */
function parseRecord(text: string): BuildRecord {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' ? cleanRecord(parsed as BuildRecord) : {};
  } catch {
    return {};
  }
}

const CACHE_ENTRIES = 20_000;
// Record changes between two snapshots of the sealed builds' index: what a start reads again.
const SNAPSHOT_EVERY = 1000;

export class BuildRecordFiles implements BuildRecords {
  readonly base: string;
  private readonly cache = new Map<string, BuildRecord>();
  // The sealed builds, newest first: read from the records once, at the first question,
  // then kept as records are written (this process is the only writer).
  private sealed: SealedIndex | null = null;
  private loadingSealed: Promise<SealedIndex> | null = null;
  private readonly writtenWhileLoading = new Set<string>();
  private readonly openRevisions = new Map<string, string>();
  private readonly snapshot: SealedSnapshot;
  private changedSinceSnapshot = 0;

  constructor(
    artifactsDir: string,
    private readonly temps: TempFiles,
  ) {
    this.base = path.join(artifactsDir, BUILDS_DIR);
    this.snapshot = new SealedSnapshot(this.base);
  }

  private fileOf(build: readonly string[]): string {
    if (build.length !== 3) throw new Error('a build is type/project/build');
    return path.join(this.base, build[0] as string, build[1] as string, `${build[2]}.json`);
  }

  async get(build: readonly string[]): Promise<BuildRecord> {
    const key = build.join('/');
    const cached = this.cache.get(key);
    if (cached) return cached;
    const file = this.fileOf(build);
    let record: BuildRecord = {};
    if (existsSync(file)) {
      try {
        record = cleanRecord(JSON.parse(readFileSync(file, 'utf8')) as BuildRecord);
      } catch {
        // An unreadable record counts as none; the next write replaces it.
      }
    }
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, record);
    return record;
  }

  // Synchronous from the journal line to the index: a snapshot, begun between two puts,
  // sees every record as its file is.
  async put(build: readonly string[], record: BuildRecord): Promise<void> {
    const file = this.fileOf(build);
    this.cache.delete(build.join('/'));
    this.snapshot.note(build.join('/'));
    if (isEmptyRecord(record)) {
      rmSync(file, { force: true });
      this.index(build, record);
      return;
    }
    const temp = this.temps.tempPath('build');
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(temp, JSON.stringify(record));
      renameSync(temp, file);
      this.temps.settle(temp);
    } catch (err) {
      await this.temps.discard(temp);
      throw err;
    }
    this.index(build, record);
  }

  /** Keeps the sealed builds' index (if read yet) as a record is written. */
  private index(build: readonly string[], record: BuildRecord): void {
    if (this.sealed) {
      this.sealed.set(build, sealedEntry(build, record));
      this.noteOpen(build, record);
      if (++this.changedSinceSnapshot >= SNAPSHOT_EVERY && !this.snapshot.busy) this.takeSnapshot();
    } else if (this.loadingSealed) this.writtenWhileLoading.add(build.join('/'));
  }

  /** A snapshot of the index as it is now (see sealed-snapshot.ts); a failure is retried later. */
  private takeSnapshot(): void {
    if (!this.sealed) return;
    this.changedSinceSnapshot = 0;
    this.snapshot.capture({ sealed: this.sealed.entries(), open: [...this.openRevisions.entries()] }).catch(() => {
      this.changedSinceSnapshot = SNAPSHOT_EVERY;
    });
  }

  /** Open builds with a revision: few (builds are sealed when their tokens end), kept by name. */
  private noteOpen(build: readonly string[], record: BuildRecord): void {
    const scope = build.join('/');
    const revision = record.meta?.source?.revision;
    if (revision !== undefined && !record.sealed && !record.retired) this.openRevisions.set(scope, revision);
    else this.openRevisions.delete(scope);
  }

  async openBuildsOf(revision: string, limit: number): Promise<string[][]> {
    await this.sealedBuilds({ limit: 0 });
    return [...this.openRevisions.entries()]
      .filter(([, r]) => revisionMatches(r, revision))
      .map(([scope]) => scope)
      .sort()
      .slice(0, limit)
      .map((scope) => scope.split('/'));
  }

  /**
   * The index, from the snapshot and the records journaled since it; without a snapshot,
   * from every record, a few files at a time with the event loop free between them
   * (100 000 builds are 100 000 small files). Records written meanwhile are noted and read
   * again at the end (loaded). A new snapshot is begun (its JSON is made in one step: about
   * 0.1 s at 100 000 builds, once per SNAPSHOT_EVERY changes).
   */
  private async loadSealed(): Promise<SealedIndex> {
    const { state, journaled } = await this.snapshot.read();
    if (state) {
      // The snapshot, and the records changed since it, read again.
      const index = new SealedIndex(state.sealed);
      for (const [scope, revision] of state.open) this.openRevisions.set(scope, revision);
      const changed = [...journaled].filter((scope) => scope.split('/').every((name) => NAME_RE.test(name)));
      for (let i = 0; i < changed.length; i += 64) {
        const batch = changed.slice(i, i + 64).map((scope) => scope.split('/'));
        const records = await Promise.all(batch.map((b) => readFile(this.fileOf(b), 'utf8').then(parseRecord, () => ({}) as BuildRecord)));
        batch.forEach((b, j) => {
          index.set(b, sealedEntry(b, records[j] as BuildRecord));
          this.noteOpen(b, records[j] as BuildRecord);
        });
      }
      return this.loaded(index, journaled.size > 0);
    }
    const entries: SealedBuildEntry[] = [];
    const builds = await this.all();
    for (let i = 0; i < builds.length; i += 64) {
      const batch = builds.slice(i, i + 64);
      // An unreadable or malformed record counts as none, as get() reads it.
      const records = await Promise.all(batch.map((b) => readFile(this.fileOf(b), 'utf8').then(parseRecord, () => ({}) as BuildRecord)));
      batch.forEach((b, j) => {
        const entry = sealedEntry(b, records[j] as BuildRecord);
        if (entry) entries.push(entry);
        else this.noteOpen(b, records[j] as BuildRecord);
      });
    }
    return this.loaded(new SealedIndex(entries), true);
  }

  /** The index read: records written meanwhile applied, and a new snapshot begun if the read was long. */
  private async loaded(index: SealedIndex, snapshot: boolean): Promise<SealedIndex> {
    // Records written while this read ran are read again, now that writes update the index.
    this.sealed = index;
    for (const scope of this.writtenWhileLoading) {
      const build = scope.split('/');
      const record = await this.get(build);
      index.set(build, sealedEntry(build, record));
      this.noteOpen(build, record);
    }
    this.writtenWhileLoading.clear();
    if (snapshot) this.takeSnapshot();
    return index;
  }

  async sealedBuilds(query: SealedBuildQuery): Promise<SealedBuildEntry[]> {
    if (!this.sealed) {
      this.loadingSealed ??= this.loadSealed().catch((err: unknown) => {
        // Tried again by the next question, from the start.
        this.loadingSealed = null;
        this.writtenWhileLoading.clear();
        throw err;
      });
      await this.loadingSealed;
    }
    return (this.sealed as SealedIndex | null)?.query(query) ?? [];
  }


  async update(build: readonly string[], change: (record: BuildRecord) => BuildRecord): Promise<void> {
    await this.put(build, change({ ...(await this.get(build)) }));
  }

  async entries(): Promise<Array<{ build: string[]; record: BuildRecord }>> {
    const found: Array<{ build: string[]; record: BuildRecord }> = [];
    for (const build of await this.all()) found.push({ build, record: await this.get(build) });
    return found;
  }

  async all(): Promise<string[][]> {
    const found: string[][] = [];
    const names = (dir: string): Promise<string[]> => readdir(dir).catch(() => [] as string[]);
    for (const type of (await names(this.base)).filter((n) => !n.startsWith('.'))) {
      for (const project of await names(path.join(this.base, type))) {
        for (const file of await names(path.join(this.base, type, project))) {
          if (file.endsWith('.json')) found.push([type, project, file.slice(0, -5)]);
        }
      }
    }
    return found;
  }
}
