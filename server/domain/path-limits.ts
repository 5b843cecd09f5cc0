// How long a tree path may be where it is kept: the kernel takes paths of 4095 bytes, and
// the records of the embedded store mirror each path under `.meta` with a few bytes more
// per segment; with replicas, a path is also a key of PostgreSQL's b-tree; a Unix socket's
// path has its own, shorter limit. Pure.

// PATH_MAX is 4096 with the terminating NUL.
const MAX_FS_PATH_BYTES = 4095;
// PostgreSQL's b-tree takes keys up to 2704 bytes; a change that sets a path aside adds a
// prefix of about 40 bytes.
const MAX_DATABASE_KEY_BYTES = 2600;
// The records' mirror of a path: `/.meta` after the root, three bytes more per segment
// (a separator and a two-byte suffix), two at the end.
const META_PREFIX_BYTES = '/.meta'.length;

export interface Volume {
  /** Bytes of the artifacts directory's own path. */
  rootBytes: number;
  /** Whether paths are also database keys (replicas sharing the volume). */
  databaseKeys: boolean;
}

/**
 * Why a path (with members up to `below` bytes and `belowSegments` segments deeper, for a
 * COPY or MOVE of a collection) is too long for this volume, or null.
 */
export function storagePathProblem(volume: Volume, segments: readonly string[], below = 0, belowSegments = 0): string | null {
  let bytes = volume.rootBytes + META_PREFIX_BYTES + below + 3 * belowSegments + 2;
  let key = below + belowSegments;
  for (const segment of segments) {
    bytes += Buffer.byteLength(segment) + 3;
    key += Buffer.byteLength(segment) + 1;
  }
  if (bytes > MAX_FS_PATH_BYTES) return `path too long for this repository's storage (by ${bytes - MAX_FS_PATH_BYTES} bytes)`;
  if (volume.databaseKeys && key > MAX_DATABASE_KEY_BYTES) return `path too long for this repository's database (by ${key - MAX_DATABASE_KEY_BYTES} bytes)`;
  return null;
}

// sockaddr_un.sun_path is 108 bytes on Linux, with the terminating NUL.
const MAX_SOCKET_PATH = 107;
// The private name (`.NAME-` and 12 hex digits) is this much longer than the wanted one.
const PRIVATE_EXTRA_BYTES = 14;

/** Why a path cannot name a Unix socket the server listens on (http/unix-socket.ts), or null. */
export function socketPathProblem(socketPath: string): string | null {
  const limit = MAX_SOCKET_PATH - PRIVATE_EXTRA_BYTES;
  return Buffer.byteLength(socketPath) > limit ? `${socketPath} is too long for a Unix socket (at most ${limit} bytes)` : null;
}
