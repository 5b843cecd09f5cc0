import { expect } from 'chai';
import { checkTtl, isTokenLive, isoSeconds } from '../../server/domain/token-rules.js';

const EXPIRES = '2024-06-01T12:00:00Z';
const EXPIRES_MS = Date.UTC(2024, 5, 1, 12, 0, 0);

const token = (overrides: Partial<{ revoked_at: string | null; expires_at: string; hash: string | null }> = {}) => ({
  revoked_at: null,
  expires_at: EXPIRES,
  hash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA',
  ...overrides,
});

describe('token-service/token-rules', () => {
  describe('isTokenLive', () => {
    it('is live well before expiry', () => {
      expect(isTokenLive(token(), EXPIRES_MS - 3600_000)).to.equal(true);
    });

    it('is live one millisecond before expiry', () => {
      expect(isTokenLive(token(), EXPIRES_MS - 1)).to.equal(true);
    });

    it('is dead at the exact expiry instant', () => {
      expect(isTokenLive(token(), EXPIRES_MS)).to.equal(false);
    });

    it('is dead one millisecond after expiry', () => {
      expect(isTokenLive(token(), EXPIRES_MS + 1)).to.equal(false);
    });

    it('is dead once revoked, even before expiry', () => {
      expect(isTokenLive(token({ revoked_at: '2024-06-01T11:00:00Z' }), EXPIRES_MS - 3600_000)).to.equal(false);
    });

    it('is dead when its hash has been dropped (tombstone), even before expiry', () => {
      expect(isTokenLive(token({ hash: null }), EXPIRES_MS - 3600_000)).to.equal(false);
    });

    it('is dead when the expiry cannot be read', () => {
      expect(isTokenLive(token({ expires_at: 'never' }), EXPIRES_MS - 3600_000)).to.equal(false);
    });
  });

  describe('checkTtl', () => {
    const DEFAULT = 21600;
    const MAX = 86400;

    it('uses the default when ttl is absent or null', () => {
      expect(checkTtl(undefined, DEFAULT, MAX)).to.deep.equal({ ok: true, seconds: DEFAULT });
      expect(checkTtl(null, DEFAULT, MAX)).to.deep.equal({ ok: true, seconds: DEFAULT });
    });

    it('accepts 1 and the maximum, the two bounds', () => {
      expect(checkTtl(1, DEFAULT, MAX)).to.deep.equal({ ok: true, seconds: 1 });
      expect(checkTtl(MAX, DEFAULT, MAX)).to.deep.equal({ ok: true, seconds: MAX });
      expect(checkTtl(3600, DEFAULT, MAX)).to.deep.equal({ ok: true, seconds: 3600 });
    });

    it('refuses 0, negatives and one past the maximum, naming the bounds', () => {
      for (const value of [0, -1, -3600, MAX + 1]) {
        const result = checkTtl(value, DEFAULT, MAX);
        expect(result.ok, String(value)).to.equal(false);
        if (!result.ok) expect(result.error).to.include('1').and.to.include(String(MAX));
      }
    });

    it('refuses fractions, NaN and infinities', () => {
      for (const value of [1.5, 0.5, 3599.999, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        expect(checkTtl(value, DEFAULT, MAX).ok, String(value)).to.equal(false);
      }
    });

    it('refuses numeric strings and other types', () => {
      for (const value of ['3600', '', 'abc', true, false, {}, [], [3600]]) {
        expect(checkTtl(value, DEFAULT, MAX).ok, JSON.stringify(value)).to.equal(false);
      }
    });

    it('refuses a value within the usual maximum when this maximum is lower', () => {
      expect(checkTtl(7200, 600, 3600).ok).to.equal(false);
      expect(checkTtl(3600, 600, 3600)).to.deep.equal({ ok: true, seconds: 3600 });
    });
  });

  describe('isoSeconds', () => {
    it('formats as ISO 8601 UTC without milliseconds', () => {
      expect(isoSeconds(EXPIRES_MS)).to.equal(EXPIRES);
    });

    it('truncates milliseconds rather than rounding', () => {
      expect(isoSeconds(EXPIRES_MS + 999)).to.equal(EXPIRES);
      expect(isoSeconds(EXPIRES_MS - 1)).to.equal('2024-06-01T11:59:59Z');
    });

    it('has the shape YYYY-MM-DDTHH:MM:SSZ', () => {
      expect(isoSeconds(Date.UTC(2031, 0, 2, 3, 4, 5, 678))).to.equal('2031-01-02T03:04:05Z');
      expect(isoSeconds(0)).to.equal('1970-01-01T00:00:00Z');
    });

    it('round-trips through Date.parse to the whole second', () => {
      const ms = Date.UTC(2025, 10, 30, 23, 59, 59, 250);
      expect(Date.parse(isoSeconds(ms))).to.equal(ms - 250);
    });
  });
});
