// Everything that reads a build's recording reads it here, as a stream (InputStore.scan),
// never past the recording limits, keeping per distinct request only a digest of its key
// and what the answer needs: the seal (counts, provenance), the masters' inputs page,
// compare, the content store's sweep. Memory is bounded by the limits, not by what a
// build managed to record; the event loop is let go between batches of lines.
import { hash } from 'node:crypto';
import { yieldToLoop } from '../domain/gate.js';
import type { ProvenanceInput } from '../domain/provenance.js';
import type { InputLine, InputSource, InputStore, RecordedExchange, RecordedMiss, RecordedPartial, RecordedRefusal, RecordingLimits } from '../domain/stores.js';

/** A digest of a request's identity: what tells two distinct requests apart, in 44 characters. */
function digestOf(key: string): string {
  return hash('sha256', key, 'base64');
}

/** The identity of a request in a recording's listing: method, URL, body, and what its answer varied on. */
function summaryKey(line: RecordedExchange): string {
  return digestOf(`${line.method} ${line.url} ${line.requestSha256 ?? ''} ${JSON.stringify(line.varyValues)}`);
}

/** The identity of a request in a compare: method, URL and body. */
function compareKey(line: RecordedExchange): string {
  return digestOf(`${line.method} ${line.url} ${line.requestSha256 ?? ''}`);
}

/** The lines of a recording a batch at a time, letting the event loop go between batches. */
async function* linesOf(store: InputStore, build: readonly string[], limits: RecordingLimits): AsyncGenerator<InputLine[]> {
  for await (const batch of store.scan(build, limits)) {
    yield batch.map((scanned) => scanned.line);
    await yieldToLoop();
  }
}

/** One distinct request of a recording: its first complete answer, and whether a later one differed. */
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

function summaryOf(line: RecordedExchange): InputSummary {
  return { method: line.method, url: line.url, requestSha256: line.requestSha256, status: line.status, sha256: line.sha256, size: line.size, time: line.time, source: line.source, changed: false };
}

/** How many distinct requests, misses and partial answers passed through a recording holds. */
export async function countInputs(store: InputStore, build: readonly string[], limits: RecordingLimits): Promise<{ exchanges: number; misses: number; partials: number }> {
  const seen = new Set<string>();
  let misses = 0;
  let partials = 0;
  for await (const batch of linesOf(store, build, limits)) {
    for (const line of batch) {
      if (line.kind === 'miss') misses++;
      else if (line.kind === 'partial') partials++;
      else if (line.kind === 'exchange') seen.add(summaryKey(line));
    }
  }
  return { exchanges: seen.size, misses, partials };
}

/** One page of a recording's distinct requests, in the order they were first made, and its first misses. */
export async function inputsPageOf(
  store: InputStore,
  build: readonly string[],
  limits: RecordingLimits,
  page: { offset: number; size: number; misses: number },
): Promise<{ exchanges: InputSummary[]; total: number; misses: RecordedMiss[]; missTotal: number; partials: RecordedPartial[]; partialTotal: number; refusals: RecordedRefusal[]; refusalTotal: number }> {
  const firsts = new Map<string, { index: number; sha256: string; status: number }>();
  const shown: InputSummary[] = [];
  const misses: RecordedMiss[] = [];
  const partials: RecordedPartial[] = [];
  let missTotal = 0;
  let partialTotal = 0;
  const refusals: RecordedRefusal[] = [];
  let refusalTotal = 0;
  for await (const batch of linesOf(store, build, limits)) {
    for (const line of batch) {
      if (line.kind === 'miss') {
        if (missTotal++ < page.misses) misses.push(line);
        continue;
      }
      if (line.kind === 'partial') {
        if (partialTotal++ < page.misses) partials.push(line);
        continue;
      }
      if (line.kind === 'refused') {
        if (refusalTotal++ < page.misses) refusals.push(line);
        continue;
      }
      const key = summaryKey(line);
      const first = firsts.get(key);
      if (!first) {
        const index = firsts.size;
        firsts.set(key, { index, sha256: line.sha256, status: line.status });
        if (index >= page.offset && index < page.offset + page.size) shown.push(summaryOf(line));
      } else if (first.sha256 !== line.sha256 || first.status !== line.status) {
        const at = first.index - page.offset;
        if (at >= 0 && at < shown.length) (shown[at] as InputSummary).changed = true;
      }
    }
  }
  return { exchanges: shown, total: firsts.size, misses, missTotal, partials, partialTotal, refusals, refusalTotal };
}

/**
 * The inputs two recordings hold, compared by request (method, URL, body): counts of all,
 * and the first `listed` of each kind that `listable` lets be shown; `unlisted` counts the
 * others.
 */
export interface InputComparison {
  counts: { added: number; removed: number; changed: number; identical: number };
  added: InputSummary[];
  removed: InputSummary[];
  changed: Array<{ from: InputSummary; to: InputSummary }>;
  unlisted: { added: number; removed: number; changed: number };
}

/** What a provenance statement lists, and so what anyone may see of a build's inputs: bodies got by GET, 2xx. */
export function isDependency(s: Pick<InputSummary, 'method' | 'status'>): boolean {
  return s.method === 'GET' && s.status >= 200 && s.status <= 299;
}

export async function compareRecordings(
  store: InputStore,
  from: readonly string[],
  to: readonly string[],
  limits: RecordingLimits,
  listed: number,
  listable: (s: Pick<InputSummary, 'method' | 'status'>) => boolean = () => true,
): Promise<InputComparison | null> {
  // The first answer of each request of `from`, and where it is: the few listed are read back from there.
  const before = new Map<string, { method: string; sha256: string; status: number; at: number }>();
  for await (const batch of store.scan(from, limits)) {
    for (const { line, at } of batch) {
      if (line.kind !== 'exchange') continue;
      const key = compareKey(line);
      if (!before.has(key)) before.set(key, { method: line.method, sha256: line.sha256, status: line.status, at });
    }
    await yieldToLoop();
  }
  const result: InputComparison = { counts: { added: 0, removed: 0, changed: 0, identical: 0 }, added: [], removed: [], changed: [], unlisted: { added: 0, removed: 0, changed: 0 } };
  const after = new Set<string>();
  const changed: Array<{ at: number; to: InputSummary }> = [];
  for await (const batch of linesOf(store, to, limits)) {
    for (const line of batch) {
      if (line.kind !== 'exchange') continue;
      const key = compareKey(line);
      if (after.has(key)) continue;
      after.add(key);
      const old = before.get(key);
      const summary = summaryOf(line);
      if (!old) {
        result.counts.added++;
        if (!listable(summary)) result.unlisted.added++;
        else if (result.added.length < listed) result.added.push(summary);
      } else if (old.sha256 !== line.sha256 || old.status !== line.status) {
        result.counts.changed++;
        // Shown if what it was, or what it is, may be.
        if (!listable(summary) && !listable({ ...summary, status: old.status })) result.unlisted.changed++;
        else if (changed.length < listed) changed.push({ at: old.at, to: summary });
      } else result.counts.identical++;
    }
  }
  if (before.size === 0 && after.size === 0) return null;
  result.counts.removed = before.size - result.counts.changed - result.counts.identical;
  const fromLine = async (at: number): Promise<InputSummary | null> => {
    const line = await store.readAt(from, at);
    return line?.kind === 'exchange' ? summaryOf(line) : null;
  };
  for (const [key, { at, method, status }] of before) {
    if (after.has(key)) continue;
    if (!listable({ method, status })) {
      result.unlisted.removed++;
      continue;
    }
    if (result.removed.length >= listed) continue;
    const summary = await fromLine(at);
    if (summary) result.removed.push(summary);
  }
  for (const { at, to: now } of changed) result.changed.push({ from: (await fromLine(at)) ?? now, to: now });
  return result;
}

/**
 * What a build depended on, for its provenance: each distinct URL and body it got (GET,
 * 2xx), and each URL it got only part of (a Range passed through: no digest), and whether
 * the recording holds more than its limits let be read (the list then stops there).
 */
export async function dependenciesOf(store: InputStore, build: readonly string[], limits: RecordingLimits): Promise<{ inputs: ProvenanceInput[]; truncated: boolean }> {
  const seen = new Set<string>();
  const inputs: ProvenanceInput[] = [];
  for await (const batch of linesOf(store, build, limits)) {
    for (const line of batch) {
      if (line.method !== 'GET') continue;
      const sha256 = line.kind === 'exchange' && line.status >= 200 && line.status <= 299 ? line.sha256 : null;
      if (sha256 === null && line.kind !== 'partial') continue;
      const key = `${sha256 ?? 'partial'} ${line.url}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inputs.push(line.kind === 'exchange' ? { url: line.url, sha256, source: line.source } : { url: line.url, sha256: null, source: 'upstream', partial: true });
    }
  }
  const totals = await store.totals(build);
  return { inputs, truncated: totals.lines > limits.maxLines || totals.bytes > limits.maxBytes };
}

/** Adds the checksum of every body the build's recording refers to. */
export async function addRecordedBodies(store: InputStore, build: readonly string[], limits: RecordingLimits, into: Set<string>): Promise<void> {
  for await (const batch of linesOf(store, build, limits)) {
    for (const line of batch) if (line.kind === 'exchange') into.add(line.sha256);
  }
}
