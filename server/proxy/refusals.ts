// A request the build proxy refuses says why where people look: in a Proxy-Status header
// (RFC 9209), which a client can show (curl -v prints the CONNECT answer's headers, while
// its error line says only "CONNECT tunnel failed, response 403"), in the log, and in the
// build's inputs (a `refused` line of its recording, docs/inputs.md).
import { createHash } from 'node:crypto';
import { auditUrl } from '../domain/matching.js';
import { scopeSegments } from '../domain/tree-path.js';
import { UpstreamError, type UpstreamFailure } from '../upstream/upstream.js';
import type { LiveToken } from '../../token-service/token-service.js';
import { isoNow, type ProxyServices } from './context.js';

// RFC 9209's error types, for the upstream failures the proxy tells apart.
const ERROR_TYPES: Record<UpstreamFailure, string> = {
  forbidden: 'destination_ip_prohibited',
  dns: 'dns_error',
  tls: 'tls_certificate_error',
  connect: 'connection_refused',
  timeout: 'connection_timeout',
  protocol: 'http_protocol_error',
};

const REASON_CHARS = 300;
/** Refusals kept per build (per process): a build retrying a blocked host must not fill its own recording. */
export const REFUSALS_KEPT = 100;
const KEPT_BUILDS = 1000;

/**
 * Whether a refusal is one to keep in the build's inputs: decided by the proxy before any
 * answer went out, and about the request (a private target, a name that does not resolve,
 * a URL too long), not about load (429, 503), the build's state (409, 507) or an
 * upstream failing (5xx).
 */
export function keepsRefusal(status: number, answered: boolean): boolean {
  return !answered && status >= 400 && status < 500 && status !== 407 && status !== 409 && status !== 429;
}

/** The Proxy-Status value for a refusal (RFC 9209): the error type and the reason, as a structured-field string. */
export function proxyStatus(err: unknown, status: number, reason: string): string {
  const type = err instanceof UpstreamError ? ERROR_TYPES[err.reason] : status >= 500 ? 'proxy_internal_error' : 'http_request_denied';
  // An sf-string holds printable ASCII only, with \ and " escaped.
  const details = reason.slice(0, REASON_CHARS).replace(/[^\x20-\x7e]/g, '?').replace(/[\\"]/g, (c) => `\\${c}`);
  return `artifact-repo; error=${type}; details="${details}"`;
}

/**
 * Keeps a refusal in the build's recording, where its inputs page lists it. Best effort:
 * a build that is sealed, or whose recording is full, keeps nothing more, and the client
 * has its answer either way. The URL is kept as the audit trail keeps it (no query, 512
 * characters at most): a refused URL may be one too long to record.
 */
export class RefusalLog {
  // What each build has had kept lately: at most REFUSALS_KEPT distinct refusals, each as
  // a digest of its method, URL and status (not the URL, up to 512 characters), for the
  // 1 000 builds seen lately, oldest forgotten first: a few MB at most, whatever builds do.
  private readonly kept = new Map<string, Set<string>>();

  constructor(private readonly services: ProxyServices) {}

  /** Keeps the refusal once per build, method, URL and status, up to REFUSALS_KEPT per build. */
  note(token: LiveToken, method: string, url: string, status: number, reason: string): void {
    const key = createHash('sha256').update(`${method} ${auditUrl(url)} ${status}`).digest('base64');
    let seen = this.kept.get(token.scope);
    if (!seen) {
      if (this.kept.size >= KEPT_BUILDS) this.kept.delete(this.kept.keys().next().value as string);
      seen = new Set();
      this.kept.set(token.scope, seen);
    }
    if (seen.has(key) || seen.size >= REFUSALS_KEPT) return;
    seen.add(key);
    void recordRefusal(this.services, token, method, url, status, reason);
  }
}

async function recordRefusal(services: ProxyServices, token: LiveToken, method: string, url: string, status: number, reason: string): Promise<void> {
  try {
    await services.builds.whileWriting(token.scope, async () => {
      const ticket = await services.recorder.admit(scopeSegments(token.scope));
      try {
        await ticket.record({ kind: 'refused', time: isoNow(services), method, url: auditUrl(url), status, reason: reason.slice(0, REASON_CHARS) });
      } finally {
        ticket.release();
      }
    });
  } catch {
    // sealed meanwhile, the recording full, the store away: the answer already says why
  }
}
