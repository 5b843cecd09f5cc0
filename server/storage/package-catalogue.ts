// The package catalogue, embedded: one JSON file per sealed build that holds packages,
// ARTIFACTS_DIR/.packages/TYPE/PROJECT/BUILD.json, written whole by its seal and removed
// with the build; read once (at the first question) into memory, then kept as it is
// written (this process is the only writer). With DATABASE_URL: pg/package-catalogue.ts.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BuildPackages, CataloguedPackage, PackageCatalogue, PackageInBuild, SkippedPackage, TempFiles } from '../domain/stores.js';
import { newestSealedFirst } from '../domain/package-rules.js';

export const PACKAGES_DIR = '.packages';

/** The catalogue in memory, with the two ways it is asked: by project, and by Python name. */
class Loaded {
  readonly builds = new Map<string, BuildPackages>();
  readonly byProject = new Map<string, Set<string>>();
  readonly byPythonName = new Map<string, Set<string>>();

  set(entry: BuildPackages): void {
    const scope = entry.build.join('/');
    this.delete(scope);
    this.builds.set(scope, entry);
    add(this.byProject, `${entry.build[0]}/${entry.build[1]}`, scope);
    for (const p of entry.packages) if (p.format !== 'deb') add(this.byPythonName, p.name, scope);
  }

  delete(scope: string): void {
    const old = this.builds.get(scope);
    if (!old) return;
    this.builds.delete(scope);
    drop(this.byProject, `${old.build[0]}/${old.build[1]}`, scope);
    for (const p of old.packages) if (p.format !== 'deb') drop(this.byPythonName, p.name, scope);
  }

  entriesOf(index: Map<string, Set<string>>, key: string): BuildPackages[] {
    return [...(index.get(key) ?? [])].flatMap((scope) => this.builds.get(scope) ?? []);
  }
}

function add(index: Map<string, Set<string>>, key: string, scope: string): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(scope);
}

function drop(index: Map<string, Set<string>>, key: string, scope: string): void {
  const set = index.get(key);
  set?.delete(scope);
  if (set?.size === 0) index.delete(key);
}

export class PackageCatalogueFiles implements PackageCatalogue {
  private readonly base: string;
  private loading: Promise<Loaded> | null = null;

  constructor(
    artifactsDir: string,
    private readonly temps: TempFiles,
  ) {
    this.base = path.join(artifactsDir, PACKAGES_DIR);
  }

  private fileOf(build: readonly string[]): string {
    if (build.length !== 3) throw new Error('a build is type/project/build');
    return path.join(this.base, build[0] as string, build[1] as string, `${build[2]}.json`);
  }

  private loaded(): Promise<Loaded> {
    this.loading ??= this.load().catch((err: unknown) => {
      this.loading = null;
      throw err;
    });
    return this.loading;
  }

  private async load(): Promise<Loaded> {
    const found = new Loaded();
    const below = async (dir: string): Promise<string[]> => (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
    for (const type of await below(this.base)) {
      for (const project of await below(path.join(this.base, type))) {
        for (const file of await below(path.join(this.base, type, project))) {
          if (!file.endsWith('.json')) continue;
          try {
            const entry = JSON.parse(await readFile(path.join(this.base, type, project, file), 'utf8')) as BuildPackages;
            found.set(entry);
          } catch {
            // A file cut by a crash counts as none: its build is indexed again at its next seal retry.
          }
        }
      }
    }
    return found;
  }

  async put(entry: BuildPackages): Promise<void> {
    const all = await this.loaded();
    const file = this.fileOf(entry.build);
    const temp = this.temps.tempPath('packages');
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(temp, JSON.stringify(entry));
      await rename(temp, file);
      this.temps.settle(temp);
    } catch (err) {
      await this.temps.discard(temp);
      throw err;
    }
    all.set(entry);
  }

  async remove(build: readonly string[]): Promise<void> {
    const all = await this.loaded();
    await rm(this.fileOf(build), { force: true });
    all.delete(build.join('/'));
  }

  /** Every build's entry (artifact-repo migrate copies them). */
  async all(): Promise<BuildPackages[]> {
    return [...(await this.loaded()).builds.values()];
  }

  async of(build: readonly string[]): Promise<BuildPackages | null> {
    return (await this.loaded()).builds.get(build.join('/')) ?? null;
  }

  async summaryOf(build: readonly string[]): Promise<{ debs: number; python: number; skipped: SkippedPackage[] } | null> {
    const entry = await this.of(build);
    if (!entry) return null;
    const debs = entry.packages.filter((p) => p.format === 'deb').length;
    return { debs, python: entry.packages.length - debs, skipped: entry.skipped };
  }

  async find(build: readonly string[], path: string): Promise<CataloguedPackage | null> {
    return (await this.of(build))?.packages.find((p) => p.path === path) ?? null;
  }

  async debsOf(type: string, project: string): Promise<PackageInBuild[]> {
    const found: PackageInBuild[] = [];
    const all = await this.loaded();
    for (const entry of all.entriesOf(all.byProject, `${type}/${project}`)) {
      for (const p of entry.packages) if (p.format === 'deb') found.push({ build: entry.build, sealedAt: entry.sealedAt, package: p });
    }
    return found.sort(newestSealedFirst);
  }

  async debProjects(): Promise<string[][]> {
    const projects = new Map<string, string[]>();
    for (const entry of (await this.loaded()).builds.values()) {
      if (entry.packages.some((p) => p.format === 'deb')) projects.set(`${entry.build[0]}/${entry.build[1]}`, entry.build.slice(0, 2));
    }
    return [...projects.values()];
  }

  async pythonNames(): Promise<string[]> {
    return [...(await this.loaded()).byPythonName.keys()].sort();
  }

  async pythonFiles(name: string): Promise<PackageInBuild[]> {
    const found: PackageInBuild[] = [];
    const all = await this.loaded();
    for (const entry of all.entriesOf(all.byPythonName, name)) {
      for (const p of entry.packages) if (p.format !== 'deb' && p.name === name) found.push({ build: entry.build, sealedAt: entry.sealedAt, package: p });
    }
    return found.sort(newestSealedFirst);
  }
}
