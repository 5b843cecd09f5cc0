import type { IncomingMessage } from 'node:http';

/** One request header as a string (Node types extension headers as string | string[]). */
export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
