// Who built it: the source, builder and properties a mint gives, kept with the build on
// both stores, shown in its JSON and page, refused field by field, said once (409), and
// carried into the signed provenance.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { MASTER_AUTH, startServer, type TestServer } from '../helpers/harness.js';
import { requireTool, run, skipUnlessCi } from '../helpers/tools.js';
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

describe('the newest build and what was built lately', function () {
  this.timeout(120_000);
  for (const mode of ['embedded', 'PostgreSQL'] as const) {
    describe(mode, () => {
      let s: TestServer;
      let teardown: (() => Promise<void>) | null = null;
      before(async function () {
        if (mode === 'PostgreSQL') teardown = await databaseMode(this);
        s = await startServer();
        // hello: 1 (main, sealed), 2 (dev, sealed), 3 (main, sealed, with a file), 4 (open); other: 1 (sealed, no metadata).
        const builds: Array<[string, string, Record<string, unknown> | null, boolean]> = [
          ['hello', '1', { source: { revision: 'a'.repeat(40), branch: 'main' } }, true],
          ['hello', '2', { source: { revision: 'b'.repeat(40), branch: 'dev' } }, true],
          ['hello', '3', { source: { revision: `c${'d'.repeat(39)}`, branch: 'main' } }, true],
          ['hello', '4', { source: { revision: 'e'.repeat(40), branch: 'main' } }, false],
          ['other', '1', null, true],
        ];
        for (const [project, build, meta, seal] of builds) {
          const res = await fetch(`${s.baseUrl}/-/tokens`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'dpkg', project, build, ...(meta ?? {}) }) });
          const t = (await res.json()) as { id: string; username: string; password: string };
          if (build === '3') {
            const put = await fetch(`${s.baseUrl}/dpkg/${project}/${build}/docs/hello.txt`, { method: 'PUT', headers: { Authorization: `Basic ${Buffer.from(`${t.username}:${t.password}`).toString('base64')}` }, body: 'hello\n' });
            expect(put.status).to.equal(201);
          }
          if (seal) expect((await fetch(`${s.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } })).headers.get('x-artifact-repo-seal')).to.equal('sealed');
        }
      });
      after(async () => {
        await s?.close();
        await teardown?.();
      });

      const latest = (path: string): Promise<Response> => fetch(`${s.baseUrl}/-/latest/${path}`, { redirect: 'manual' });

      it('/-/latest points at the newest sealed build, on a branch, or at a file in it; open builds never count', async () => {
        const newest = await latest('dpkg/hello/');
        expect(newest.status).to.equal(302);
        expect(newest.headers.get('location')).to.equal('/dpkg/hello/3/');
        expect(newest.headers.get('cache-control')).to.equal('no-cache');
        expect((await latest('dpkg/hello/?branch=dev')).headers.get('location')).to.equal('/dpkg/hello/2/');
        const file = await latest('dpkg/hello/docs/hello.txt?download=1&branch=main');
        expect(file.status).to.equal(302);
        expect(file.headers.get('location')).to.equal('/dpkg/hello/3/docs/hello.txt?download=1');
        // The query goes along as it came: flags, spaces and tildes unchanged.
        expect((await latest('dpkg/hello/docs/hello.txt?x&y=a%20b~c&branch=main')).headers.get('location')).to.equal('/dpkg/hello/3/docs/hello.txt?x&y=a%20b~c');
        expect((await fetch(`${s.baseUrl}/-/latest/dpkg/hello/docs/hello.txt`)).status).to.equal(200); // followed, the file
        const head = await fetch(`${s.baseUrl}/-/latest/dpkg/hello/`, { method: 'HEAD', redirect: 'manual' });
        expect(head.status).to.equal(302);
      });

      it('/-/latest says what is missing: no sealed build, none on the branch, no such file, a malformed name', async () => {
        const none = await latest('dpkg/nothing/');
        expect(none.status).to.equal(404);
        expect(((await none.json()) as { error: string }).error).to.equal('no sealed build of /dpkg/nothing/');
        const branch = await latest('dpkg/hello/?branch=feature');
        expect(((await branch.json()) as { error: string }).error).to.equal('no sealed build of /dpkg/hello/ on branch feature');
        const file = await latest('dpkg/hello/nope.txt');
        expect(file.status).to.equal(404);
        expect(((await file.json()) as { error: string }).error).to.equal('the newest sealed build, /dpkg/hello/3/, has no nope.txt');
        expect((await latest('dpkg/')).status).to.equal(400);
        expect((await latest('dpkg/%2e%2e/')).status).to.equal(400);
      });

      it('/-/builds lists sealed builds newest first, filtered, in pages by cursor; bad parameters are 400', async () => {
        type List = { builds: Array<{ path: string; branch: string | null; revision: string | null; files: number }>; next: string | null };
        const get = async (query: string): Promise<List> => (await (await fetch(`${s.baseUrl}/-/builds${query}`, { headers: { Accept: 'application/json' } })).json()) as List;
        expect((await get('')).builds.map((b) => b.path)).to.deep.equal(['/dpkg/other/1/', '/dpkg/hello/3/', '/dpkg/hello/2/', '/dpkg/hello/1/']);
        expect((await get('?project=hello&branch=main')).builds.map((b) => b.path)).to.deep.equal(['/dpkg/hello/3/', '/dpkg/hello/1/']);
        expect((await get(`?revision=${'b'.repeat(7)}`)).builds.map((b) => b.path)).to.deep.equal(['/dpkg/hello/2/']);
        const first = await get('?limit=3');
        expect(first.builds).to.have.length(3);
        const rest = await get(`?limit=3&before=${first.next}`);
        expect(rest.builds.map((b) => b.path)).to.deep.equal(['/dpkg/hello/1/']);
        expect(rest.next).to.equal(null);
        for (const bad of ['?limit=0', '?limit=201', '?before=nonsense', '?type=..', '?revision=a%20b', '?limit=1&limit=2']) {
          const res = await fetch(`${s.baseUrl}/-/builds${bad}`, { headers: { Accept: 'application/json' } });
          expect(res.status, bad).to.equal(400);
        }
        const page = await (await fetch(`${s.baseUrl}/-/builds`)).text();
        expect(page).to.include('<h1>sealed builds</h1>').and.include('href="/dpkg/hello/3/"');
        const front = await (await fetch(`${s.baseUrl}/`)).text();
        expect(front).to.include('<h2>sealed lately</h2>').and.include('href="/dpkg/other/1/"').and.not.include('href="/dpkg/hello/4/"');
      });

      it('/-/search?revision= finds the builds of a revision, whole or by a prefix of 7', async () => {
        type Found = { builds: Array<{ path: string }> };
        const found = async (q: string): Promise<string[]> => ((await (await fetch(`${s.baseUrl}/-/search?revision=${q}`, { headers: { Accept: 'application/json' } })).json()) as Found).builds.map((b) => b.path);
        expect(await found('a'.repeat(40))).to.deep.equal(['/dpkg/hello/1/']);
        expect(await found('cdddddd')).to.deep.equal(['/dpkg/hello/3/']);
        expect(await found('cdddd')).to.deep.equal([]);
        // An open build of a revision is listed apart, by name.
        const open = (await (await fetch(`${s.baseUrl}/-/search?revision=eeeeeee`, { headers: { Accept: 'application/json' } })).json()) as { builds: unknown[]; open: Array<{ path: string }> };
        expect(open.builds).to.deep.equal([]);
        expect(open.open.map((b) => b.path)).to.deep.equal(['/dpkg/hello/4/']);
        expect((await fetch(`${s.baseUrl}/-/search?revision=a%20b`)).status).to.equal(400);
      });

      it('/-/builds.atom is an Atom feed a real feed parser reads: one entry per sealed build, newest first', async function () {
        const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : requireTool(this, 'python3', 'python3-feedparser');
        const feed = await fetch(`${s.baseUrl}/-/builds.atom?project=hello`);
        expect(feed.headers.get('content-type')).to.equal('application/atom+xml; charset=utf-8');
        const text = await feed.text();
        const script = 'import feedparser, json, sys\nd = feedparser.parse(sys.stdin.read())\nprint(json.dumps({"bozo": d.bozo, "version": d.version, "entries": [[e.id, e.title, e.link, e.updated, e.summary] for e in d.entries]}))';
        const parsed = await run(python, ['-c', script], { input: text });
        if (parsed.code !== 0 && /No module named 'feedparser'/.test(parsed.stderr)) skipUnlessCi(this, 'python3-feedparser is not installed', 'apt-get install python3-feedparser, as .ci/run does');
        expect(parsed.code, parsed.stderr).to.equal(0);
        const out = JSON.parse(parsed.stdout) as { bozo: number | boolean; version: string; entries: string[][] };
        expect(out.bozo, "the parser found no fault").to.not.be.ok;
        expect(out.version).to.equal('atom10');
        expect(out.entries.map((e) => e[0])).to.deep.equal([`${s.baseUrl}/dpkg/hello/3/`, `${s.baseUrl}/dpkg/hello/2/`, `${s.baseUrl}/dpkg/hello/1/`]);
        expect(out.entries[0]?.[1]).to.equal('hello 3 (dpkg)');
        expect(out.entries[0]?.[4]).to.include('branch main').and.include(`revision c${'d'.repeat(39)}`);
      });
    });
  }
});
