// The recordings of sealed builds, indexed for replay: they never change, so each is read
// once (as a stream) into a map from a digest of each request's key to where its recorded
// answers are. The answers themselves are read back one line at
// a time when a request asks for them. What the index keeps is bounded: at most
// VARIANTS_PER_REQUEST answers per request (the first ones: a recording that varies one
// URL a thousand ways gains nothing), and at most MAX_ENTRIES requests over the builds
// it holds, the least recently used going first.
import { hash } from 'node:crypto';
import { scopeSegments } from '../domain/tree-path.js';
import { yieldToLoop } from '../domain/gate.js';
import type { InputStore, RecordedExchange, RecordingLimits } from '../domain/stores.js';
import { pickRecording, requestKey, type HeaderList, type KeyedHash } from '../domain/matching.js';

export const VARIANTS_PER_REQUEST = 32;
const MAX_ENTRIES = 250_000;

/** Digest of a request key → where its answers are (InputStore.readAt). */
type Index = Map<string, number[]>;

const digestOf = (key: string): string => hash('sha256', key, 'base64');

export class ReplayIndex {
  private readonly cache = new Map<string, Promise<Index>>();
  private readonly sizes = new Map<string, number>();
  private entries = 0;

  constructor(
    private readonly inputs: InputStore,
    private readonly limits: RecordingLimits,
  ) {}

  private index(build: string): Promise<Index> {
    const index = this.cache.get(build);
    if (index) {
      // Most recently used last: the oldest is the first to go.
      this.cache.delete(build);
      this.cache.set(build, index);
      return index;
    }
    const reading = this.read(build);
    reading.then(
      (answers) => this.counted(build, reading, answers.size),
      () => this.cache.delete(build),
    );
    this.cache.set(build, reading);
    return reading;
  }

  /** Counts a build's entries once it is read, if it is still cached; the least recently used go past MAX_ENTRIES. */
  private counted(build: string, reading: Promise<Index>, entries: number): void {
    if (this.cache.get(build) !== reading) return;
    this.entries += entries;
    this.sizes.set(build, entries);
    while (this.entries > MAX_ENTRIES && this.cache.size > 1) {
      const oldest = this.cache.keys().next().value as string;
      if (oldest === build) break;
      this.cache.delete(oldest);
      this.entries -= this.sizes.get(oldest) ?? 0;
      this.sizes.delete(oldest);
    }
  }

  private async read(build: string): Promise<Index> {
    const answers: Index = new Map();
    for await (const batch of this.inputs.scan(scopeSegments(build), this.limits)) {
      for (const { line, at } of batch) {
        if (line.kind !== 'exchange') continue;
        const key = digestOf(requestKey(line.method, line.url, line.requestSha256));
        const list = answers.get(key);
        if (!list) answers.set(key, [at]);
        else if (list.length < VARIANTS_PER_REQUEST) list.push(at);
      }
      await yieldToLoop();
    }
    return answers;
  }

  /** The recorded answer of `build` for this request, matched on method, URL, body and Vary; null if none. */
  async find(build: string, method: string, url: string, requestSha256: string | null, headers: HeaderList, hash: KeyedHash): Promise<RecordedExchange | null> {
    const answers = await this.index(build);
    const ats = answers.get(digestOf(requestKey(method, url, requestSha256))) ?? [];
    const candidates: RecordedExchange[] = [];
    for (const at of ats) {
      const line = await this.inputs.readAt(scopeSegments(build), at);
      // The very request (a digest is not the key itself).
      if (line?.kind === 'exchange' && line.method.toUpperCase() === method.toUpperCase() && line.url === url && line.requestSha256 === requestSha256) candidates.push(line);
    }
    return pickRecording(candidates, headers, hash);
  }
}
