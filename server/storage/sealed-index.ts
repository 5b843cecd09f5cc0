// The sealed builds of an embedded repository, newest first, in memory: across the
// repository, per project, and by revision, so that a permalink, a page of the list or a
// revision search reads only what it answers, whatever the number of builds. Built once
// from the build records (build-records.ts), then kept as they are written.
import { newerFirst, sealedMatches, type SealedBuildEntry, type SealedBuildQuery } from '../domain/stores.js';

interface Item {
  scope: string;
  entry: SealedBuildEntry;
  sealedAt: string;
}

/** Where `key` goes in a list sorted newest first: the first item not newer than it. */
function position(list: readonly Item[], key: { sealedAt: string; scope: string }): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (newerFirst(list[mid] as Item, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insert(list: Item[], item: Item): void {
  list.splice(position(list, item), 0, item);
}

function removeFrom(list: Item[], item: Item): void {
  const at = position(list, item);
  if (list[at]?.scope === item.scope) list.splice(at, 1);
}

export class SealedIndex {
  private readonly all: Item[] = [];
  private readonly byScope = new Map<string, Item>();
  private readonly byProject = new Map<string, Item[]>();
  // Revisions in ascending order, for exact and prefix lookups by binary search.
  private readonly revisions: Array<{ revision: string; item: Item }> = [];

  constructor(entries: readonly SealedBuildEntry[] = []) {
    for (const entry of entries) this.set(entry.build, entry);
  }

  get size(): number {
    return this.all.length;
  }

  /** Every entry, newest first (a snapshot's content). */
  entries(): SealedBuildEntry[] {
    return this.all.map((item) => item.entry);
  }

  /** The build's entry (null: it is not, or no longer, a sealed build). */
  set(build: readonly string[], entry: SealedBuildEntry | null): void {
    const scope = build.join('/');
    const old = this.byScope.get(scope);
    if (old) {
      removeFrom(this.all, old);
      const project = this.byProject.get(this.projectKey(old.entry.build));
      if (project) removeFrom(project, old);
      if (old.entry.revision !== null) {
        const at = this.revisionAt(old.entry.revision);
        for (let i = at; i < this.revisions.length && this.revisions[i]?.revision === old.entry.revision; i++) {
          if (this.revisions[i]?.item === old) {
            this.revisions.splice(i, 1);
            break;
          }
        }
      }
      this.byScope.delete(scope);
    }
    if (!entry) return;
    const item: Item = { scope, entry, sealedAt: entry.sealedAt };
    this.byScope.set(scope, item);
    insert(this.all, item);
    const key = this.projectKey(entry.build);
    let project = this.byProject.get(key);
    if (!project) this.byProject.set(key, (project = []));
    insert(project, item);
    if (entry.revision !== null) this.revisions.splice(this.revisionAt(entry.revision), 0, { revision: entry.revision, item });
  }

  query(query: SealedBuildQuery): SealedBuildEntry[] {
    let source: readonly Item[];
    if (query.revision !== undefined) {
      // Exact, or every revision the prefix begins (a prefix of 7 or more): a few builds.
      const found: Item[] = [];
      const prefix = query.revision.length >= 7;
      for (let i = this.revisionAt(query.revision); i < this.revisions.length; i++) {
        const r = this.revisions[i] as { revision: string; item: Item };
        if (prefix ? !r.revision.startsWith(query.revision) : r.revision !== query.revision) break;
        found.push(r.item);
      }
      source = found.sort(newerFirst);
    } else if (query.type !== undefined && query.project !== undefined) source = this.byProject.get(`${query.type}/${query.project}`) ?? [];
    else source = this.all;
    const out: SealedBuildEntry[] = [];
    let at = query.before ? position(source, query.before) : 0;
    if (query.before && source[at]?.scope === query.before.scope && source[at]?.sealedAt === query.before.sealedAt) at++;
    for (; at < source.length && out.length < query.limit; at++) {
      const { entry } = source[at] as Item;
      if (sealedMatches(entry, query)) out.push(entry);
    }
    return out;
  }

  private projectKey(build: readonly string[]): string {
    return `${build[0]}/${build[1]}`;
  }

  /** The first position whose revision is not before `revision`. */
  private revisionAt(revision: string): number {
    let lo = 0;
    let hi = this.revisions.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.revisions[mid] as { revision: string }).revision < revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
