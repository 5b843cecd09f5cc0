// The CI examples of docs/ci.md (examples/ci/), run as far as a CI can be here: each file is
// parsed as YAML, the rule its comment gives goes into the repository's TRUSTED_ISSUERS_FILE
// (its issuer swapped for a real one on 127.0.0.1), and the job's commands run with sh, in
// order, with what that CI would give the job: GitLab's ARTIFACT_REPO_ID_TOKEN (id_tokens),
// GitHub's and Forgejo's ACTIONS_ID_TOKEN_REQUEST_URL (answered by a local server that checks
// the request token and the audience). The build must end sealed, holding the job's output.
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { makeTempDir, REPO_ROOT, startServer, type TestServer } from '../helpers/harness.js';
import { requireTool, run } from '../helpers/tools.js';
import { idToken, Issuer, issuerCertificate, signingKey, type SigningKey } from '../helpers/oidc-issuer.js';

interface Example {
  file: string;
  /** The path the test's issuer serves this CI's tokens under (the issuer URL's path). */
  prefix: string;
  claims: Record<string, string | number>;
  /** What the job's environment holds, besides the token. */
  env: Record<string, string>;
  /** How the job gets its token. */
  token: 'variable' | 'request';
  scope: string;
}

const EXAMPLES: Example[] = [
  {
    file: 'gitlab-ci.yml',
    prefix: '/gitlab',
    claims: { sub: 'project_path:group/hello:ref_type:branch:ref:main', project_path: 'group/hello', ref: 'main', ref_type: 'branch', ref_protected: 'true', pipeline_id: 4711, job_id: 815, sha: '9fceb02d0ae598e95dc970b74767f19372d61af8' },
    env: { CI_PIPELINE_ID: '4711', CI_JOB_ID: '815', CI_COMMIT_REF_PROTECTED: 'true' },
    token: 'variable',
    scope: '/dpkg/hello/4711.815/',
  },
  {
    file: 'github-workflow.yml',
    prefix: '/github',
    claims: { sub: 'repo:acme/widget:ref:refs/heads/main', repository: 'acme/widget', ref: 'refs/heads/main', event_name: 'push', run_id: '9001', run_attempt: '1', sha: 'b'.repeat(40), workflow_ref: 'acme/widget/.github/workflows/build.yml@refs/heads/main' },
    env: { GITHUB_RUN_ID: '9001' },
    token: 'request',
    scope: '/appimage/widget/gh-9001.1/',
  },
  {
    file: 'forgejo-workflow.yml',
    prefix: '/forgejo/api/actions',
    claims: { sub: 'repo:acme/gadget:ref:refs/heads/main', repository: 'acme/gadget', ref: 'refs/heads/main', run_id: '31', sha: 'c'.repeat(40) },
    env: { GITHUB_RUN_ID: '31' },
    token: 'request',
    scope: '/exe/gadget/fj-31/',
  },
];

/** The job's shell commands: GitLab's script, or the steps' `run`s (an `uses:` step is the CI's own). */
function commandsOf(doc: Record<string, unknown>): string[] {
  const jobs = (doc.jobs ?? doc) as Record<string, unknown>;
  const job = Object.values(jobs).find((j) => j !== null && typeof j === 'object' && ('script' in j || 'steps' in j)) as { script?: string[]; steps?: Array<{ run?: string }> } | undefined;
  if (!job) throw new Error('no job with a script or steps');
  return job.script ?? (job.steps ?? []).flatMap((step) => (step.run ? [step.run] : []));
}

describe('the CI examples (examples/ci/) against a real server and issuer', function () {
  this.timeout(120_000);
  let s: TestServer;
  let work: string;
  const issuers: Issuer[] = [];
  const keys = new Map<string, SigningKey>();
  let tokenEndpoint: http.Server;
  const requests: Array<{ authorization: string | undefined; audience: string | null }> = [];
  let pendingToken = '';

  before(async function () {
    requireTool(this, 'curl', 'curl');
    requireTool(this, 'openssl', 'openssl');
    work = await makeTempDir('ci-examples-');
    const cert = await issuerCertificate(work);
    const rules: unknown[] = [];
    for (const example of EXAMPLES) {
      const issuer = new Issuer(cert, example.prefix);
      await issuer.start();
      const key = await signingKey(`${example.file}-key`, 'ES256');
      issuer.published = [key];
      issuers.push(issuer);
      keys.set(example.file, key);
      // The rule the example's comment gives, its issuer swapped for the local one.
      const text = await readFile(path.join(REPO_ROOT, 'examples/ci', example.file), 'utf8');
      const ruleLines = text.split('\n').filter((l) => l.startsWith('# rule: ')).map((l) => l.slice('# rule: '.length));
      const doc = parseYaml(ruleLines.join('\n')) as { issuers: Array<Record<string, unknown>> };
      expect(doc.issuers, example.file).to.have.length(1);
      rules.push({ ...doc.issuers[0], issuer: issuer.url });
    }
    await writeFile(path.join(work, 'issuers.json'), JSON.stringify({ issuers: rules }));
    // GitHub's and Forgejo's runner give a URL that answers the job's token for an audience.
    tokenEndpoint = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push({ authorization: req.headers.authorization, audience: url.searchParams.get('audience') });
      res.setHeader('Content-Type', 'application/json');
      if (req.headers.authorization !== 'bearer runner-request-token') {
        res.statusCode = 401;
        res.end('{}');
        return;
      }
      res.end(JSON.stringify({ count: 1, value: pendingToken }));
    });
    await new Promise<void>((resolve) => tokenEndpoint.listen(0, '127.0.0.1', () => resolve()));
    s = await startServer({ TRUSTED_ISSUERS_FILE: path.join(work, 'issuers.json'), UPSTREAM_CA_FILE: cert.certFile, PROXY_ALLOW_NETWORKS: '127.0.0.0/8' });
  });

  after(async () => {
    await s?.close();
    for (const issuer of issuers) await issuer.stop();
    await new Promise((resolve) => tokenEndpoint?.close(resolve));
    if (work) await rm(work, { recursive: true, force: true });
  });

  EXAMPLES.forEach((example, i) => {
    it(`${example.file}: parses, and its commands mint with the job's token, upload and seal ${example.scope}`, async () => {
      const doc = parseYaml(await readFile(path.join(REPO_ROOT, 'examples/ci', example.file), 'utf8')) as Record<string, unknown>;
      const commands = commandsOf(doc);
      expect(commands.length, example.file).to.be.at.least(2);
      const audience = (parseYaml((await readFile(path.join(work, 'issuers.json'), 'utf8'))) as { issuers: Array<{ audience: string }> }).issuers[i]?.audience as string;
      const token = await idToken(keys.get(example.file) as SigningKey, (issuers[i] as Issuer).url, audience, example.claims);
      const jobEnv: Record<string, string> = {
        PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`,
        HOME: work,
        ARTIFACT_REPO: `${s.baseUrl}/`,
        ...example.env,
      };
      if (example.token === 'variable') jobEnv.ARTIFACT_REPO_ID_TOKEN = token;
      else {
        pendingToken = token;
        jobEnv.ACTIONS_ID_TOKEN_REQUEST_URL = `http://127.0.0.1:${(tokenEndpoint.address() as AddressInfo).port}/token?api-version=2.0`;
        jobEnv.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'runner-request-token';
      }
      const dir = path.join(work, `job-${i}`);
      await mkdir(dir);
      const result = await run('sh', ['-e', '-c', commands.join('\n')], { cwd: dir, env: jobEnv });
      expect(result.code, `${example.file}:\n${result.stdout}\n${result.stderr}`).to.equal(0);
      expect(result.stdout + result.stderr).to.not.include(token);
      if (example.token === 'request') expect(requests.at(-1)).to.deep.equal({ authorization: 'bearer runner-request-token', audience });
      const view = (await (await fetch(`${s.baseUrl}${example.scope}`, { headers: { Accept: 'application/json' } })).json()) as { build: { sealed: boolean; source: { uri?: string } | null } };
      expect(view.build.sealed, example.scope).to.equal(true);
      expect(view.build.source?.uri).to.match(/\.git$/);
      const uploaded = await (await fetch(`${s.baseUrl}${example.scope}hello.txt`)).text();
      expect(uploaded).to.match(/^hello from (pipeline|run) \d+\n$/);
    });
  });
});
