import { expect } from 'chai';
import { authorise, READ_METHODS, WRITE_METHODS, scopeRefusal, type TreeMethod } from '../../token-service/authorise.js';
import type { LiveToken } from '../../token-service/token-service.js';
import { Failure } from '../../server/domain/errors.js';
import { parseTreePath, type TreePath } from '../../server/domain/tree-path.js';

const SCOPE = ['rpm', 'widget', '1'] as const;
const seg = (path: string): string[] => path.split('/').filter(Boolean);

const refuses = (method: TreeMethod, target: string, destination: string | null = null): boolean =>
  scopeRefusal(method, seg(target), destination === null ? null : seg(destination), SCOPE) !== null;

describe('token-service/authorise scopeRefusal', () => {
  describe('targets inside the build', () => {
    for (const method of WRITE_METHODS) {
      if (method === 'COPY' || method === 'MOVE') continue;
      it(`allows ${method} on a file below the token's build`, () => {
        expect(scopeRefusal(method, seg('/rpm/widget/1/dist/a.rpm'), null, SCOPE)).to.equal(null);
      });
    }

    it('allows COPY and MOVE from below the build to elsewhere below the build', () => {
      expect(scopeRefusal('COPY', seg('/rpm/widget/1/a'), seg('/rpm/widget/1/b'), SCOPE)).to.equal(null);
      expect(scopeRefusal('MOVE', seg('/rpm/widget/1/a'), seg('/rpm/widget/1/sub/b'), SCOPE)).to.equal(null);
    });

    it('allows MKCOL of a collection below the build', () => {
      expect(refuses('MKCOL', '/rpm/widget/1/dist/')).to.equal(false);
      expect(refuses('MKCOL', '/rpm/widget/1/dist/nested/')).to.equal(false);
    });
  });

  describe('targets outside the build', () => {
    for (const method of WRITE_METHODS) {
      it(`refuses ${method} in sibling build 12 for a token of build 1`, () => {
        const destination = method === 'COPY' || method === 'MOVE' ? '/rpm/widget/1/x' : null;
        expect(refuses(method, '/rpm/widget/12/x', destination)).to.equal(true);
      });

      it(`refuses ${method} in another project, another type and above the build`, () => {
        const destination = method === 'COPY' || method === 'MOVE' ? '/rpm/widget/1/x' : null;
        expect(refuses(method, '/rpm/gadget/1/x', destination), 'other project').to.equal(true);
        expect(refuses(method, '/deb/widget/1/x', destination), 'other type').to.equal(true);
        expect(refuses(method, '/rpm/widget/', destination), 'project level').to.equal(true);
        expect(refuses(method, '/rpm/', destination), 'type level').to.equal(true);
        expect(refuses(method, '/', destination), 'root').to.equal(true);
      });
    }

    it('refuses sibling build 12 even as the collection itself', () => {
      expect(refuses('MKCOL', '/rpm/widget/12/')).to.equal(true);
      expect(refuses('PROPPATCH', '/rpm/widget/12')).to.equal(true);
    });

    it('says why, naming the scope', () => {
      const reason = scopeRefusal('PUT', seg('/rpm/widget/12/x'), null, SCOPE);
      expect(reason).to.be.a('string').and.to.include('/rpm/widget/1/');
    });
  });

  describe('the build collection itself', () => {
    it('refuses DELETE of the build collection', () => {
      expect(refuses('DELETE', '/rpm/widget/1/')).to.equal(true);
      expect(refuses('DELETE', '/rpm/widget/1')).to.equal(true);
    });

    it('refuses MOVE of the build collection, even to a place inside the build', () => {
      expect(refuses('MOVE', '/rpm/widget/1/', '/rpm/widget/1/renamed/')).to.equal(true);
      expect(refuses('MOVE', '/rpm/widget/1/', '/rpm/widget/2/')).to.equal(true);
    });

    it('refuses PUT onto the build collection', () => {
      expect(refuses('PUT', '/rpm/widget/1')).to.equal(true);
    });

    it('allows PROPPATCH, LOCK and UNLOCK on the build collection', () => {
      expect(refuses('PROPPATCH', '/rpm/widget/1/')).to.equal(false);
      expect(refuses('LOCK', '/rpm/widget/1/')).to.equal(false);
      expect(refuses('UNLOCK', '/rpm/widget/1/')).to.equal(false);
    });
  });

  describe('the Destination of COPY and MOVE', () => {
    for (const method of ['COPY', 'MOVE'] as const) {
      it(`${method}: refuses a Destination in sibling build 12`, () => {
        expect(refuses(method, '/rpm/widget/1/a', '/rpm/widget/12/a')).to.equal(true);
      });

      it(`${method}: refuses a Destination in another project or type`, () => {
        expect(refuses(method, '/rpm/widget/1/a', '/rpm/gadget/1/a')).to.equal(true);
        expect(refuses(method, '/rpm/widget/1/a', '/deb/widget/1/a')).to.equal(true);
      });

      it(`${method}: refuses a Destination above the build level`, () => {
        expect(refuses(method, '/rpm/widget/1/a', '/rpm/widget/a')).to.equal(true);
        expect(refuses(method, '/rpm/widget/1/a', '/rpm/widget/')).to.equal(true);
        expect(refuses(method, '/rpm/widget/1/a', '/')).to.equal(true);
      });

      it(`${method}: refuses a Destination equal to the scope root (it would replace the build collection)`, () => {
        expect(refuses(method, '/rpm/widget/1/a', '/rpm/widget/1/')).to.equal(true);
        expect(refuses(method, '/rpm/widget/1/a', '/rpm/widget/1')).to.equal(true);
      });

      it(`${method}: allows a Destination inside the scope`, () => {
        expect(refuses(method, '/rpm/widget/1/a', '/rpm/widget/1/b')).to.equal(false);
        expect(refuses(method, '/rpm/widget/1/a', '/rpm/widget/1/deep/er/b')).to.equal(false);
      });

      it(`${method}: refuses when the source is outside the scope even with the Destination inside`, () => {
        expect(refuses(method, '/rpm/widget/2/a', '/rpm/widget/1/a')).to.equal(true);
      });
    }

    it('names the Destination in the reason when only the Destination is outside', () => {
      const reason = scopeRefusal('COPY', seg('/rpm/widget/1/a'), seg('/rpm/widget/12/a'), SCOPE);
      expect(reason).to.be.a('string').and.to.match(/Destination/);
    });
  });

  describe('the seal\'s own files and their lookalikes', () => {
    const lookalikes = ['SHA256SUMS', 'sha256sums', 'SHA256SUMS ', ' SHA256SUMS', 'SHA256 SUMS', 'Sha256Sums.SIG', 'ＳＨＡ２５６ＳＵＭＳ', '\u0405\u041d\u0410256\u0405UM\u0405', 'SHA256SUMS\u2024sig', 'pr\u043evenance.intoto.jsonl', 'PROVENANCE.INTOTO.JSONL', '𝐒𝐇𝐀𝟐𝟓𝟔𝐒𝐔𝐌𝐒', 'provenance.\u0131ntoto.jsonl', 'provenance.intoto.jsonI', 'provenance.intoto.json1', 'pr0venance.intoto.jsonl', 'SHA256SUrnS'];
    for (const name of lookalikes) {
      it(`refuses ${JSON.stringify(name)} at the build root for PUT, MKCOL, LOCK, COPY and MOVE`, () => {
        for (const method of ['PUT', 'MKCOL', 'LOCK'] as const) expect(scopeRefusal(method, [...SCOPE, name], null, SCOPE), method).to.be.a('string').and.match(/sealed/);
        for (const method of ['COPY', 'MOVE'] as const) expect(scopeRefusal(method, [...SCOPE, 'a'], [...SCOPE, name], SCOPE), method).to.be.a('string').and.match(/sealed/);
      });
    }

    it("refuses apt's flat index files and their lookalikes as files; a folder only by the exact name", () => {
      for (const name of ['Packages', 'Packages.gz', 'Release', 'InRelease', 'Release.gpg', 'release', 'Re1ease', 'INRELEASE', 'Packages .gz', 'Ｒｅｌｅａｓｅ', 'R\u0435lease.gpg']) {
        for (const method of ['PUT', 'LOCK'] as const) expect(scopeRefusal(method, [...SCOPE, name], null, SCOPE), `${method} ${name}`).to.be.a('string').and.match(/sealed/);
        expect(scopeRefusal('MOVE', [...SCOPE, 'a'], [...SCOPE, name], SCOPE), `MOVE ${name}`).to.be.a('string').and.match(/sealed/);
      }
      for (const name of ['Packages', 'Release', 'InRelease']) expect(scopeRefusal('MKCOL', [...SCOPE, name], null, SCOPE), name).to.be.a('string').and.match(/sealed/);
      for (const name of ['release', 'packages', 'Releases', 'RELEASE']) expect(scopeRefusal('MKCOL', [...SCOPE, name], null, SCOPE), name).to.equal(null);
      // A PUT below one makes the folder on its way: refused as MKCOL of it would be.
      expect(scopeRefusal('PUT', [...SCOPE, 'Release', 'x.deb'], null, SCOPE)).to.be.a('string').and.match(/sealed/);
      expect(scopeRefusal('PUT', [...SCOPE, 'SHA256SUMS', 'x'], null, SCOPE)).to.be.a('string').and.match(/sealed/);
      expect(scopeRefusal('COPY', [...SCOPE, 'a'], [...SCOPE, 'InRelease', 'a'], SCOPE)).to.be.a('string').and.match(/sealed/);
      expect(scopeRefusal('PUT', [...SCOPE, 'release', 'x.deb'], null, SCOPE)).to.equal(null);
      // The checksum files' lookalikes stay refused as folders too.
      expect(scopeRefusal('MKCOL', [...SCOPE, 'sha256sums'], null, SCOPE)).to.be.a('string');
      expect(scopeRefusal('PUT', [...SCOPE, 'Releases'], null, SCOPE)).to.equal(null);
    });

    it('names the file a lookalike would pass for', () => {
      expect(scopeRefusal('PUT', [...SCOPE, 'SHA256SUMS '], null, SCOPE)).to.equal('"SHA256SUMS " at the build root would pass for SHA256SUMS, which the repository writes when the build is sealed');
      expect(scopeRefusal('PUT', [...SCOPE, 'SHA256SUMS'], null, SCOPE)).to.equal('SHA256SUMS at the build root is written by the repository when the build is sealed');
    });

    it('leaves other names alone, and the same names below the root', () => {
      for (const name of ['SHA256SUMS.txt', 'SHA512SUMS', 'sums', 'provenance.json', 'SHA2S6SUMS', 'MD5SUMS']) expect(scopeRefusal('PUT', [...SCOPE, name], null, SCOPE), name).to.equal(null);
      for (const name of lookalikes) expect(scopeRefusal('PUT', [...SCOPE, 'sub', name], null, SCOPE), name).to.equal(null);
      expect(scopeRefusal('GET' as TreeMethod, [...SCOPE, 'SHA256SUMS'], null, SCOPE)).to.equal(null);
    });
  });
});

describe('token-service/authorise authorise', () => {
  const token = { id: 't1', scope: '/rpm/widget/1/' } as unknown as LiveToken;
  const path = (raw: string): TreePath => parseTreePath(raw);
  const kindOf = (f: () => unknown): string | null => {
    try {
      f();
      return null;
    } catch (err) {
      return err instanceof Failure ? err.kind : 'not a Failure';
    }
  };

  it('lets every read through without a token', () => {
    for (const method of READ_METHODS) expect(authorise(method, path('/rpm/widget/1/a'), null, null)).to.deep.equal({ kind: 'public' });
  });

  it('a write without a token is unauthenticated; outside the scope, forbidden; inside, the token and its scope', () => {
    expect(kindOf(() => authorise('PUT', path('/rpm/widget/1/a'), null, null))).to.equal('unauthenticated');
    expect(kindOf(() => authorise('PUT', path('/rpm/widget/2/a'), null, token))).to.equal('forbidden');
    expect(kindOf(() => authorise('MOVE', path('/rpm/widget/1/a'), path('/rpm/other/1/a'), token))).to.equal('forbidden');
    expect(authorise('PUT', path('/rpm/widget/1/a'), null, token)).to.deep.equal({ kind: 'token', token, scope: ['rpm', 'widget', '1'] });
  });
});
