// The package catalogue in PostgreSQL: one row per sealed build that holds packages, one
// per package (the entry whole as jsonb), so that every replica serves the same indexes.
import { newestSealedFirst } from '../../domain/package-rules.js';
import type { BuildPackages, CataloguedPackage, PackageCatalogue, PackageInBuild, SkippedPackage } from '../../domain/stores.js';
import type { Database } from './database.js';

interface Row {
  scope: string;
  sealed_at: string;
  entry: CataloguedPackage;
}

function inBuild(row: Row): PackageInBuild {
  return { build: row.scope.split('/'), sealedAt: row.sealed_at, package: row.entry };
}

export class PgPackageCatalogue implements PackageCatalogue {
  constructor(private readonly db: Database) {}

  async put(entry: BuildPackages): Promise<void> {
    const scope = entry.build.join('/');
    await this.db.transaction(async (client) => {
      await client.query('DELETE FROM package_builds WHERE scope = $1', [scope]);
      await client.query('INSERT INTO package_builds (scope, type, project, sealed_at, skipped) VALUES ($1, $2, $3, $4, $5)', [scope, entry.build[0], entry.build[1], entry.sealedAt, JSON.stringify(entry.skipped)]);
      await client.query(
        `INSERT INTO packages (scope, path, format, name, entry)
         SELECT $1, e->>'path', e->>'format', e->>'name', e FROM jsonb_array_elements($2::jsonb) AS e`,
        [scope, JSON.stringify(entry.packages)],
      );
    });
  }

  async remove(build: readonly string[]): Promise<void> {
    await this.db.query('DELETE FROM package_builds WHERE scope = $1', [build.join('/')]);
  }

  async of(build: readonly string[]): Promise<BuildPackages | null> {
    const scope = build.join('/');
    const { rows } = await this.db.query<{ sealed_at: string; skipped: SkippedPackage[] }>('SELECT sealed_at, skipped FROM package_builds WHERE scope = $1', [scope]);
    const head = rows[0];
    if (!head) return null;
    const packages = await this.db.query<{ entry: CataloguedPackage }>('SELECT entry FROM packages WHERE scope = $1 ORDER BY path', [scope]);
    return { build: [...build], sealedAt: head.sealed_at, skipped: head.skipped, packages: packages.rows.map((r) => r.entry) };
  }

  async summaryOf(build: readonly string[]): Promise<{ debs: number; python: number; skipped: SkippedPackage[] } | null> {
    const { rows } = await this.db.query<{ skipped: SkippedPackage[]; debs: string; python: string }>(
      `SELECT b.skipped, (SELECT count(*) FROM packages p WHERE p.scope = b.scope AND p.format = 'deb') AS debs,
              (SELECT count(*) FROM packages p WHERE p.scope = b.scope AND p.format <> 'deb') AS python
       FROM package_builds b WHERE b.scope = $1`,
      [build.join('/')],
      'packages-summary',
    );
    const row = rows[0];
    return row ? { debs: Number(row.debs), python: Number(row.python), skipped: row.skipped } : null;
  }

  async find(build: readonly string[], path: string): Promise<CataloguedPackage | null> {
    const { rows } = await this.db.query<{ entry: CataloguedPackage }>('SELECT entry FROM packages WHERE scope = $1 AND path = $2', [build.join('/'), path], 'packages-find');
    return rows[0]?.entry ?? null;
  }

  async debsOf(type: string, project: string): Promise<PackageInBuild[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT b.scope, b.sealed_at, p.entry FROM package_builds b JOIN packages p ON p.scope = b.scope
       WHERE b.type = $1 AND b.project = $2 AND p.format = 'deb'`,
      [type, project],
      'packages-debs-of',
    );
    return rows.map(inBuild).sort(newestSealedFirst);
  }

  async debProjects(): Promise<string[][]> {
    const { rows } = await this.db.query<{ type: string; project: string }>(
      `SELECT DISTINCT b.type, b.project FROM package_builds b WHERE EXISTS (SELECT 1 FROM packages p WHERE p.scope = b.scope AND p.format = 'deb')`,
    );
    return rows.map((r) => [r.type, r.project]);
  }

  async pythonNames(): Promise<string[]> {
    const { rows } = await this.db.query<{ name: string }>(`SELECT DISTINCT name FROM packages WHERE format <> 'deb' ORDER BY name`, [], 'packages-python-names');
    return rows.map((r) => r.name);
  }

  async pythonFiles(name: string): Promise<PackageInBuild[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT b.scope, b.sealed_at, p.entry FROM packages p JOIN package_builds b ON b.scope = p.scope WHERE p.name = $1 AND p.format <> 'deb'`,
      [name],
      'packages-python-files',
    );
    return rows.map(inBuild).sort(newestSealedFirst);
  }
}
