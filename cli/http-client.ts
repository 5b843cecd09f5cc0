// What the client commands (mint, revoke, verify, proxy-env) say when a request fails: the
// network's own reason (fetch's "fetch failed" hides it in `cause`), and the server's
// message rather than a bare status.

/** A failure the client explains in one line and exits 1 for. */
export class ClientError extends Error {}

/** Why a request reached no server, from the error fetch threw: "connect ECONNREFUSED 127.0.0.1:8080". */
export function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string; errors?: Array<{ message?: string }> } }).cause;
  // A host with two addresses (localhost) fails with an AggregateError of both.
  const first = cause?.errors?.[0]?.message;
  return first ?? cause?.message ?? cause?.code ?? (err instanceof Error ? err.message : String(err));
}

/** fetch, with a network failure turned into a ClientError naming the origin and the reason. */
export async function reach(url: URL, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, { redirect: 'follow', ...init });
  } catch (err) {
    throw new ClientError(`cannot reach ${url.origin}: ${networkReason(err)}`);
  }
}

/** The server's own words for a refusal: its JSON `error`, or the first line of its text, bounded. */
export async function serverMessage(res: Response): Promise<string> {
  const body = (await res.text().catch(() => '')).slice(0, 2000);
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON: the text itself
  }
  const line = body.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
  // An HTML page (a proxy in between, say) says nothing useful in its first line.
  return line === '' || line.startsWith('<') ? `${res.status} ${res.statusText}` : line.slice(0, 300);
}

/** A value for `export NAME=value` that a POSIX shell reads back unchanged. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
