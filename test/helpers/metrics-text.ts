// Reading Prometheus exposition text in tests.

/** The sum of the series of `name` whose labels include `labels`; undefined when there is none. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found = new Map<string, string>();
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found.set(l[1] ?? '', l[2] ?? '');
    if (Object.entries(labels).every(([k, v]) => found.get(k) === v)) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}
