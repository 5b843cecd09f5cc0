// Which bytes a Range header asks for (RFC 9110 section 14.2), for every download: the
// tree's files, the mirror's, and the build proxy's replays.
import rangeParser from 'range-parser';

/**
 * The one range asked of a body of `size` bytes; null for the whole body (no header, a
 * malformed one, or several ranges, which are answered whole); 'unsatisfiable' for 416.
 */
export function byteRange(size: number, header: string | undefined): { start: number; end: number } | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const ranges = rangeParser(size, header, { combine: true });
  if (ranges === -1) return 'unsatisfiable';
  if (ranges === -2 || ranges.type !== 'bytes' || ranges.length !== 1 || !ranges[0]) return null;
  return { start: ranges[0].start, end: ranges[0].end };
}
