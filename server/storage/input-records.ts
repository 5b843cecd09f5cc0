// What each build downloaded through the build proxy: one JSON line per complete exchange
// or replay miss, appended to ARTIFACTS_DIR/.inputs/TYPE/PROJECT/BUILD.jsonl (outside the
// public tree), bodies kept by checksum in the content store. Frozen once the build is
// sealed (sealing waits for exchanges in flight, as it waits for uploads).
//
// A build's recording is bounded (RecordingLimits: lines and bytes; a line is at most
// MAX_LINE_BYTES) and always read as a stream, line by line: whatever a build recorded,
// reading it never holds more than one line, nor reads past the limits.
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

export const INPUTS_DIR = '.inputs';

/** The longest line a recording holds (a URL, the headers that describe a body, Vary's values). */
export const MAX_LINE_BYTES = 64 * 1024;

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

export type InputLine = RecordedExchange | RecordedMiss;

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

/** A recorded line as stored: one line of JSON, refused past MAX_LINE_BYTES. */
export function serialiseLine(line: InputLine): string {
  const text = JSON.stringify(line) + '\n';
  if (Buffer.byteLength(text) > MAX_LINE_BYTES) throw new Error(`a recorded line may hold at most ${MAX_LINE_BYTES} bytes`);
  return text;
}

/** Whether one more line of `bytes` keeps a recording of `totals` within `limits`. */
export function fits(totals: RecordingTotals, bytes: number, limits: RecordingLimits): boolean {
  return totals.lines + 1 <= limits.maxLines && totals.bytes + bytes <= limits.maxBytes;
}

function parseLine(text: string): InputLine | null {
  try {
    const line = JSON.parse(text) as InputLine;
    return line && (line.kind === 'exchange' || line.kind === 'miss') ? line : null;
  } catch {
    // A line cut by a crash mid-append is not an input.
    return null;
  }
}

/**
 * The lines of a file with the offset of each, split as they stream in, a batch per chunk
 * read: a line longer than MAX_LINE_BYTES (no writer makes one) is skipped, never held
 * whole.
 */
async function* fileLines(file: string, limits: RecordingLimits): AsyncGenerator<ScannedLine[]> {
  let stream;
  try {
    await stat(file);
    stream = createReadStream(file, { highWaterMark: 64 * 1024 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineStart = 0;
  let offset = 0;
  let overlong = false;
  let lines = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const batch: ScannedLine[] = [];
      let from = 0;
      for (;;) {
        const newline = chunk.indexOf(10, from);
        if (newline === -1) {
          if (!overlong) {
            pending.push(chunk.subarray(from));
            pendingBytes += chunk.length - from;
            if (pendingBytes > MAX_LINE_BYTES) {
              overlong = true;
              pending = [];
              pendingBytes = 0;
            }
          }
          offset += chunk.length - from;
          break;
        }
        const end = offset + (newline - from);
        if (!overlong && end - lineStart > 0) {
          const text = pending.length === 0 ? chunk.toString('utf8', from, newline) : Buffer.concat([...pending, chunk.subarray(from, newline)]).toString('utf8');
          const line = parseLine(text);
          if (line) {
            if (++lines > limits.maxLines || end + 1 > limits.maxBytes) {
              if (batch.length > 0) yield batch;
              return;
            }
            batch.push({ line, at: lineStart });
          }
        }
        pending = [];
        pendingBytes = 0;
        overlong = false;
        offset = end + 1;
        lineStart = offset;
        from = newline + 1;
      }
      if (batch.length > 0) yield batch;
      if (offset > limits.maxBytes) return;
    }
  } finally {
    stream.destroy();
  }
}

const LINE_COUNT_CACHE = 10_000;

export class InputRecordFiles implements InputStore {
  readonly base: string;
  /** Project directories known to exist. */
  private readonly dirs = new Set<string>();
  /** Each recording's size, counted once per process, then kept as lines are appended here. */
  private readonly sizes = new Map<string, Promise<RecordingTotals>>();

  constructor(artifactsDir: string) {
    this.base = path.join(artifactsDir, INPUTS_DIR);
  }

  fileOf(build: readonly string[]): string {
    if (build.length !== 3) throw new Error('a build is type/project/build');
    return path.join(this.base, build[0] as string, build[1] as string, `${build[2]}.jsonl`);
  }

  /** The recording's totals object, kept up to date by append (counted from the file the first time). */
  private liveTotals(file: string): Promise<RecordingTotals> {
    let totals = this.sizes.get(file);
    if (!totals) {
      totals = countLines(file);
      totals.catch(() => this.sizes.delete(file));
      if (this.sizes.size >= LINE_COUNT_CACHE) this.sizes.delete(this.sizes.keys().next().value as string);
      this.sizes.set(file, totals);
    }
    return totals;
  }

  async totals(build: readonly string[]): Promise<RecordingTotals> {
    return { ...(await this.liveTotals(this.fileOf(build))) };
  }

  /** Appends one line (O_APPEND: a whole line per write, whoever else appends). */
  async append(build: readonly string[], line: InputLine, limits: RecordingLimits): Promise<'appended' | 'full'> {
    const text = serialiseLine(line);
    const bytes = Buffer.byteLength(text);
    const file = this.fileOf(build);
    // Checked and counted in one step (no await between): appends here cannot overtake each other.
    const totals = await this.liveTotals(file);
    if (!fits(totals, bytes, limits)) return 'full';
    totals.lines++;
    totals.bytes += bytes;
    const dir = path.dirname(file);
    try {
      if (!this.dirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        if (this.dirs.size >= 4096) this.dirs.clear();
        this.dirs.add(dir);
      }
      await appendFile(file, text, { mode: 0o644 }).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        await mkdir(dir, { recursive: true });
        await appendFile(file, text, { mode: 0o644 });
      });
    } catch (err) {
      // Not written after all (a full disk): counted again from the file next time.
      this.sizes.delete(file);
      throw err;
    }
    return 'appended';
  }

  scan(build: readonly string[], limits: RecordingLimits): AsyncIterable<ScannedLine[]> {
    return fileLines(this.fileOf(build), limits);
  }

  async readAt(build: readonly string[], at: number): Promise<InputLine | null> {
    let handle;
    try {
      handle = await open(this.fileOf(build), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      const buffer = Buffer.allocUnsafe(MAX_LINE_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, MAX_LINE_BYTES, at);
      const end = buffer.subarray(0, bytesRead).indexOf(10);
      return end === -1 ? null : parseLine(buffer.toString('utf8', 0, end));
    } finally {
      await handle.close();
    }
  }

  async remove(build: readonly string[]): Promise<void> {
    const file = this.fileOf(build);
    this.sizes.delete(file);
    await rm(file, { force: true });
  }

  /** Every build with a recording, as [type, project, build]. */
  async all(): Promise<string[][]> {
    const found: string[][] = [];
    const names = (dir: string): Promise<string[]> => readdir(dir).catch(() => [] as string[]);
    for (const type of await names(this.base)) {
      for (const project of await names(path.join(this.base, type))) {
        for (const file of await names(path.join(this.base, type, project))) if (file.endsWith('.jsonl')) found.push([type, project, file.slice(0, -6)]);
      }
    }
    return found;
  }
}

/** Lines and bytes of a recording file, counted as it streams. */
async function countLines(file: string): Promise<RecordingTotals> {
  let lines = 0;
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { lines, bytes };
}

/** A build's recording has no room for another exchange: the proxy answers 507, naming the limit. */
export class RecordingFull extends Error {
  readonly status = 507;
}

function fullMessage(build: readonly string[], limit: 'lines' | 'bytes', limits: RecordingLimits): string {
  return limit === 'lines'
    ? `the recording of /${build.join('/')}/ is full: it may hold ${limits.maxLines} lines (INPUTS_MAX_LINES); this exchange is not made`
    : `the recording of /${build.join('/')}/ is full: it may hold ${limits.maxBytes} bytes (INPUTS_MAX_RECORD_SIZE); this exchange is not made`;
}

/** An exchange admitted to a build's recording: recorded once it is complete, or let go. */
export interface RecordingTicket {
  /** Appends the exchange's line; RecordingFull if the recording filled meanwhile (on another replica). */
  record(line: InputLine): Promise<void>;
  release(): void;
}

/** What this process knows of a build's recording: its totals, and the exchanges admitted and not yet recorded. */
interface Room {
  lines: number;
  bytes: number;
  admitted: number;
}

const ROOMS_KEPT = 10_000;

/**
 * Admits an exchange to a build's recording only while the recording has room for it and
 * for every exchange already admitted here (each may take a line of MAX_LINE_BYTES), so
 * that an exchange that is made is recorded, never left out because others filled the
 * recording meanwhile: the check and the count are one step, on totals this process keeps
 * (read from the store once per build). The store checks again at append, which is what
 * holds the limit across replicas: there, an exchange made at the very limit on two
 * replicas at once may be cut instead of refused.
 */
export class InputRecorder {
  private readonly rooms = new Map<string, Promise<Room>>();

  constructor(
    readonly store: InputStore,
    readonly limits: RecordingLimits,
  ) {}

  private room(build: readonly string[]): Promise<Room> {
    const key = build.join('/');
    let room = this.rooms.get(key);
    if (!room) {
      if (this.rooms.size >= ROOMS_KEPT) this.forgetIdle();
      room = this.store.totals(build).then((t) => ({ lines: t.lines, bytes: t.bytes, admitted: 0 }));
      room.catch(() => this.rooms.delete(key));
      this.rooms.set(key, room);
    }
    return room;
  }

  private forgetIdle(): void {
    for (const [key, room] of this.rooms) {
      void room.then((r) => {
        if (r.admitted === 0 && this.rooms.get(key) === room) this.rooms.delete(key);
      }, () => undefined);
    }
  }

  async admit(build: readonly string[]): Promise<RecordingTicket> {
    const room = await this.room(build);
    // Checked and counted in one step: admissions at the same time see each other.
    if (room.lines + room.admitted + 1 > this.limits.maxLines) throw new RecordingFull(fullMessage(build, 'lines', this.limits));
    if (room.bytes + (room.admitted + 1) * MAX_LINE_BYTES > this.limits.maxBytes) throw new RecordingFull(fullMessage(build, 'bytes', this.limits));
    room.admitted++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      room.admitted--;
    };
    return {
      record: async (line) => {
        try {
          const outcome = await this.store.append(build, line, this.limits);
          if (outcome === 'full') {
            // Filled by another replica: this process's totals were behind.
            const totals = await this.store.totals(build);
            room.lines = Math.max(room.lines, totals.lines);
            room.bytes = Math.max(room.bytes, totals.bytes);
            throw new RecordingFull(fullMessage(build, totals.lines + 1 > this.limits.maxLines ? 'lines' : 'bytes', this.limits));
          }
          room.lines++;
          room.bytes += Buffer.byteLength(serialiseLine(line));
        } finally {
          release();
        }
      },
      release,
    };
  }
}
