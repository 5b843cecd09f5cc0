import { expect } from 'chai';
import { toHref } from '../../server/domain/tree-path.js';
import { humanSize, renderPage } from '../../server/pages/render.js';
import { STYLE } from '../../server/pages/style.js';
import type { BuildSummary, Crumb, EntryView, PageView, Paging } from '../../server/pages/views.js';
import { searchQuery } from '../../server/pages/browse.js';

const HASH_A = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const HASH_B = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';
const HASH_C = '2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae';
const HOSTILE = `<script>alert("x")</script> & 'q' ü 📦`;
const BUILD = ['dpkg', 'hello', '42'];

/** One page holding everything. */
function onePage(total: number): Paging {
  return { offset: 0, limit: 1000, total, previousHref: null, nextHref: null };
}

function crumbsFor(segments: string[]): Crumb[] {
  return [{ name: 'artifacts', href: '/' }, ...segments.map((name, i) => ({ name, href: toHref(segments.slice(0, i + 1), true) }))];
}

function build(name: string, sealed: boolean, previous: string | null = null): BuildSummary {
  const href = toHref(['dpkg', 'hello', name], true);
  const previousHref = previous === null ? null : toHref(['dpkg', 'hello', previous], true);
  return {
    name,
    href,
    modified: '2024-05-22T14:02:00.000Z',
    files: 7,
    bytes: 48_500_000,
    sealed,
    sealedAt: sealed ? '2024-05-22T14:12:00.000Z' : null,
    signed: sealed,
    source: sealed ? { uri: 'https://git.example.org/hello.git', revision: '9fceb02d0ae598e95dc970b74767f19372d61af8', branch: 'main<b>' } : null,
    builder: sealed ? { id: 'https://ci.example.org/#/builders/3', url: 'https://ci.example.org/#/builders/3/builds/42' } : null,
    properties: sealed ? { worker: 'debian-12' } : null,
    live: sealed ? [] : [{ proxy: 'offline', replay: '/dpkg/hello/<41>/', expiresAt: '2024-05-22T20:02:00.000Z' }],
    previous: previousHref,
    compareHref: previousHref === null ? null : `/-/compare?from=${encodeURIComponent(previousHref)}&to=${encodeURIComponent(href)}`,
    packages: sealed ? { debs: 2, python: 1, aptHref: href, skipped: [{ path: 'bad<1>.deb', reason: 'control.tar.gz: truncated <here>' }] } : null,
  };
}

function file(segments: string[], sha256: string, size = 1234, name = segments[segments.length - 1] as string): EntryView {
  return { name, href: toHref(segments, false), type: 'file', size, modified: '2024-05-22T14:02:00.000Z', sha256 };
}

function collection(segments: string[]): EntryView {
  return { name: segments[segments.length - 1] as string, href: toHref(segments, true), type: 'collection', size: null, modified: '2024-05-22T09:30:00.000Z', sha256: null };
}

function directory(sealed: boolean, entries: EntryView[] = [collection([...BUILD, 'logs']), file([...BUILD, 'hello_1.0_amd64.deb'], HASH_A, 48_000_000)]): Extract<PageView, { view: 'directory' }> {
  return { view: 'directory', path: toHref(BUILD, true), crumbs: crumbsFor(BUILD), build: build('42', sealed, sealed ? '41' : null), entries, paging: onePage(entries.length) };
}

function compare(overrides: Partial<Extract<PageView, { view: 'compare' }>>): Extract<PageView, { view: 'compare' }> {
  return {
    view: 'compare',
    path: '/-/compare',
    crumbs: [{ name: 'artifacts', href: '/' }, { name: 'compare', href: '/-/compare' }],
    from: '/dpkg/hello/41/',
    to: '/dpkg/hello/42/',
    error: null,
    added: [],
    removed: [],
    changed: [],
    identical: [file([...BUILD, 'a.deb'], HASH_C, 10, 'a.deb'), file([...BUILD, 'docs', 'b.txt'], HASH_A, 20, 'docs/b.txt')],
    reproducible: true,
    inputs: null,
    provenance: null,
    ...overrides,
    counts: { added: 0, removed: 0, changed: 0, identical: 2, ...Object.fromEntries((['added', 'removed', 'changed', 'identical'] as const).filter((k) => overrides[k]).map((k) => [k, overrides[k]?.length ?? 0])) },
  };
}

function search(overrides: Partial<Extract<PageView, { view: 'search' }>>): Extract<PageView, { view: 'search' }> {
  return { view: 'search', path: '/-/search', crumbs: [{ name: 'artifacts', href: '/' }, { name: 'search', href: '/-/search' }], query: HASH_A, sha256: HASH_A, error: null, results: [], names: [], more: false, ...overrides };
}

const SEALED = { type: 'dpkg', project: 'hello', build: '42', path: '/dpkg/hello/42/', href: '/dpkg/hello/42/', sealedAt: '2024-05-22T14:12:00.000Z', files: 7, bytes: 1234, signed: true, branch: 'main<x>', revision: '9fceb02d0ae598e95dc970b74767f19372d61af8' };

const SAMPLES: Record<PageView['view'], PageView> = {
  root: { view: 'root', path: '/', crumbs: crumbsFor([]), entries: [collection(['dpkg']), collection(['rpm'])], paging: onePage(2), recent: [SEALED] },
  builds: { view: 'builds', path: '/-/builds', crumbs: [{ name: 'artifacts', href: '/' }, { name: 'builds', href: '/-/builds' }], filters: { type: 'dpkg', project: null, branch: 'main', revision: null }, builds: [SEALED], next: 'abc', nextHref: '/-/builds?type=dpkg&branch=main&before=abc', feedHref: '/-/builds.atom?type=dpkg&branch=main' },
  type: { view: 'type', path: '/dpkg/', crumbs: crumbsFor(['dpkg']), entries: [collection(['dpkg', 'hello'])], paging: onePage(1) },
  project: { view: 'project', path: '/dpkg/hello/', crumbs: crumbsFor(['dpkg', 'hello']), builds: [build('43', false, '42'), build('42', true, '41'), build('41', true)], entries: [], paging: onePage(3) },
  directory: directory(true),
  search: search({
    results: [{ path: 'hello_1.0_amd64.deb', href: toHref([...BUILD, 'hello_1.0_amd64.deb'], false), size: 48_000_000, build: 'dpkg/hello/42', buildHref: toHref(BUILD, true), modified: '2024-05-22T14:02:00.000Z' }],
  }),
  compare: compare({}),
  mirror: {
    view: 'mirror',
    path: '/-/mirror',
    crumbs: crumbsFor([]),
    entries: [
      { id: 'a1', kind: 'file', url: 'https://example.org/<b>.tar.gz', image: null, state: 'ok', reason: null, next_try_at: null, attempts: 1, sha256: HASH_A, size: 1234, bytes_so_far: null, note: 'the <compiler> we build with', declared_by: 'master:ci', declared_at: '2024-05-22T14:00:00.000Z', fetched_at: '2024-05-22T14:01:00.000Z', download: `/-/mirror/sha256/${HASH_A}`, used_by: [{ build: "/dpkg/hello/42/", at: "2024-05-22T15:00:00.000Z" }] },
      { id: 'a2', kind: 'file', url: 'https://example.org/gone.zip', image: null, state: 'failed', reason: 'upstream answered 404', next_try_at: '2024-05-22T14:05:00.000Z', attempts: 2, sha256: null, size: null, bytes_so_far: null, note: '', declared_by: 'master:ci', declared_at: '2024-05-22T14:00:00.000Z', fetched_at: null, download: null, used_by: [] },
      { id: 'a3', kind: 'image', url: null, image: `registry.example.org/library/alpine@sha256:${HASH_C}`, state: 'pending', reason: null, next_try_at: null, attempts: 0, sha256: null, size: null, bytes_so_far: 4096, note: '', declared_by: 'master:ci', declared_at: '2024-05-22T14:00:00.000Z', fetched_at: null, download: null, used_by: [] },
    ],
  },
  audit: {
    view: 'audit',
    path: '/-/audit',
    crumbs: crumbsFor(BUILD),
    build: '/dpkg/hello/42/',
    buildHref: toHref(BUILD, true),
    entries: [
      { time: '2024-05-22T14:00:00.000Z', event: 'token.minted', build: '/dpkg/hello/42/', token: 'tok1', by: 'buildbot', ttl_seconds: 3600, expires_at: '2024-05-22T15:00:00.000Z' },
      { time: '2024-05-22T14:01:00.000Z', event: 'file.written', build: '/dpkg/hello/42/', path: '/dpkg/hello/42/<script>&.deb', size: 10, sha256: HASH_A, token: 'tok1' },
      { time: '2024-05-22T14:02:00.000Z', event: 'token.revoked', build: '/dpkg/hello/42/', token: 'tok1', by: 'token:tok1', first_used_at: null, last_used_at: null, uses: 0 },
    ],
    offset: 0,
    total: 3,
    previousHref: null,
    nextHref: null,
  },
  inputs: {
    view: 'inputs',
    path: '/-/inputs',
    crumbs: crumbsFor(BUILD),
    build: '/dpkg/hello/42/',
    buildHref: toHref(BUILD, true),
    exchanges: [{ method: 'GET', url: `https://example.org/${HOSTILE}`, status: 200, sha256: HASH_A, size: 10, time: '2024-05-22T14:01:00.000Z', source: 'upstream', changed: true }],
    misses: [{ method: 'GET', url: 'https://example.org/missing', time: '2024-05-22T14:02:00.000Z', replayed: '/dpkg/hello/41/' }],
    missTotal: 1,
    partials: [{ method: 'GET', url: `https://example.org/${HOSTILE}`, status: 206, range: `bytes=0-${HOSTILE}`, time: '2024-05-22T14:03:00.000Z' }],
    partialTotal: 1,
    refusals: [{ method: 'CONNECT', url: `https://10.0.0.1:443`, status: 403, reason: `target 10.0.0.1 is a private address ${HOSTILE}`, time: '2024-05-22T14:04:00.000Z' }],
    refusalTotal: 1,
    paging: onePage(1),
  },
  error: { view: 'error', path: '/dpkg/nope/', crumbs: crumbsFor(['dpkg', 'nope']), status: 404, message: 'no such project' },
  'mirror-entry': {
    view: 'mirror-entry',
    path: '/-/mirror/a1',
    crumbs: [{ name: 'artifacts', href: '/' }, { name: 'mirror', href: '/-/mirror' }, { name: 'a1', href: '/-/mirror/a1' }],
    entry: { id: 'a1', kind: 'file', url: `https://example.org/${HOSTILE}`, image: null, state: 'ok', reason: null, next_try_at: null, attempts: 1, sha256: HASH_A, size: 1234, bytes_so_far: null, note: `for <b>the</b> build`, declared_by: 'master:ci', declared_at: '2024-05-22T14:00:00.000Z', fetched_at: '2024-05-22T14:01:00.000Z', download: `/-/mirror/sha256/${HASH_A}`, used_by: [{ build: '/dpkg/hello/42/', at: '2024-05-22T15:00:00.000Z' }] },
  },
  'compare-form': { view: 'compare-form', path: '/-/compare', crumbs: [{ name: 'artifacts', href: '/' }, { name: 'compare', href: '/-/compare' }] },
};

const VOID_ELEMENTS = new Set(['meta', 'input', 'br', 'wbr', 'link', 'img', 'hr']);
// Strict enough that an unescaped quote or angle bracket in an attribute breaks the match.
const TAG_RE = /<(\/?)([a-z][a-z0-9]*)((?:\s[a-z-]+(?:="[^"<>]*")?)*)>/g;

function withoutStyle(html: string): string {
  return html.replace(/<style>[\s\S]*?<\/style>/, '<style></style>');
}

/** Every tag well formed and closed in order, and no stray "<" or ">" left in text. */
function structuralProblems(html: string): string[] {
  const problems: string[] = [];
  const markup = withoutStyle(html).replace(/^<!doctype html>/, '');
  const stack: string[] = [];
  for (const match of markup.matchAll(TAG_RE)) {
    const [, closing, name] = match as unknown as [string, string, string];
    if (VOID_ELEMENTS.has(name)) continue;
    if (closing === '') stack.push(name);
    else if (stack.pop() !== name) problems.push(`unexpected </${name}>`);
  }
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(', ')}`);
  const text = markup.replace(TAG_RE, '');
  if (/[<>]/.test(text)) problems.push(`raw angle bracket in text: ${text.slice(Math.max(0, text.search(/[<>]/) - 40), text.search(/[<>]/) + 40)}`);
  return problems;
}

function decodeEntities(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] as string);
}

/** Text of the elements matching an opening-tag pattern, with markup removed and entities decoded. */
function texts(html: string, openTag: RegExp, closeTag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`${openTag.source}([\\s\\S]*?)${closeTag}`, 'g');
  for (const match of html.matchAll(re)) out.push(decodeEntities((match[match.length - 1] as string).replace(/<[^>]*>/g, '')));
  return out;
}

function section(html: string, start: string, end: string): string {
  const from = html.indexOf(start);
  expect(from, `missing ${start}`).to.not.equal(-1);
  const to = html.indexOf(end, from);
  expect(to, `missing ${end} after ${start}`).to.not.equal(-1);
  return html.slice(from, to + end.length);
}

function tableRows(html: string): string[] {
  return [...html.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => m[1] as string).filter((row) => !row.includes('<th'));
}

describe('pages/render', () => {
  describe('every view', () => {
    for (const [name, view] of Object.entries(SAMPLES)) {
      it(`renders ${name} as a complete, well-formed HTML5 document with the inline stylesheet`, () => {
        const html = renderPage(view);
        expect(html.startsWith('<!doctype html>\n<html lang="en">')).to.equal(true);
        expect(html).to.match(/<title>[^<]+<\/title>/);
        expect(html).to.include('<meta charset="utf-8">');
        expect(html).to.include('<meta name="viewport" content="width=device-width, initial-scale=1">');
        expect(html).to.include(`<style>${STYLE}</style>`);
        expect(html).to.not.match(/<link\b/, 'no second request for a stylesheet');
        expect(html.trimEnd().endsWith('</html>')).to.equal(true);
        expect(structuralProblems(html)).to.deep.equal([]);
      });

      it(`renders ${name} with the site link, the breadcrumbs and the search form (a SHA-256 or a name)`, () => {
        const html = renderPage(view);
        expect(html).to.match(/<header class="site"><a class="brand" href="\/">artifacts<\/a>/);
        const form = section(html, '<form', '</form>');
        expect(form).to.include('method="get"').and.include('action="/-/search"');
        expect(form).to.match(/<input [^>]*name="q"/);
        expect(form).to.include('placeholder="SHA-256 or name"').and.not.include('pattern=');
        const nav = section(html, '<nav aria-label="breadcrumb">', '</nav>');
        expect(texts(nav, /<li>/, '</li>')).to.deep.equal(view.crumbs.map((c) => c.name));
        expect(nav.match(/<a /g)?.length ?? 0, 'every crumb but the last is a link').to.equal(view.crumbs.length - 1);
        expect(nav).to.match(/<li><span aria-current="page">[^<]*<\/span><\/li><\/ol>/);
      });

      it(`renders ${name} without any script`, () => {
        expect(renderPage(view).toLowerCase()).to.not.include('<script');
        expect(renderPage(view).toLowerCase()).to.not.match(/\son[a-z]+=/);
      });
    }

    it('formats dates as UTC minutes inside <time datetime>', () => {
      const html = renderPage({ ...SAMPLES.root, entries: [{ ...collection(['dpkg']), modified: '2024-05-22T23:30:59+02:00' }] } as PageView);
      expect(html).to.include('<time datetime="2024-05-22T21:30:59.000Z" title="2024-05-22T21:30:59.000Z">2024-05-22 21:30</time>');
    });
  });

  describe('hostile names', () => {
    const entries = [collection([...BUILD, HOSTILE]), file([...BUILD, HOSTILE], HASH_B)];
    const view: PageView = {
      ...directory(false, entries),
      path: toHref([...BUILD, HOSTILE], true),
      crumbs: [...crumbsFor(BUILD), { name: HOSTILE, href: '/dpkg/hello/42/"><script>/' }, { name: `${HOSTILE} last`, href: '/x' }],
    };
    const html = renderPage(view);

    it('keeps the page well formed and script-free', () => {
      expect(structuralProblems(html)).to.deep.equal([]);
      expect(html.toLowerCase()).to.not.include('<script');
    });

    it('escapes names in link text, headings, breadcrumbs and the title, and they read back unchanged', () => {
      const links = texts(html, /<td class="name"><a href="[^"]*">/, '</a>');
      expect(links).to.deep.equal([`${HOSTILE}/`, HOSTILE]);
      expect(texts(html, /<h1>/, '</h1>')).to.deep.equal([`/dpkg/hello/42/${HOSTILE}/`]);
      expect(texts(html, /<title>/, '</title>')[0]).to.include(HOSTILE);
      expect(texts(html, /<span aria-current="page">/, '</span>')).to.deep.equal([`${HOSTILE} last`]);
      expect(html).to.include('&lt;script&gt;alert(&quot;x&quot;)&lt;/<wbr>script&gt; &amp; &#39;q&#39; ü 📦');
    });

    it('escapes hrefs and names inside attributes', () => {
      expect(html).to.include('href="/dpkg/hello/42/&quot;&gt;&lt;script&gt;/"');
      expect(html).to.include(`aria-label="download &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; ü 📦"`);
      // encodeURIComponent leaves the apostrophe alone; the attribute escaping must not.
      expect(html).to.include(`href="${toHref([...BUILD, HOSTILE], false).replace(/'/g, '&#39;')}"`);
    });

    it('escapes the echoed search query in the input value and the page', () => {
      const page = renderPage(search({ query: `"><script>x</script>`, sha256: `"><script>x</script>`, error: 'not a SHA-256 <b>' }));
      expect(page).to.include('value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
      expect(page).to.include('not a SHA-256 &lt;b&gt;');
      expect(structuralProblems(page)).to.deep.equal([]);
      expect(page.toLowerCase()).to.not.include('<script');
    });

    it('never turns a non-path href into a link (javascript:, protocol-relative, backslash)', () => {
      for (const href of ['javascript:alert(1)', '//evil.example/x', '/\\evil.example/x', '/\t/evil.example', 'https://evil.example/']) {
        const page = renderPage(compare({ from: href, to: href, error: 'no such build' }));
        expect(page, href).to.not.include(`href="${href.replace(/"/g, '&quot;')}"`);
        expect(page, href).to.not.match(/href="(?!\/(?![/\\]))/);
        expect(page, href).to.include(`<span>${href}</span>`);
      }
    });
  });

  describe('project view', () => {
    const builds = [build('100', false, '99'), build('99', true, '10'), build('10', true, '9'), build('9', true)];
    builds[3] = { ...builds[3] as BuildSummary, files: 1, bytes: 512 };
    const html = renderPage({ view: 'project', path: '/dpkg/hello/', crumbs: crumbsFor(['dpkg', 'hello']), builds, entries: builds.map((b) => collection(['dpkg', 'hello', b.name])), paging: onePage(builds.length) });
    const rows = tableRows(html);

    it('lists builds in the order given, one row each, not re-sorted', () => {
      expect(rows.map((r) => texts(r, /<td><a href="[^"]*">/, '</a>')[0])).to.deep.equal(['100', '99', '10', '9']);
      expect(rows[0]).to.include('href="/dpkg/hello/100/"');
    });

    it('shows a text badge for open and sealed builds', () => {
      expect(rows[0]).to.match(/<span class="badge open"[^>]*>open<\/span>/);
      for (const row of rows.slice(1)) expect(row).to.match(/<span class="badge sealed"[^>]*>sealed<\/span>/);
    });

    it('shows file counts and human sizes', () => {
      expect(rows[0]).to.include('<td class="num">7</td>').and.include('46.3 MiB');
      expect(rows[3]).to.include('<td class="num">1</td>').and.include('>512 B<');
      expect(rows[0]).to.include('title="48500000 bytes"');
    });

    it('links "compare with previous" only where a compare href exists, with & escaped', () => {
      expect(rows[0]).to.include('href="/-/compare?from=%2Fdpkg%2Fhello%2F99%2F&amp;to=%2Fdpkg%2Fhello%2F100%2F"');
      expect(rows.slice(0, 3).every((r) => r.includes('>compare with previous</a>'))).to.equal(true);
      expect(rows[3]).to.not.include('compare');
    });

    it('does not repeat builds that also appear in entries, but shows other entries', () => {
      expect(html).to.not.include('other entries');
      const extra = renderPage({ view: 'project', path: '/dpkg/hello/', crumbs: crumbsFor(['dpkg', 'hello']), builds, entries: [file(['dpkg', 'hello', 'README'], HASH_A)], paging: onePage(builds.length) });
      expect(extra).to.include('other entries').and.include('href="/dpkg/hello/README"');
    });

    it('says so when there are no builds', () => {
      expect(renderPage({ view: 'project', path: '/dpkg/hello/', crumbs: crumbsFor(['dpkg', 'hello']), builds: [], entries: [], paging: onePage(0) })).to.include('no builds yet');
    });
  });

  describe('humanSize', () => {
    it('uses bytes below 1 KiB and one decimal in KiB, MiB and GiB', () => {
      expect([0, 1023, 1024, 1536, 1048575, 48_500_000, 3_200_000_000].map(humanSize)).to.deep.equal(['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '1.0 MiB', '46.3 MiB', '3.0 GiB']);
    });
  });

  describe('directory view', () => {
    it('shows each file hash in full as code.sha with the hash as title, and a download link', () => {
      const html = renderPage(directory(true));
      expect(html).to.include(`<code class="sha" title="${HASH_A}">${HASH_A}</code>`);
      expect(html).to.match(/<a href="\/dpkg\/hello\/42\/hello_1\.0_amd64\.deb" download[ >]/);
      expect(STYLE).to.match(/\.sha\{[^}]*user-select:all/);
    });

    it('marks collections with a trailing slash and gives them no hash or download', () => {
      const [logs, deb] = tableRows(renderPage(directory(true)));
      expect(texts(logs as string, /<td class="name">/, '</td>')).to.deep.equal(['logs/']);
      expect(logs).to.not.include('class="sha"').and.not.include('download');
      expect(deb).to.include('45.8 MiB');
    });

    it('links SHA256SUMS and shows the sealed badge only when the build is sealed', () => {
      const sealed = section(renderPage(directory(true)), '<p class="summary">', '</p>');
      expect(sealed).to.include('<a href="/dpkg/hello/42/SHA256SUMS">SHA256SUMS</a>');
      expect(sealed).to.match(/class="badge sealed"[^>]*>sealed</);
      expect(sealed).to.include('7 files').and.include('46.3 MiB');
      // "signed" says what was signed and how to check it, on the page, rather than downloading a key.
      expect(sealed).to.match(/<a href="\/dpkg\/hello\/42\/#verify" title="[^"]+">signed<\/a>/);
      const page = renderPage(directory(true));
      expect(page).to.include('<h2 id="verify">verifying this build</h2>').and.include('artifact-repo verify $BASE/dpkg/hello/42/ --key artifact-repo.pub').and.include('ssh-keygen -Y verify');
      const unsigned = renderPage({ ...directory(true), build: { ...build('42', true), signed: false } });
      expect(section(unsigned, '<p class="summary">', '</p>')).to.not.include('>signed<');
      expect(sealed).to.include('href="/-/compare?from=%2Fdpkg%2Fhello%2F41%2F&amp;to=%2Fdpkg%2Fhello%2F42%2F">compare with previous</a>');

      const open = renderPage(directory(false));
      expect(open).to.not.include('SHA256SUMS');
      expect(open).to.not.include('compare with previous');
      expect(section(open, '<p class="summary">', '</p>')).to.match(/class="badge open"[^>]*>open</);
      // An open build says what its token lets the build proxy do, and until when.
      expect(section(open, '<p class="summary">', '</p>')).to.match(/open: build proxy replaying \/dpkg\/hello\/&lt;41&gt;\/, token until <time [^>]+>2024-05-22 20:02<\/time>/);
      expect(open).to.not.include('id="verify"');
    });

    it('says what a build was built from and by, as its mint said, escaped; nothing when it said nothing', () => {
      const line = section(renderPage(directory(true)), '<p class="summary source">', '</p>');
      expect(line).to.include('built from <code title="9fceb02d0ae598e95dc970b74767f19372d61af8">9fceb02d0ae5</code> on main&lt;b&gt; of <a href="https://git.example.org/hello.git" rel="nofollow noopener noreferrer">https://git.example.org/hello.git</a>');
      expect(line).to.include('<a href="https://ci.example.org/#/builders/3/builds/42" rel="nofollow noopener noreferrer" title="https://ci.example.org/#/builders/3/builds/42">its CI job</a>').and.include('worker=debian-12');
      expect(renderPage(directory(false))).to.not.include('class="summary source"');
    });

    it('says what a sealed build offers apt and pip, and which files are not indexed and why, escaped', () => {
      const part = section(renderPage(directory(true)), '<section class="packages">', '</section>');
      expect(part).to.include('apt: <code>deb [signed-by=/etc/apt/keyrings/artifact-repo.asc] /dpkg/hello/42/ /</code> (2 packages');
      expect(part).to.include('pip: 1 file in <a href="/-/pypi/simple/">the simple index</a>');
      expect(part).to.include('<li><code>bad&lt;1&gt;.deb</code>: control.tar.gz: truncated &lt;here&gt;</li>');
      expect(renderPage(directory(false))).to.not.include('class="packages"');
    });

    it('names the master-only links as such, before the click', () => {
      const summary = section(renderPage(directory(true)), '<p class="summary">', '</p>');
      expect(summary).to.match(/<span class="masters">for build masters: <a href="\/-\/audit\?[^"]+"[^>]*>audit trail<\/a>, <a href="\/-\/inputs\?[^"]+"[^>]*>inputs<\/a><\/span>/);
    });

    it('says so when the directory is empty', () => {
      expect(renderPage(directory(false, []))).to.include('this directory is empty').and.not.include('<table');
    });
  });

  describe('search view', () => {
    it('shows the query and results with path and build links, size and date', () => {
      const html = renderPage(SAMPLES.search);
      expect(html).to.include(`<code class="sha" title="${HASH_A}">${HASH_A}</code>`);
      expect(html).to.include(`value="${HASH_A}"`);
      const [row] = tableRows(html);
      expect(texts(row as string, /<td class="name"><a href="[^"]*">/, '</a>')).to.deep.equal(['hello_1.0_amd64.deb', 'dpkg/hello/42']);
      expect(row).to.include('href="/dpkg/hello/42/hello_1.0_amd64.deb"').and.include('href="/dpkg/hello/42/"');
      expect(row).to.include('45.8 MiB').and.include('>2024-05-22 14:02</time>');
      expect(html).to.not.include('no file has this checksum');
    });

    it('says "no file has this checksum" when nothing matches', () => {
      const html = renderPage(search({ results: [] }));
      expect(html).to.include('no file has this checksum').and.not.include('<table');
    });

    it('shows the error instead of results when the query is refused', () => {
      const html = renderPage(search({ sha256: 'abc', error: 'sha256 must be 64 hexadecimal digits' }));
      expect(html).to.include('<p class="error" role="alert">sha256 must be 64 hexadecimal digits</p>');
      expect(html).to.not.include('no file has this checksum').and.not.include('<table');
    });

    it('lists projects and builds found by name, and says files are found by checksum', () => {
      const html = renderPage(search({ query: 'hel<lo', sha256: null, names: [{ kind: 'project', path: '/dpkg/hello/', href: '/dpkg/hello/' }, { kind: 'build', path: '/dpkg/hello/42/', href: '/dpkg/hello/42/' }] }));
      expect(html).to.include('named like “hel&lt;lo”').and.include('files are found by their SHA-256');
      expect(html).to.include('<a href="/dpkg/hello/42/">/<wbr>dpkg/<wbr>hello/<wbr>42/<wbr></a></td><td>build</td>');
      expect(html).to.match(/<input id="q" name="q"[^>]*value="hel&lt;lo"/);
      expect(renderPage(search({ query: 'nothing', sha256: null }))).to.include('no project or build has this name');
    });

    it('invites a query when there is none', () => {
      const html = renderPage(search({ query: null, sha256: null }));
      expect(html).to.include('Enter a SHA-256').and.not.include('no file has this checksum');
      expect(html).to.not.match(/<input [^>]*value=/);
    });
  });

  describe('mirror entry', () => {
    it('says what the entry is, its state, who declared it, the builds it served, and offers its removal', () => {
      const html = renderPage(SAMPLES['mirror-entry']);
      expect(html).to.include('<h1>mirror entry a1</h1>').and.include('master:ci').and.include('for &lt;b&gt;the&lt;/b&gt; build');
      expect(html).to.include(`<a href="/-/mirror/sha256/${HASH_A}" download>download</a>`);
      expect(html).to.match(/<a href="\/dpkg\/hello\/42\/">[^<]*<wbr>/);
      expect(html).to.include('<form class="remove" method="post" action="/-/mirror/a1"><input type="hidden" name="action" value="remove">');
    });

    it('the list links each entry to its page and offers the form to declare one', () => {
      const html = renderPage(SAMPLES.mirror);
      expect(html).to.match(/<a href="\/-\/mirror\/a1">/);
      expect(html).to.include('<form class="declare" method="post" action="/-/mirror">').and.include('name="url"').and.include('name="image"').and.include('name="note"');
    });
  });

  describe('sealed builds', () => {
    it('the front page lists the newest sealed builds with their branch and revision, and links the list and the feed', () => {
      const html = renderPage(SAMPLES.root);
      expect(html).to.include('<h2>sealed lately</h2>').and.include('main&lt;x&gt; <code title="9fceb02d0ae598e95dc970b74767f19372d61af8">9fceb02d0ae5</code>');
      expect(html).to.include('<a href="/-/builds">all sealed builds</a>').and.include('<a href="/-/builds.atom">feed</a>');
    });

    it('the list says its filters, links older builds and its feed', () => {
      const html = renderPage(SAMPLES.builds);
      expect(html).to.include('newest first, type dpkg, branch main').and.include('<a href="/-/builds?type=dpkg&amp;branch=main&amp;before=abc">older builds</a>');
      expect(html).to.include('<a href="/-/builds.atom?type=dpkg&amp;branch=main">feed (Atom)</a>');
    });
  });

  describe('compare form', () => {
    it('asks for two builds, by GET to /-/compare', () => {
      const html = renderPage(SAMPLES['compare-form']);
      expect(html).to.include('<form class="compare" method="get" action="/-/compare">').and.include('name="from"').and.include('name="to"');
    });
  });

  describe('compare view', () => {
    it('links both builds', () => {
      const html = renderPage(compare({}));
      expect(html).to.include('<a href="/dpkg/hello/41/">/dpkg/hello/41/</a> → <a href="/dpkg/hello/42/">/dpkg/hello/42/</a>');
    });

    it('says what the signed provenance agrees on, and nothing when a build has none', () => {
      expect(renderPage(compare({ provenance: { outputs: true, inputs: false } }))).to.include('signed provenance: the same outputs, different inputs');
      expect(renderPage(compare({ provenance: { outputs: false, inputs: true } }))).to.include('signed provenance: different outputs, the same inputs');
      expect(renderPage(compare({}))).to.not.include('signed provenance');
    });

    it('declares a reproducible build when every file is identical, listing them collapsed', () => {
      const html = renderPage(compare({}));
      expect(texts(html, /<p class="verdict ok">/, '</p>')).to.deep.equal(['reproducible: every file identical (2 files)']);
      expect(html).to.not.include('not reproducible');
      const details = section(html, '<details>', '</details>');
      expect(details).to.include('<summary>identical (2)</summary>').and.include('docs/<wbr>b.txt');
      expect(html).to.not.match(/<h2>(added|removed|changed)/);
    });

    it('counts differences and shows added, removed and changed sections with abbreviated hashes', () => {
      const html = renderPage(
        compare({
          reproducible: false,
          added: [file([...BUILD, 'NEWS'], HASH_C, 900, 'NEWS')],
          removed: [file(['dpkg', 'hello', '41', 'old.txt'], HASH_B, 100, 'old.txt')],
          changed: [{ path: 'hello.deb', href: '/dpkg/hello/42/hello.deb', fromSha256: HASH_B, toSha256: HASH_A, fromSize: 1024, toSize: 2048 }],
        }),
      );
      expect(texts(html, /<p class="verdict diff">/, '</p>')).to.deep.equal(['not reproducible: 1 added, 1 removed, 1 changed, 2 identical']);
      expect(html).to.not.include('every file identical');
      expect(section(html, '<h2>added (1)</h2>', '</table>')).to.include('href="/dpkg/hello/42/NEWS"');
      expect(section(html, '<h2>removed (1)</h2>', '</table>')).to.include('href="/dpkg/hello/41/old.txt"');
      const changed = section(html, '<h2>changed (1)</h2>', '</table>');
      expect(changed).to.include(`<code class="sha short" title="${HASH_B}">${HASH_B.slice(0, 12)}</code>`);
      expect(changed).to.include(`<code class="sha short" title="${HASH_A}">${HASH_A.slice(0, 12)}</code>`);
      expect(changed).to.not.include(`>${HASH_A}<`);
      expect(changed).to.include('1.0 KiB').and.include('2.0 KiB');
      expect(html).to.include('<summary>identical (2)</summary>');
    });

    it('shows a missing hash in a changed file as "none"', () => {
      const html = renderPage(compare({ reproducible: false, identical: [], changed: [{ path: 'x', href: '/dpkg/hello/42/x', fromSha256: null, toSha256: HASH_A, fromSize: 1, toSize: 2 }] }));
      expect(section(html, '<h2>changed (1)</h2>', '</table>')).to.include('<span class="muted">none</span> → <code');
    });

    it('lists inputs as provenance names them: a query only as ?… with its keyed hash, the rest counted and sent to masters', () => {
      const html = renderPage(
        compare({
          reproducible: false,
          inputs: {
            counts: { added: 3, removed: 0, changed: 0, identical: 0 },
            added: [{ method: 'GET', url: `https://example.org/${HOSTILE}`, queryHash: `hmac-sha256:${'e'.repeat(64)}`, sha256: HASH_A, source: 'upstream' }],
            removed: [],
            changed: [],
            unlisted: { added: 2, removed: 0, changed: 0 },
          },
        }),
      );
      const added = section(html, '<h3>added inputs</h3>', '</table>');
      expect(added).to.include(`<span title="hmac-sha256:${'e'.repeat(64)}">?…</span>`);
      expect(added).to.not.include(HOSTILE);
      expect(html).to.include('not listed here (requests other than GET, answers other than 2xx: what provenance leaves out): 2 added, 0 removed, 0 changed');
    });

    it('shows the error and no verdict when the comparison failed', () => {
      const html = renderPage(compare({ error: 'no such build: /dpkg/hello/40/', identical: [], reproducible: false }));
      expect(html).to.include('<p class="error" role="alert">no such build: /dpkg/hello/40/</p>');
      expect(html).to.not.include('class="verdict');
    });
  });

  describe('error view', () => {
    it('shows the status with its reason and the escaped message', () => {
      const html = renderPage({ view: 'error', path: '/x', crumbs: crumbsFor([]), status: 404, message: 'no <such> "thing"' });
      expect(html).to.include('<h1>404 Not Found</h1>');
      expect(html).to.include('no &lt;such&gt; &quot;thing&quot;');
      expect(texts(html, /<title>/, '</title>')).to.deep.equal(['404 Not Found · artifacts']);
    });
  });

  describe('STYLE', () => {
    it('has a dark scheme through CSS variables, focus styles and a phone layout, within 4 KB', () => {
      expect(STYLE).to.match(/@media \(prefers-color-scheme:dark\)\{:root\{--bg:/);
      expect(STYLE).to.include('var(--bg)');
      expect(STYLE).to.include(':focus-visible{');
      expect(STYLE).to.match(/@media \(max-width:40rem\)\{\.opt\{display:none\}/);
      expect(STYLE).to.include('.scroll{overflow-x:auto}');
      expect(STYLE).to.match(/\.badge\.sealed/).and.match(/\.badge\.open/);
      expect(Buffer.byteLength(STYLE)).to.be.below(4096);
    });
  });
});

describe('ui: the audit page', () => {
  const html = renderPage(SAMPLES.audit);
  it('lists every entry in order with its event and fields, escaped', () => {
    const minted = html.indexOf('token.minted');
    const written = html.indexOf('file.written');
    const revoked = html.indexOf('token.revoked');
    expect(minted).to.be.greaterThan(-1);
    expect(written).to.be.greaterThan(minted);
    expect(revoked).to.be.greaterThan(written);
    expect(html).to.include('&lt;script&gt;&amp;.deb');
    expect(html).not.to.include('<script>&');
    expect(html).to.include(HASH_A);
  });
  it('links back to the build', () => {
    expect(html).to.include(`href="${toHref(BUILD, true)}"`);
  });
});

describe('ui: build pages link to their audit trail', () => {
  it('with the build path as the query', () => {
    const html = renderPage(directory(true));
    expect(html).to.match(/href="\/-\/audit\?build=%2Fdpkg%2Fhello%2F42%2F"/);
  });
});

describe('pages/browse searchQuery', () => {
  it('tells a checksum from a name, and refuses what is neither', () => {
    expect(searchQuery(` ${'AB'.repeat(32)} `)).to.deep.equal({ sha256: 'ab'.repeat(32) });
    expect(searchQuery('hello')).to.deep.equal({ parts: ['hello'] });
    expect(searchQuery('/dpkg/hello/42/')).to.deep.equal({ parts: ['dpkg', 'hello', '42'] });
    expect(searchQuery('a/b/c/d')).to.have.property('error');
    expect(searchQuery('///')).to.have.property('error');
    expect(searchQuery('x'.repeat(201))).to.have.property('error');
  });
});
