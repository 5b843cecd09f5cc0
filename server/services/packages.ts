// What a sealed build offers to apt and pip (docs/packages.md). At the seal, its .deb files
// and Python distributions are read (package-reader.ts, bounded: a hostile file is listed
// as not indexed, with why, and the seal goes on); a build with a .deb gets a flat apt
// repository at its root, signed; what it holds goes into the package catalogue. Then its
// project's apt repository (/-/apt/TYPE/PROJECT/) is written again from the catalogue, as
// it is when retention removes a build. pip's pages are read from the catalogue.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { scopeString } from '../domain/tree-path.js';
import { errorSummary } from '../domain/errors.js';
import type { AptIndexStore, ArtifactTree, BuildPackages, CataloguedPackage, PackageCatalogue, PackageInBuild, SkippedPackage } from '../domain/stores.js';
import { COMPONENT, listedIn, packagesFiles, releaseText, suiteIndexes, suitePackages, SUITES, type IndexFile } from '../domain/apt-index.js';
import { MAX_BUILD_STANZA_BYTES, MAX_PACKAGES_PER_BUILD, MAX_SKIPPED_LISTED, MAX_STANZA_BYTES, SEAL_READ_BUDGET_BYTES } from '../domain/package-rules.js';
import { packagesStanza } from '../domain/deb-control.js';
import { PackageProblem } from '../domain/package-problem.js';
import { parseSdistName, parseWheelName } from '../domain/python-dist.js';
import { packageFormatOf, readDebControl, readWheelMetadata, type ReadBudget } from './package-reader.js';
import { Gate } from '../domain/gate.js';

/** What signs a Release file (the repository's OpenPGP key, signer.ts). */
export interface ReleaseSigner {
  signRelease(release: string): Promise<{ inRelease: string; releaseGpg: Buffer }>;
  currentPgp(): Promise<{ fingerprint: string }>;
}

/** A file of the build, as the seal walked it, with its checksum. */
export interface SealedFile {
  relative: string[];
  size: number;
  sha256: string;
}

// A by-hash index stays this long after the suite stopped listing it: a client whose
// update straddles a seal reads the old InRelease, then fetches what it lists.
export const BY_HASH_KEEP_MS = 60 * 60 * 1000;
const ORIGIN = 'artifact-repo';
// Beside dists/ (never served): what the project's indexes were last written from.
const STATE_FILE = 'written-from';

/** The METADATA files served lately, by digest, within a size (they never change). */
class MetadataCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(digest: string): Buffer | undefined {
    return this.entries.get(digest);
  }

  set(digest: string, body: Buffer): void {
    if (body.length > this.maxBytes / 4 || this.entries.has(digest)) return;
    this.entries.set(digest, body);
    this.bytes += body.length;
    for (const [old, kept] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(old);
      this.bytes -= kept.length;
    }
  }
}

/** The store could not give a package's bytes (the object store away, a full temporary disk): the seal fails and is retried. */
class StoreUnreadable extends Error {
  constructor(readonly reason: unknown) {
    super(`the package could not be read from the store: ${errorSummary(reason)}`);
  }
}

export class Packages {
  private readonly metadataCache = new MetadataCache(16 * 1024 * 1024);
  private readonly metadataReads = new Gate('wheel metadata reads', 2, 64);
  /** Projects whose apt indexes could not be written (a full disk, say): tried again every minute. */
  private readonly dirty = new Set<string>();

  constructor(
    private readonly store: ArtifactTree,
    readonly catalogue: PackageCatalogue,
    private readonly aptFiles: AptIndexStore,
    private readonly signer: ReleaseSigner,
    /** Runs work alone for a key, across replicas (the build guard's lock). */
    private readonly exclusive: <T>(key: string, work: () => Promise<T>) => Promise<T>,
    private readonly now: () => number = Date.now,
    /** Told when a project's indexes could not be written (they are tried again). */
    private readonly onRefreshFailed: (project: string, err: unknown) => void = () => undefined,
  ) {}

  /**
   * Reads a build being sealed: its catalogue entry, and the flat apt repository's files
   * for its root when it holds a .deb (signed now, before anything is written).
   */
  async atSeal(build: readonly string[], files: readonly SealedFile[], sealedAt: string): Promise<{ entry: BuildPackages; sealFiles: Array<{ name: string; body: string | Buffer }> }> {
    const paths = new Set(files.map((f) => f.relative.join('/')));
    const packages: CataloguedPackage[] = [];
    const skipped: SkippedPackage[] = [];
    const budget: ReadBudget = { bytes: SEAL_READ_BUDGET_BYTES };
    let attempts = 0;
    let stanzaBytes = 0;
    let skippedCount = 0;
    const skip = (filePath: string, reason: string): void => {
      skippedCount++;
      if (skipped.length < MAX_SKIPPED_LISTED) skipped.push({ path: filePath, reason });
    };
    for (const file of files) {
      const name = file.relative[file.relative.length - 1] ?? '';
      const format = packageFormatOf(name);
      if (!format) continue;
      const filePath = file.relative.join('/');
      // Every file read counts, indexed or not: a build of thousands of bad ones stops here.
      if (++attempts > MAX_PACKAGES_PER_BUILD) {
        skip(filePath, `more than ${MAX_PACKAGES_PER_BUILD} package files in one build`);
        continue;
      }
      try {
        const read = await this.readOne(build, file, format, paths, budget);
        stanzaBytes += Buffer.byteLength(read.stanza ?? '');
        if (stanzaBytes > MAX_BUILD_STANZA_BYTES) throw new PackageProblem(`the build's control files together are larger than ${MAX_BUILD_STANZA_BYTES / 1024 / 1024} MiB`);
        packages.push(read);
      } catch (err) {
        // The disk failing is the seal's failure (retried); whatever a file does to its
        // reader, it is only not indexed, and the seal goes on.
        if (!(err instanceof PackageProblem) && ((err as NodeJS.ErrnoException).code !== undefined || err instanceof StoreUnreadable)) throw err;
        skip(filePath, err instanceof PackageProblem ? err.message : errorSummary(err));
      }
    }
    if (skippedCount > skipped.length) skipped.push({ path: '…', reason: `${skippedCount - skipped.length} more not listed` });
    const entry: BuildPackages = { build: [...build], sealedAt, packages, skipped };
    const debs = packages.filter((p) => p.format === 'deb');
    if (debs.length === 0) return { entry, sealFiles: [] };
    const indexes = await packagesFiles('', debs.map((d) => d.stanza ?? ''));
    const release = releaseText({ origin: ORIGIN, label: scopeString(build), date: new Date(sealedAt), byHash: false, archAllInEach: false }, indexes);
    const signed = await this.signer.signRelease(release);
    return {
      entry,
      sealFiles: [...indexes.map((f) => ({ name: f.path, body: f.body })), { name: 'Release', body: release }, { name: 'Release.gpg', body: signed.releaseGpg }, { name: 'InRelease', body: signed.inRelease }],
    };
  }

  private async readOne(build: readonly string[], file: SealedFile, format: 'deb' | 'wheel' | 'sdist', paths: ReadonlySet<string>, budget: ReadBudget): Promise<CataloguedPackage> {
    const filePath = file.relative.join('/');
    const local = await this.store.localFile([...build, ...file.relative], Number.MAX_SAFE_INTEGER).catch((err: unknown) => {
      throw new StoreUnreadable(err);
    });
    if (!local) throw new PackageProblem('the file went away while the build was sealed');
    try {
      return await this.readLocal(local.path, filePath, file, format, paths, budget);
    } finally {
      await local.release();
    }
  }

  private async readLocal(onDisk: string, filePath: string, file: SealedFile, format: 'deb' | 'wheel' | 'sdist', paths: ReadonlySet<string>, budget: ReadBudget): Promise<CataloguedPackage> {
    const base = { path: filePath, size: file.size, sha256: file.sha256 };
    if (format === 'deb') {
      const control = await readDebControl(onDisk, budget);
      const stanza = packagesStanza(control.fields, { filename: filePath, size: file.size, sha256: file.sha256 });
      if (Buffer.byteLength(stanza) > MAX_STANZA_BYTES) throw new PackageProblem(`its control file makes a stanza larger than ${MAX_STANZA_BYTES / 1024} KiB`);
      return { ...base, format, name: control.package, version: control.version, arch: control.architecture, stanza };
    }
    const name = path.posix.basename(filePath);
    if (format === 'sdist') {
      const parsed = parseSdistName(name);
      if (!parsed) throw new PackageProblem('not a source distribution name (PEP 625)');
      return { ...base, format, name: parsed.name, version: parsed.version, arch: '' };
    }
    const parsed = parseWheelName(name);
    if (!parsed) throw new PackageProblem('not a wheel name (PEP 427)');
    const metadata = await readWheelMetadata(onDisk, parsed, budget);
    return {
      ...base,
      format,
      name: parsed.name,
      version: parsed.version,
      arch: '',
      ...(metadata.requiresPython ? { requiresPython: metadata.requiresPython } : {}),
      // The build's own FILE.metadata, if it made one, is what that URL serves: none is announced.
      ...(paths.has(`${filePath}.metadata`) ? {} : { metadataSha256: createHash('sha256').update(metadata.metadata).digest('hex') }),
    };
  }

  /** The wheel's METADATA for `<wheel URL>.metadata` (PEP 658), if the catalogue announced it. */
  async coreMetadata(segments: readonly string[]): Promise<Buffer | null> {
    const last = segments[segments.length - 1] ?? '';
    if (segments.length < 4 || !last.endsWith('.whl.metadata')) return null;
    const build = segments.slice(0, 3);
    const wheelPath = [...segments.slice(3, -1), last.slice(0, -'.metadata'.length)].join('/');
    const wheel = await this.catalogue.find(build, wheelPath);
    if (wheel?.format !== 'wheel' || !wheel.metadataSha256) return null;
    const digest = wheel.metadataSha256;
    const cached = this.metadataCache.get(digest);
    if (cached) return cached;
    const parsed = parseWheelName(path.posix.basename(wheelPath));
    if (!parsed) return null;
    // Read again from the sealed wheel, a few at a time (each opens the zip and walks it).
    const { metadata } = await this.metadataReads.run(async () => {
      const local = await this.store.localFile([...build, ...wheelPath.split('/')], Number.MAX_SAFE_INTEGER);
      if (!local) return { metadata: Buffer.alloc(0) };
      try {
        return await readWheelMetadata(local.path, parsed);
      } finally {
        await local.release();
      }
    });
    // The wheel is sealed: its METADATA is what the seal read. Anything else is never served.
    if (createHash('sha256').update(metadata).digest('hex') !== digest) return null;
    this.metadataCache.set(digest, metadata);
    return metadata;
  }

  /**
   * Writes a project's apt repository again from the catalogue: by-hash indexes first,
   * then the named ones, then Release and its signatures (InRelease last), so that a
   * client never reads an InRelease whose indexes are not there. One writer per project
   * at a time, on any replica.
   */
  refreshProject(type: string, project: string, onlyIfChanged = false): Promise<void> {
    const where = [type, project];
    return this.exclusive(`apt:${type}/${project}`, async () => {
      const debs = await this.catalogue.debsOf(type, project);
      // What the indexes were written from: the packages listed and the key that signed.
      const state = createHash('sha256')
        .update(JSON.stringify([(await this.signer.currentPgp()).fingerprint, debs.map((d) => [d.build, d.sealedAt, d.package.path, d.package.sha256])]))
        .digest('hex');
      if (onlyIfChanged && (await this.aptFiles.read(where, STATE_FILE))?.body.toString() === state) return;
      const date = new Date(this.now());
      for (const suite of SUITES) {
        const listed = suitePackages(debs, suite);
        const { architectures, files } = await suiteIndexes(listed, (d: PackageInBuild) => `pool/${d.build[2]}/${d.package.path}`);
        const dists = `dists/${suite}`;
        // What the Release being replaced lists: from now on, a client that read it has an hour.
        const replaced = listedIn((await this.aptFiles.read(where, `${dists}/Release`))?.body.toString() ?? '');
        for (const f of files) await this.aptFiles.keepByHash(where, `${dists}/${path.posix.dirname(f.path)}`, f.sha256, f.body, date);
        for (const f of files) await this.aptFiles.replace(where, `${dists}/${f.path}`, f.body);
        const release = releaseText(
          {
            origin: ORIGIN,
            label: `${type}/${project}`,
            suite,
            date,
            architectures,
            components: [COMPONENT],
            description: suite === 'latest' ? `${type}/${project}: the newest sealed build` : `${type}/${project}: every sealed build`,
            byHash: true,
            archAllInEach: architectures.length > 1,
          },
          files,
        );
        const signed = await this.signer.signRelease(release);
        await this.aptFiles.replace(where, `${dists}/Release`, release);
        await this.aptFiles.replace(where, `${dists}/Release.gpg`, signed.releaseGpg);
        await this.aptFiles.replace(where, `${dists}/InRelease`, signed.inRelease);
        const kept = new Set(files.map((f) => f.sha256));
        for (const old of replaced) if (!kept.has(old.sha256)) await this.aptFiles.touchByHash(where, `${dists}/${path.posix.dirname(old.path)}`, old.sha256, date);
        await this.sweep(where, dists, files);
      }
      await this.aptFiles.replace(where, STATE_FILE, state);
    });
  }

  /**
   * Removes by-hash copies no longer listed, an hour after they stopped being listed, and
   * the named indexes of an architecture the suite no longer has (apt gets a 404 for it).
   */
  private async sweep(where: readonly string[], dists: string, listed: readonly IndexFile[]): Promise<void> {
    const keep = new Set(listed.map((f) => f.sha256));
    const current = new Set(listed.map((f) => path.posix.dirname(f.path)));
    const before = this.now() - BY_HASH_KEEP_MS;
    for (const dir of await this.aptFiles.directoriesBelow(where, `${dists}/${COMPONENT}`)) {
      const below = `${dists}/${COMPONENT}/${dir}`;
      if (!current.has(`${COMPONENT}/${dir}`)) await this.aptFiles.removeNamed(where, below, ['Packages', 'Packages.gz']);
      await this.aptFiles.sweepByHash(where, below, keep, before);
    }
  }

  /** One of a project's apt index files, as last written, or null. */
  indexFile(project: readonly string[], relative: string): Promise<{ body: Buffer; mtime: Date } | null> {
    return this.aptFiles.read(project, relative);
  }

  /**
   * After a seal: the catalogue has the build; its project's apt repository follows. A
   * failure to write it is kept and tried again (retryFailed), never the seal's failure.
   */
  async sealed(build: readonly string[]): Promise<void> {
    if (((await this.catalogue.summaryOf(build))?.debs ?? 0) > 0) await this.refreshOrRetry(build[0] as string, build[1] as string);
  }

  /** After retention removed a build: out of the catalogue, and out of its project's apt repository. */
  async removed(build: readonly string[]): Promise<void> {
    const had = await this.catalogue.summaryOf(build);
    await this.catalogue.remove(build);
    if ((had?.debs ?? 0) > 0) await this.refreshOrRetry(build[0] as string, build[1] as string);
  }

  private async refreshOrRetry(type: string, project: string): Promise<void> {
    try {
      await this.refreshProject(type, project);
      this.dirty.delete(`${type}/${project}`);
    } catch (err) {
      this.dirty.add(`${type}/${project}`);
      this.onRefreshFailed(`${type}/${project}`, err);
    }
  }

  /** The projects whose indexes could not be written here, tried again (every replica tries its own). */
  async retryFailed(): Promise<void> {
    for (const key of [...this.dirty]) {
      const [type, project] = key.split('/') as [string, string];
      await this.refreshOrRetry(type, project);
    }
  }

  /**
   * Every project's apt indexes written again: at start, those whose packages or key
   * changed since they were written (a crash between a seal and its project's index);
   * after a key rotation, all of them.
   */
  async refreshAll(onError: (project: string, err: unknown) => void, onlyIfChanged = false): Promise<void> {
    for (const [type, project] of await this.catalogue.debProjects()) {
      await this.refreshProject(type as string, project as string, onlyIfChanged).catch((err: unknown) => onError(`${type}/${project}`, err));
    }
  }
}
