// Prometheus metrics for the build farm's admins. Each instance owns its registry: several
// servers share one process in the tests, and the global registry would merge their counts.
import { statfs } from 'node:fs/promises';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RepoEvent } from '../domain/events.js';

export interface MetricsSources {
  /** Live build tokens now (read at scrape time). */
  liveTokens(): Promise<number>;
  /** The mirror's entries by state now. */
  mirrorEntries(): Record<'pending' | 'ok' | 'failed', number>;
  /** Whether this process runs the scheduled work now (one replica of several does). */
  leader(): boolean;
  /** Volumes whose free space is reported, e.g. [{ name: 'artifacts', dir }, { name: 'tokens', dir }]. */
  volumes: { name: string; dir: string }[];
}

export interface RequestSample {
  method: string;
  path: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  seconds: number;
}

const PREFIX = 'artifact_repo_';

// A client may send any token as a method; a label per token would let anyone grow the series without bound.
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'PROPFIND', 'PROPPATCH', 'LOCK', 'UNLOCK', 'OPTIONS', 'POST']);

// From a small file on a fast link to a large package on a slow one.
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** Pure: which histogram a request belongs to. */
export function requestKind(method: string, path: string, status: number): 'upload' | 'download' | 'other' {
  if (method === 'PUT' && status >= 200 && status < 300) return 'upload';
  if (method !== 'GET' && method !== 'HEAD') return 'other';
  // Service endpoints and listings are not artifact transfers; timing them would blur the figures.
  const treePath = path.split('?', 1)[0] ?? '';
  if (treePath === '/-' || treePath.startsWith('/-/') || treePath.endsWith('/')) return 'other';
  return status === 200 || status === 206 || status === 304 ? 'download' : 'other';
}

interface VolumeSpace {
  name: string;
  free: number;
  size: number;
}

export class Metrics {
  readonly contentType: string;
  private readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'status'>;
  private readonly requestSeries = new Map<string, { inc(): void }>();
  private readonly receivedBytes: Counter;
  private readonly sentBytes: Counter;
  private readonly uploads: Histogram;
  private readonly downloads: Histogram;
  private readonly tokensMinted: Counter;
  private readonly tokensEnded: Counter<'how'>;
  private readonly authFailures: Counter<'kind' | 'throttled'>;
  private readonly filesWritten: Counter;
  private readonly writtenBytes: Counter;
  private readonly buildsSealed: Counter;
  private readonly buildsDeleted: Counter;
  private readonly proxyRequests: Counter<'mode' | 'outcome'>;
  private readonly proxyBytes: Counter<'mode'>;
  private readonly proxyMisses: Counter;
  private readonly mirrorDownloads: Counter;
  private readonly mirrorBytes: Counter;
  private readonly scheduledRuns: Counter<'job'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.contentType = this.registry.contentType;

    this.requests = new Counter({ name: `${PREFIX}http_requests_total`, help: 'HTTP requests answered, by method and status.', labelNames: ['method', 'status'], registers });
    this.receivedBytes = new Counter({ name: `${PREFIX}http_received_bytes_total`, help: 'Request body bytes received.', registers });
    this.sentBytes = new Counter({ name: `${PREFIX}http_sent_bytes_total`, help: 'Bytes written to client sockets.', registers });
    this.uploads = new Histogram({ name: `${PREFIX}upload_duration_seconds`, help: 'Duration of successful PUTs.', buckets: DURATION_BUCKETS, registers });
    this.downloads = new Histogram({ name: `${PREFIX}download_duration_seconds`, help: 'Duration of successful GETs and HEADs of artifact files.', buckets: DURATION_BUCKETS, registers });

    new Gauge({
      name: `${PREFIX}live_tokens`,
      help: 'Build tokens neither revoked nor expired.',
      registers,
      async collect() {
        this.set(await sources.liveTokens());
      },
    });
    this.tokensMinted = new Counter({ name: `${PREFIX}tokens_minted_total`, help: 'Build tokens minted.', registers });
    this.tokensEnded = new Counter({ name: `${PREFIX}tokens_ended_total`, help: 'Build tokens ended, by how.', labelNames: ['how'], registers });
    this.authFailures = new Counter({ name: `${PREFIX}auth_failures_total`, help: 'Failed authentications, by credential kind and whether the client was throttled.', labelNames: ['kind', 'throttled'], registers });
    this.filesWritten = new Counter({ name: `${PREFIX}files_written_total`, help: 'Files written into builds.', registers });
    this.writtenBytes = new Counter({ name: `${PREFIX}written_bytes_total`, help: 'Bytes of the files written into builds.', registers });
    this.buildsSealed = new Counter({ name: `${PREFIX}builds_sealed_total`, help: 'Builds sealed.', registers });
    this.buildsDeleted = new Counter({ name: `${PREFIX}builds_deleted_total`, help: 'Builds deleted.', registers });
    this.proxyRequests = new Counter({ name: `${PREFIX}proxy_requests_total`, help: 'Requests through the build proxy, by mode and outcome.', labelNames: ['mode', 'outcome'], registers });
    this.proxyBytes = new Counter({ name: `${PREFIX}proxy_body_bytes_total`, help: 'Response body bytes the build proxy sent, by mode.', labelNames: ['mode'], registers });
    this.mirrorDownloads = new Counter({ name: `${PREFIX}mirror_downloads_total`, help: 'Mirror downloads finished, by outcome (fetched or failed).', labelNames: ['outcome'], registers });
    this.mirrorBytes = new Counter({ name: `${PREFIX}mirror_fetched_bytes_total`, help: 'Bytes the mirror fetched and kept.', registers });
    new Gauge({
      name: `${PREFIX}mirror_entries`,
      help: 'Mirror entries, by state.',
      labelNames: ['state'],
      registers,
      collect() {
        for (const [state, n] of Object.entries(sources.mirrorEntries())) this.set({ state }, n);
      },
    });
    new Gauge({
      name: `${PREFIX}scheduled_work`,
      help: '1 when this replica runs the scheduled work (expiry, seal retries, retention, mirror downloads), 0 when another one does.',
      registers,
      collect() {
        this.set(sources.leader() ? 1 : 0);
      },
    });
    this.scheduledRuns = new Counter({ name: `${PREFIX}scheduled_runs_total`, help: 'Runs of scheduled work by this replica, by job.', labelNames: ['job'], registers });
    for (const job of ['expiry', 'retention']) this.scheduledRuns.inc({ job }, 0);
    this.proxyMisses = new Counter({ name: `${PREFIX}proxy_replay_misses_total`, help: 'Offline requests that neither the replayed build nor the mirror could answer.', registers });

    // Zero series from the start, so that rate() and alerts see the first event as an increase.
    for (const how of ['revoked', 'expired']) this.tokensEnded.inc({ how }, 0);
    for (const kind of ['master', 'token']) for (const throttled of ['true', 'false']) this.authFailures.inc({ kind, throttled }, 0);
    for (const mode of ['record', 'offline']) this.proxyBytes.inc({ mode }, 0);

    new Gauge({
      name: `${PREFIX}volume_free_bytes`,
      help: 'Bytes available to the server on each volume.',
      labelNames: ['volume'],
      registers,
      async collect() {
        const volumes = await measureVolumes(sources.volumes);
        // A volume that could not be measured disappears rather than repeating its last value.
        this.reset();
        for (const v of volumes) this.set({ volume: v.name }, v.free);
      },
    });
    new Gauge({
      name: `${PREFIX}volume_size_bytes`,
      help: 'Total size of each volume.',
      labelNames: ['volume'],
      registers,
      async collect() {
        const volumes = await measureVolumes(sources.volumes);
        this.reset();
        for (const v of volumes) this.set({ volume: v.name }, v.size);
      },
    });

    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
  }

  /** One finished request (called when its response closes). */
  observeRequest(sample: RequestSample): void {
    const method = KNOWN_METHODS.has(sample.method) ? sample.method : 'OTHER';
    // One series per method and status, looked up once: labelling on every request cost
    // about 5% of the small-download rate.
    const key = `${method} ${sample.status}`;
    let series = this.requestSeries.get(key);
    if (!series) {
      series = this.requests.labels(method, String(sample.status));
      this.requestSeries.set(key, series);
    }
    series.inc();
    this.receivedBytes.inc(amount(sample.bytesIn));
    this.sentBytes.inc(amount(sample.bytesOut));
    const kind = requestKind(sample.method, sample.path, sample.status);
    const seconds = amount(sample.seconds);
    if (kind === 'upload') this.uploads.observe(seconds);
    else if (kind === 'download') this.downloads.observe(seconds);
  }

  /** A scheduled job ran here. */
  jobRan(job: 'expiry' | 'retention'): void {
    this.scheduledRuns.inc({ job });
  }

  /** Counts what the event stream says (mints, ends, auth failures, files written, builds sealed/deleted). */
  observe(event: RepoEvent): void {
    switch (event.event) {
      case 'token.minted':
        this.tokensMinted.inc();
        break;
      case 'token.revoked':
        this.tokensEnded.inc({ how: 'revoked' });
        break;
      case 'token.expired':
        this.tokensEnded.inc({ how: 'expired' });
        break;
      case 'auth.failed':
        this.authFailures.inc({ kind: event.kind, throttled: String(event.throttled) });
        break;
      case 'file.written':
        this.filesWritten.inc();
        this.writtenBytes.inc(amount(event.size));
        break;
      case 'build.sealed':
        this.buildsSealed.inc();
        break;
      case 'build.deleted':
        this.buildsDeleted.inc();
        break;
      case 'proxy.exchange':
        this.proxyRequests.inc({ mode: event.mode, outcome: event.outcome });
        this.proxyBytes.inc({ mode: event.mode }, amount(event.bytes));
        if (event.outcome === 'miss') this.proxyMisses.inc();
        break;
      case 'mirror.fetched':
        this.mirrorDownloads.inc({ outcome: 'fetched' });
        this.mirrorBytes.inc(amount(event.size));
        break;
      case 'mirror.failed':
        this.mirrorDownloads.inc({ outcome: 'failed' });
        break;
      default:
        break;
    }
  }

  /** The exposition text (awaits the collect callbacks). */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

// Callers run in response close handlers and event sinks: prom-client throws on a negative
// counter increment or a NaN observation, and would keep a NaN increment forever.
function amount(n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0;
}

async function measureVolumes(volumes: readonly { name: string; dir: string }[]): Promise<VolumeSpace[]> {
  const measured = await Promise.all(
    volumes.map(async ({ name, dir }) => {
      try {
        const s = await statfs(dir);
        return { name, free: s.bavail * s.bsize, size: s.blocks * s.bsize };
      } catch {
        // A scrape must still answer when one volume is unmounted or unreadable.
        return null;
      }
    }),
  );
  return measured.filter((v): v is VolumeSpace => v !== null);
}
