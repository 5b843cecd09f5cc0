import { expect } from 'chai';
import {
  etagOf,
  evaluatePreconditions,
  ifRangeHolds,
  matches,
  noneMatch,
  type ConditionalHeaders,
} from '../../server/http/conditional.js';

// 2024-01-01T00:00:00Z is 1704067200 seconds = 0x65920080; the file was written half a
// second into that second. Its size, 1234 bytes, is 0x4d2. nginx's "%xT-%xO" gives:
const MTIME_MS = 1704067200 * 1000 + 500;
const SIZE = 1234;
const FILE = { mtimeMs: MTIME_MS, size: SIZE };
const ETAG = '"65920080-4d2"';
const WEAK_ETAG = 'W/"65920080-4d2"';
const OTHER_ETAG = '"65920081-4d2"';
const MTIME_DATE = 'Mon, 01 Jan 2024 00:00:00 GMT';
const SECOND_BEFORE = 'Sun, 31 Dec 2023 23:59:59 GMT';
const SECOND_AFTER = 'Mon, 01 Jan 2024 00:00:01 GMT';

const GET = true;
const PUT = false;
const pre = (h: ConditionalHeaders, stats: typeof FILE | null = FILE, readOnly = GET) => evaluatePreconditions(h, stats, readOnly);

describe('http/conditional', () => {
  describe('etagOf', () => {
    it('gives the same ETag as nginx ("%xT-%xO": hex mtime seconds, hex size)', () => {
      expect(etagOf(FILE)).to.equal(ETAG);
    });

    it('uses lowercase hex, truncating the mtime to whole seconds', () => {
      expect(etagOf({ mtimeMs: 1999, size: 0 })).to.equal('"1-0"');
      expect(etagOf({ mtimeMs: 255_000, size: 171 })).to.equal('"ff-ab"');
    });

    it('writes sizes beyond 32 bits in full (5 GiB = 0x140000000)', () => {
      expect(etagOf({ mtimeMs: 1704067200000, size: 5 * 1024 ** 3 })).to.equal('"65920080-140000000"');
    });

    it('changes when the file changes size or second', () => {
      expect(etagOf({ mtimeMs: MTIME_MS, size: SIZE + 1 })).to.not.equal(ETAG);
      expect(etagOf({ mtimeMs: MTIME_MS + 1000, size: SIZE })).to.not.equal(ETAG);
    });
  });

  describe('If-None-Match (weak comparison)', () => {
    it('answers 304 to a GET whose tag is current', () => {
      expect(pre({ 'if-none-match': ETAG })).to.equal('not-modified');
    });

    it('matches a weak tag against the current strong tag', () => {
      expect(pre({ 'if-none-match': WEAK_ETAG })).to.equal('not-modified');
      expect(noneMatch(WEAK_ETAG, ETAG)).to.equal(false);
    });

    it('finds the current tag in a list', () => {
      expect(pre({ 'if-none-match': `"abc", ${OTHER_ETAG} ,${ETAG}` })).to.equal('not-modified');
    });

    it('serves the file when no tag is current', () => {
      expect(pre({ 'if-none-match': OTHER_ETAG })).to.equal('ok');
      expect(pre({ 'if-none-match': `"abc", ${OTHER_ETAG}` })).to.equal('ok');
    });

    it('answers 304 to "*" for a GET of an existing file', () => {
      expect(pre({ 'if-none-match': '*' })).to.equal('not-modified');
    });

    it('fails a PUT with "*" onto an existing file (create-only upload)', () => {
      expect(pre({ 'if-none-match': '*' }, FILE, PUT)).to.equal('failed');
    });

    it('lets a PUT with "*" create a file that does not exist', () => {
      expect(pre({ 'if-none-match': '*' }, null, PUT)).to.equal('ok');
    });

    it('fails (412, not 304) a write whose If-None-Match tag is current', () => {
      expect(pre({ 'if-none-match': ETAG }, FILE, PUT)).to.equal('failed');
    });
  });

  describe('If-Match (strong comparison)', () => {
    it('lets a request with the current tag through', () => {
      expect(pre({ 'if-match': ETAG }, FILE, PUT)).to.equal('ok');
      expect(pre({ 'if-match': `"x", ${ETAG}` }, FILE, PUT)).to.equal('ok');
    });

    it('fails with a weak tag even when its opaque part is current', () => {
      expect(pre({ 'if-match': WEAK_ETAG }, FILE, PUT)).to.equal('failed');
      expect(matches(WEAK_ETAG, ETAG)).to.equal(false);
    });

    it('fails with a stale tag', () => {
      expect(pre({ 'if-match': OTHER_ETAG }, FILE, PUT)).to.equal('failed');
      expect(pre({ 'if-match': OTHER_ETAG }, FILE, GET)).to.equal('failed');
    });

    it('accepts "*" for an existing file and fails it for a missing one', () => {
      expect(pre({ 'if-match': '*' }, FILE, PUT)).to.equal('ok');
      expect(pre({ 'if-match': '*' }, null, PUT)).to.equal('failed');
    });

    it('fails any tag for a missing file', () => {
      expect(pre({ 'if-match': ETAG }, null, PUT)).to.equal('failed');
    });
  });

  describe('If-Modified-Since (second granularity)', () => {
    it('answers 304 when the date is the mtime truncated to the second', () => {
      expect(pre({ 'if-modified-since': MTIME_DATE })).to.equal('not-modified');
    });

    it('answers 304 when the date is later than the mtime', () => {
      expect(pre({ 'if-modified-since': SECOND_AFTER })).to.equal('not-modified');
    });

    it('serves the file when it changed after the date', () => {
      expect(pre({ 'if-modified-since': SECOND_BEFORE })).to.equal('ok');
    });

    it('ignores an unparseable date', () => {
      expect(pre({ 'if-modified-since': 'yesterday-ish' })).to.equal('ok');
    });

    it('is ignored for writes', () => {
      expect(pre({ 'if-modified-since': SECOND_AFTER }, FILE, PUT)).to.equal('ok');
    });

    it('is ignored for a missing file', () => {
      expect(pre({ 'if-modified-since': SECOND_AFTER }, null)).to.equal('ok');
    });

    it('is ignored when If-None-Match is present', () => {
      expect(pre({ 'if-none-match': OTHER_ETAG, 'if-modified-since': SECOND_AFTER })).to.equal('ok');
    });
  });

  describe('If-Unmodified-Since', () => {
    it('fails when the file changed after the date', () => {
      expect(pre({ 'if-unmodified-since': SECOND_BEFORE }, FILE, PUT)).to.equal('failed');
      expect(pre({ 'if-unmodified-since': SECOND_BEFORE }, FILE, GET)).to.equal('failed');
    });

    it('passes when the date is the mtime truncated to the second, or later', () => {
      expect(pre({ 'if-unmodified-since': MTIME_DATE }, FILE, PUT)).to.equal('ok');
      expect(pre({ 'if-unmodified-since': SECOND_AFTER }, FILE, PUT)).to.equal('ok');
    });

    it('is ignored when If-Match is present', () => {
      expect(pre({ 'if-match': ETAG, 'if-unmodified-since': SECOND_BEFORE }, FILE, PUT)).to.equal('ok');
    });

    it('is ignored for a missing file and for an unparseable date', () => {
      expect(pre({ 'if-unmodified-since': SECOND_BEFORE }, null, PUT)).to.equal('ok');
      expect(pre({ 'if-unmodified-since': 'not a date' }, FILE, PUT)).to.equal('ok');
    });
  });

  describe('order of evaluation (RFC 9110 13.2.2)', () => {
    it('checks If-Match before If-None-Match: a failed If-Match is 412 even on a GET that would be 304', () => {
      expect(pre({ 'if-match': OTHER_ETAG, 'if-none-match': ETAG })).to.equal('failed');
    });

    it('checks If-Unmodified-Since before If-None-Match', () => {
      expect(pre({ 'if-unmodified-since': SECOND_BEFORE, 'if-none-match': ETAG })).to.equal('failed');
    });

    it('checks If-Unmodified-Since before If-Modified-Since', () => {
      expect(pre({ 'if-unmodified-since': SECOND_BEFORE, 'if-modified-since': SECOND_AFTER })).to.equal('failed');
    });

    it('reaches If-None-Match once If-Match passes', () => {
      expect(pre({ 'if-match': ETAG, 'if-none-match': ETAG })).to.equal('not-modified');
    });

    it('passes a request with no conditional headers', () => {
      expect(pre({})).to.equal('ok');
      expect(pre({}, null, PUT)).to.equal('ok');
    });
  });

  describe('ifRangeHolds', () => {
    it('holds without an If-Range header', () => {
      expect(ifRangeHolds(undefined, FILE)).to.equal(true);
    });

    it('holds for the current strong tag', () => {
      expect(ifRangeHolds(ETAG, FILE)).to.equal(true);
      expect(ifRangeHolds(` ${ETAG} `, FILE)).to.equal(true);
    });

    it('does not hold for a stale tag or a weak tag', () => {
      expect(ifRangeHolds(OTHER_ETAG, FILE)).to.equal(false);
      expect(ifRangeHolds(WEAK_ETAG, FILE)).to.equal(false);
    });

    it('holds for a date equal to the mtime in whole seconds only', () => {
      expect(ifRangeHolds(MTIME_DATE, FILE)).to.equal(true);
      expect(ifRangeHolds(SECOND_BEFORE, FILE)).to.equal(false);
      expect(ifRangeHolds(SECOND_AFTER, FILE)).to.equal(false);
    });

    it('does not hold for garbage', () => {
      expect(ifRangeHolds('not a validator', FILE)).to.equal(false);
    });
  });
});
