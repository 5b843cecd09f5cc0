// What an error says when it is logged or recorded: for a file system error its code and
// the call that failed, never its message, which names the server's paths; the service's
// own errors (which carry an HTTP status) say what they are; anything else (a bug) its
// name and message, with absolute paths taken out.
export function errorSummary(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { status?: unknown };
  if (typeof e?.code === 'string' && (e.syscall || /^E[A-Z]+$/.test(e.code))) return e.syscall ? `${e.code} (${e.syscall})` : e.code;
  if (err instanceof Error && typeof e.status === 'number') return err.message;
  if (err instanceof Error) return `${err.name}: ${err.message.replace(/(^|[\s'"(=])\/[^\s'"),]*/g, '$1<path>')}`;
  return 'error';
}
