// The one mapping from a failure to an answer (http/errors.ts), for every edge.
import { expect } from 'chai';
import { Failure, systemFailure, type FailureKind } from '../../server/domain/errors.js';
import { httpErrorOf } from '../../server/http/errors.js';
import { Busy } from '../../server/domain/gate.js';
import { PathError } from '../../server/domain/tree-path.js';

const statusOf = (err: unknown, challenger: 'server' | 'proxy' = 'server'): number => httpErrorOf(err, challenger).error.status;

describe('http/errors httpErrorOf', () => {
  it('answers each kind of failure with its status and message', () => {
    const expected: Record<Exclude<FailureKind, 'internal'>, number> = {
      invalid: 400,
      unauthenticated: 401,
      forbidden: 403,
      'not-found': 404,
      'not-allowed': 405,
      conflict: 409,
      'too-large': 413,
      'too-long': 414,
      throttled: 429,
      'upstream-failed': 502,
      unavailable: 503,
      'upstream-timeout': 504,
      'insufficient-storage': 507,
    };
    for (const [kind, status] of Object.entries(expected)) {
      const { error, internal } = httpErrorOf(new Failure(kind as FailureKind, `a ${kind} failure`));
      expect([error.status, error.message, internal], kind).to.deep.equal([status, `a ${kind} failure`, false]);
    }
  });

  it('asks for credentials as the edge does: 401 with WWW-Authenticate, or 407 with Proxy-Authenticate at the proxy', () => {
    const missing = new Failure('unauthenticated', 'credentials required');
    expect(httpErrorOf(missing).error.headers).to.deep.equal({ 'WWW-Authenticate': 'Basic realm="artifact-repo", charset="UTF-8"' });
    const atProxy = httpErrorOf(missing, 'proxy').error;
    expect(atProxy.status).to.equal(407);
    expect(atProxy.headers).to.deep.equal({ 'Proxy-Authenticate': 'Basic realm="artifact-repo", charset="UTF-8"' });
    // Only credentials are answered differently at the proxy.
    expect(statusOf(new Failure('forbidden', 'private target'), 'proxy')).to.equal(403);
  });

  it('says when to come back (Retry-After) for throttled and unavailable', () => {
    expect(httpErrorOf(new Failure('throttled', 'too many failed attempts', 30)).error.headers).to.deep.equal({ 'Retry-After': '30' });
    expect(httpErrorOf(new Busy('compares', 1)).error).to.include({ status: 503 }).and.have.deep.property('headers', { 'Retry-After': '1' });
    expect(statusOf(new Busy('new tunnels for this token', 2, 'throttled'))).to.equal(429);
  });

  it('keeps an internal failure and a bug out of the answer (500, marked for the log)', () => {
    for (const err of [new Failure('internal', 'storage error at /srv/x'), new TypeError('x is undefined'), 'a string']) {
      const { error, internal } = httpErrorOf(err);
      expect([error.status, error.message, internal]).to.deep.equal([500, 'internal error', true]);
    }
  });

  it('answers a system call error by what it means, never with its message (which names paths)', () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write '/srv/artifacts/x'"), { code: 'ENOSPC', syscall: 'write' });
    expect(httpErrorOf(enospc).error).to.include({ status: 507, message: 'insufficient storage' });
    expect(statusOf(Object.assign(new Error('e'), { code: 'ENOENT' }))).to.equal(404);
    expect(statusOf(Object.assign(new Error('e'), { code: 'ENOTDIR' }))).to.equal(409);
    expect(statusOf(Object.assign(new Error('e'), { code: 'EACCES' }))).to.equal(403);
    expect(systemFailure(Object.assign(new Error('e'), { code: 'EIO' })).kind).to.equal('internal');
    // zlib's codes are a bad body, not a system call.
    expect(statusOf(Object.assign(new Error('incorrect header check'), { code: 'Z_DATA_ERROR', status: 400 }))).to.equal(400);
  });

  it('answers express body errors and undecodable paths as the client\'s', () => {
    expect(statusOf(Object.assign(new Error('x'), { type: 'entity.parse.failed' }))).to.equal(400);
    expect(statusOf(Object.assign(new Error('x'), { type: 'entity.too.large' }))).to.equal(413);
    expect(statusOf(new URIError('URI malformed'))).to.equal(400);
    expect(statusOf(new PathError('too-long', 'path too long'))).to.equal(414);
  });
});
