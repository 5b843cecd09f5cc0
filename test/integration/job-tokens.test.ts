// Any CI: a build credential for a job's OpenID Connect ID token (docs/ci.md). A real
// issuer runs on a loopback address over HTTPS (its certificate made by openssl, its
// discovery document and JWKS served by node:https, its keys made by jose), and the
// repository trusts it through TRUSTED_ISSUERS_FILE, UPSTREAM_CA_FILE and
// PROXY_ALLOW_NETWORKS, as an operator would set them.
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SignJWT, type JWTPayload } from 'jose';
import { Issuer, issuerCertificate, signingKey, type SigningKey } from '../helpers/oidc-issuer.js';
import { basic, makeTempDir, MASTER_AUTH, startServer, type TestServer } from '../helpers/harness.js';
import { requireTool } from '../helpers/tools.js';
import { databaseMode } from '../helpers/postgres.js';
import pg from 'pg';

const AUDIENCE = 'https://artifacts.example.org';

for (const mode of ['embedded', 'PostgreSQL'] as const) {
  describe(`build credentials for CI job tokens (${mode})`, function () {
    this.timeout(120_000);
    let s: TestServer;
    let work: string;
    let gitlab: Issuer;
    let github: Issuer;
    let away: Issuer;
    let gitlabKey: SigningKey;
    let githubKey: SigningKey;
    let teardown: (() => Promise<void>) | null = null;
    const seen: string[] = [];

    before(async function () {
      requireTool(this, 'openssl', 'openssl');
      if (mode === 'PostgreSQL') teardown = await databaseMode(this);
      work = await makeTempDir('job-tokens-');
      const cert = await issuerCertificate(work);
      gitlab = new Issuer(cert);
      github = new Issuer(cert, '/api/actions');
      away = new Issuer(cert);
      await gitlab.start();
      await github.start();
      await away.start();
      gitlabKey = await signingKey('gl-1', 'RS256');
      githubKey = await signingKey('gh-1', 'ES256');
      gitlab.published = [gitlabKey];
      github.published = [githubKey];
      away.published = [await signingKey('away-1', 'RS256')];
      // The issuer that is away: down before the repository ever asks it for keys.
      await away.goAway();
      const issuers = [
        '# Which CI jobs may mint, and for which build (docs/ci.md).',
        'issuers:',
        `  - issuer: ${gitlab.url}`,
        `    audience: ${AUDIENCE}`,
        '    rules:',
        '      - claims: {project_path: group/hello, ref_protected: "true"}',
        '        type: dpkg',
        '        project: hello',
        '        build: "{pipeline_id}.{job_id}"',
        '        ttl: 600',
        `  - issuer: ${github.url}`,
        `    audience: ${AUDIENCE}`,
        '    rules:',
        '      - claims: {repository: acme/widget, ref: refs/heads/main}',
        '        type: appimage',
        '        project: widget',
        '        build: "gh-{run_id}"',
        `  - issuer: ${away.url}`,
        `    audience: ${AUDIENCE}`,
        '    rules:',
        '      - claims: {project_path: x/y}',
        '        type: dpkg',
        '        project: y',
        '        build: "{job_id}"',
      ].join('\n');
      await writeFile(path.join(work, 'issuers.yaml'), `${issuers}\n`);
      s = await startServer({ TRUSTED_ISSUERS_FILE: path.join(work, 'issuers.yaml'), UPSTREAM_CA_FILE: path.join(work, 'cert.pem'), PROXY_ALLOW_NETWORKS: '127.0.0.0/8' });
    });

    after(async () => {
      await s?.close();
      await gitlab?.stop();
      await github?.stop();
      await away?.stop();
      await teardown?.();
      if (work) await rm(work, { recursive: true, force: true });
    });

    const nowSeconds = (): number => Math.floor((Date.now() + (s?.clock.offsetMs ?? 0)) / 1000);

    async function jwt(key: SigningKey, issuer: string, claims: JWTPayload, options: { aud?: string; iat?: number; exp?: number; nbf?: number; kid?: string } = {}): Promise<string> {
      const iat = options.iat ?? nowSeconds();
      const token = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: 'JWT' })
        .setIssuer(issuer)
        .setAudience(options.aud ?? AUDIENCE)
        .setIssuedAt(iat)
        .setExpirationTime(options.exp ?? iat + 300)
        .setNotBefore(options.nbf ?? iat - 5)
        .setJti(`jti-${Math.random().toString(36).slice(2)}`)
        .sign(key.privateKey);
      seen.push(token);
      return token;
    }

    let job = 0;
    function gitlabClaims(extra: JWTPayload = {}): JWTPayload {
      job++;
      return { sub: `project_path:group/hello:ref_type:branch:ref:main`, project_path: 'group/hello', ref: 'main', ref_type: 'branch', ref_protected: 'true', sha: '9fceb02d0ae598e95dc970b74767f19372d61af8', pipeline_id: String(1000 + job), job_id: String(5000 + job), ...extra };
    }

    async function mint(token: string, body?: unknown): Promise<Response> {
      const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      return fetch(`${s.baseUrl}/-/tokens`, { method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) });
    }

    /** The answer's error message (JSON), and its whole text. */
    async function errorOf(res: Response): Promise<{ error: string; text: string }> {
      const text = await res.text();
      return { error: (JSON.parse(text) as { error: string }).error, text };
    }

    async function expectRefused(res: Response, status: number, reason: RegExp, token: string | null = null): Promise<void> {
      const { error, text } = await errorOf(res);
      expect(res.status, text).to.equal(status);
      expect(error).to.match(reason);
      if (token) expect(text).to.not.include(token).and.not.include(token.split('.')[2] as string);
    }

    it('a GitLab job mints for the build its rule names, uploads, revokes; the build says where it came from', async () => {
      const token = await jwt(gitlabKey, gitlab.url, gitlabClaims());
      const res = await mint(token);
      expect(res.status, await res.clone().text()).to.equal(201);
      const credential = (await res.json()) as { id: string; username: string; password: string; scope: string; expires_at: string };
      expect(credential.scope).to.equal(`/dpkg/hello/${1000 + job}.${5000 + job}/`);
      expect(Date.parse(credential.expires_at) - Date.now()).to.be.at.most(600_000 + 2000);
      const put = await fetch(`${s.baseUrl}${credential.scope}hello.txt`, { method: 'PUT', headers: { Authorization: basic(credential.username, credential.password) }, body: 'from a job\n' });
      expect(put.status).to.equal(201);
      const revoked = await fetch(`${s.baseUrl}/-/tokens/${credential.id}`, { method: 'DELETE', headers: { Authorization: basic(credential.username, credential.password) } });
      expect(revoked.status).to.equal(204);
      const view = (await (await fetch(`${s.baseUrl}${credential.scope}`, { headers: { Accept: 'application/json' } })).json()) as { build: { sealed: boolean; source: Record<string, string>; builder: Record<string, string> } };
      expect(view.build.sealed).to.equal(true);
      expect(view.build.source).to.deep.equal({ uri: `${new URL(gitlab.url).origin}/group/hello.git`, revision: '9fceb02d0ae598e95dc970b74767f19372d61af8', branch: 'main' });
      expect(view.build.builder.url).to.equal(`${new URL(gitlab.url).origin}/group/hello/-/jobs/${5000 + job}`);
      // The audit trail names the issuer and the job's subject.
      const audit = (await (await fetch(`${s.baseUrl}/-/audit?build=${encodeURIComponent(credential.scope)}`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } })).json()) as { entries: Array<Record<string, unknown>> };
      const minted = audit.entries.find((e) => e.event === 'token.minted');
      expect(minted?.by).to.equal(`job:project_path:group/hello:ref_type:branch:ref:main@${gitlab.url}`);
    });

    it('a GitHub-like job (ES256, an issuer with a path) mints too, with a body that agrees with its rule', async () => {
      const token = await jwt(githubKey, github.url, { sub: 'repo:acme/widget:ref:refs/heads/main', repository: 'acme/widget', ref: 'refs/heads/main', sha: 'a'.repeat(40), run_id: 777, workflow_ref: 'acme/widget/.github/workflows/build.yml@refs/heads/main' });
      const res = await mint(token, { type: 'appimage', project: 'widget', build: 'gh-777', ttl: 60, proxy: 'record' });
      expect(res.status, await res.clone().text()).to.equal(201);
      const credential = (await res.json()) as { scope: string; id: string };
      expect(credential.scope).to.equal('/appimage/widget/gh-777/');
      const view = (await (await fetch(`${s.baseUrl}${credential.scope}`, { headers: { Accept: 'application/json' } })).json()) as { build: { source: Record<string, string>; builder: Record<string, string> } };
      expect(view.build.source.uri).to.equal(`${new URL(github.url).origin}/acme/widget.git`);
      expect(view.build.source.branch).to.equal('main');
      expect(view.build.builder.url).to.equal(`${new URL(github.url).origin}/acme/widget/actions/runs/777`);
      await fetch(`${s.baseUrl}/-/tokens/${credential.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
    });

    it('401 for every token that is not what it claims, with a short reason and never the token', async () => {
      const t = nowSeconds();
      const stranger = await signingKey('gl-1', 'RS256');
      const unpublished = await signingKey('never-published', 'RS256');
      const header = (obj: object): string => Buffer.from(JSON.stringify(obj)).toString('base64url');
      const claims = { ...gitlabClaims(), iss: gitlab.url, aud: AUDIENCE, iat: t, exp: t + 300 };
      const unsigned = `${header({ alg: 'none', typ: 'JWT' })}.${header(claims)}.`;
      // HS256 with the issuer's public key as the secret: the classic key-confusion attack.
      const hsInput = `${header({ alg: 'HS256', kid: 'gl-1' })}.${header(claims)}`;
      const publicPem = JSON.stringify(gitlabKey.jwk);
      const confused = `${hsInput}.${createHmac('sha256', publicPem).update(hsInput).digest('base64url')}`;
      seen.push(unsigned, confused);
      const cases: Array<[string, string, RegExp]> = [
        ['expired', await jwt(gitlabKey, gitlab.url, gitlabClaims(), { iat: t - 4000, exp: t - 3000, nbf: t - 4000 }), /expired/],
        ['not yet valid', await jwt(gitlabKey, gitlab.url, gitlabClaims(), { nbf: t + 3600, exp: t + 7200 }), /"nbf" claim/],
        ['issued in the future', await jwt(gitlabKey, gitlab.url, gitlabClaims(), { iat: t + 3600, nbf: t - 5, exp: t + 7200 }), /future|iat/],
        ['wrong issuer', await jwt(gitlabKey, 'https://evil.example.org', gitlabClaims()), /not trusted/],
        ['wrong audience', await jwt(gitlabKey, gitlab.url, gitlabClaims(), { aud: 'https://elsewhere.example.org' }), /"aud" claim/],
        ['alg none', unsigned, /algorithm "none"/],
        ['HS256 with the public key', confused, /algorithm "HS256"/],
        ['a key the issuer never published', await jwt(unpublished, gitlab.url, gitlabClaims()), /key the issuer does not publish/],
        ['the right kid, another key', await jwt(stranger, gitlab.url, gitlabClaims()), /signature does not verify/],
        ['garbage', 'eyJhbGciOi.garbage.x', /not a JWT|malformed/],
        ['not even three parts', 'hello', /not a JWT/],
      ];
      for (const [what, token, reason] of cases) {
        const res = await mint(token);
        const { error, text } = await errorOf(res);
        expect(res.status, `${what}: ${text}`).to.equal(401);
        expect(error, what).to.match(reason);
        expect(text, what).to.not.include(token.split('.')[2] || '\u0000');
        expect(text.length, what).to.be.below(300);
      }
    });

    it('403 for claims no rule allows, a body asking for another build, and claims that make a bad build name', async () => {
      await expectRefused(await mint(await jwt(gitlabKey, gitlab.url, gitlabClaims({ ref_protected: 'false' }))), 403, /no rule/);
      await expectRefused(await mint(await jwt(gitlabKey, gitlab.url, gitlabClaims({ project_path: 'group/other' }))), 403, /no rule/);
      await expectRefused(await mint(await jwt(gitlabKey, gitlab.url, gitlabClaims()), { type: 'dpkg', project: 'other' }), 403, /project "other" is not what the rule/);
      await expectRefused(await mint(await jwt(gitlabKey, gitlab.url, gitlabClaims()), { ttl: 100000 }), 403, /ttl may be at most 600/);
      await expectRefused(await mint(await jwt(gitlabKey, gitlab.url, gitlabClaims({ pipeline_id: '../../etc' }))), 403, /not a valid name/);
      await expectRefused(await mint(await jwt(gitlabKey, gitlab.url, gitlabClaims({ job_id: undefined }))), 403, /no claim "job_id"/);
      await expectRefused(await mint(await jwt(gitlabKey, gitlab.url, gitlabClaims()), { source: { uri: 'https://x' } }), 400, /unknown field "source"/);
    });

    it('a token without a jti mints once too, whatever encoding of its signature is sent', async () => {
      const t = nowSeconds();
      const token = await new SignJWT({ sub: 'repo:acme/widget:ref:refs/heads/main', repository: 'acme/widget', ref: 'refs/heads/main', run_id: 4242 })
        .setProtectedHeader({ alg: 'ES256', kid: githubKey.kid })
        .setIssuer(github.url)
        .setAudience(AUDIENCE)
        .setIssuedAt(t)
        .setExpirationTime(t + 300)
        .sign(githubKey.privateKey);
      // ECDSA's mirrored signature (r, n - s) verifies alike: another string, the same token.
      const [head, body, signature] = token.split('.') as [string, string, string];
      const raw = Buffer.from(signature, 'base64url');
      const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
      const mirrored = (n - BigInt(`0x${raw.subarray(32).toString('hex')}`)).toString(16).padStart(64, '0');
      const twin = `${head}.${body}.${Buffer.concat([raw.subarray(0, 32), Buffer.from(mirrored, 'hex')]).toString('base64url')}`;
      seen.push(token, twin);
      const first = await mint(token);
      expect(first.status, await first.clone().text()).to.equal(201);
      await expectRefused(await mint(twin), 409, /minted a build credential already/, twin);
    });

    it('a job may not replay another project\'s build, nor join a build a master began', async () => {
      await expectRefused(await mint(await jwt(gitlabKey, gitlab.url, gitlabClaims()), { proxy: 'offline', replay: '/appimage/widget/gh-777/' }), 403, /replay only builds of \/dpkg\/hello\//);
      const claims = gitlabClaims();
      const masterMint = await fetch(`${s.baseUrl}/-/tokens`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'dpkg', project: 'hello', build: `${claims.pipeline_id}.${claims.job_id}` }) });
      expect(masterMint.status).to.equal(201);
      await expectRefused(await mint(await jwt(gitlabKey, gitlab.url, claims)), 409, /begun by another minter/);
    });

    it('one token mints once: a second use is 409, also after the first credential ended', async () => {
      const token = await jwt(gitlabKey, gitlab.url, gitlabClaims());
      const first = await mint(token);
      expect(first.status).to.equal(201);
      const { id } = (await first.json()) as { id: string };
      await expectRefused(await mint(token), 409, /minted a build credential already/, token);
      await fetch(`${s.baseUrl}/-/tokens/${id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
      await expectRefused(await mint(token), 409, /./, token);
    });

    if (mode === 'PostgreSQL') {
      it('one token mints once across replicas: sent to two at once, one 201 and one 409', async () => {
        const other = await startServer({ DATABASE_URL: s.databaseUrl as string, ARTIFACTS_DIR: s.artifactsDir, TRUSTED_ISSUERS_FILE: path.join(work, 'issuers.yaml'), UPSTREAM_CA_FILE: path.join(work, 'cert.pem'), PROXY_ALLOW_NETWORKS: '127.0.0.0/8' });
        try {
          for (let round = 0; round < 5; round++) {
            const token = await jwt(gitlabKey, gitlab.url, gitlabClaims());
            const send = (base: string): Promise<Response> => fetch(`${base}/-/tokens`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
            const answers = await Promise.all([send(s.baseUrl), send(other.baseUrl)]);
            expect(answers.map((a) => a.status).sort()).to.deep.equal([201, 409]);
          }
        } finally {
          await other.close();
        }
      });
    }

    it('503 while an issuer is down and none of its keys are cached; 401 for a Bearer token where no issuer is trusted', async () => {
      const claims = { sub: 'x', project_path: 'x/y', job_id: '1' };
      const key = await signingKey('away-1', 'RS256');
      const res = await mint(await jwt(key, away.url, claims));
      const text = await res.text();
      expect(res.status, text).to.equal(503);
      expect(text).to.match(/cannot be fetched now/);
      const plain = await startServer();
      try {
        const refused = await fetch(`${plain.baseUrl}/-/tokens`, { method: 'POST', headers: { Authorization: `Bearer ${await jwt(gitlabKey, gitlab.url, gitlabClaims())}` } });
        expect(refused.status).to.equal(401);
        expect(await refused.text()).to.match(/TRUSTED_ISSUERS_FILE/);
      } finally {
        await plain.close();
      }
    });

    it('a key rotation at the issuer works without a restart; an unknown kid asks the issuer again at most once a minute', async () => {
      const rotated = await signingKey('gl-2', 'RS256');
      gitlab.published = [gitlabKey, rotated];
      const before = gitlab.jwksFetches;
      // Within the minute since the last fetch, an unknown kid is not asked for.
      const early = await mint(await jwt(rotated, gitlab.url, gitlabClaims()));
      expect(early.status).to.equal(401);
      expect(gitlab.jwksFetches).to.equal(before);
      s.clock.offsetMs += 61_000;
      try {
        const res = await mint(await jwt(rotated, gitlab.url, gitlabClaims()));
        expect(res.status, await res.clone().text()).to.equal(201);
        expect(gitlab.jwksFetches).to.equal(before + 1);
        // Many tokens with unknown kids now: no more fetches within the minute.
        for (let i = 0; i < 5; i++) expect((await mint(await jwt(await signingKey(`bogus-${i}`, 'RS256'), gitlab.url, gitlabClaims()))).status).to.equal(401);
        expect(gitlab.jwksFetches).to.equal(before + 1);
        // The old key still verifies what it signs.
        expect((await mint(await jwt(gitlabKey, gitlab.url, gitlabClaims()))).status).to.equal(201);
      } finally {
        s.clock.offsetMs = 0;
      }
    });

    it('no job token in the log, the audit trail or any answer', async () => {
      const logs = s.logLines.join('\n');
      let auditText: string;
      if (mode === 'embedded') auditText = await readFile(path.join(s.tokensDir, 'audit.jsonl'), 'utf8');
      else {
        const client = new pg.Client({ connectionString: s.databaseUrl as string });
        await client.connect();
        try {
          auditText = (await client.query<{ entry: unknown }>('SELECT entry FROM audit ORDER BY seq')).rows.map((r) => JSON.stringify(r.entry)).join('\n');
        } finally {
          await client.end();
        }
      }
      expect(auditText).to.include('job:project_path:group/hello');
      expect(seen.length).to.be.above(20);
      for (const token of seen) {
        const signature = token.split('.')[2] as string;
        for (const [where, text] of [['log', logs], ['audit', auditText]] as const) {
          expect(text.includes(token), `${where} holds a token`).to.equal(false);
          if (signature.length > 10) expect(text.includes(signature), `${where} holds a signature`).to.equal(false);
        }
      }
    });
  });
}
