import { expect } from 'chai';
import { httpErrorOf } from '../../server/http/errors.js';
import {
  PathError,
  isBelowScope,
  isInsideScope,
  parseTreePath,
  toHref,
} from '../../server/domain/tree-path.js';

/** Parses and returns the PathError, failing the test if the path is accepted. */
function refusal(rawPath: string): PathError {
  let caught: unknown = null;
  try {
    parseTreePath(rawPath);
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${JSON.stringify(rawPath.slice(0, 80))} to be refused`).to.be.instanceOf(PathError);
  return caught as PathError;
}

/** The status a client gets for the refusal (http/errors.ts maps its kind). */
const statusOf = (err: PathError): number => httpErrorOf(err).error.status;

function expectRefused(rawPath: string, status: 400 | 414 = 400): void {
  expect(statusOf(refusal(rawPath)), `status for ${JSON.stringify(rawPath.slice(0, 80))}`).to.equal(status);
}

describe('domain/tree-path', () => {
  describe('parseTreePath: accepted paths', () => {
    it('reads the root as no segments, a collection', () => {
      expect(parseTreePath('/')).to.deep.equal({ segments: [], trailingSlash: true });
    });

    it('reads a file below a build into its decoded segments', () => {
      expect(parseTreePath('/rpm/widget/42/dist/widget-1.0.rpm')).to.deep.equal({
        segments: ['rpm', 'widget', '42', 'dist', 'widget-1.0.rpm'],
        trailingSlash: false,
      });
    });

    it('marks a trailing slash as naming a collection without adding an empty segment', () => {
      expect(parseTreePath('/rpm/widget/42/')).to.deep.equal({ segments: ['rpm', 'widget', '42'], trailingSlash: true });
      expect(parseTreePath('/rpm/widget/42')).to.deep.equal({ segments: ['rpm', 'widget', '42'], trailingSlash: false });
    });

    it('accepts type, project and build names using dots, plus, underscore and dash after the first character', () => {
      expect(parseTreePath('/deb/lib_foo+bar/1.2.3-rc.1/').segments).to.deep.equal(['deb', 'lib_foo+bar', '1.2.3-rc.1']);
    });

    it('decodes percent-encoded spaces and unicode in names below the build', () => {
      expect(parseTreePath('/t/p/1/my%20file%20%C3%A9t%C3%A9.txt').segments).to.deep.equal(['t', 'p', '1', 'my file été.txt']);
    });

    it('accepts raw and encoded unicode names below the build level', () => {
      expect(parseTreePath('/t/p/1/%E6%97%A5%E6%9C%AC/%F0%9F%93%A6.tar').segments).to.deep.equal(['t', 'p', '1', '日本', '📦.tar']);
    });

    it('accepts names below the build that merely contain dots ("..." and "..x")', () => {
      expect(parseTreePath('/t/p/1/.../..x/.hidden').segments).to.deep.equal(['t', 'p', '1', '...', '..x', '.hidden']);
    });

    it('accepts a double-encoded dot-dot below the build as the literal name "%2e%2e" (decoded once only)', () => {
      expect(parseTreePath('/t/p/1/%252e%252e/x').segments).to.deep.equal(['t', 'p', '1', '%2e%2e', 'x']);
    });

    it('accepts a segment of exactly 250 bytes (multi-byte characters counted in bytes)', () => {
      const ascii = 'a'.repeat(250);
      expect(parseTreePath(`/t/p/1/${ascii}`).segments[3]).to.equal(ascii);
      const twoByte = 'é'.repeat(125); // 250 bytes in UTF-8
      expect(parseTreePath(`/t/p/1/${encodeURIComponent(twoByte)}`).segments[3]).to.equal(twoByte);
    });

    it('accepts a path of exactly 4096 characters', () => {
      const path = pathOfLength(4096);
      expect(path.length).to.equal(4096);
      expect(parseTreePath(path).segments.length).to.be.greaterThan(3);
    });
  });

  describe('parseTreePath: refusals', () => {
    it('refuses a path that does not start with "/"', () => {
      expectRefused('t/p/1/x');
      expectRefused('');
    });

    it('refuses ".." segments, raw and percent-encoded in any case', () => {
      expectRefused('/t/p/1/../2/x');
      expectRefused('/t/p/1/%2e%2e/x');
      expectRefused('/t/p/1/%2E%2e/x');
      expectRefused('/t/p/1/%2E%2E/x');
      expectRefused('/t/p/1/.%2e/x');
      expectRefused('/t/p/..');
    });

    it('refuses "." segments, raw and percent-encoded', () => {
      expectRefused('/t/p/1/./x');
      expectRefused('/t/p/1/%2e/x');
      expectRefused('/t/p/1/x/.');
    });

    it('refuses an encoded slash in any case', () => {
      expectRefused('/t/p/1/a%2fb');
      expectRefused('/t/p/1/a%2Fb');
      expectRefused('/t/p/1%2f2/x');
    });

    it('refuses encoded and raw backslashes', () => {
      expectRefused('/t/p/1/a%5cb');
      expectRefused('/t/p/1/a%5Cb');
      expectRefused('/t/p/1/a\\b');
      expectRefused('/t/p/1/..\\..\\x');
    });

    it('refuses an encoded NUL', () => {
      expectRefused('/t/p/1/a%00b');
      expectRefused('/t/p/1/a.txt%00.jpg');
    });

    it('refuses encoded and raw control characters, DEL included', () => {
      for (const code of [0x01, 0x09, 0x0a, 0x0d, 0x1b, 0x1f, 0x7f]) {
        const hex = code.toString(16).padStart(2, '0');
        expectRefused(`/t/p/1/a%${hex}b`);
        expectRefused(`/t/p/1/a${String.fromCharCode(code)}b`);
      }
    });

    it('refuses empty segments ("//") anywhere, including a doubled trailing slash', () => {
      expectRefused('//t/p/1/x');
      expectRefused('/t//p/1/x');
      expectRefused('/t/p/1//x');
      expectRefused('/t/p/1/x//');
    });

    it('refuses a double-encoded dot-dot at the type, project and build levels by the name rule', () => {
      expectRefused('/%252e%252e/p/1/');
      expectRefused('/t/%252e%252e/1/');
      expectRefused('/t/p/%252e%252e/');
    });

    it('refuses malformed percent-encoding and invalid UTF-8', () => {
      expectRefused('/t/p/1/%ff');
      expectRefused('/t/p/1/%FF%FE');
      expectRefused('/t/p/1/%C3'); // truncated two-byte sequence
      expectRefused('/t/p/1/%ED%A0%80'); // encoded UTF-16 surrogate
      expectRefused('/t/p/1/100%');
      expectRefused('/t/p/1/%zz');
    });

    it('refuses a segment longer than 250 bytes, counting bytes not characters', () => {
      expectRefused(`/t/p/1/${'a'.repeat(251)}`);
      expectRefused(`/t/p/1/${encodeURIComponent('é'.repeat(126))}`); // 126 characters, 252 bytes
    });

    it('answers 414 for a path longer than 4096 characters', () => {
      const path = pathOfLength(4097);
      expect(path.length).to.equal(4097);
      expectRefused(path, 414);
    });

    it('refuses type, project and build names that break the name rule', () => {
      expectRefused('/-t/p/1/'); // must start with a letter or digit
      expectRefused('/t/.p/1/');
      expectRefused('/t/p/_1/');
      expectRefused('/t/p/1%202/'); // space
      expectRefused('/t/p/b%C3%BCild/'); // unicode at the build level
      expectRefused('/%E6%97%A5/p/1/');
      expectRefused(`/t/${'p'.repeat(129)}/1/`); // 129 characters
      expectRefused('/t/p~/1/');
    });

    it('accepts a 128-character project name, the longest the name rule allows', () => {
      const name = 'p'.repeat(128);
      expect(parseTreePath(`/t/${name}/1/`).segments[1]).to.equal(name);
    });

    it('answers 400 (not 414) for the ordinary refusals', () => {
      expect(statusOf(refusal('/t/p/1/../x'))).to.equal(400);
      expect(statusOf(refusal('/t/p/1/%ff'))).to.equal(400);
    });
  });

  describe('isInsideScope / isBelowScope', () => {
    const scope = ['t', 'p', '1'];

    it('treats the scope as a directory: /t/p/1/ does not contain /t/p/12/x', () => {
      expect(isInsideScope(['t', 'p', '12', 'x'], scope)).to.equal(false);
      expect(isBelowScope(['t', 'p', '12', 'x'], scope)).to.equal(false);
      expect(isInsideScope(['t', 'p', '12'], scope)).to.equal(false);
    });

    it('contains files and collections below the build', () => {
      expect(isInsideScope(['t', 'p', '1', 'x'], scope)).to.equal(true);
      expect(isInsideScope(['t', 'p', '1', 'a', 'b', 'c'], scope)).to.equal(true);
      expect(isBelowScope(['t', 'p', '1', 'x'], scope)).to.equal(true);
      expect(isBelowScope(['t', 'p', '1', 'a', 'b'], scope)).to.equal(true);
    });

    it('does not contain another project or another type', () => {
      expect(isInsideScope(['t', 'q', '1', 'x'], scope)).to.equal(false);
      expect(isInsideScope(['u', 'p', '1', 'x'], scope)).to.equal(false);
      expect(isBelowScope(['t', 'q', '1', 'x'], scope)).to.equal(false);
    });

    it('does not contain anything above the build level', () => {
      expect(isInsideScope(['t', 'p'], scope)).to.equal(false);
      expect(isInsideScope(['t'], scope)).to.equal(false);
      expect(isInsideScope([], scope)).to.equal(false);
      expect(isBelowScope(['t', 'p'], scope)).to.equal(false);
    });

    it('counts the build collection itself as inside the scope but not below it', () => {
      expect(isInsideScope(['t', 'p', '1'], scope)).to.equal(true);
      expect(isBelowScope(['t', 'p', '1'], scope)).to.equal(false);
    });

    it('does not match a longer name that only starts with the build name', () => {
      expect(isInsideScope(['t', 'p', '1a'], scope)).to.equal(false);
      expect(isInsideScope(['t', 'pp', '1'], scope)).to.equal(false);
    });
  });

  describe('toHref round trip', () => {
    const odd = [
      'with space.txt',
      'hash#tag',
      'question?mark',
      'percent%sign',
      '100%25',
      'plus+plus',
      'été',
      '日本語',
      '📦 package.tar.gz',
      "quote'apos\"dq",
      'amp&eq=semi;',
      '%2e%2e',
      '...',
      '(paren)[bracket]{brace}',
      'tilde~caret^back`tick',
    ];

    for (const name of odd) {
      it(`brings ${JSON.stringify(name)} back unchanged through parseTreePath`, () => {
        const segments = ['t', 'p', '1', 'dir', name];
        const file = toHref(segments, false);
        expect(parseTreePath(file)).to.deep.equal({ segments, trailingSlash: false });
        const collection = toHref(segments, true);
        expect(collection.endsWith('/')).to.equal(true);
        expect(parseTreePath(collection)).to.deep.equal({ segments, trailingSlash: true });
      });
    }

    it('encodes characters that would change the meaning of a URL', () => {
      const href = toHref(['t', 'p', '1', 'a b#c?d%e'], false);
      expect(href).to.not.match(/[ #?]/);
      expect(href.split('/')).to.have.length(5);
    });

    it('gives "/" for the root', () => {
      expect(toHref([], true)).to.equal('/');
      expect(parseTreePath(toHref([], true)).segments).to.deep.equal([]);
    });
  });
});

/** An acceptable tree path of exactly `length` characters (length >= 16). */
function pathOfLength(length: number): string {
  let path = '/t/p/1';
  while (path.length < length) {
    const room = length - path.length - 1; // minus the slash
    const take = Math.min(200, room);
    if (take <= 0) break;
    // avoid leaving a single-character remainder that could only be "/" + nothing
    const segment = room - take === 1 ? 'a'.repeat(take - 1) : 'a'.repeat(take);
    path += '/' + segment;
  }
  return path;
}
