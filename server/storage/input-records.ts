// What each build downloaded through the build proxy: one JSON line per complete exchange
// or replay miss, appended to ARTIFACTS_DIR/.inputs/TYPE/PROJECT/BUILD.jsonl (outside the
// public tree), bodies kept by checksum in the content store. Frozen once the build is
// sealed (sealing waits for exchanges in flight, as it waits for uploads).
//
// A build's recording is bounded (RecordingLimits: lines and bytes; a line is at most
// MAX_LINE_BYTES) and always read as a stream, line by line: whatever a build recorded,
// reading it never holds more than one line, nor reads past the limits.
import { createReadStream, readSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { InputLine, InputStore, RecordingLimits, RecordingTotals, ScannedLine } from '../domain/stores.js';
import { MAX_LINE_BYTES, fits, roomRefusal, serialiseLine } from '../domain/recording-lines.js';
import { OpenFiles } from './io/open-files.js';

export const INPUTS_DIR = '.inputs';

function parseLine(text: string): InputLine | null {
  try {
    const line = JSON.parse(text) as InputLine;
    return line && (line.kind === 'exchange' || line.kind === 'miss' || line.kind === 'partial' || line.kind === 'refused') ? line : null;
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
        if (end - lineStart > MAX_LINE_BYTES) overlong = true;
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

const ROOMS_KEPT = 10_000;
// Recordings kept open for appending, and for reading lines by offset (a replay reads one
// line of the recorded build per exchange): each else costs an open and a close per line.
const APPENDERS_KEPT = 64;
const READERS_KEPT = 64;
// A recorded line is read in one call of this size first (most lines are well under it),
// then, if it goes on, of MAX_LINE_BYTES.
const FIRST_READ_BYTES = 4096;

/** A recording file as this process knows it: its lines and bytes, and the lines held for exchanges in flight. */
interface Room extends RecordingTotals {
  reserved: number;
}

export class InputRecordFiles implements InputStore {
  readonly base: string;
  /** Project directories known to exist. */
  private readonly dirs = new Set<string>();
  /** Each recording's totals, counted from its file once per process, then kept as lines are appended here. */
  private readonly rooms = new Map<string, Promise<Room>>();
  private readonly appenders = new OpenFiles('a', APPENDERS_KEPT, 0o644);
  private readonly readers = new OpenFiles('r', READERS_KEPT);

  constructor(artifactsDir: string) {
    this.base = path.join(artifactsDir, INPUTS_DIR);
  }

  fileOf(build: readonly string[]): string {
    if (build.length !== 3) throw new Error('a build is type/project/build');
    return path.join(this.base, build[0] as string, build[1] as string, `${build[2]}.jsonl`);
  }

  private room(file: string): Promise<Room> {
    let room = this.rooms.get(file);
    if (!room) {
      if (this.rooms.size >= ROOMS_KEPT) this.forgetIdle();
      room = countLines(file).then((t) => ({ ...t, reserved: 0 }));
      room.catch(() => this.rooms.delete(file));
      this.rooms.set(file, room);
    }
    return room;
  }

  /** Rooms with nothing held are counted again from their file when next needed. */
  private forgetIdle(): void {
    for (const [file, room] of this.rooms) {
      void room.then(
        (r) => {
          if (r.reserved === 0 && this.rooms.get(file) === room) this.rooms.delete(file);
        },
        () => undefined,
      );
    }
  }

  async totals(build: readonly string[]): Promise<RecordingTotals> {
    const { lines, bytes } = await this.room(this.fileOf(build));
    return { lines, bytes };
  }

  async reserve(build: readonly string[], limits: RecordingLimits): Promise<null | 'lines' | 'bytes'> {
    const room = await this.room(this.fileOf(build));
    // Checked and counted in one step (no await between): reservations here see each other.
    const refusal = roomRefusal(room, room.reserved, limits);
    if (refusal === null) room.reserved++;
    return refusal;
  }

  async unreserve(build: readonly string[]): Promise<void> {
    const room = await this.room(this.fileOf(build));
    room.reserved = Math.max(0, room.reserved - 1);
  }

  async appendReserved(build: readonly string[], line: InputLine): Promise<void> {
    const text = serialiseLine(line);
    const room = await this.room(this.fileOf(build));
    room.reserved = Math.max(0, room.reserved - 1);
    await this.write(build, room, text);
  }

  /** Appends one line (O_APPEND: a whole line per write, whoever else appends). */
  async append(build: readonly string[], line: InputLine, limits: RecordingLimits): Promise<'appended' | 'full'> {
    const text = serialiseLine(line);
    const room = await this.room(this.fileOf(build));
    // Checked and counted in one step, beside the lines held for exchanges in flight.
    const held = { lines: room.lines + room.reserved, bytes: room.bytes + room.reserved * MAX_LINE_BYTES };
    if (!fits(held, Buffer.byteLength(text), limits)) return 'full';
    await this.write(build, room, text);
    return 'appended';
  }

  private async write(build: readonly string[], room: Room, text: string): Promise<void> {
    const file = this.fileOf(build);
    room.lines++;
    room.bytes += Buffer.byteLength(text);
    const dir = path.dirname(file);
    try {
      if (!this.dirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        if (this.dirs.size >= 4096) this.dirs.clear();
        this.dirs.add(dir);
      }
      // O_APPEND: each write is one whole line at the end, whoever else appends. A write
      // that took only part of it (a disk filling up) fails: never retried, which would
      // put the rest after another writer's line.
      const bytes = Buffer.from(text);
      const append = (): Promise<unknown> =>
        this.appenders.with(file, async (handle) => {
          const { bytesWritten } = await handle.write(bytes);
          if (bytesWritten !== bytes.length) throw Object.assign(new Error(`a recording line was cut short (${bytesWritten} of ${bytes.length} bytes written)`), { code: 'ENOSPC' });
        });
      await append().catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        await mkdir(dir, { recursive: true });
        await append();
      });
    } catch (err) {
      // Not written after all (a full disk).
      room.lines--;
      room.bytes -= Buffer.byteLength(text);
      throw err;
    }
  }

  scan(build: readonly string[], limits: RecordingLimits): AsyncIterable<ScannedLine[]> {
    return fileLines(this.fileOf(build), limits);
  }

  async readAt(build: readonly string[], at: number): Promise<InputLine | null> {
    try {
      return await this.readers.with(this.fileOf(build), async (handle) => {
        for (const size of [FIRST_READ_BYTES, MAX_LINE_BYTES]) {
          const buffer = Buffer.allocUnsafe(size);
          // At once for the first read (a line of the page cache costs less than the trip
          // through the thread pool); a long line's second read goes through it.
          const bytesRead = size === FIRST_READ_BYTES ? readSync(handle.fd, buffer, 0, size, at) : (await handle.read(buffer, 0, size, at)).bytesRead;
          const end = buffer.subarray(0, bytesRead).indexOf(10);
          if (end !== -1) return parseLine(buffer.toString('utf8', 0, end));
          if (bytesRead < size) return null;
        }
        return null;
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async remove(build: readonly string[]): Promise<void> {
    const file = this.fileOf(build);
    this.rooms.delete(file);
    this.appenders.forget(file);
    this.readers.forget(file);
    await rm(file, { force: true });
    // A replay that opened it meanwhile must not keep the removed file.
    this.readers.forget(file);
  }

  /** Lets go of the recordings kept open. */
  close(): void {
    this.appenders.closeAll();
    this.readers.closeAll();
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
