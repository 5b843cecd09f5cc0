// The audit trail: one JSON line per event in TOKENS_DIR/audit.jsonl, appended and never
// rewritten, so "who uploaded this, with which token, when" outlives the token. It lives
// beside the token store, never in the public tree, and holds names, ids, paths and
// checksums only: events carry no secret by construction (see domain/events.ts).
import { appendFileSync, createReadStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { RepoEvent } from '../domain/events.js';

export const AUDIT_FILE = 'audit.jsonl';

export type AuditEntry = { time: string } & RepoEvent;

/** Failed logins are counted by the metrics, not written here: a guessing attack would fill the disk. */
export function isAudited(event: RepoEvent): boolean {
  // Failed logins could fill the disk; each proxied exchange is in the build's inputs.
  return event.event !== 'auth.failed' && event.event !== 'proxy.exchange';
}

/** Where the audit trail is kept: a file beside the token store, or PostgreSQL. */
export interface AuditTrail {
  /** Records one event; never throws (reporting must not fail what caused it). */
  record(event: RepoEvent): void;
  /** One page of the entries about one build, oldest first, and how many there are. */
  forBuild(build: string, page?: { offset?: number; limit?: number }): Promise<{ entries: AuditEntry[]; total: number }>;
}

export class AuditFile implements AuditTrail {
  readonly file: string;

  constructor(
    tokensDir: string,
    private readonly now: () => number = Date.now,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.file = path.join(tokensDir, AUDIT_FILE);
  }

  /**
   * Appends one line. Synchronous: a single O_APPEND write of a short line, so lines from
   * this process and an admin CLI never interleave, and the order is the order of events.
   */
  record(event: RepoEvent): void {
    if (!isAudited(event)) return;
    const entry = { time: new Date(this.now()).toISOString(), ...event };
    try {
      appendFileSync(this.file, JSON.stringify(entry) + '\n', { mode: 0o600 });
    } catch (err) {
      this.onError(err);
    }
  }

  /** Every entry, oldest first, streamed (moving the trail to PostgreSQL). */
  async *entries(): AsyncGenerator<AuditEntry> {
    const stream = createReadStream(this.file, { encoding: 'utf8' });
    const opened = await new Promise<boolean>((resolve) => {
      stream.once('open', () => resolve(true));
      stream.once('error', () => resolve(false));
    });
    if (!opened) return;
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
      try {
        if (line) yield JSON.parse(line) as AuditEntry;
      } catch {
        // A torn last line (a crash mid-write) is not an entry.
      }
    }
  }

  /**
   * One page of the entries about one build ("/t/p/42/"), oldest first, and how many there
   * are in all. Streams the file and keeps only the page: a build with a million entries
   * costs a read, not a million objects.
   */
  async forBuild(build: string, page: { offset?: number; limit?: number } = {}): Promise<{ entries: AuditEntry[]; total: number }> {
    const offset = page.offset ?? 0;
    const limit = page.limit ?? Infinity;
    const found: AuditEntry[] = [];
    let total = 0;
    // A cheap test before parsing: most lines are about other builds.
    const needle = JSON.stringify(build);
    const stream = createReadStream(this.file, { encoding: 'utf8' });
    const opened = new Promise<boolean>((resolve) => {
      stream.once('open', () => resolve(true));
      stream.once('error', () => resolve(false));
    });
    if (!(await opened)) return { entries: found, total };
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
      if (!line.includes(needle)) continue;
      try {
        const entry = JSON.parse(line) as AuditEntry;
        if (!('build' in entry) || entry.build !== build) continue;
        if (total >= offset && found.length < limit) found.push(entry);
        total++;
      } catch {
        // A torn last line (a crash mid-write) is skipped, not fatal.
      }
    }
    return { entries: found, total };
  }
}
