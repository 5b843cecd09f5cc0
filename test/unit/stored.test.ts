// How stored bytes are answered (http/stored.ts), for the tree, the mirror and replays.
import { expect } from 'chai';
import { storedAnswer } from '../../server/http/stored.js';
import { HttpError } from '../../server/http/errors.js';

const refusal = (f: () => unknown): { status: number; headers: Record<string, string> } | null => {
  try {
    f();
    return null;
  } catch (err) {
    expect(err).to.be.instanceOf(HttpError);
    return { status: (err as HttpError).status, headers: (err as HttpError).headers };
  }
};

describe('http/stored storedAnswer', () => {
  it('the whole body when no range is asked for', () => {
    expect(storedAnswer(10, 'ok', undefined)).to.deep.equal({ kind: 'body', status: 200, start: 0, end: 9, length: 10, headers: { 'Content-Length': 10 } });
  });

  it('one range: 206 with Content-Range; past the end: 416 naming the size', () => {
    expect(storedAnswer(10, 'ok', 'bytes=2-4')).to.deep.equal({ kind: 'body', status: 206, start: 2, end: 4, length: 3, headers: { 'Content-Length': 3, 'Content-Range': 'bytes 2-4/10' } });
    expect(storedAnswer(10, 'ok', 'bytes=-3')).to.include({ status: 206, start: 7, end: 9 });
    expect(refusal(() => storedAnswer(10, 'ok', 'bytes=20-30'))).to.deep.equal({ status: 416, headers: { 'Content-Range': 'bytes */10' } });
  });

  it('several ranges, or a malformed one, get the whole body', () => {
    expect(storedAnswer(10, 'ok', 'bytes=0-1,5-6')).to.include({ status: 200, length: 10 });
    expect(storedAnswer(10, 'ok', 'lines=1-2')).to.include({ status: 200, length: 10 });
  });

  it('304 when the validators say not modified, 412 when a precondition failed', () => {
    expect(storedAnswer(10, 'not-modified', 'bytes=2-4')).to.deep.equal({ kind: 'not-modified' });
    expect(refusal(() => storedAnswer(10, 'failed', undefined))?.status).to.equal(412);
  });

  it('a stored answer other than 200 (a recorded 404) is sent whole with its status, ranges ignored', () => {
    expect(storedAnswer(10, 'ok', 'bytes=2-4', 404)).to.deep.equal({ kind: 'body', status: 404, start: 0, end: 9, length: 10, headers: { 'Content-Length': 10 } });
  });

  it('an empty body has no range to give', () => {
    expect(storedAnswer(0, 'ok', 'bytes=0-0')).to.deep.equal({ kind: 'body', status: 200, start: 0, end: -1, length: 0, headers: { 'Content-Length': 0 } });
  });
});
