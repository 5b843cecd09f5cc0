// Who built it: the source, builder and properties a mint gives, kept with the build on
// both stores, shown in its JSON and page, refused field by field, said once (409), and
// carried into the signed provenance.
import { expect } from 'chai';
import { MASTER_AUTH, startServer, type TestServer } from '../helpers/harness.js';
import { databaseMode } from '../helpers/postgres.js';

const META = {
  source: { uri: 'https://git.example.org/hello.git', revision: '9fceb02d0ae598e95dc970b74767f19372d61af8', branch: 'main' },
  builder: { id: 'https://buildbot.example.org/#/builders/3', url: 'https://buildbot.example.org/#/builders/3/builds/42' },
  properties: { worker: 'debian-12-amd64', buildername: 'hello-deb' },
};

for (const mode of ['embedded', 'PostgreSQL'] as const) {
  describe(`who built it: build metadata (${mode})`, function () {
    this.timeout(60_000);
    let s: TestServer;
    let teardown: (() => Promise<void>) | null = null;
    before(async function () {
      if (mode === 'PostgreSQL') {
        this.timeout(120_000);
        teardown = await databaseMode(this);
      }
      s = await startServer();
    });
    after(async () => {
      await s?.close();
      await teardown?.();
    });

    const mint = (body: Record<string, unknown>): Promise<Response> =>
      fetch(`${s.baseUrl}/-/tokens`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const errorOf = async (res: Response): Promise<string> => ((await res.json()) as { error: string }).error;

    it('the first mint sets them; the build\'s JSON and page show them', async () => {
      const res = await mint({ type: 'dpkg', project: 'meta', build: '1', ...META });
      expect(res.status).to.equal(201);
      const view = (await (await fetch(`${s.baseUrl}/dpkg/meta/1/`, { headers: { Accept: 'application/json' } })).json()) as { build: Record<string, unknown> };
      expect(view.build.source).to.deep.equal(META.source);
      expect(view.build.builder).to.deep.equal(META.builder);
      expect(view.build.properties).to.deep.equal(META.properties);
      const page = await (await fetch(`${s.baseUrl}/dpkg/meta/1/`)).text();
      expect(page).to.include('built from <code title="9fceb02d0ae598e95dc970b74767f19372d61af8">9fceb02d0ae5</code> on main');
      expect(page).to.include(`<a href="${META.builder.url}" rel="nofollow noopener noreferrer"`);
    });

    it('each bad field is a 400 naming it, and nothing is minted', async () => {
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ source: { uri: 'ftp://x/y' } }, /^source\.uri/],
        [{ source: { revision: 'has space' } }, /^source\.revision/],
        [{ source: { branch: '' } }, /^source\.branch/],
        [{ builder: { url: 'file:///etc/passwd' } }, /^builder\.url/],
        [{ builder: { id: 'x' } }, /^builder\.id/],
        [{ properties: { 'bad key': 'v' } }, /^properties: the key/],
        [{ properties: { k: 'x'.repeat(1025) } }, /^properties\.k/],
        [{ source: { uri: 'https://e.org/x', sha: '1' } }, /^unknown field source\.sha/],
      ];
      for (const [extra, message] of cases) {
        const res = await mint({ type: 'dpkg', project: 'meta-bad', build: '1', ...extra });
        expect(res.status, JSON.stringify(extra)).to.equal(400);
        expect(await errorOf(res)).to.match(message);
      }
      expect((await fetch(`${s.baseUrl}/dpkg/meta-bad/1/`)).status).to.equal(404);
    });

    it('a later mint may omit them or repeat them; one that differs is 409 naming the field', async () => {
      expect((await mint({ type: 'dpkg', project: 'meta', build: '1' })).status).to.equal(201);
      expect((await mint({ type: 'dpkg', project: 'meta', build: '1', source: { revision: META.source.revision } })).status).to.equal(201);
      const other = await mint({ type: 'dpkg', project: 'meta', build: '1', source: { revision: '0000000000000000000000000000000000000000' } });
      expect(other.status).to.equal(409);
      expect(await errorOf(other)).to.match(/^source\.revision differs from what the first mint of build \/dpkg\/meta\/1\/ gave/);
      const added = await mint({ type: 'dpkg', project: 'meta', build: '1', properties: { ...META.properties, extra: 'x' } });
      expect(added.status).to.equal(409);
      expect(await errorOf(added)).to.match(/^properties\.extra differs/);
      const view = (await (await fetch(`${s.baseUrl}/dpkg/meta/1/`, { headers: { Accept: 'application/json' } })).json()) as { build: Record<string, unknown> };
      expect(view.build.source).to.deep.equal(META.source);
    });

    it('the sealed build\'s provenance carries the source, its commit, the builder and the CI job', async () => {
      const res = await mint({ type: 'dpkg', project: 'meta-seal', build: '1', ...META });
      const token = (await res.json()) as { id: string };
      expect((await fetch(`${s.baseUrl}/-/tokens/${token.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } })).status).to.equal(204);
      let text = '';
      for (let i = 0; i < 100 && text === ''; i++) {
        const got = await fetch(`${s.baseUrl}/dpkg/meta-seal/1/provenance.intoto.jsonl`);
        if (got.status === 200) text = await got.text();
        else await new Promise((r) => setTimeout(r, 50));
      }
      const envelope = JSON.parse(text.trim().split('\n')[0] as string) as { payload: string };
      const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as { predicate: { buildDefinition: { externalParameters: Record<string, unknown>; resolvedDependencies: Array<Record<string, unknown>> }; runDetails: { builder: { id: string }; metadata: Record<string, unknown> } } };
      const { buildDefinition, runDetails } = statement.predicate;
      expect(buildDefinition.externalParameters.source).to.deep.equal(META.source);
      expect(buildDefinition.resolvedDependencies).to.deep.include({ uri: 'git+https://git.example.org/hello.git@main', digest: { gitCommit: META.source.revision }, annotations: { source: 'source' } });
      expect(runDetails.builder.id).to.equal(META.builder.id);
      expect(runDetails.metadata.invocationId).to.equal(META.builder.url);
      // Sealed: the metadata no longer changes (no mint is taken for it at all).
      expect((await mint({ type: 'dpkg', project: 'meta-seal', build: '1', ...META })).status).to.equal(409);
    });
  });
}
