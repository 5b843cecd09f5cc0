// Record mode: an exchange is made upstream, kept in the content store and recorded as an
// input of the token's build, in room its recording held for it. A small answer is
// received whole, kept and recorded, then sent; a larger one is streamed to the client
// and to the content store at once, and recorded when complete. A conditional request is
// fetched whole and recorded (the 304 is the proxy's); a Range answered in part is passed
// through and listed, not recorded.
import { validateHeaderName, validateHeaderValue, type IncomingMessage } from 'node:http';
import type { ProxyOutcome } from '../domain/events.js';
import { errorSummary, Failure, storageFailure } from '../domain/errors.js';
import { scopeSegments } from '../domain/tree-path.js';
import { MAX_LINE_BYTES, serialiseLine } from '../domain/recording-lines.js';
import type { ContentWriter, RecordedExchange } from '../domain/stores.js';
import type { RecordingTicket } from '../services/recorder.js';
import { recordedHeaders, varyValues } from '../domain/matching.js';
import { forwardedHeaders } from '../upstream/upstream.js';
import { receiveWhole, SMALL_BODY_BYTES } from '../storage/body-files.js';
import { clientSink, hashedBody, notModified, passedHeaders, pump, type Sink } from './bodies.js';
import { isoNow, reportExchange, type Exchange, type ProxyServices } from './context.js';

/** What a 304 made from a whole answer does not carry (the body's own headers, and cookies). */
const NOT_MODIFIED_DROPS: ReadonlySet<string> = new Set(['content-length', 'content-type', 'content-encoding', 'set-cookie']);

export async function record(services: ProxyServices, exchange: Exchange): Promise<ProxyOutcome> {
  const { req, res, token } = exchange;
  const headers = forwardedHeaders(req.rawHeaders);
  // A conditional request is fetched whole and recorded; the 304 is the proxy's. (A Range
  // goes as it came: a partial answer is passed through, not recorded; replay answers
  // ranges from a whole body.)
  if (req.headers.range === undefined) {
    delete headers['if-none-match'];
    delete headers['if-modified-since'];
  }
  const body = hashedBody(req);
  return services.builds.whileWriting(
    token.scope,
    async () => {
      const ticket = await services.recorder.admit(scopeSegments(token.scope));
      try {
        return await recordAdmitted(services, exchange, headers, body, ticket);
      } finally {
        ticket.release();
      }
    },
    () => res.destroy(),
  );
}

/** An exchange admitted to its build's recording: fetched, kept in the content store, recorded, sent on. */
async function recordAdmitted(
  services: ProxyServices,
  exchange: Exchange,
  headers: ReturnType<typeof forwardedHeaders>,
  body: ReturnType<typeof hashedBody>,
  ticket: RecordingTicket,
): Promise<ProxyOutcome> {
  const { req, res, url } = exchange;
  const method = req.method ?? 'GET';
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const answer = await services.upstream.request({ method, url: new URL(url), headers, body: body.body, signal: abort.signal });
  const status = answer.statusCode ?? 502;
  // A part of a body (206, or 416 for a range it does not have) is not the resource: it
  // goes to the client, and the recording says only that it was asked for.
  if (req.headers.range !== undefined && (status === 206 || status === 416)) {
    res.writeHead(status, passedHeaders(answer.rawHeaders));
    let bytes = 0;
    await pump(answer, [clientSink(res)], (n) => (bytes += n)).catch(() => res.destroy());
    if (!res.destroyed) await ticket.record({ kind: 'partial', time: isoNow(services), method, url, status, range: String(req.headers.range).slice(0, 256) });
    res.end();
    reportExchange(services, 'record', 'passed', bytes);
    return 'passed';
  }
  const kept = recordedHeaders(answer.rawHeaders);
  const vary = varyValues(answer.headers.vary, req.headers, services.recordingHash);
  // What the line will hold is known now: one too long to record is refused before a byte is sent.
  try {
    serialiseLine({ kind: 'exchange', time: isoNow(services), method, url, requestSha256: '0'.repeat(64), varyValues: vary, status, headers: kept, sha256: '0'.repeat(64), size: Number.MAX_SAFE_INTEGER, source: 'upstream' });
  } catch {
    answer.destroy();
    throw new Failure('upstream-failed', `the upstream's answer has more headers than a recording keeps (a line of at most ${MAX_LINE_BYTES} bytes)`);
  }
  const conditionalHit = notModified(method, status, req.headers, answer.headers);
  const declared = answerLength(answer.headers['content-length']);
  if (method === 'GET' && declared !== null && declared <= SMALL_BODY_BYTES && status >= 200 && status !== 204 && status !== 304) {
    return recordWhole(services, exchange, answer, { declared, conditionalHit, body, ticket, line: { method, url, status, headers: kept, varyValues: vary } });
  }
  let writer: ContentWriter;
  try {
    // Its length, when the upstream says it: a large body is hashed off this thread.
    writer = await services.content.open(declared);
  } catch {
    answer.destroy();
    throw new Failure('insufficient-storage', 'the recording of this download cannot be stored (insufficient storage)');
  }
  const sinks: Sink[] = [writer];
  try {
    if (conditionalHit) {
      res.writeHead(304, passedHeaders(answer.rawHeaders, NOT_MODIFIED_DROPS));
      res.end();
    } else {
      res.writeHead(status, passedHeaders(answer.rawHeaders));
      sinks.push(clientSink(res));
    }
  } catch (err) {
    // A header Node will not send: nothing of the body is kept either.
    answer.destroy();
    await writer.abort();
    throw err;
  }
  let bytes = 0;
  try {
    await pump(answer, sinks, (n) => {
      bytes += n;
      if (writer.error) answer.destroy(writer.error);
    });
    if (!conditionalHit && !res.writableFinished && res.destroyed) throw new Error('the client went away');
    const stored = await writer.finish();
    const requestSha256 = await body.sha256();
    const line: RecordedExchange = {
      kind: 'exchange',
      time: isoNow(services),
      method,
      url,
      requestSha256,
      varyValues: vary,
      status,
      headers: kept,
      sha256: stored.sha256,
      size: stored.size,
      source: 'upstream',
    };
    await ticket.record(line);
  } catch (err) {
    await writer.abort();
    // After the headers, only a cut connection can say it failed.
    res.destroy();
    throw err;
  }
  if (!conditionalHit) res.end();
  reportExchange(services, 'record', 'recorded', bytes);
  return 'recorded';
}

/** A Content-Length the upstream declared, as a number; null when there is none (or it is not one). */
function answerLength(value: string | undefined): number | null {
  const length = Number(value);
  return value !== undefined && Number.isSafeInteger(length) && length >= 0 ? length : null;
}

/**
 * A small answer (a declared length of at most SMALL_BODY_BYTES) is received whole, kept
 * and recorded before the client gets a byte of it: a store that fails is a clean error,
 * and a body kept already (the same dependency in build after build) is only marked as
 * used, with no file made (docs/performance.md).
 */
async function recordWhole(
  services: ProxyServices,
  { res }: Exchange,
  answer: IncomingMessage,
  { declared, conditionalHit, body, ticket, line }: { declared: number; conditionalHit: boolean; body: ReturnType<typeof hashedBody>; ticket: RecordingTicket; line: Pick<RecordedExchange, 'method' | 'url' | 'status' | 'headers' | 'varyValues'> },
): Promise<ProxyOutcome> {
  const headers = passedHeaders(answer.rawHeaders, conditionalHit ? NOT_MODIFIED_DROPS : undefined);
  // A header Node will not send fails here, before anything is kept (as writeHead would).
  try {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      validateHeaderName(headers[i] as string);
      validateHeaderValue(headers[i] as string, headers[i + 1] as string);
    }
  } catch (err) {
    answer.destroy();
    throw err;
  }
  let whole: Buffer;
  try {
    whole = await receiveWhole(answer, declared);
  } catch {
    answer.destroy();
    if (res.destroyed) throw new Error('the client went away');
    throw new Failure('upstream-failed', "the upstream's answer ended before the length it declared");
  }
  let stored: { sha256: string; size: number };
  try {
    stored = await services.content.keepWhole(whole);
  } catch (err) {
    const failure = storageFailure(err);
    if (failure instanceof Failure && failure.kind === 'insufficient-storage') throw new Failure('insufficient-storage', 'the recording of this download cannot be stored (insufficient storage)');
    // Any other failure of the store is the repository's, not the download's: never a 404
    // or 403 that a package manager would take for the dependency's own answer.
    throw new Error(`the recording of this download could not be stored: ${errorSummary(err)}`);
  }
  // A client gone meanwhile got nothing: nothing is recorded (as for a larger answer).
  if (res.destroyed) throw new Error('the client went away');
  await ticket.record({ kind: 'exchange', time: isoNow(services), ...line, requestSha256: await body.sha256(), sha256: stored.sha256, size: stored.size, source: 'upstream' });
  res.writeHead(conditionalHit ? 304 : line.status, headers);
  res.end(conditionalHit ? undefined : whole);
  reportExchange(services, 'record', 'recorded', conditionalHit ? 0 : whole.length);
  return 'recorded';
}
