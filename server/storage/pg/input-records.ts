// Each build's recorded inputs in PostgreSQL: one row per line, in the order appended
// (a sequence), keyed by the build's path.
import type { InputLine, InputStore } from '../input-records.js';
import type { Database } from './database.js';

const keyOf = (build: readonly string[]): string => {
  if (build.length !== 3) throw new Error('a build is type/project/build');
  return build.join('/');
};

export class PgInputRecords implements InputStore {
  constructor(private readonly db: Database) {}

  async append(build: readonly string[], line: InputLine): Promise<void> {
    await this.db.query('INSERT INTO inputs (build, line) VALUES ($1, $2)', [keyOf(build), JSON.stringify(line)]);
  }

  async read(build: readonly string[]): Promise<InputLine[]> {
    const { rows } = await this.db.query<{ line: InputLine }>('SELECT line FROM inputs WHERE build = $1 ORDER BY seq', [keyOf(build)]);
    return rows.map((r) => r.line);
  }

  async remove(build: readonly string[]): Promise<void> {
    await this.db.query('DELETE FROM inputs WHERE build = $1', [keyOf(build)]);
  }

  async all(): Promise<string[][]> {
    const { rows } = await this.db.query<{ build: string }>('SELECT DISTINCT build FROM inputs ORDER BY build');
    return rows.map((r) => r.build.split('/'));
  }
}
