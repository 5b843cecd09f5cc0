// What the repository keeps in place of a value that may be a secret (a request header a
// response varied on, a URL's query in public provenance): HMAC-SHA256 under a secret of
// the repository. The same value always gives the same hash, so recordings still match
// and two builds that asked different queries still differ; without the secret, trying a
// dictionary of values recovers nothing. Pure.
import { createHmac, randomBytes } from 'node:crypto';

/** A value as the repository keeps it: `hmac-sha256:<hex>`. */
export type KeyedHash = (value: string) => string;

export const KEYED_HASH_PREFIX = 'hmac-sha256:';

/** The name under which the repository keeps this hash's secret (RepositorySecrets). */
export const RECORDING_HASH_SECRET = 'recording-hash';

export function keyedHash(secret: string): KeyedHash {
  return (value) => `${KEYED_HASH_PREFIX}${createHmac('sha256', secret).update(value).digest('hex')}`;
}

/** A new random secret: 32 bytes, hex. */
export function newSecret(): string {
  return randomBytes(32).toString('hex');
}
