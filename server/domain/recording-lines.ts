// What a line of a recording may be, and whether one more fits a recording's limits: the
// rules every store of recordings keeps (storage/embedded, storage/pg).
import type { InputLine, RecordingLimits, RecordingTotals } from './stores.js';

/** The longest line a recording holds (a URL, the headers that describe a body, Vary's values). */
export const MAX_LINE_BYTES = 64 * 1024;

/** No limit: what must read all of every recording (the sweep: a body a recording names is never removed). */
export const UNBOUNDED: RecordingLimits = { maxLines: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER };

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

/** Which limit leaves no room for one more held line beside `reserved` others, or null (room). */
export function roomRefusal(totals: RecordingTotals, reserved: number, limits: RecordingLimits): null | 'lines' | 'bytes' {
  if (totals.lines + reserved + 1 > limits.maxLines) return 'lines';
  if (totals.bytes + (reserved + 1) * MAX_LINE_BYTES > limits.maxBytes) return 'bytes';
  return null;
}
