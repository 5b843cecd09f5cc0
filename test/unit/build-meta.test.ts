import { expect } from 'chai';
import { metaConflict, parseBuildMeta, revisionMatches } from '../../server/domain/build-meta.js';

const error = (fields: Record<string, unknown>): string => {
  const parsed = parseBuildMeta(fields);
  return 'error' in parsed ? parsed.error : '';
};

describe('domain/build-meta: what a mint says a build was built from', () => {
  it('takes the interface\'s fields as given', () => {
    const fields = {
      source: { uri: 'https://git.example.org/hello.git', revision: '9fceb02d0ae598e95dc970b74767f19372d61af8', branch: 'release/1.x' },
      builder: { id: 'https://buildbot.example.org/#/builders/3', url: 'https://buildbot.example.org/#/builders/3/builds/42' },
      properties: { worker: 'debian-12-amd64', buildername: 'hello-deb' },
    };
    expect(parseBuildMeta(fields)).to.deep.equal({ meta: fields });
    expect(parseBuildMeta({ source: { uri: 'git@git.example.org:team/hello.git' } })).to.deep.equal({ meta: { source: { uri: 'git@git.example.org:team/hello.git' } } });
    for (const uri of ['ssh://git@example.org/x.git', 'git://example.org/x.git', 'http://example.org/x']) expect(parseBuildMeta({ source: { uri } })).to.have.property('meta');
    expect(parseBuildMeta({})).to.deep.equal({ meta: {} });
  });

  it('refuses each bad field, naming it', () => {
    expect(error({ source: 'x' })).to.equal('source must be an object');
    expect(error({ source: { uri: 'ftp://example.org/x' } })).to.match(/^source\.uri must be a http, https, ssh, git URL/);
    expect(error({ source: { uri: 'not a uri' } })).to.match(/^source\.uri/);
    expect(error({ source: { uri: `https://e.org/${'a'.repeat(1020)}` } })).to.match(/^source\.uri must be a string of 1 to 1024/);
    expect(error({ source: { revision: 'abc def' } })).to.match(/^source\.revision/);
    expect(error({ source: { revision: 'a'.repeat(129) } })).to.match(/^source\.revision/);
    expect(error({ source: { branch: 'main\u0000' } })).to.match(/^source\.branch/);
    expect(error({ source: { branch: 'a\u202eb' } })).to.match(/^source\.branch/);
    expect(error({ source: { branch: 'a\ud800b' } })).to.match(/^source\.branch/); // a lone surrogate: PostgreSQL's jsonb refuses it
    // Public for ever: a URL carrying credentials is refused, not published.
    expect(error({ source: { uri: 'https://gitlab-ci-token:glpat-SECRET@git.example.org/x.git' } })).to.match(/^source\.uri must not carry credentials/);
    expect(error({ source: { uri: 'https://ghp_SECRET@github.com/o/r.git' } })).to.match(/^source\.uri must not carry credentials/);
    expect(error({ builder: { url: 'https://u:p@ci.example.org/1' } })).to.match(/^builder\.url must not carry credentials/);
    expect(parseBuildMeta({ source: { uri: 'ssh://git@git.example.org/x.git' } })).to.have.property('meta');
    expect(error({ source: { commit: 'x' } })).to.match(/^unknown field source\.commit/);
    expect(error({ source: {} })).to.equal('source must give uri, revision or branch');
    expect(error({ builder: { url: 'javascript:alert(1)' } })).to.match(/^builder\.url must be a http, https URL/);
    expect(error({ builder: { id: 'no scheme' } })).to.match(/^builder\.id/);
    expect(error({ properties: [] })).to.equal('properties must be an object');
    expect(error({ properties: { '-x': 'v' } })).to.match(/^properties: the key "-x"/);
    expect(error({ properties: { k: 1 } })).to.match(/^properties\.k must be a string/);
    expect(error({ properties: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) })).to.equal('properties may hold at most 32 entries');
  });

  it('a later mint may leave fields out, but not change or add one', () => {
    const first = { source: { uri: 'https://e.org/x.git', revision: 'abc1234' }, properties: { a: '1' } };
    expect(metaConflict(first, {})).to.equal(null);
    expect(metaConflict(first, { source: { revision: 'abc1234' } })).to.equal(null);
    expect(metaConflict(first, { source: { revision: 'def5678' } })).to.equal('source.revision');
    expect(metaConflict(first, { source: { branch: 'main' } })).to.equal('source.branch');
    expect(metaConflict(first, { properties: { a: '1', b: '2' } })).to.equal('properties.b');
    expect(metaConflict({}, { builder: { url: 'https://ci/1' } })).to.equal('builder.url');
  });

  it('a revision search is exact, or a prefix of at least 7 characters', () => {
    const rev = '9fceb02d0ae598e95dc970b74767f19372d61af8';
    expect(revisionMatches(rev, rev)).to.equal(true);
    expect(revisionMatches(rev, '9fceb02')).to.equal(true);
    expect(revisionMatches(rev, '9fceb0')).to.equal(false);
    expect(revisionMatches('v1', 'v1')).to.equal(true);
    expect(revisionMatches(undefined, '9fceb02')).to.equal(false);
  });
});
