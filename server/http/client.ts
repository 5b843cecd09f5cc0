// Who is asking, and under which base URL: X-Forwarded-* are believed only from a trusted
// proxy (the bundled nginx), so a client cannot pick its own address or host.
import type { IncomingMessage } from 'node:http';

function normaliseAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

export function isTrustedProxy(req: IncomingMessage, trusted: readonly string[]): boolean {
  return trusted.length > 0 && trusted.includes(normaliseAddress(req.socket.remoteAddress));
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The client's address: the peer, or the address nginx appended to X-Forwarded-For. */
export function clientAddress(req: IncomingMessage, trusted: readonly string[]): string {
  const peer = normaliseAddress(req.socket.remoteAddress);
  if (!isTrustedProxy(req, trusted)) return peer;
  const forwarded = firstHeader(req.headers['x-forwarded-for']);
  // nginx appends the real peer last; anything before it came from the client.
  const last = forwarded?.split(',').pop()?.trim();
  return last ? normaliseAddress(last) : peer;
}

const HOST_RE = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/** Base URL of this request as the client sees it, ending in "/". */
export function requestBaseUrl(req: IncomingMessage, trusted: readonly string[], publicUrl: URL | null): string {
  if (publicUrl) return publicUrl.href;
  let proto = 'http';
  let host = firstHeader(req.headers.host);
  if (isTrustedProxy(req, trusted)) {
    const fproto = firstHeader(req.headers['x-forwarded-proto'])?.split(',')[0]?.trim();
    const fhost = firstHeader(req.headers['x-forwarded-host'])?.split(',')[0]?.trim();
    if (fproto === 'https' || fproto === 'http') proto = fproto;
    if (fhost) host = fhost;
  }
  if (!host || !HOST_RE.test(host)) host = `${req.socket.localAddress ?? '127.0.0.1'}:${req.socket.localPort ?? ''}`;
  return `${proto}://${host}/`;
}

/** Hosts under which this server is addressed, for checking a Destination header. */
export function ownHosts(req: IncomingMessage, trusted: readonly string[], publicUrl: URL | null): Set<string> {
  const hosts = new Set<string>();
  const host = firstHeader(req.headers.host);
  if (host) hosts.add(host.toLowerCase());
  hosts.add(new URL(requestBaseUrl(req, trusted, null)).host.toLowerCase());
  if (publicUrl) hosts.add(publicUrl.host.toLowerCase());
  return hosts;
}
