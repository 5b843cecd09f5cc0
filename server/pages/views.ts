// View models for the browser UI. The JSON form of every page is exactly one of these
// objects, so the HTML and JSON never disagree about what a page shows. Every `href` is
// already percent-encoded (built with toHref); every `name` is the decoded display text.
import type { BuildBuilder, BuildSource } from '../domain/build-meta.js';

export interface Crumb {
  name: string;
  href: string;
}

export interface BuildSummary {
  name: string;
  href: string;
  /** ISO 8601. */
  modified: string;
  files: number;
  bytes: number;
  sealed: boolean;
  /** ISO 8601, or null while open. */
  sealedAt: string | null;
  /** Sealed with SHA256SUMS.sig and signed provenance. */
  signed: boolean;
  /** What it was built from and by, as its first mint said (null: not said). */
  source: BuildSource | null;
  builder: BuildBuilder | null;
  properties: Record<string, string> | null;
  /** While open: what its live tokens let the build proxy do, and until when. */
  live: Array<{ proxy: 'record' | 'offline'; replay: string | null; expiresAt: string }>;
  /** Href of the previous build, for "compare with previous". */
  previous: string | null;
  /** /-/compare?from=...&to=... */
  compareHref: string | null;
  /** Sealed, on its own page: what it offers apt and pip, and the files not indexed, with why (null: nothing). */
  packages: BuildPackagesView | null;
}

export interface BuildPackagesView {
  debs: number;
  python: number;
  /** Its own flat apt repository: the sources.list line's URL part (the build's href). */
  aptHref: string | null;
  skipped: Array<{ path: string; reason: string }>;
}

export interface EntryView {
  /** Below a build, for search and compare: the path relative to the build root. */
  name: string;
  href: string;
  type: 'collection' | 'file';
  size: number | null;
  /** ISO 8601. */
  modified: string;
  sha256: string | null;
}

export interface SearchResult {
  path: string;
  href: string;
  size: number;
  build: string;
  buildHref: string;
  modified: string;
}

export interface ChangedFile {
  path: string;
  href: string;
  fromSha256: string | null;
  toSha256: string | null;
  fromSize: number;
  toSize: number;
}

/** The slice of a long list that a page shows: [offset, offset + limit) of total. */
export interface Paging {
  offset: number;
  limit: number;
  total: number;
  previousHref: string | null;
  nextHref: string | null;
}

export type PageView =
  | { view: 'root'; path: '/'; crumbs: Crumb[]; entries: EntryView[] /* types */; paging: Paging; /** The newest sealed builds across the repository. */ recent: SealedBuildView[] }
  | {
      view: 'builds';
      path: '/-/builds';
      crumbs: Crumb[];
      /** The filters given, as given. */
      filters: { type: string | null; project: string | null; branch: string | null; revision: string | null };
      builds: SealedBuildView[];
      /** The cursor of the next page (pass it back as `before`), and that page's link; null at the end. */
      next: string | null;
      nextHref: string | null;
      /** The same list as an Atom feed. */
      feedHref: string;
    }
  | { view: 'type'; path: string; crumbs: Crumb[]; entries: EntryView[] /* projects */; paging: Paging }
  | { view: 'project'; path: string; crumbs: Crumb[]; builds: BuildSummary[] /* already sorted newest first */; entries: EntryView[]; paging: Paging /* of the builds */ }
  | { view: 'directory'; path: string; crumbs: Crumb[]; build: BuildSummary; entries: EntryView[] /* collections first, then files */; paging: Paging }
  | {
      view: 'search';
      path: '/-/search';
      crumbs: Crumb[];
      /** What was asked for: a checksum, or a name. */
      query: string | null;
      sha256: string | null;
      error: string | null;
      results: SearchResult[];
      /** Projects and builds whose name holds the query (a name search). */
      names: NameHit[];
      /** Sealed builds minted from a revision (?revision=), newest first, and the open ones, by name. */
      builds?: SealedBuildView[];
      open?: NameHit[];
      /** More hits than a page holds. */
      more: boolean;
    }
  | { view: 'compare-form'; path: '/-/compare'; crumbs: Crumb[] }
  | {
      view: 'compare';
      path: '/-/compare';
      crumbs: Crumb[];
      from: string;
      to: string;
      error: string | null;
      /** How many files fall in each list; the lists hold at most the first 1000 of each. */
      counts: { added: number; removed: number; changed: number; identical: number };
      added: EntryView[];
      removed: EntryView[];
      changed: ChangedFile[];
      identical: EntryView[];
      /** The builds' recorded inputs compared by request and checksum (null when neither has any). */
      inputs: {
        counts: { added: number; removed: number; changed: number; identical: number };
        /** Only what provenance lists (bodies got by GET, 2xx), as it names them; the rest counted in `unlisted`. */
        added: PublicInputView[];
        removed: PublicInputView[];
        changed: { url: string; queryHash: string | null; method: string; fromSha256: string; toSha256: string }[];
        unlisted: { added: number; removed: number; changed: number };
      } | null;
      /** Outputs, and inputs where recorded, all the same. */
      reproducible: boolean;
      /** What the two builds' signed provenance agree on (null unless both have one that verifies). */
      provenance: { inputs: boolean; outputs: boolean } | null;
    }
  | {
      view: 'audit';
      path: '/-/audit';
      crumbs: Crumb[];
      build: string;
      buildHref: string;
      /** This page: entries [offset, offset + entries.length) of `total`, oldest first. */
      entries: AuditEntryView[];
      offset: number;
      total: number;
      previousHref: string | null;
      nextHref: string | null;
    }
  | {
      view: 'inputs';
      path: '/-/inputs';
      crumbs: Crumb[];
      build: string;
      buildHref: string;
      /** Distinct requests, first complete answer each, in the order they were made. */
      exchanges: InputView[];
      /** The first misses (MISSES_LISTED), and how many there are. */
      misses: MissView[];
      missTotal: number;
      /** The first parts of bodies passed through unrecorded (a Range), and how many there are. */
      partials: PartialView[];
      partialTotal: number;
      /** The first requests the build proxy refused (a private address, say), and how many there are. */
      refusals: RefusalView[];
      refusalTotal: number;
      paging: Paging;
    }
  | {
      view: 'mirror';
      path: '/-/mirror';
      crumbs: Crumb[];
      /** Declared external files and images, oldest first. */
      entries: MirrorEntryView[];
    }
  | { view: 'mirror-entry'; path: string; crumbs: Crumb[]; entry: MirrorEntryView }
  | { view: 'error'; path: string; crumbs: Crumb[]; status: number; message: string };

export type { MirrorEntryView } from '../services/mirror.js';
import type { MirrorEntryView } from '../services/mirror.js';

/** One input of a build, as anyone may see it: what its signed provenance says of it. */
export interface PublicInputView {
  method: string;
  /** Without userinfo and query, as provenance names it. */
  url: string;
  /** The keyed hash of the query the URL had, if any. */
  queryHash: string | null;
  sha256: string;
  /** upstream (recorded), replay (from the build replayed) or mirror. */
  source: string;
}

/** One input of a build, for masters (/-/inputs): a request its build proxy answered. */
export interface InputView {
  method: string;
  /** The whole URL. */
  url: string;
  status: number;
  sha256: string;
  size: number;
  /** ISO 8601. */
  time: string;
  /** upstream (recorded), replay (from the build replayed) or mirror. */
  source: string;
  /** A later answer to the same request differed (the first is kept). */
  changed: boolean;
}

export interface SealedBuildView {
  type: string;
  project: string;
  build: string;
  /** /type/project/build/ */
  path: string;
  href: string;
  sealedAt: string;
  files: number;
  bytes: number;
  signed: boolean;
  branch: string | null;
  revision: string | null;
}

export interface NameHit {
  kind: 'project' | 'build';
  /** /type/project/ or /type/project/build/ */
  path: string;
  href: string;
}

export interface RefusalView {
  method: string;
  url: string;
  status: number;
  reason: string;
  time: string;
}

export interface PartialView {
  method: string;
  url: string;
  status: number;
  range: string;
  time: string;
}

export interface MissView {
  method: string;
  url: string;
  time: string;
  replayed: string | null;
}

/** One line of the audit trail: when, what, and the event's own fields. */
export interface AuditEntryView {
  time: string;
  event: string;
  [field: string]: string | number | null;
}
