// Everything worth an audit line or a metric, as one union. Builds are named by their
// scope ("/dpkg/hello/42/"), tree paths by their href; never a secret.
import type { TokenEvent } from './token-events.js';

export type { TokenEvent } from './token-events.js';

/** A change made in the tree with a build token. */
export type TreeEvent =
  | { event: 'file.written'; build: string; path: string; size: number; sha256: string; token: string }
  | { event: 'resource.deleted'; build: string; path: string; token: string }
  | { event: 'resource.copied'; build: string; path: string; from: string; token: string }
  | { event: 'resource.moved'; build: string; path: string; from: string; token: string }
  | { event: 'collection.created'; build: string; path: string; token: string }
  | { event: 'properties.changed'; build: string; path: string; token: string };

export type BuildEvent =
  | { event: 'build.sealed'; build: string; files: number; bytes: number }
  | { event: 'build.pinned'; build: string; by: string }
  | { event: 'build.unpinned'; build: string; by: string }
  | { event: 'build.deleted'; build: string; by: string; files: number; bytes: number; reason: string };

/** What the build proxy did: the misses and each build's count of inputs are audited. */
export type InputEvent =
  | { event: 'proxy.exchange'; mode: 'record' | 'offline'; outcome: ProxyOutcome; bytes: number }
  | { event: 'input.missed'; build: string; method: string; url: string; replayed: string | null; token: string }
  | { event: 'build.inputs'; build: string; exchanges: number; misses: number; partials: number };

/** The mirror's entries: declared, fetched, failed (with why and how many tries), removed. */
export type MirrorEvent =
  | { event: 'mirror.declared'; id: string; source: string; by: string }
  | { event: 'mirror.fetched'; id: string; source: string; sha256: string; size: number }
  | { event: 'mirror.failed'; id: string; source: string; reason: string; attempts: number }
  | { event: 'mirror.removed'; id: string; source: string; by: string };

/** recorded: fetched and kept; passed: fetched, not kept (a Range); replayed or mirrored: answered offline; miss: not found offline; refused (403/407); failed (502/504/507). */
export type ProxyOutcome = 'recorded' | 'passed' | 'replayed' | 'mirrored' | 'miss' | 'refused' | 'failed';

export type RepoEvent = TokenEvent | TreeEvent | BuildEvent | InputEvent | MirrorEvent;

export type EventSink = (event: RepoEvent) => void;

/** Several sinks as one; a failing sink does not keep the event from the others. */
export function fanOut(...sinks: EventSink[]): EventSink {
  return (event) => {
    for (const sink of sinks) {
      try {
        sink(event);
      } catch {
        // Reporting must never fail the request that caused it.
      }
    }
  };
}
