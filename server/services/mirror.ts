// The mirror: external files and container images that masters declare, fetched once in
// the background, kept for ever (retention never looks here), served by the build proxy
// under their own URLs and by checksum at /-/mirror/sha256/<hex>. This module keeps the
// entries and decides what to fetch when; fetching itself is mirror-fetch.ts. See
// docs/mirror.md.
import { customAlphabet } from 'nanoid';
import type { EventSink } from '../domain/events.js';
import { errorSummary } from '../domain/errors.js';
import { withUse, type MirrorEntry, type MirrorEntryStore, type MirroredPart, type MirrorState } from '../domain/stores.js';
import { auditUrl, canonicalUrl } from '../domain/matching.js';
import { imageRefString, parseImageRef, type ImageRef } from '../domain/image-ref.js';

export const MAX_NOTE = 1000;
/** Downloads at once: each is a stream; more would only share the same link. */
export const MIRROR_CONCURRENCY = 2;

const newId = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 12);

/** What a master declares, checked. */
export type Declaration = { kind: 'file'; url: string; sha256: string | null; note: string } | { kind: 'image'; ref: ImageRef; note: string };

/** A declaration from a JSON body, or the field that is wrong. */
export function parseDeclaration(body: unknown): Declaration | { error: string } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { error: 'body must be a JSON object with "url" or "image"' };
  const fields = body as Record<string, unknown>;
  const note = fields.note ?? '';
  if (typeof note !== 'string' || note.length > MAX_NOTE) return { error: `note must be a string of at most ${MAX_NOTE} characters` };
  if (fields.url !== undefined && fields.image !== undefined) return { error: 'give "url" or "image", not both' };
  if (fields.image !== undefined) {
    if (typeof fields.image !== 'string') return { error: 'image must be a string: registry/name@sha256:…' };
    if (fields.sha256 !== undefined) return { error: 'sha256 is for files: an image is named by its digest' };
    const ref = parseImageRef(fields.image);
    if ('error' in ref) return ref;
    return { kind: 'image', ref, note };
  }
  if (typeof fields.url !== 'string' || fields.url.length > 8192) return { error: 'url must be an http:// or https:// URL' };
  const url = canonicalUrl(fields.url);
  if (!url) return { error: 'url must be an http:// or https:// URL' };
  if (/^[a-z]+:\/\/[^/]*@/i.test(fields.url)) return { error: 'url must not carry credentials' };
  const sha256 = fields.sha256 ?? null;
  if (sha256 !== null && (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256))) return { error: 'sha256 must be 64 hex digits' };
  return { kind: 'file', url, sha256: sha256 === null ? null : sha256.toLowerCase(), note };
}

/** How long a failed entry waits before its next try: 1 minute, doubling, at most 6 hours. */
export function retryDelayMs(attempts: number): number {
  return Math.min(60_000 * 2 ** Math.max(0, Math.min(attempts - 1, 20)), 6 * 3600_000);
}

/** The file name a URL gives its body (the last path segment), for Content-Disposition. */
export function fileNameOf(url: string): string {
  try {
    const segments = new URL(url).pathname.split('/');
    const last = decodeURIComponent(segments[segments.length - 1] ?? '');
    return last && !/[\u0000-\u001f/\\]/.test(last) ? last : 'download';
  } catch {
    return 'download';
  }
}

export interface FetchResult {
  sha256: string;
  size: number;
  parts: MirroredPart[];
}

export interface FetchHooks {
  /** Bytes of the entry downloaded so far. */
  progress(bytes: number): void;
  /** A body is in the content store (before the entry says so). */
  stored(sha256: string): void;
  signal: AbortSignal;
}

/** Downloads an entry's bodies into the content store; throws an Error whose message says why it failed. */
export type Fetch = (entry: MirrorEntry, hooks: FetchHooks) => Promise<FetchResult>;

/** An entry as the listing shows it (JSON and page). */
export interface MirrorEntryView {
  id: string;
  kind: 'file' | 'image';
  url: string | null;
  image: string | null;
  state: MirrorState;
  reason: string | null;
  next_try_at: string | null;
  /** Downloads tried so far. */
  attempts: number;
  sha256: string | null;
  size: number | null;
  /** While a download runs: how far it is. */
  bytes_so_far: number | null;
  note: string;
  declared_by: string;
  declared_at: string;
  fetched_at: string | null;
  /** Where the file is downloaded by checksum (files that are ok). */
  download: string | null;
  /** The builds it answered lately, newest first (at most 20), and when it first did for each. */
  used_by: Array<{ build: string; at: string }>;
}

/** How often a replica looks whether another one changed the mirror. */
const REFRESH_EVERY_MS = 1_000;

export class Mirror {
  private readonly byId = new Map<string, MirrorEntry>();
  private readonly byKey = new Map<string, string>();
  /** URL -> what answers it, for entries that are ok. */
  private readonly served = new Map<string, MirroredPart>();
  // The entry each served part belongs to (the earliest declared), for its usedBy.
  private readonly ownerOf = new Map<MirroredPart, string>();
  /** "https://host[:port]" -> how many served URLs are under it (a CONNECT asks per tunnel). */
  private readonly origins = new Map<string, number>();
  /** Origins of registries with a mirrored image: their API root (/v2/) answers offline. */
  private readonly registries = new Map<string, number>();
  /** sha256 -> a file entry's part, for /-/mirror/sha256/. */
  private readonly bySha = new Map<string, MirroredPart>();
  private readonly progress = new Map<string, number>();
  private readonly running = new Map<string, AbortController>();
  /** Bodies a running download has stored so far: kept from the clean-up before the entry says so. */
  private readonly stored = new Map<string, Set<string>>();
  private fetch: Fetch | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Declarations, removals and the ends of downloads, one at a time: none sees another half-done. */
  private changing: Promise<unknown> = Promise.resolve();
  /** The store's generation that the maps above were read at. */
  private generation = -1;
  private refreshTimer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly store: MirrorEntryStore,
    private readonly emit: EventSink,
    private readonly now: () => number,
    /** With DATABASE_URL: runs a change alone across every replica. */
    private readonly shared: { alone: <T>(work: () => Promise<T>) => Promise<T> } | null,
  ) {}

  /**
   * `shared`: other replicas change the same entries. Each change then runs under their
   * common lock on what the store holds, and what this replica serves is read again
   * whenever the store's generation moved (looked at every second, and before answering
   * a master).
   */
  static async open(store: MirrorEntryStore, emit: EventSink, now: () => number, shared?: { alone: <T>(work: () => Promise<T>) => Promise<T> }): Promise<Mirror> {
    const mirror = new Mirror(store, emit, now, shared ?? null);
    await mirror.refresh();
    if (shared) {
      mirror.refreshTimer = setInterval(() => void mirror.refresh().catch(() => undefined), REFRESH_EVERY_MS);
      mirror.refreshTimer.unref();
    }
    return mirror;
  }

  /** Reads the entries again if another replica changed them since they were read. */
  async refresh(): Promise<void> {
    // Alone, this process's maps are the truth once loaded.
    if (!this.shared && this.generation !== -1) return;
    const generation = await this.store.generation();
    if (generation === this.generation) return;
    const entries = await this.store.all();
    this.byId.clear();
    this.byKey.clear();
    for (const entry of entries) {
      this.byId.set(entry.id, entry);
      this.byKey.set(this.keyOf(entry), entry.id);
    }
    this.generation = generation;
    this.reindex();
    this.schedule();
  }

  private keyOf(entry: Pick<MirrorEntry, 'url' | 'image'>): string {
    return entry.url ?? `image:${entry.image}`;
  }

  /** Runs `change` after every change before it has finished. */
  private exclusive<T>(change: () => Promise<T>): Promise<T> {
    const shared = this.shared;
    // Across replicas: under their common lock, on what the store holds now.
    const work = shared
      ? (): Promise<T> =>
          shared.alone(async () => {
            await this.refresh();
            return change();
          })
      : change;
    const run = this.changing.then(work, work);
    this.changing = run.catch(() => undefined);
    return run;
  }

  /** Keeps the entry (saved first, then in memory) and what it serves. */
  private async put(entry: MirrorEntry): Promise<void> {
    await this.store.save(entry);
    this.byId.set(entry.id, entry);
    this.byKey.set(this.keyOf(entry), entry.id);
    this.reindex();
  }

  /**
   * What answers each URL and checksum, from the entries that are ok, the earliest declared
   * first: two images share layer URLs, two URLs may share a body, and removing one must
   * leave the other served. Rebuilt on each change (masters' and downloads' pace), so the
   * lookups on every request stay one map read.
   */
  private reindex(): void {
    this.served.clear();
    this.ownerOf.clear();
    this.bySha.clear();
    this.origins.clear();
    this.registries.clear();
    const ok = [...this.byId.values()].filter((e) => e.state === 'ok').sort((a, b) => a.declaredAt.localeCompare(b.declaredAt) || a.id.localeCompare(b.id));
    for (const entry of ok) {
      for (const part of entry.parts) {
        if (!this.served.has(part.url)) {
          this.served.set(part.url, part);
          this.ownerOf.set(part, entry.id);
          const origin = new URL(part.url).origin;
          this.origins.set(origin, (this.origins.get(origin) ?? 0) + 1);
          if (part.digest !== null) this.registries.set(origin, (this.registries.get(origin) ?? 0) + 1);
        }
        if (entry.kind === 'file' && !this.bySha.has(part.sha256)) this.bySha.set(part.sha256, part);
      }
    }
  }

  /** Declares an entry; one declared already is returned (and, if it failed, tried again at once). */
  async declare(declaration: Declaration, by: string): Promise<{ entry: MirrorEntryView; created: boolean }> {
    return this.exclusive(() => this.declareAlone(declaration, by));
  }

  private async declareAlone(declaration: Declaration, by: string): Promise<{ entry: MirrorEntryView; created: boolean }> {
    const key = declaration.kind === 'file' ? declaration.url : `image:${imageRefString(declaration.ref)}`;
    const existingId = this.byKey.get(key);
    const existing = existingId ? this.byId.get(existingId) : undefined;
    if (existing) {
      if (existing.state === 'failed' && !this.running.has(existing.id)) {
        await this.put({ ...existing, nextTryAt: new Date(this.now()).toISOString() });
        this.schedule();
      }
      return { entry: this.view(this.byId.get(existing.id) as MirrorEntry), created: false };
    }
    const entry: MirrorEntry = {
      id: newId(),
      kind: declaration.kind,
      url: declaration.kind === 'file' ? declaration.url : null,
      image: declaration.kind === 'image' ? imageRefString(declaration.ref) : null,
      declaredSha256: declaration.kind === 'file' ? declaration.sha256 : null,
      note: declaration.note,
      declaredBy: by,
      declaredAt: new Date(this.now()).toISOString(),
      state: 'pending',
      reason: null,
      nextTryAt: null,
      attempts: 0,
      sha256: null,
      size: null,
      fetchedAt: null,
      parts: [],
    };
    await this.put(entry);
    this.emit({ event: 'mirror.declared', id: entry.id, source: auditUrl(entry.url ?? (entry.image as string)), by });
    this.schedule();
    return { entry: this.view(entry), created: true };
  }

  /**
   * Notes that the mirror answered `build` with this part: the entry's page lists the
   * builds it served lately. One write per entry and build (what is known already is not
   * written again), so a build pulling an image's hundred blobs costs one.
   */
  async noteUse(part: MirroredPart, build: string): Promise<void> {
    const id = this.ownerOf.get(part);
    const known = id === undefined ? undefined : this.byId.get(id);
    if (id === undefined || !known || known.usedBy?.some((u) => u.build === build)) return;
    await this.exclusive(async () => {
      const entry = this.byId.get(id);
      if (!entry || entry.usedBy?.some((u) => u.build === build)) return;
      const use = { build, at: new Date(this.now()).toISOString() };
      await this.store.recordUse(id, use);
      this.byId.set(id, { ...entry, usedBy: withUse(entry.usedBy, use) });
    });
  }

  /** Removes an entry (its download, if one runs, is stopped); false if there is none. */
  async remove(id: string, by: string): Promise<boolean> {
    // A download that ends meanwhile finds the entry gone and keeps nothing of it.
    this.running.get(id)?.abort();
    return this.exclusive(async () => {
      const entry = this.byId.get(id);
      if (!entry) return false;
      await this.store.remove(id);
      this.byId.delete(id);
      this.byKey.delete(this.keyOf(entry));
      this.reindex();
      this.emit({ event: 'mirror.removed', id, source: auditUrl(entry.url ?? (entry.image as string)), by });
      return true;
    });
  }

  get(id: string): MirrorEntryView | null {
    const entry = this.byId.get(id);
    return entry ? this.view(entry) : null;
  }

  list(): MirrorEntryView[] {
    return [...this.byId.values()].sort((a, b) => a.declaredAt.localeCompare(b.declaredAt) || a.id.localeCompare(b.id)).map((e) => this.view(e));
  }

  counts(): Record<MirrorState, number> {
    const counts: Record<MirrorState, number> = { pending: 0, ok: 0, failed: 0 };
    for (const entry of this.byId.values()) counts[entry.state]++;
    return counts;
  }

  /** What the mirror answers for this URL (a GET), if anything. */
  answer(url: string): MirroredPart | null {
    return this.served.get(url) ?? null;
  }

  /** A mirrored file by its checksum, with the name its URL gives it. */
  file(sha256: string): { part: MirroredPart; fileName: string } | null {
    const part = this.bySha.get(sha256);
    return part ? { part, fileName: fileNameOf(part.url) } : null;
  }

  /**
   * Whether a URL is the API root of a registry the mirror holds an image of: clients
   * (docker, podman) ask it before anything else, so offline it must answer.
   */
  isRegistryRoot(url: string): boolean {
    if (!url.endsWith('/v2/')) return false;
    const origin = url.slice(0, -'/v2/'.length);
    return this.registries.has(origin);
  }

  /** Whether anything is mirrored under this origin ("https://host[:port]"). */
  servesOrigin(origin: string): boolean {
    return this.origins.has(origin);
  }

  /** Every body the mirror keeps (entries being fetched keep theirs from the moment they are stored). */
  keeps(): Set<string> {
    const keep = new Set<string>();
    for (const entry of this.byId.values()) for (const part of entry.parts) keep.add(part.sha256);
    for (const bodies of this.stored.values()) for (const sha256 of bodies) keep.add(sha256);
    return keep;
  }

  view(entry: MirrorEntry): MirrorEntryView {
    return {
      id: entry.id,
      kind: entry.kind,
      // Public: a query may carry a credential (a pre-signed URL), so it is not shown.
      url: entry.url === null ? null : auditUrl(entry.url),
      image: entry.image,
      state: entry.state,
      reason: entry.reason,
      next_try_at: entry.state === 'failed' ? entry.nextTryAt : null,
      attempts: entry.attempts,
      sha256: entry.sha256,
      size: entry.size,
      bytes_so_far: this.progress.get(entry.id) ?? null,
      note: entry.note,
      declared_by: entry.declaredBy,
      declared_at: entry.declaredAt,
      fetched_at: entry.fetchedAt,
      download: entry.kind === 'file' && entry.state === 'ok' && entry.sha256 ? `/-/mirror/sha256/${entry.sha256}` : null,
      used_by: (entry.usedBy ?? []).map((u) => ({ build: u.build, at: u.at })),
    };
  }

  /** Starts fetching what is pending or due, MIRROR_CONCURRENCY at a time. */
  start(fetch: Fetch): void {
    this.fetch = fetch;
    this.schedule();
  }

  /** Stops the downloads (what they fetched so far is not kept) and the timer. */
  async stop(): Promise<void> {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = null;
    await this.pause();
  }

  /** Stops the downloads (another replica runs them now); start() resumes them. */
  async pause(): Promise<void> {
    this.fetch = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const controller of this.running.values()) controller.abort();
    while (this.running.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await this.changing;
  }

  /** Runs what is due now and sets the timer for the next failed entry's retry. */
  private schedule(): void {
    if (!this.fetch) return;
    const now = this.now();
    let next = Infinity;
    for (const entry of [...this.byId.values()].sort((a, b) => a.declaredAt.localeCompare(b.declaredAt))) {
      if (this.running.has(entry.id) || entry.state === 'ok') continue;
      const due = entry.state === 'pending' || entry.nextTryAt === null ? now : Date.parse(entry.nextTryAt);
      if (due <= now && this.running.size < MIRROR_CONCURRENCY) void this.run(entry, this.fetch);
      else next = Math.min(next, Math.max(due, now + 1000));
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (next !== Infinity) {
      this.timer = setTimeout(() => this.schedule(), Math.min(next - now, 2 ** 31 - 1));
      this.timer.unref();
    }
  }

  private async run(entry: MirrorEntry, fetch: Fetch): Promise<void> {
    const controller = new AbortController();
    this.running.set(entry.id, controller);
    this.progress.set(entry.id, 0);
    const stored = new Set<string>();
    this.stored.set(entry.id, stored);
    const source = auditUrl(entry.url ?? (entry.image as string));
    let done: MirrorEntry;
    try {
      const result = await fetch(entry, { progress: (bytes) => this.progress.set(entry.id, bytes), stored: (sha256) => stored.add(sha256), signal: controller.signal });
      done = { ...entry, state: 'ok', reason: null, nextTryAt: null, attempts: entry.attempts + 1, sha256: result.sha256, size: result.size, parts: result.parts, fetchedAt: new Date(this.now()).toISOString() };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const attempts = entry.attempts + 1;
      done = { ...entry, state: 'failed', reason, attempts, nextTryAt: new Date(this.now() + retryDelayMs(attempts)).toISOString() };
    }
    this.progress.delete(entry.id);
    try {
      await this.exclusive(async () => {
        // Removed meanwhile: nothing to record (its bytes go with the next clean-up).
        if (controller.signal.aborted || !this.byId.has(entry.id)) return;
        try {
          await this.put(done);
        } catch (err) {
          // The entry could not be written (a full disk): failed here, tried again later.
          const attempts = entry.attempts + 1;
          this.byId.set(entry.id, { ...entry, state: 'failed', attempts, reason: `the entry cannot be stored (${errorSummary(err)})`, nextTryAt: new Date(this.now() + retryDelayMs(attempts)).toISOString() });
          this.reindex();
          return;
        }
        if (done.state === 'ok') this.emit({ event: 'mirror.fetched', id: done.id, source, sha256: done.sha256 as string, size: done.size as number });
        else this.emit({ event: 'mirror.failed', id: done.id, source, reason: done.reason as string, attempts: done.attempts });
      });
    } finally {
      this.stored.delete(entry.id);
      this.running.delete(entry.id);
      this.schedule();
    }
  }
}
