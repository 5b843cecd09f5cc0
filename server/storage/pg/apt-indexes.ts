// The apt indexes of projects in PostgreSQL (issue 32: replicas that share no volume): a
// row per file, by project ('/'-joined) and path below it, written whole. They are small
// (kilobytes; a suite at most 64 MiB) and read whole, so the bytes live in the row. The
// same layout and rules as the files (apt-index-files.ts): by-hash copies under
// `dir/by-hash/SHA256/<sha256>`, the ones no suite lists removed an hour after their time.
import type { AptIndexStore } from '../../domain/stores.js';
import type { Database } from './database.js';

const keyOf = (project: readonly string[]): string => project.join('/');
const byHashDir = (dir: string): string => `${dir}/by-hash/SHA256/`;
/** The paths below a folder start with this ('' for the project's root). */
const prefixOf = (relative: string): string => (relative === '' ? '' : `${relative}/`);

export class PgAptIndexes implements AptIndexStore {
  constructor(private readonly db: Database) {}

  async replace(project: readonly string[], relative: string, body: Buffer | string): Promise<void> {
    await this.db.query(
      `INSERT INTO apt_files (project, path, body, mtime) VALUES ($1, $2, $3, $4)
       ON CONFLICT (project, path) DO UPDATE SET body = EXCLUDED.body, mtime = EXCLUDED.mtime`,
      [keyOf(project), relative, typeof body === 'string' ? Buffer.from(body) : body, new Date()],
      'apt-replace',
    );
  }

  async keepByHash(project: readonly string[], dir: string, sha256: string, body: Buffer, now: Date): Promise<void> {
    // A copy is named by its SHA-256: one that is there already has these bytes; only its time changes.
    await this.db.query(
      `INSERT INTO apt_files (project, path, body, mtime) VALUES ($1, $2, $3, $4)
       ON CONFLICT (project, path) DO UPDATE SET mtime = EXCLUDED.mtime`,
      [keyOf(project), `${byHashDir(dir)}${sha256}`, body, now],
      'apt-keep-by-hash',
    );
  }

  async touchByHash(project: readonly string[], dir: string, sha256: string, now: Date): Promise<void> {
    await this.db.query('UPDATE apt_files SET mtime = $3 WHERE project = $1 AND path = $2', [keyOf(project), `${byHashDir(dir)}${sha256}`, now], 'apt-touch-by-hash');
  }

  async removeNamed(project: readonly string[], dir: string, names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    await this.db.query('DELETE FROM apt_files WHERE project = $1 AND path = ANY($2::text[])', [keyOf(project), names.map((name) => `${dir}/${name}`)], 'apt-remove-named');
  }

  async read(project: readonly string[], relative: string): Promise<{ body: Buffer; mtime: Date } | null> {
    const { rows } = await this.db.query<{ body: Buffer; mtime: Date }>('SELECT body, mtime FROM apt_files WHERE project = $1 AND path = $2', [keyOf(project), relative], 'apt-read');
    const row = rows[0];
    return row ? { body: row.body, mtime: row.mtime } : null;
  }

  async sweepByHash(project: readonly string[], dir: string, keep: ReadonlySet<string>, before: number): Promise<number> {
    // The copies directly in the folder (a name with no further '/'), neither kept nor recent.
    const { rowCount } = await this.db.query(
      `DELETE FROM apt_files
       WHERE project = $1 AND starts_with(path, $2::text)
         AND strpos(substr(path, length($2::text) + 1), '/') = 0
         AND NOT (substr(path, length($2::text) + 1) = ANY($3::text[]))
         AND mtime < $4`,
      [keyOf(project), byHashDir(dir), [...keep], new Date(before)],
      'apt-sweep-by-hash',
    );
    return rowCount ?? 0;
  }

  async directoriesBelow(project: readonly string[], relative: string): Promise<string[]> {
    // A folder is there while a path goes on below it: the next segment of paths that have one more.
    const { rows } = await this.db.query<{ name: string }>(
      `SELECT DISTINCT split_part(substr(path, length($2::text) + 1), '/', 1) AS name FROM apt_files
       WHERE project = $1 AND starts_with(path, $2::text) AND strpos(substr(path, length($2::text) + 1), '/') > 1
       ORDER BY name`,
      [keyOf(project), prefixOf(relative)],
      'apt-directories-below',
    );
    return rows.map((row) => row.name);
  }
}
