// Each build's recorded inputs in PostgreSQL: one row per line, in the order appended
// (a sequence), keyed by the build's path; a row per build with its totals and the room
// held for exchanges in flight, checked and counted in the statements that hold room and
// append, so that replicas together keep the limits.
import { fits, MAX_LINE_BYTES, serialiseLine } from '../../domain/recording-lines.js';
import { type InputLine, type InputStore, type RecordingLimits, type RecordingTotals, type ScannedLine } from '../../domain/stores.js';
import type { Database } from './database.js';

const keyOf = (build: readonly string[]): string => {
  if (build.length !== 3) throw new Error('a build is type/project/build');
  return build.join('/');
};

// Rows fetched per query while a recording is scanned.
const SCAN_BATCH = 500;

export class PgInputRecords implements InputStore {
  constructor(private readonly db: Database) {}

  // Room is held in the build's totals row (`reserved`), checked and counted in one
  // statement under that row's lock: replicas admitting at once see each other. A replica
  // that dies with exchanges in flight leaves their room held until the build is sealed.
  async reserve(build: readonly string[], limits: RecordingLimits): Promise<null | 'lines' | 'bytes'> {
    const { rowCount } = await this.db.query(
      `INSERT INTO input_totals AS t (build, lines, bytes, reserved) VALUES ($1, 0, 0, 1)
       ON CONFLICT (build) DO UPDATE SET reserved = t.reserved + 1
         WHERE t.lines + t.reserved + 1 <= $2::bigint AND t.bytes + (t.reserved + 1) * $3::bigint <= $4::bigint
       RETURNING 1`,
      [keyOf(build), limits.maxLines, MAX_LINE_BYTES, limits.maxBytes],
      'inputs-reserve',
    );
    if (rowCount === 1) return null;
    const { rows } = await this.db.query<{ lines: number; bytes: string; reserved: number }>('SELECT lines, bytes, reserved FROM input_totals WHERE build = $1', [keyOf(build)]);
    // Which limit it was (read again: what was held then may be given back by now).
    const row = rows[0];
    return row && row.lines + row.reserved + 1 <= limits.maxLines ? 'bytes' : 'lines';
  }

  async unreserve(build: readonly string[]): Promise<void> {
    await this.db.query('UPDATE input_totals SET reserved = greatest(reserved - 1, 0) WHERE build = $1', [keyOf(build)], 'inputs-unreserve');
  }

  async appendReserved(build: readonly string[], line: InputLine): Promise<void> {
    const text = serialiseLine(line);
    await this.db.query(
      `WITH room AS (
         UPDATE input_totals SET lines = lines + 1, bytes = bytes + $3, reserved = greatest(reserved - 1, 0) WHERE build = $1 RETURNING 1)
       INSERT INTO inputs (build, line, bytes) SELECT $1, $2, $3 FROM room`,
      [keyOf(build), text, Buffer.byteLength(text)],
      'inputs-append-reserved',
    );
  }

  async append(build: readonly string[], line: InputLine, limits: RecordingLimits): Promise<'appended' | 'full'> {
    const text = serialiseLine(line);
    const bytes = Buffer.byteLength(text);
    if (!fits({ lines: 0, bytes: 0 }, bytes, limits)) return 'full';
    const { rowCount } = await this.db.query(
      `WITH room AS (
         INSERT INTO input_totals AS t (build, lines, bytes) VALUES ($1, 1, $3)
         ON CONFLICT (build) DO UPDATE SET lines = t.lines + 1, bytes = t.bytes + EXCLUDED.bytes
           WHERE t.lines + t.reserved + 1 <= $4::bigint AND t.bytes + t.reserved * $6::bigint + EXCLUDED.bytes <= $5::bigint
         RETURNING 1)
       INSERT INTO inputs (build, line, bytes) SELECT $1, $2, $3 FROM room`,
      [keyOf(build), text, bytes, limits.maxLines, limits.maxBytes, MAX_LINE_BYTES],
      'inputs-append',
    );
    return rowCount === 1 ? 'appended' : 'full';
  }

  async totals(build: readonly string[]): Promise<RecordingTotals> {
    const { rows } = await this.db.query<{ lines: number; bytes: string }>('SELECT lines, bytes FROM input_totals WHERE build = $1', [keyOf(build)], 'inputs-totals');
    return { lines: rows[0]?.lines ?? 0, bytes: Number(rows[0]?.bytes ?? 0) };
  }

  async *scan(build: readonly string[], limits: RecordingLimits): AsyncIterable<ScannedLine[]> {
    let after = 0;
    let lines = 0;
    let bytes = 0;
    for (;;) {
      const { rows } = await this.db.query<{ seq: string; line: InputLine; bytes: number }>('SELECT seq, line, bytes FROM inputs WHERE build = $1 AND seq > $2 ORDER BY seq LIMIT $3', [keyOf(build), after, SCAN_BATCH], 'inputs-scan');
      const batch: ScannedLine[] = [];
      for (const row of rows) {
        bytes += row.bytes;
        if (++lines > limits.maxLines || bytes > limits.maxBytes) {
          if (batch.length > 0) yield batch;
          return;
        }
        batch.push({ line: row.line, at: Number(row.seq) });
      }
      if (batch.length > 0) yield batch;
      if (rows.length < SCAN_BATCH) return;
      after = Number(rows[rows.length - 1]?.seq);
    }
  }

  async readAt(build: readonly string[], at: number): Promise<InputLine | null> {
    const { rows } = await this.db.query<{ line: InputLine }>('SELECT line FROM inputs WHERE build = $1 AND seq = $2', [keyOf(build), at], 'inputs-read-at');
    return rows[0]?.line ?? null;
  }

  async remove(build: readonly string[]): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('DELETE FROM inputs WHERE build = $1', [keyOf(build)]);
      await client.query('DELETE FROM input_totals WHERE build = $1', [keyOf(build)]);
    });
  }

  async all(): Promise<string[][]> {
    const { rows } = await this.db.query<{ build: string }>('SELECT build FROM input_totals ORDER BY build');
    return rows.map((r) => r.build.split('/'));
  }
}
