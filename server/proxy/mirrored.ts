// URLs the mirror holds, in either mode: answered from the mirror with no upstream at all,
// and recorded as inputs marked so.
import type { ServerResponse } from 'node:http';
import type { ProxyOutcome } from '../domain/events.js';
import { scopeSegments } from '../domain/tree-path.js';
import type { MirroredPart, RecordedExchange } from '../domain/stores.js';
import { isoNow, reportExchange, type Exchange, type ProxyServices } from './context.js';
import { serveRecorded } from './replay.js';

/** A mirrored URL: served as a recorded answer of the mirror's bytes, and recorded. */
export async function mirrored(services: ProxyServices, { req, res, token, url }: Exchange, part: MirroredPart): Promise<ProxyOutcome> {
  const headers: [string, string][] = [
    ['content-type', part.contentType],
    ['content-length', String(part.size)],
    ['etag', `"${part.digest ?? `sha256:${part.sha256}`}"`],
    ['accept-ranges', 'bytes'],
    ['x-checksum-sha256', part.sha256],
  ];
  if (part.digest) headers.push(['docker-content-digest', part.digest]);
  const exchange: RecordedExchange = {
    kind: 'exchange',
    time: isoNow(services),
    method: req.method ?? 'GET',
    url,
    requestSha256: null,
    varyValues: {},
    status: 200,
    headers,
    sha256: part.sha256,
    size: part.size,
    source: 'mirror',
  };
  return services.builds.whileWriting(token.scope, async () => {
    const ticket = await services.recorder.admit(scopeSegments(token.scope));
    try {
      const bytes = await serveRecorded(req, res, exchange, services.content, services.now);
      await ticket.record(exchange);
      reportExchange(services, token.proxy, 'mirrored', bytes);
      // The entry's page lists the builds it served; a failure to note it fails nothing.
      services.mirror.noteUse(part, token.scope).catch(() => undefined);
      return 'mirrored' as const;
    } finally {
      ticket.release();
    }
  });
}

/** The registry API's root, offline, for a registry the mirror holds images of (no input: it carries nothing). */
export function registryRoot(services: ProxyServices, res: ServerResponse): ProxyOutcome {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 2, 'Docker-Distribution-API-Version': 'registry/2.0' });
  res.end(res.req.method === 'HEAD' ? undefined : '{}');
  reportExchange(services, 'offline', 'mirrored');
  return 'mirrored';
}
