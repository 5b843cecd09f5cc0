// Runs the retention policy over the tree: on a schedule, on demand, or as a dry run that
// only lists. Each removal is one build, whole (Builds.deleteSealed), and audited.
import { scopeString } from '../domain/tree-path.js';
import type { EventSink } from '../domain/events.js';
import type { Builds } from './builds.js';
import type { SealedState as BuildState } from '../domain/stores.js';
import { buildsToDelete, ruleFor, type BuildCandidate, type RetentionPolicy, type RetentionRule } from '../domain/retention-policy.js';

export interface RetiredBuild {
  build: string;
  sealed_at: string;
  reason: string;
  files: number;
  bytes: number;
}

export interface RetentionReport {
  dry_run: boolean;
  ran_at: string;
  /** Removed, or for a dry run what would be. */
  deleted: RetiredBuild[];
  /** Builds looked at and kept (open, pinned, recent, or without a rule). */
  kept: number;
}

export function reasonFor(rule: RetentionRule): string {
  return `sealed ${rule.keepDays} or more days ago and not among the newest ${rule.keepNewest} sealed builds of its project`;
}

export class Retention {
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly builds: Builds,
    readonly policy: RetentionPolicy | null,
    private readonly emit: EventSink,
    private readonly now: () => number = Date.now,
    /** After a run that deleted builds: their downloaded bodies go once nothing refers to them. */
    private readonly afterDeletions: () => Promise<unknown> = async () => undefined,
  ) {}

  /** One run at a time: a scheduled run and one asked for wait for each other. */
  run(options: { dryRun: boolean; by: string }): Promise<RetentionReport> {
    const next = this.running.then(() => this.runAlone(options));
    this.running = next.catch(() => undefined);
    return next;
  }

  private async runAlone({ dryRun, by }: { dryRun: boolean; by: string }): Promise<RetentionReport> {
    const now = this.now();
    const report: RetentionReport = { dry_run: dryRun, ran_at: new Date(now).toISOString(), deleted: [], kept: 0 };
    // One read of each build's state: the dry run reports from it, a real run reads again under the lock.
    const projects = new Map<string, Array<BuildCandidate & { state: BuildState | null }>>();
    for (const segments of await this.builds.all()) {
      const [state, pin] = await Promise.all([this.builds.sealedState(segments), this.builds.pinState(segments)]);
      const key = `${segments[0]}/${segments[1]}`;
      const list = projects.get(key) ?? [];
      list.push({ segments, sealedAt: state?.sealedAt ?? null, pinned: pin !== null, state });
      projects.set(key, list);
    }
    for (const [key, candidates] of projects) {
      const [type = '', project = ''] = key.split('/');
      const rule = this.policy ? ruleFor(this.policy, type, project) : null;
      if (!rule) {
        report.kept += candidates.length;
        continue;
      }
      const doomed = buildsToDelete(candidates, rule, now);
      report.kept += candidates.length - doomed.length;
      const reason = reasonFor(rule);
      for (const candidate of doomed) {
        const build = scopeString(candidate.segments);
        if (dryRun) {
          report.deleted.push({ build, sealed_at: candidate.sealedAt ?? '', reason, files: candidate.state?.files ?? 0, bytes: candidate.state?.bytes ?? 0 });
          continue;
        }
        // Null when it was pinned (or went) since it was listed: then it stays.
        const removed = await this.builds.deleteSealed(candidate.segments, by);
        if (!removed) {
          report.kept++;
          continue;
        }
        report.deleted.push({ build, sealed_at: removed.sealedAt, reason, files: removed.files, bytes: removed.bytes });
        this.emit({ event: 'build.deleted', build, by, files: removed.files, bytes: removed.bytes, reason });
      }
    }
    if (!dryRun && report.deleted.length > 0) await this.afterDeletions();
    return report;
  }
}
