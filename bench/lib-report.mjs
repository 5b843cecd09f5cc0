// Statistics and the printed table of bench/bench.mjs.

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length))) - 1];
}

export function summary(values) {
  return { median: round(median(values)), min: round(Math.min(...values)), max: round(Math.max(...values)), values: values.map(round) };
}

export function round(x, digits = 3) {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function fmt(x) {
  if (x === null || x === undefined) return '';
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US').replaceAll(',', ' ');
  if (a >= 100) return String(Math.round(x));
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/**
 * rows: { section?, metric, target, stat?: {median,min,max}, ratio?: number, ratio2?: number,
 *         goal?: string, pass?: boolean|null, note?: string }
 * A row with only `section` prints a heading.
 */
export function renderTable(rows, { ratioHeader = 'x ref', ratio2Header = 'x static' } = {}) {
  const header = ['metric', 'target', 'median', 'min–max', ratioHeader, ratio2Header, 'goal', ''];
  const body = [];
  for (const r of rows) {
    if (r.section) {
      body.push({ section: r.section });
      continue;
    }
    body.push({
      cells: [
        r.metric,
        r.target,
        r.stat ? fmt(r.stat.median) : '',
        r.stat ? `${fmt(r.stat.min)}–${fmt(r.stat.max)}` : '',
        r.ratio === undefined || r.ratio === null ? '' : `${r.ratio.toFixed(2)}x`,
        r.ratio2 === undefined || r.ratio2 === null ? '' : `${r.ratio2.toFixed(2)}x`,
        r.goal ?? '',
        r.pass === true ? '✓' : r.pass === false ? '✗' : '',
      ],
      note: r.note,
    });
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.filter((b) => b.cells).map((b) => b.cells[i].length)));
  const right = new Set([2, 3, 4, 5]);
  const line = (cells) =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const b of body) {
    if (b.section) out.push('', b.section);
    else out.push(line(b.cells) + (b.note ? `  (${b.note})` : ''));
  }
  return out.join('\n');
}
