// What each build downloaded through the build proxy: one JSON line per complete exchange
// or replay miss, appended to ARTIFACTS_DIR/.inputs/TYPE/PROJECT/BUILD.jsonl (outside the
// public tree), bodies kept by checksum in the content store. Frozen once the build is
// sealed (sealing waits for exchanges in flight, as it waits for uploads).
import { appendFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

export const INPUTS_DIR = '.inputs';

export type InputSource = 'upstream' | 'mirror' | 'replay';

export interface RecordedExchange {
  kind: 'exchange';
  time: string;
  method: string;
  /** Canonical URL (matching.ts): no credentials. */
  url: string;
  /** SHA-256 of the request body, for requests that have one. */
  requestSha256: string | null;
  /** Values of the request headers the response's Vary names (secrets only as hashes). */
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

/** Where each build's recorded inputs are kept: files on the artifacts volume, or PostgreSQL. */
export interface InputStore {
  /** Appends one line to the build's recording; lines of one build keep their order. */
  append(build: readonly string[], line: InputLine): Promise<void>;
  /** The build's lines in the order they were appended; none for a build without any. */
  read(build: readonly string[]): Promise<InputLine[]>;
  remove(build: readonly string[]): Promise<void>;
  /** Every build with a recording, as [type, project, build]. */
  all(): Promise<string[][]>;
}

export class InputRecordFiles implements InputStore {
  readonly base: string;
  /** Project directories known to exist. */
  private readonly dirs = new Set<string>();

  constructor(artifactsDir: string) {
    this.base = path.join(artifactsDir, INPUTS_DIR);
  }

  fileOf(build: readonly string[]): string {
    if (build.length !== 3) throw new Error('a build is type/project/build');
    return path.join(this.base, build[0] as string, build[1] as string, `${build[2]}.jsonl`);
  }

  /** Appends one line (O_APPEND: a whole line per write, whoever else appends). */
  async append(build: readonly string[], line: InputLine): Promise<void> {
    const file = this.fileOf(build);
    const dir = path.dirname(file);
    if (!this.dirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      if (this.dirs.size >= 4096) this.dirs.clear();
      this.dirs.add(dir);
    }
    await appendFile(file, JSON.stringify(line) + '\n', { mode: 0o644 }).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      await appendFile(file, JSON.stringify(line) + '\n', { mode: 0o644 });
    });
  }

  async read(build: readonly string[]): Promise<InputLine[]> {
    let text: string;
    try {
      text = await readFile(this.fileOf(build), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const lines: InputLine[] = [];
    for (const raw of text.split('\n')) {
      if (!raw) continue;
      try {
        lines.push(JSON.parse(raw) as InputLine);
      } catch {
        // A line cut by a crash mid-append is not an input.
      }
    }
    return lines;
  }

  async remove(build: readonly string[]): Promise<void> {
    await rm(this.fileOf(build), { force: true });
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

/** One line per distinct request: its first complete answer, and whether a later one differed. */
export interface InputSummary {
  method: string;
  url: string;
  requestSha256: string | null;
  status: number;
  sha256: string;
  size: number;
  time: string;
  source: InputSource;
  changed: boolean;
}

export function summariseInputs(lines: readonly InputLine[]): { exchanges: InputSummary[]; misses: RecordedMiss[] } {
  const byKey = new Map<string, InputSummary>();
  const misses: RecordedMiss[] = [];
  for (const line of lines) {
    if (line.kind === 'miss') {
      misses.push(line);
      continue;
    }
    const key = `${line.method} ${line.url} ${line.requestSha256 ?? ''} ${JSON.stringify(line.varyValues)}`;
    const first = byKey.get(key);
    if (!first) byKey.set(key, { method: line.method, url: line.url, requestSha256: line.requestSha256, status: line.status, sha256: line.sha256, size: line.size, time: line.time, source: line.source, changed: false });
    else if (first.sha256 !== line.sha256 || first.status !== line.status) first.changed = true;
  }
  return { exchanges: [...byKey.values()], misses };
}
