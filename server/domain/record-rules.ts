// Rules every implementation of the stores keeps alike (the files on disk and PostgreSQL):
// which events are audited, what a build record holds, the order of signing keys, and the
// limits on dead properties.
import type { RepoEvent } from './events.js';
import type { BuildRecord, SigningKeyRecord, StoredProperty } from './stores.js';

/** Failed logins are counted by the metrics, not written here: a guessing attack would fill the disk. */
export function isAudited(event: RepoEvent): boolean {
  // Failed logins could fill the disk; each proxied exchange is in the build's inputs.
  return event.event !== 'auth.failed' && event.event !== 'proxy.exchange';
}

/** A record with only the fields a build record has (what was stored may carry others). */
export function cleanRecord(parsed: BuildRecord): BuildRecord {
  const record: BuildRecord = {};
  if (parsed.meta) record.meta = parsed.meta;
  if (parsed.sealed) record.sealed = parsed.sealed;
  if (parsed.sealPending) record.sealPending = parsed.sealPending;
  if (parsed.pin) record.pin = parsed.pin;
  if (parsed.retired) record.retired = parsed.retired;
  return record;
}

export function isEmptyRecord(record: BuildRecord): boolean {
  return !record.meta && !record.sealed && !record.sealPending && !record.pin && !record.retired;
}

export function orderKeys(keys: readonly SigningKeyRecord[]): SigningKeyRecord[] {
  return [...keys].sort((a, b) => (a.retiredAt === null ? -1 : b.retiredAt === null ? 1 : b.createdAt.localeCompare(a.createdAt)));
}

/** Dead properties one resource may carry, and their total size: PROPFIND repeats them. */
export const MAX_PROPERTIES = 256;

export const MAX_PROPERTY_BYTES = 64 * 1024;

function propertiesBytes(props: readonly StoredProperty[]): number {
  let bytes = 0;
  for (const p of props) bytes += Buffer.byteLength(p.ns) + Buffer.byteLength(p.local) + Buffer.byteLength(p.valueXml) + (p.lang ? Buffer.byteLength(p.lang) : 0);
  return bytes;
}

/** Why this set of dead properties may not be stored, or null. */
export function propertiesProblem(props: readonly StoredProperty[]): string | null {
  if (props.length > MAX_PROPERTIES) return `at most ${MAX_PROPERTIES} dead properties per resource`;
  if (propertiesBytes(props) > MAX_PROPERTY_BYTES) return `at most ${MAX_PROPERTY_BYTES} bytes of dead properties per resource`;
  return null;
}

/** A search reads at most this many entries: its cost is bounded whatever was stored. */
export const MAX_SEARCH_HITS = 1000;
