import { expect } from 'chai';
import { bodyConflict, IssuersProblem, matchingRule, metaFromClaims, parseTrustedIssuers, renderBuild } from '../../server/domain/job-token-rules.js';

const GOOD = {
  issuers: [
    {
      issuer: 'https://gitlab.example.org',
      audience: 'https://artifacts.example.org',
      rules: [
        { claims: { project_path: 'group/hello', ref_protected: 'true' }, type: 'dpkg', project: 'hello', build: '{pipeline_id}.{job_id}', ttl: 3600 },
        { claims: { project_path: 'group/hello' }, type: 'dpkg', project: 'hello-mr', build: 'mr-{job_id}' },
      ],
    },
  ],
};

function problem(doc: unknown): string {
  try {
    parseTrustedIssuers(doc, 86400);
  } catch (err) {
    if (err instanceof IssuersProblem) return err.message;
    throw err;
  }
  return '';
}

describe('domain/job-token-rules', () => {
  it('reads issuers and rules, claim values as quoted text', () => {
    const [issuer] = parseTrustedIssuers({ issuers: [{ ...GOOD.issuers[0], rules: [{ claims: { ref_protected: 'true', run: '7' }, type: 'dpkg', project: 'p', build: 'b-{run}' }] }] }, 86400);
    expect({ ...issuer?.rules[0]?.claims }).to.deep.equal({ ref_protected: 'true', run: '7' });
    expect(issuer?.rules[0]?.ttl).to.equal(null);
    expect(issuer?.jwksUri).to.equal(null);
  });

  it('refuses what it does not understand, naming the place', () => {
    expect(problem(null)).to.match(/the file must be a mapping/);
    expect(problem({ issuers: [] })).to.match(/at least one issuer/);
    expect(problem({ issuers: [{ ...GOOD.issuers[0], issuer: 'http://gitlab.example.org' }] })).to.match(/issuers\[0\]\.issuer must be an https URL/);
    expect(problem({ issuers: [{ ...GOOD.issuers[0], audience: '' }] })).to.match(/issuers\[0\]\.audience/);
    expect(problem({ issuers: [GOOD.issuers[0], GOOD.issuers[0]] })).to.match(/listed twice/);
    expect(problem({ issuers: [{ ...GOOD.issuers[0], extra: 1 }] })).to.match(/unknown field "extra"/);
    const withRule = (rule: object): string => problem({ issuers: [{ ...GOOD.issuers[0], rules: [rule] }] });
    expect(withRule({ claims: {}, type: 'dpkg', project: 'p', build: 'b' })).to.match(/rules\[0\]\.claims must name at least one claim/);
    expect(withRule({ claims: { a: { b: 1 } }, type: 'dpkg', project: 'p', build: 'b' })).to.match(/claims\.a must be quoted text/);
    // YAML's `ref: 1.10` is the number 1.1: a branch "1.1" would meet it.
    expect(withRule({ claims: { ref: 1.1 }, type: 'dpkg', project: 'p', build: 'b' })).to.match(/claims\.ref must be quoted text \("1\.1"\)/);
    expect(withRule({ claims: { ref_protected: true }, type: 'dpkg', project: 'p', build: 'b' })).to.match(/must be quoted text/);
    // A claim named like what every object has is refused, not dropped (which left a rule matching everyone).
    expect(withRule({ claims: JSON.parse('{"__proto__": "acme/widget"}') as object, type: 'dpkg', project: 'p', build: 'b' })).to.match(/"__proto__" is not a claim name/);
    expect(withRule({ claims: { constructor: 'x' }, type: 'dpkg', project: 'p', build: 'b' })).to.match(/is not a claim name/);
    expect(withRule({ claims: { a: 'x' }, type: '../x', project: 'p', build: 'b' })).to.match(/rules\[0\]\.type must match/);
    expect(withRule({ claims: { a: 'x' }, type: 'dpkg', project: 'p', build: '{a}/../{b}' })).to.match(/only letters/);
    expect(withRule({ claims: { a: 'x' }, type: 'dpkg', project: 'p', build: 'b', ttl: 100000 })).to.match(/ttl must be a whole number of seconds from 1 to 86400/);
    expect(withRule({ claims: { a: 'x' }, type: 'dpkg', project: 'p', build: 'b', sub_prefix: 'x' })).to.match(/unknown field "sub_prefix"/);
  });

  it('the first rule whose every claim matches wins', () => {
    const [issuer] = parseTrustedIssuers(GOOD, 86400);
    const rules = issuer?.rules ?? [];
    expect(matchingRule(rules, { project_path: 'group/hello', ref_protected: 'true' })?.project).to.equal('hello');
    expect(matchingRule(rules, { project_path: 'group/hello', ref_protected: 'false' })?.project).to.equal('hello-mr');
    expect(matchingRule(rules, { project_path: 'group/hello2', ref_protected: 'true' })).to.equal(null);
    // Compared as text: a boolean claim matches "true"; an object never does.
    expect(matchingRule(rules, { project_path: 'group/hello', ref_protected: true })?.project).to.equal('hello');
    expect(matchingRule(rules, { project_path: ['group/hello'] })).to.equal(null);
    // Only the token's own claims count, never what every object inherits.
    expect(renderBuild('{constructor}', {})).to.have.property('error');
    expect(renderBuild('{toString}', {})).to.have.property('error');
  });

  it('renders the build from claims, refusing a missing claim or a bad name', () => {
    expect(renderBuild('{pipeline_id}.{job_id}', { pipeline_id: 12, job_id: '34' })).to.deep.equal({ build: '12.34' });
    expect(renderBuild('{pipeline_id}.{job_id}', { pipeline_id: 12 })).to.deep.equal({ error: 'the token has no claim "job_id" for the build name' });
    expect(renderBuild('{ref}', { ref: 'refs/heads/main' })).to.have.property('error').that.match(/not a valid name/);
    expect(renderBuild('{x}', { x: '..' })).to.have.property('error');
    expect(renderBuild('b-{x}', { x: '' })).to.deep.equal({ build: 'b-' });
  });

  it('a body may repeat the rule, or ask a shorter ttl; anything else is named', () => {
    const allowed = { type: 'dpkg', project: 'hello', build: '1.2', ttl: 600 };
    expect(bodyConflict(allowed, {})).to.equal(null);
    expect(bodyConflict(allowed, { type: 'dpkg', project: 'hello', build: '1.2', ttl: 60 })).to.equal(null);
    expect(bodyConflict(allowed, { project: 'other' })).to.match(/^project "other"/);
    expect(bodyConflict(allowed, { build: '9' })).to.match(/^build "9"/);
    expect(bodyConflict(allowed, { ttl: 601 })).to.match(/at most 600/);
  });

  it('says where a build came from, from GitLab\'s and GitHub\'s claims; what does not pass is left out', () => {
    expect(metaFromClaims('https://gitlab.example.org', { project_path: 'group/hello', sha: '9fceb02d0ae598e95dc970b74767f19372d61af8', ref: 'main', ref_type: 'branch', pipeline_id: 12, job_id: 34 })).to.deep.equal({
      source: { uri: 'https://gitlab.example.org/group/hello.git', revision: '9fceb02d0ae598e95dc970b74767f19372d61af8', branch: 'main' },
      builder: { id: 'https://gitlab.example.org/group/hello/-/pipelines/12', url: 'https://gitlab.example.org/group/hello/-/jobs/34' },
    });
    expect(metaFromClaims('https://token.actions.githubusercontent.com', { repository: 'acme/widget', sha: 'a'.repeat(40), ref: 'refs/heads/main', run_id: '99', workflow_ref: 'acme/widget/.github/workflows/b.yml@refs/heads/main' })).to.deep.equal({
      source: { uri: 'https://github.com/acme/widget.git', revision: 'a'.repeat(40), branch: 'main' },
      builder: { id: 'https://github.com/acme/widget/.github/workflows/b.yml@refs/heads/main', url: 'https://github.com/acme/widget/actions/runs/99' },
    });
    // A tag is not a branch; a revision that is not one is dropped with its part.
    expect(metaFromClaims('https://gitlab.example.org', { project_path: 'g/p', ref: 'v1', ref_type: 'tag' }).source).to.deep.equal({ uri: 'https://gitlab.example.org/g/p.git' });
    expect(metaFromClaims('https://gitlab.example.org', { project_path: 'g/p', sha: 'not a sha!' }).source).to.equal(undefined);
    expect(metaFromClaims('https://issuer.example.org', { sub: 'x' })).to.deep.equal({});
  });
});
