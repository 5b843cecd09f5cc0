// Offline mode: a build replays a sealed build's recording, with no network at all. An
// exchange found in the recording is answered from the content store, as it was recorded
// (ranges and 304 from the whole body); one not found is a miss: 404 with
// X-Artifact-Repo-Replay: miss, recorded as such and audited.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProxyOutcome } from '../domain/events.js';
import { scopeSegments } from '../domain/tree-path.js';
import type { ContentStore, InputSource, RecordedExchange } from '../domain/stores.js';
import { auditUrl, type HeaderList } from '../domain/matching.js';
import { ReplayIndex } from '../services/replay-index.js';
import { openStoredBody, sendStoredBody, storedAnswer, type StoredAnswer } from '../http/stored.js';
import { HttpError, sendHttpError } from '../http/errors.js';
import type { LiveToken } from '../../token-service/token-service.js';
import { hashedBody, notModified } from './bodies.js';
import { isoNow, reportExchange, type Exchange, type ProxyServices } from './context.js';

export const REPLAY_MISS_HEADER = 'X-Artifact-Repo-Replay';
// A build's misses each get an audit line up to this many (per process); all are in its recording.
export const AUDITED_MISSES = 100;

export class Replayer {
  private readonly replays: ReplayIndex;
  // Misses audited so far per build (AUDITED_MISSES), for the builds seen lately.
  private readonly auditedMisses = new Map<string, number>();

  constructor(private readonly services: ProxyServices) {
    this.replays = new ReplayIndex(services.recorder.store, services.recorder.limits);
  }

  /** The replayed build's recording answers (the mirror did already), or a miss. */
  async offline({ req, res, token, url }: Exchange): Promise<ProxyOutcome> {
    const { services } = this;
    const method = req.method ?? 'GET';
    const body = hashedBody(req);
    body.body?.resume();
    const requestSha256 = await body.sha256();
    const found = token.replay ? await this.replays.find(token.replay, method, url, requestSha256, req.headers, services.recordingHash) : null;
    return services.builds.whileWriting(token.scope, async () => {
      const ticket = await services.recorder.admit(scopeSegments(token.scope));
      try {
        if (!found) {
          await ticket.record({ kind: 'miss', time: isoNow(services), method, url, replayed: token.replay });
          this.auditMiss(token, method, url);
          const text = `not recorded: ${method} ${auditUrl(url)} is not in ${token.replay ? `the recording of ${token.replay} nor in the mirror` : 'the mirror'} (offline build proxy)\n`;
          res.writeHead(404, { [REPLAY_MISS_HEADER]: 'miss', 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
          res.end(method === 'HEAD' ? undefined : text);
          reportExchange(services, 'offline', 'miss');
          return 'miss';
        }
        const bytes = await serveRecorded(req, res, found, services.content, services.now);
        await ticket.record({ ...found, time: isoNow(services), source: 'replay' as InputSource });
        reportExchange(services, 'offline', 'replayed', bytes);
        return 'replayed';
      } finally {
        ticket.release();
      }
    });
  }

  /** The first AUDITED_MISSES misses of a build each get an audit line; the rest are in its recording (and counted at the seal). */
  private auditMiss(token: LiveToken, method: string, url: string): void {
    const seen = this.auditedMisses.get(token.scope) ?? 0;
    if (seen >= AUDITED_MISSES) return;
    if (this.auditedMisses.size >= 10_000 && seen === 0) this.auditedMisses.delete(this.auditedMisses.keys().next().value as string);
    this.auditedMisses.set(token.scope, seen + 1);
    this.services.emit({ event: 'input.missed', build: token.scope, method, url: auditUrl(url), replayed: token.replay, token: token.id });
  }
}

/**
 * A recorded answer (a replay, or the mirror's): its status and headers, Date now; a 304
 * or a range from the whole body (http/stored.ts). Resolves to the body bytes sent.
 */
export async function serveRecorded(
  req: IncomingMessage,
  res: ServerResponse,
  found: RecordedExchange,
  content: ContentStore,
  now: () => number,
): Promise<number> {
  const recorded: HeaderList = Object.fromEntries(found.headers);
  const base = found.headers.filter(([name]) => name !== 'content-length');
  const out: string[] = ['Date', new Date(now()).toUTCString()];
  for (const [name, value] of base) out.push(name, value);
  const precondition = notModified(req.method ?? 'GET', found.status, req.headers, recorded) ? 'not-modified' : 'ok';
  let answer: StoredAnswer;
  try {
    answer = storedAnswer(found.size, precondition, req.headers.range, found.status);
  } catch (err) {
    // A range past the body (416): answered here, so that the exchange is still recorded.
    if (!(err instanceof HttpError)) throw err;
    sendHttpError(req, res, err);
    return 0;
  }
  if (answer.kind === 'not-modified') {
    const validators = ['Date', out[1] as string];
    for (const [name, value] of base) if (name !== 'content-type' && name !== 'content-encoding') validators.push(name, value);
    res.writeHead(304, validators);
    res.end();
    return 0;
  }
  if (answer.headers['Content-Range'] !== undefined) out.push('Content-Range', answer.headers['Content-Range']);
  // A recorded HEAD has no body: its own Content-Length says what a GET would carry.
  if (found.method === 'HEAD') {
    out.push('Content-Length', String(Number(recorded['content-length'] ?? 0)));
    res.writeHead(answer.status, out);
    res.end();
    return 0;
  }
  out.push('Content-Length', String(answer.length));
  // Opened before the head: a store that cannot give the body is a 503, not a cut connection.
  const body = await openStoredBody(req, answer, (range) => content.read(found.sha256, range));
  try {
    res.writeHead(answer.status, out);
  } catch (err) {
    body?.destroy();
    throw err;
  }
  return sendStoredBody(req, res, answer, body);
}
