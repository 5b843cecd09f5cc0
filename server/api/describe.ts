// GET /-/describe/PATH: what nginx adds to a download it sends from disk, from the same
// records and rules as the app's own downloads (webdav/files.ts).
import { buildOf } from '../services/builds.js';
import type { Services } from '../services/services.js';
import { etagOf } from '../http/conditional.js';
import { checksumHeaders, SEALED_MAX_AGE_SECONDS } from '../http/headers.js';

/**
 * What nginx adds to a download it sends from disk (GET /-/describe/PATH, a bodiless
 * subrequest): the checksum headers, and for a sealed build leave to keep the answer.
 */
export async function describeFile(services: Services, segments: readonly string[]): Promise<Record<string, string | number>> {
  const opened = await services.store.open(segments);
  if (!opened) return { 'X-Accel-Expires': 0 };
  const { stats } = opened;
  opened.close();
  // The validator the checksum belongs to: nginx sends the checksum only with these bytes.
  const headers: Record<string, string | number> = { 'X-Accel-Expires': 0, ETag: etagOf(stats) };
  Object.assign(headers, checksumHeaders(await services.catalog.ensureChecksum(segments, stats)));
  const build = buildOf(segments);
  if (build !== null && (await services.builds.sealedForServing(build))) {
    headers['Cache-Control'] = `public, max-age=${SEALED_MAX_AGE_SECONDS}, immutable`;
    headers['X-Accel-Expires'] = SEALED_MAX_AGE_SECONDS;
  }
  return headers;
}
