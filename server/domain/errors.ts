// The kinds of failure the repository's parts raise, whoever asked: storage, the domain,
// the services and the upstream client say what went wrong as a kind; one place
// (http/errors.ts, httpErrorOf) turns a kind into an answer, for every edge.

/** What went wrong, as a client should understand it. */
export type FailureKind =
  | 'invalid' // the request is malformed or names something that cannot be (400)
  | 'unauthenticated' // credentials missing, wrong, revoked or expired (401; 407 at the proxy)
  | 'forbidden' // known, but not allowed this (403)
  | 'not-found' // (404)
  | 'not-allowed' // the method does not apply to what is there (405)
  | 'conflict' // the state forbids it: a sealed build, a missing parent, an existing destination (409)
  | 'too-large' // (413)
  | 'too-long' // a path or URL past its limit (414)
  | 'throttled' // this client asked too often or too much; come back later (429)
  | 'unavailable' // the server cannot do it now: too much at once, the database away (503)
  | 'upstream-failed' // an upstream server could not be reached or answered badly (502)
  | 'upstream-timeout' // an upstream server fell silent (504)
  | 'insufficient-storage' // no room: the disk, or a limit on what a build may keep (507)
  | 'internal'; // a failure the client cannot act on; details go to the log only (500)

export class Failure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    /** When to come back, for `throttled` and `unavailable`. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/**
 * A system call's error (ENOSPC, ENOENT, ...) as the failure it means to a client; a
 * Failure as it is; anything else is `internal`. Never the system's message, which names
 * the server's paths.
 */
export function systemFailure(err: unknown): Failure {
  if (err instanceof Failure) return err;
  switch ((err as NodeJS.ErrnoException | undefined)?.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new Failure('insufficient-storage', 'insufficient storage');
    case 'ENOENT':
      return new Failure('not-found', 'not found');
    case 'ENOTDIR':
      return new Failure('conflict', 'a parent of this path is a file');
    case 'EISDIR':
      return new Failure('not-allowed', 'a collection exists at this path');
    case 'EEXIST':
    case 'ENOTEMPTY':
      return new Failure('conflict', 'the destination exists');
    case 'ENAMETOOLONG':
      return new Failure('invalid', 'name too long');
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new Failure('forbidden', 'the storage refused this write');
    default:
      return new Failure('internal', 'storage error');
  }
}

/**
 * What a store operation that failed throws: a system call's error as its failure; a
 * Failure, or any other error (the database away, a bug), as it is.
 */
export function storageFailure(err: unknown): Error {
  if (err instanceof Error && !isSystemError(err)) return err;
  return systemFailure(err);
}

/** Whether an error is a system call's (a code like ENOSPC), as opposed to the service's own or a bug. */
export function isSystemError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

// What an error says when it is logged or recorded: for a file system error its code and
// the call that failed, never its message, which names the server's paths; the service's
// own errors (a Failure, or one that carries an HTTP status) say what they are; anything
// else (a bug) its name and message, with absolute paths taken out.
export function errorSummary(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { status?: unknown };
  if (typeof e?.code === 'string' && (e.syscall || /^E[A-Z]+$/.test(e.code))) return e.syscall ? `${e.code} (${e.syscall})` : e.code;
  if (err instanceof Failure || (err instanceof Error && typeof e.status === 'number')) return err.message;
  if (err instanceof Error) return `${err.name}: ${err.message.replace(/(^|[\s'"(=])\/[^\s'"),]*/g, '$1<path>')}`;
  return 'error';
}
