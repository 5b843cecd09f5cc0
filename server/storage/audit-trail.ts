// The audit trail: one JSON line per event in TOKENS_DIR/audit.jsonl, appended and never
// rewritten, so "who uploaded this, with which token, when" outlives the token. It lives
// beside the token store, never in the public tree, and holds names, ids, paths and
// checksums only: events carry no secret by construction (see domain/events.ts).
import { closeSync, createReadStream, fstatSync, openSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { RepoEvent } from '../domain/events.js';
import type { AuditEntry, AuditTrail } from '../domain/stores.js';
import { isAudited } from '../domain/record-rules.js';

export const AUDIT_FILE = 'audit.jsonl';
/** How often the open trail is checked against its path (moved away or deleted: reopened). */
const REOPEN_CHECK_MS = 1000;

export class AuditFile implements AuditTrail {
  readonly file: string;
  private fd: number | null = null;
  private checkedAt = 0;
  /** Closed: a late line (work that outlived the server) is still written, without keeping the file open. */
  private closed = false;

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
   * The file stays open (an upload's line is one write, not open, write and close); should
   * it be deleted, it is opened again at the next line; moved away, within a second.
   */
  record(event: RepoEvent): void {
    if (!isAudited(event)) return;
    const line = Buffer.from(JSON.stringify({ time: new Date(this.now()).toISOString(), ...event }) + '\n');
    try {
      const fd = this.descriptor();
      for (let at = 0; at < line.length; ) at += writeSync(fd, line, at, line.length - at);
      if (this.closed) this.release();
    } catch (err) {
      this.release();
      this.onError(err);
    }
  }

  private descriptor(): number {
    const now = Date.now();
    // Deleted (no name left): reopened at once, so that no line goes to the unlinked file.
    if (this.fd !== null && now - this.checkedAt < REOPEN_CHECK_MS && fstatSync(this.fd).nlink > 0) return this.fd;
    this.checkedAt = now;
    if (this.fd !== null) {
      const onDisk = statSync(this.file, { throwIfNoEntry: false });
      const open = fstatSync(this.fd);
      if (onDisk && onDisk.ino === open.ino && onDisk.dev === open.dev) return this.fd;
      this.release();
    }
    this.fd = openSync(this.file, 'a', 0o600);
    return this.fd;
  }

  close(): void {
    this.closed = true;
    this.release();
  }

  private release(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      closeSync(fd);
    } catch {
      // Already gone: nothing to let go of.
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
