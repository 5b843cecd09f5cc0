// Who is asking, and under which base URL: X-Forwarded-* are believed only from a trusted
// proxy (the bundled nginx), so a client cannot pick its own address or host.
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP, type Socket } from 'node:net';

// Connections accepted on LISTEN_SOCKET: only a local reverse proxy can reach that socket.
const proxySockets = new WeakSet<Socket>();

export function markProxySocket(socket: Socket): void {
  proxySockets.add(socket);
}

function normaliseAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

const blockLists = new WeakMap<readonly string[], BlockList>();

/** The configured proxies as a BlockList, built once per configuration list. */
function trustedList(trusted: readonly string[]): BlockList {
  let list = blockLists.get(trusted);
  if (!list) {
    list = new BlockList();
    for (const entry of trusted) {
      const [address, prefix] = entry.split('/') as [string, string | undefined];
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (prefix === undefined) list.addAddress(address, family);
      else list.addSubnet(address, Number(prefix), family);
    }
    blockLists.set(trusted, list);
  }
  return list;
}

export function isTrustedProxy(req: IncomingMessage, trusted: readonly string[]): boolean {
  if (proxySockets.has(req.socket)) return true;
  if (trusted.length === 0) return false;
  const peer = normaliseAddress(req.socket.remoteAddress);
  const family = isIP(peer);
  return family !== 0 && trustedList(trusted).check(peer, family === 6 ? 'ipv6' : 'ipv4');
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
