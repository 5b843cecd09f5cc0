import { expect } from 'chai';
import {
  IfHeaderError,
  evaluateIf,
  parseIfHeader,
  submittedLockTokens,
  taggedResources,
} from '../../server/webdav/if-header.js';
import type { IfList, IfResourceState } from '../../server/webdav/if-header.js';

const T1 = 'urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2';
const T2 = 'urn:uuid:58f202ac-22cf-11d1-b12d-002035b29092';
const LOCK = 'opaquelocktoken:e71d4fae-5dec-22d6-fea5-00a0c91e6be4';

const tok = (value: string, not = false) => ({ not, kind: 'token' as const, value });
const etag = (value: string, not = false) => ({ not, kind: 'etag' as const, value });

function expectIfError(value: string): void {
  let caught: unknown = null;
  try {
    parseIfHeader(value);
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected IfHeaderError for ${JSON.stringify(value.slice(0, 60))}`).to.be.instanceOf(IfHeaderError);
}

const state = (etagValue: string | null, lockTokens: string[] = []): IfResourceState => ({ etag: etagValue, lockTokens });
const evalOn = (header: string, s: IfResourceState): boolean => evaluateIf(parseIfHeader(header), () => s);

describe('webdav/if-header', () => {
  describe('parseIfHeader: valid forms', () => {
    it('reads RFC 4918 10.4.6: untagged lists with a token and etags', () => {
      expect(parseIfHeader(`(<${T1}> ["I am an ETag"]) (["I am another ETag"])`)).to.deep.equal([
        { resource: null, conditions: [tok(T1), etag('"I am an ETag"')] },
        { resource: null, conditions: [etag('"I am another ETag"')] },
      ]);
    });

    it('reads RFC 4918 10.4.7: Not on the first of two tokens', () => {
      expect(parseIfHeader(`(Not <${T1}> <${T2}>)`)).to.deep.equal([
        { resource: null, conditions: [tok(T1, true), tok(T2)] },
      ]);
    });

    it('reads RFC 4918 10.4.8: a list that Not <DAV:no-lock> makes always true', () => {
      expect(parseIfHeader(`(<${T1}>) (Not <DAV:no-lock>)`)).to.deep.equal([
        { resource: null, conditions: [tok(T1)] },
        { resource: null, conditions: [tok('DAV:no-lock', true)] },
      ]);
    });

    it('reads RFC 4918 10.4.9: tagged lists with a weak and a strong etag', () => {
      expect(parseIfHeader(`</resource1> (<${T1}> [W/"A weak ETag"]) (["strong ETag"])`)).to.deep.equal([
        { resource: '/resource1', conditions: [tok(T1), etag('W/"A weak ETag"')] },
        { resource: '/resource1', conditions: [etag('"strong ETag"')] },
      ]);
    });

    it('reads several tags, each applying to the lists after it', () => {
      const lists = parseIfHeader(`<http://www.example.com/specs/> (<${T1}>) <http://www.example.com/other> (<${T2}>) (Not <DAV:no-lock>)`);
      expect(lists).to.deep.equal([
        { resource: 'http://www.example.com/specs/', conditions: [tok(T1)] },
        { resource: 'http://www.example.com/other', conditions: [tok(T2)] },
        { resource: 'http://www.example.com/other', conditions: [tok('DAV:no-lock', true)] },
      ]);
    });

    it('tolerates linear whitespace, none at all, obs-fold and a lower-case not', () => {
      const expected: IfList[] = [
        { resource: null, conditions: [tok(T1, true), etag('"e"')] },
        { resource: null, conditions: [tok(T2)] },
      ];
      expect(parseIfHeader(` \t(  Not\t<${T1}>   [ "e" ]  )\t( <${T2}> )  `)).to.deep.equal(expected);
      expect(parseIfHeader(`(Not<${T1}>["e"])(<${T2}>)`)).to.deep.equal(expected);
      expect(parseIfHeader(`(not <${T1}> ["e"])\r\n (<${T2}>)`)).to.deep.equal(expected);
    });

    it('keeps quoted-string etags as written, including ], ), spaces and quoted-pairs', () => {
      expect(parseIfHeader('(["a]) b\\"c"])')).to.deep.equal([{ resource: null, conditions: [etag('"a]) b\\"c"')] }]);
    });
  });

  describe('parseIfHeader: malformed input', () => {
    const corpus = [
      '',
      '   ',
      '()',
      '( )',
      '(',
      ')',
      `(<${T1}>`,
      `(<${T1}>))`,
      `<${T1}>`,
      '<http://a/> ',
      '<http://a/> <http://b/> (<urn:x>)',
      `(<${T1}>) <http://a/> (<${T2}>)`,
      `<http://a/> (<${T1}>) (<${T2}>) junk`,
      `<http://a/> (<${T1}>) (<${T2}>) <http://b/>`,
      '(urn:x)',
      '(<urn:x)',
      '(<urn:x y>)',
      '(<>)',
      '<> (<urn:x>)',
      '([])',
      '(["unterminated)',
      '(["e")',
      '([noquotes])',
      '([W/noquotes])',
      '(["ctl\u0001"])',
      '(["e\\"])',
      '(["e" "f"])',
      '(Not)',
      '(Not Not <urn:x>)',
      '(Nope <urn:x>)',
      '(<urn:x> extra)',
      '((<urn:x>))',
      '(<urn:x>) x',
      'Not (<urn:x>)',
      '(<urn:x>),(<urn:y>)',
      '(<urn:x>)\r\n(<urn:y>)',
      '(<urn:\u0001x>)',
      '\u00a0(<urn:x>)',
      `(<urn:${'x'.repeat(8200)}>)`,
      '('.repeat(100_000),
      '<'.repeat(100_000),
      `(${'<urn:x> '.repeat(1000)}`,
      `(${'['.repeat(8000)}`,
      `${'(<urn:x>) '.repeat(1000)}`,
    ];
    for (const value of corpus) {
      it(`throws IfHeaderError for ${JSON.stringify(value.length > 40 ? `${value.slice(0, 30)}... (${value.length} chars)` : value)}`, () => {
        expectIfError(value);
      });
    }

    it('parses generated valid headers, and mutations of them throw only IfHeaderError, quickly', function () {
      this.timeout(10_000);
      let seed = 12345;
      const next = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed % n;
      };
      const pick = (items: readonly string[]): string => items[next(items.length)] ?? '';
      const lws = (): string => pick(['', ' ', '  ', '\t', '\r\n ']);
      const condition = (): string => pick(['', 'Not', 'not ']) + lws() + pick(['<urn:x>', '<DAV:no-lock>', '["e"]', '[W/"w x"]', '[ "q" ]']);
      const list = (): string => {
        const parts = ['('];
        const count = 1 + next(3);
        for (let i = 0; i < count; i += 1) parts.push(lws(), condition());
        parts.push(lws(), ')');
        return parts.join('');
      };
      const header = (): string => {
        const tagged = next(2) === 0;
        const parts: string[] = [];
        const groups = 1 + next(3);
        for (let g = 0; g < groups; g += 1) {
          if (tagged) parts.push(lws(), pick(['<http://h/a>', '</b>']));
          const lists = 1 + next(2);
          for (let l = 0; l < lists; l += 1) parts.push(lws(), list());
        }
        return parts.join('') + lws();
      };
      const noise = ['(', ')', '<', '>', '[', ']', '"', '\\', ' ', 'N', 'W/', '\u0000', '\r'];
      const mutate = (value: string): string => {
        const at = next(value.length + 1);
        switch (next(3)) {
          case 0: return value.slice(0, at) + value.slice(at + 1);
          case 1: return value.slice(0, at) + pick(noise) + value.slice(at);
          default: return value.slice(0, at) + value.slice(next(value.length + 1));
        }
      };
      const started = Date.now();
      let mutantsRejected = 0;
      for (let round = 0; round < 3000; round += 1) {
        const valid = header();
        expect(parseIfHeader(valid), valid).to.have.length.greaterThan(0);
        const mutant = mutate(mutate(valid));
        try {
          expect(parseIfHeader(mutant)).to.have.length.greaterThan(0);
        } catch (err) {
          expect(err, JSON.stringify(mutant)).to.be.instanceOf(IfHeaderError);
          mutantsRejected += 1;
        }
      }
      expect(mutantsRejected, 'mutations must exercise the error paths').to.be.greaterThan(100);
      expect(Date.now() - started).to.be.lessThan(5000);
    });

    it('parses an 8 KiB header but refuses one byte more', () => {
      const unit = '(<urn:x>)';
      const fits = unit.repeat(Math.floor(8192 / unit.length));
      const padded = fits + ' '.repeat(8192 - fits.length);
      expect(parseIfHeader(padded)).to.have.length(Math.floor(8192 / unit.length));
      expectIfError(`${padded} `);
    });
  });

  describe('taggedResources', () => {
    it('lists distinct resources in order, null for untagged lists', () => {
      expect(taggedResources(parseIfHeader('(<urn:a>) (<urn:b>)'))).to.deep.equal([null]);
      expect(taggedResources(parseIfHeader('<http://h/a> (<urn:a>) (<urn:b>) <http://h/b> (<urn:c>) <http://h/a> (<urn:d>)')))
        .to.deep.equal(['http://h/a', 'http://h/b']);
    });
  });

  describe('evaluateIf', () => {
    const locked = state('"etag-1"', [LOCK]);

    it('token conditions match only a held token, exactly', () => {
      expect(evalOn(`(<${LOCK}>)`, locked)).to.equal(true);
      expect(evalOn(`(<${LOCK}x>)`, locked)).to.equal(false);
      expect(evalOn(`(<${LOCK.toUpperCase()}>)`, locked)).to.equal(false);
      expect(evalOn(`(<${LOCK}>)`, state('"etag-1"'))).to.equal(false);
    });

    it('Not inverts a condition', () => {
      expect(evalOn(`(Not <${LOCK}>)`, locked)).to.equal(false);
      expect(evalOn(`(Not <${T1}>)`, locked)).to.equal(true);
      expect(evalOn('(Not ["etag-1"])', locked)).to.equal(false);
      expect(evalOn('(Not ["etag-1"])', state('"etag-2"'))).to.equal(true);
    });

    it('etag conditions compare strongly with the current etag', () => {
      expect(evalOn('(["etag-1"])', locked)).to.equal(true);
      expect(evalOn('(["etag-2"])', locked)).to.equal(false);
      expect(evalOn('(["etag-1"])', state(null))).to.equal(false);
      expect(evalOn('(Not ["etag-1"])', state(null))).to.equal(true);
      expect(evalOn('([W/"etag-1"])', locked)).to.equal(false);
      expect(evalOn('(["etag-1"])', state('W/"etag-1"'))).to.equal(false);
      expect(evalOn('([W/"etag-1"])', state('W/"etag-1"'))).to.equal(false);
    });

    it('DAV:no-lock is held by no resource', () => {
      const claimsIt = state('"e"', ['DAV:no-lock']);
      expect(evalOn('(<DAV:no-lock>)', claimsIt)).to.equal(false);
      expect(evalOn('(Not <DAV:no-lock>)', claimsIt)).to.equal(true);
    });

    it('conditions in a list are ANDed, lists are ORed', () => {
      expect(evalOn(`(<${LOCK}> ["etag-1"])`, locked)).to.equal(true);
      expect(evalOn(`(<${LOCK}> ["etag-2"])`, locked)).to.equal(false);
      expect(evalOn(`(<${T1}> ["etag-1"])`, locked)).to.equal(false);
      expect(evalOn(`(<${T1}>) (["etag-1"])`, locked)).to.equal(true);
      expect(evalOn(`(<${T1}>) (["etag-2"])`, locked)).to.equal(false);
    });

    it('matches the litmus locks suite conditional PUTs', () => {
      const e = '"etag-1"';
      const bad = '"etag-2"';
      expect(evalOn(`(<${LOCK}> [${e}])`, locked), 'cond_put').to.equal(true);
      expect(evalOn(`(<DAV:no-lock> [${e}])`, locked), 'fail_cond_put').to.equal(false);
      expect(evalOn(`(<${LOCK}>) (Not <DAV:no-lock>)`, locked), 'cond_put_with_not').to.equal(true);
      expect(evalOn(`(<${LOCK}x>) (Not <DAV:no-lock>)`, locked), 'cond_put_corrupt_token').to.equal(true);
      expect(evalOn(`(<${LOCK}> [${e}]) (Not <DAV:no-lock> [${e}])`, locked), 'complex_cond_put').to.equal(true);
      expect(evalOn(`(<${LOCK}> [${bad}]) (Not <DAV:no-lock> [${bad}])`, locked), 'fail_complex_cond_put').to.equal(false);
      expect(evalOn('(<DAV:no-lock>)', state('"x"')), 'fail_cond_put_unlocked').to.equal(false);
    });

    it('evaluates tagged lists against the state of their own resource, asking once per resource', () => {
      const states: Record<string, IfResourceState> = {
        'http://h/a': state('"a"', ['urn:lock-a']),
        'http://h/b': state('"b"', ['urn:lock-b']),
      };
      const asked: (string | null)[] = [];
      const stateOf = (r: string | null): IfResourceState => {
        asked.push(r);
        return (r !== null ? states[r] : undefined) ?? state(null);
      };
      expect(evaluateIf(parseIfHeader('<http://h/a> (<urn:lock-b>) (["b"]) <http://h/b> (<urn:lock-b> ["b"])'), stateOf)).to.equal(true);
      expect(asked).to.deep.equal(['http://h/a', 'http://h/b']);
      expect(evaluateIf(parseIfHeader('<http://h/a> (<urn:lock-b>) <http://h/b> (<urn:lock-a>)'), stateOf)).to.equal(false);
      expect(evaluateIf(parseIfHeader('(<urn:lock-a>)'), stateOf)).to.equal(false);
    });

    it('is false for no lists at all', () => {
      expect(evaluateIf([], () => locked)).to.equal(false);
    });
  });

  describe('submittedLockTokens', () => {
    it('returns distinct un-negated tokens from every list, without DAV:no-lock', () => {
      const lists = parseIfHeader(`<http://h/a> (<${LOCK}> ["nope"]) (Not <${T1}> <${T2}>) <http://h/b> (<${LOCK}>) (<DAV:no-lock>) (Not <DAV:no-lock>)`);
      expect(submittedLockTokens(lists)).to.deep.equal([LOCK, T2]);
    });

    it('does not count a corrupted token as the real one (litmus cond_put_corrupt_token)', () => {
      expect(submittedLockTokens(parseIfHeader(`(<${LOCK}x>) (Not <DAV:no-lock>)`))).to.deep.equal([`${LOCK}x`]);
    });
  });
});
