// The upload progress line for a terminal: pure renderers plus a small class that limits
// redraws, so a fast upload does not spend its time repainting the terminal.

export interface ProgressCounters {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** Recent throughput; 0 when not yet known. */
  bytesPerSecond: number;
  /** Files that failed so far; shown only when non-zero. */
  failed?: number;
}

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'] as const;

/** 512 B, 1.5 KiB, 5.0 MiB: binary units, one decimal. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.round(Number.isFinite(bytes) ? bytes : 0))} B`;
  let value = bytes;
  let unit: string = 'B';
  for (const next of UNITS) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return `${value.toFixed(1)} ${unit}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** `[#####.....]` with `width` cells between the brackets; fraction clamped to 0..1. */
export function renderBar(fraction: number, width: number): string {
  const cells = Math.max(0, Math.floor(width));
  const clamped = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.floor(clamped * cells);
  return `[${'#'.repeat(filled)}${'.'.repeat(cells - filled)}]`;
}

/** Bytes decide the bar (a few big files dominate the time); an empty upload is complete. */
export function completion(c: ProgressCounters): number {
  if (c.bytesTotal > 0) return c.bytesDone / c.bytesTotal;
  if (c.filesTotal > 0) return c.filesDone / c.filesTotal;
  return 1;
}

const MIN_BAR = 10;
const MAX_BAR = 40;

/**
 * One line, never wider than columns - 1: a line that reaches the last column wraps in
 * some terminals and `\r` then redraws only the second half.
 */
export function renderProgressLine(c: ProgressCounters, columns = 80): string {
  const failed = c.failed ? `  ${c.failed} failed` : '';
  const text =
    ` ${c.filesDone}/${c.filesTotal} files  ${formatBytes(c.bytesDone)} / ${formatBytes(c.bytesTotal)}` +
    `  ${formatRate(c.bytesPerSecond)}${failed}`;
  const room = Math.max(1, columns - 1);
  // A bar sized by the terminal, not by the text, keeps still while the numbers change.
  const barWidth = Math.min(MAX_BAR, Math.floor(room * 0.35), room - text.length - 2);
  const line = barWidth >= MIN_BAR ? renderBar(completion(c), barWidth) + text : text.trimStart();
  return line.length > room ? line.slice(0, room) : line;
}

/** The bytes that turn `previous` into `next` in place: back to column 0, blanks over any leftover tail. */
export function redraw(previous: string, next: string): string {
  return '\r' + next + ' '.repeat(Math.max(0, previous.length - next.length));
}

export interface ProgressLineOptions {
  /** Least time between two redraws; 100 ms is about 10 per second. */
  intervalMs?: number;
  /** Throughput is averaged over this much recent time. */
  windowMs?: number;
  columns?: number;
  now?: () => number;
}

type Totals = Omit<ProgressCounters, 'bytesPerSecond'>;

export class ProgressLine {
  private readonly intervalMs: number;
  private readonly windowMs: number;
  private readonly columns: number;
  private readonly now: () => number;
  private lastDrawAt = Number.NEGATIVE_INFINITY;
  private shown = '';
  private samples: { at: number; bytes: number }[] = [];
  private finished = false;

  constructor(
    private readonly write: (text: string) => void,
    options: ProgressLineOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 100;
    this.windowMs = options.windowMs ?? 3000;
    this.columns = options.columns ?? 80;
    this.now = options.now ?? (() => performance.now());
  }

  /** Records the counters; redraws only when the interval has passed (or `force`). Returns whether it drew. */
  update(totals: Totals, force = false): boolean {
    if (this.finished) return false;
    const at = this.now();
    this.record(at, totals.bytesDone);
    if (!force && at - this.lastDrawAt < this.intervalMs) return false;
    this.draw(at, totals);
    return true;
  }

  /** Removes the line so that a message can be printed on a clean row; the next update redraws it. */
  clear(): void {
    if (this.shown === '') return;
    this.write(redraw(this.shown, '') + '\r');
    this.shown = '';
    this.lastDrawAt = Number.NEGATIVE_INFINITY;
  }

  /** Draws the final state and ends the line. */
  finish(totals: Totals): void {
    if (this.finished) return;
    const at = this.now();
    this.record(at, totals.bytesDone);
    this.draw(at, totals);
    this.write('\n');
    this.shown = '';
    this.finished = true;
  }

  rate(at = this.now()): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at - first.at <= 0 || at - last.at > this.windowMs) return 0;
    return Math.max(0, ((last.bytes - first.bytes) * 1000) / (last.at - first.at));
  }

  private record(at: number, bytes: number): void {
    this.samples.push({ at, bytes });
    // Keep one sample older than the window so the average spans all of it.
    while (this.samples.length > 2 && (this.samples[1]?.at ?? at) <= at - this.windowMs) this.samples.shift();
  }

  private draw(at: number, totals: Totals): void {
    const line = renderProgressLine({ ...totals, bytesPerSecond: this.rate(at) }, this.columns);
    this.write(redraw(this.shown, line));
    this.shown = line;
    this.lastDrawAt = at;
  }
}
