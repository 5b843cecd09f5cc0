// Server-rendered HTML for the browser UI. Pure functions from a PageView to a complete
// document: no scripts, and the stylesheet is inlined so a page is a single request.
// Names come from uploaders and queries from anyone, so every interpolation goes through
// esc() and every href through anchor(), which also refuses anything but a same-site path.
import { STATUS_CODES } from 'node:http';
import type { AuditEntryView, BuildSummary, ChangedFile, Crumb, EntryView, InputView, MirrorEntryView, PageView, Paging, PublicInputView, SearchResult, SealedBuildView } from './views.js';
import { STYLE } from './style.js';

const SITE_NAME = 'artifacts';

/** Escapes for both text and double-quoted attribute values. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

// Only same-site absolute paths become links. Escaping alone would let a `javascript:`
// compare parameter through, and browsers read `/\host` and `/<TAB>/host` as `//host`.
const SAFE_HREF_RE = /^\/(?![/\\])[^\s\\\u0000-\u001f\u007f]*$/;

function anchor(href: string, html: string, attributes: string): string {
  if (!SAFE_HREF_RE.test(href)) return `<span>${html}</span>`;
  return `<a href="${esc(href)}"${attributes}>${html}</a>`;
}

function link(href: string, text: string, attributes = ''): string {
  return anchor(href, esc(text), attributes);
}

/** A link out of the repository (a CI job, a source repository): http(s) only, never followed for ranking or given a referrer. */
function externalLink(url: string, text: string, attributes = ''): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return esc(text);
  }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || /[\s"<>]/.test(url)) return esc(text);
  return `<a href="${esc(url)}" rel="nofollow noopener noreferrer"${attributes}>${esc(text)}</a>`;
}

// Long artifact names in narrow columns: offer line breaks after "/" and "_" so a phone
// wraps hello_1.0_amd64.deb between words rather than at an arbitrary letter.
function nameLink(href: string, text: string): string {
  return anchor(href, esc(text).replace(/[/_]/g, '$&<wbr>'), '');
}

/** Binary units with one decimal, so sizes line up in a column. */
export function humanSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  // Compares the rounded figure, so 1048575 bytes reads 1.0 MiB rather than 1024.0 KiB.
  while (unit < units.length - 1 && Math.abs(unit === 0 ? value : Number(value.toFixed(1))) >= 1024) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function size(bytes: number): string {
  return `<span title="${bytes} bytes">${humanSize(bytes)}</span>`;
}

/** Minutes in UTC: CI logs are in UTC and the server cannot know the reader's zone. */
function date(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return esc(iso);
  const full = d.toISOString();
  return `<time datetime="${full}" title="${full}">${full.slice(0, 10)} ${full.slice(11, 16)}</time>`;
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** Display text for an encoded path; a segment that will not decode is shown as sent. */
function displayPath(path: string): string {
  return path
    .split('/')
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        return segment;
      }
    })
    .join('/');
}

function badge(build: BuildSummary): string {
  if (!build.sealed) return '<span class="badge open" title="a build token is live; files may still change">open</span>';
  const when = build.sealedAt === null ? '' : ` title="sealed ${esc(build.sealedAt)}"`;
  return `<span class="badge sealed"${when}>sealed</span>`;
}

/** The full hash is the text, so user-select: all on one click copies all 64 digits. */
function fullSha(sha256: string | null): string {
  if (sha256 === null) return '';
  return `<code class="sha" title="${esc(sha256)}">${esc(sha256)}</code>`;
}

function shortSha(sha256: string | null): string {
  if (sha256 === null) return '<span class="muted">none</span>';
  return `<code class="sha short" title="${esc(sha256)}">${esc(sha256.slice(0, 12))}</code>`;
}

function sumsHref(buildHref: string): string {
  return `${buildHref.endsWith('/') ? buildHref : buildHref + '/'}SHA256SUMS`;
}

function entryName(entry: EntryView): string {
  return nameLink(entry.href, entry.type === 'collection' ? `${entry.name}/` : entry.name);
}

// Wide tables scroll inside their wrapper, so the page itself never scrolls sideways on a phone.
function table(className: string, head: string[], rows: string[], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${esc(empty)}</p>`;
  return `<div class="scroll"><table class="${className}">
<thead><tr>${head.join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table></div>`;
}

/** Where a long list continues: "entries 1001–2000 of 20000 · earlier · later". */
function pager(paging: Paging, noun: string): string {
  if (paging.total <= paging.limit && paging.offset === 0) return '';
  const last = Math.min(paging.total, paging.offset + paging.limit);
  const parts = [`${noun} ${paging.total === 0 ? 0 : paging.offset + 1}–${last} of ${paging.total}`];
  if (paging.previousHref !== null) parts.push(link(paging.previousHref, 'earlier'));
  if (paging.nextHref !== null) parts.push(link(paging.nextHref, 'later'));
  return `\n<p class="summary">${parts.join('<span class="sep" aria-hidden="true"> · </span>')}</p>`;
}

function entriesTable(entries: EntryView[], empty: string): string {
  const rows = entries.map((e) => `<tr><td class="name">${entryName(e)}</td><td>${date(e.modified)}</td></tr>`);
  return table('entries', ['<th>name</th>', '<th>modified (UTC)</th>'], rows, empty);
}

function renderBuilds(builds: BuildSummary[]): string {
  const rows = builds.map(
    (b) =>
      `<tr><td>${link(b.href, b.name)}</td><td class="opt">${date(b.modified)}</td>` +
      `<td class="num">${b.files}</td><td class="num">${size(b.bytes)}</td><td>${badge(b)}</td>` +
      `<td>${b.compareHref === null ? '' : link(b.compareHref, 'compare with previous', ` aria-label="compare build ${esc(b.name)} with previous"`)}</td></tr>`,
  );
  const head = ['<th>build</th>', '<th class="opt">modified (UTC)</th>', '<th class="num">files</th>', '<th class="num">size</th>', '<th>state</th>', '<th><span class="vh">compare</span></th>'];
  return table('builds', head, rows, 'no builds yet');
}

function renderProject(view: Extract<PageView, { view: 'project' }>): string {
  // entries mirrors the builds for JSON clients; only what is not a build needs its own table.
  const buildHrefs = new Set(view.builds.map((b) => b.href));
  const buildNames = new Set(view.builds.map((b) => b.name));
  const others = view.entries.filter((e) => !buildHrefs.has(e.href) && !buildNames.has(e.name));
  const rest = others.length === 0 ? '' : `\n<h2>other entries</h2>\n${entriesTable(others, '')}`;
  return `<h1>${esc(displayPath(view.path))}</h1>\n${renderBuilds(view.builds)}${pager(view.paging, 'builds')}${rest}`;
}

/** Where a build came from and who built it, as its first mint said; '' when it said nothing. */
function provenanceLine(build: BuildSummary): string {
  const parts: string[] = [];
  const s = build.source;
  if (s) {
    const revision = s.revision ? `<code title="${esc(s.revision)}">${esc(s.revision.length > 12 ? s.revision.slice(0, 12) : s.revision)}</code>` : '';
    const repo = s.uri ? externalLink(s.uri, s.uri) : '';
    parts.push(['built from', revision, s.branch ? `on ${esc(s.branch)}` : '', repo ? `of ${repo}` : ''].filter(Boolean).join(' '));
  }
  const b = build.builder;
  if (b?.url) parts.push(`by ${externalLink(b.url, 'its CI job', ` title="${esc(b.url)}"`)}`);
  else if (b?.id) parts.push(`by ${esc(b.id)}`);
  const props = Object.entries(build.properties ?? {}).map(([k, v]) => `${esc(k)}=${esc(v)}`);
  if (props.length > 0) parts.push(props.join(', '));
  return parts.length === 0 ? '' : `\n<p class="summary source">${parts.join('<span class="sep" aria-hidden="true"> · </span>')}</p>`;
}

/** What a sealed build offers to apt and pip, and what it holds that is not indexed, with why. */
function packagesSection(build: BuildSummary): string {
  const p = build.packages;
  if (!p) return '';
  const parts: string[] = [];
  if (p.aptHref !== null) parts.push(`apt: <code>deb [signed-by=/etc/apt/keyrings/artifact-repo.asc] ${esc(p.aptHref)} /</code> (${plural(p.debs, 'package', 'packages')}, with the URL of this repository; ${link('/-/signing-keys.asc', 'key')})`);
  if (p.python > 0) parts.push(`pip: ${plural(p.python, 'file', 'files')} in ${link('/-/pypi/simple/', 'the simple index')}`);
  const skipped = p.skipped.map((s) => `<li><code>${esc(s.path)}</code>: ${esc(s.reason)}</li>`).join('');
  return `\n<section class="packages"><p class="summary">${parts.join('<span class="sep" aria-hidden="true"> · </span>')}</p>${skipped ? `<p>Not indexed:</p><ul class="skipped">${skipped}</ul>` : ''}</section>`;
}

function buildSummary(build: BuildSummary): string {
  const parts = [
    `${badge(build)} build ${link(build.href, build.name)}`,
    plural(build.files, 'file', 'files'),
    size(build.bytes),
  ];
  if (build.sealed && build.sealedAt !== null) parts.push(`sealed ${date(build.sealedAt)}`);
  if (build.sealed) parts.push(link(sumsHref(build.href), 'SHA256SUMS'));
  if (build.signed) parts.push(link(`${build.href}#verify`, 'signed', ' title="SHA256SUMS and the provenance are signed by the repository: how to verify"'));
  // An open build: what its tokens let the build proxy do, and when the last one ends.
  for (const t of build.live) parts.push(`open: build proxy ${t.replay !== null ? `replaying ${esc(t.replay)}` : t.proxy === 'offline' ? 'offline' : 'recording'}, token until ${date(t.expiresAt)}`);
  if (build.compareHref !== null) parts.push(link(build.compareHref, 'compare with previous'));
  // They ask for master credentials (the trail names tokens and masters): said before the click.
  parts.push(
    `<span class="masters">for build masters: ${link(auditHref(build.href), 'audit trail', ' rel="nofollow" title="who minted, used and ended its tokens, what was written (asks for a master\'s credentials)"')}, ` +
      `${link(auditHref(build.href).replace('/-/audit?', '/-/inputs?'), 'inputs', ' rel="nofollow" title="what the build downloaded through the build proxy (asks for a master\'s credentials)"')}</span>`,
  );
  return `<p class="summary">${parts.join('<span class="sep" aria-hidden="true"> · </span>')}</p>`;
}

function renderDirectory(view: Extract<PageView, { view: 'directory' }>): string {
  const rows = view.entries.map((e) => {
    const file = e.type === 'file';
    return (
      `<tr><td class="name">${entryName(e)}</td><td class="num">${e.size === null ? '' : size(e.size)}</td>` +
      `<td class="opt">${date(e.modified)}</td><td class="hash">${file ? fullSha(e.sha256) : ''}</td>` +
      `<td>${file ? link(e.href, 'download', ` download aria-label="download ${esc(e.name)}"`) : ''}</td></tr>`
    );
  });
  const head = ['<th>name</th>', '<th class="num">size</th>', '<th class="opt">modified (UTC)</th>', '<th>SHA-256</th>', '<th><span class="vh">download</span></th>'];
  return `<h1>${esc(displayPath(view.path))}</h1>\n${buildSummary(view.build)}${provenanceLine(view.build)}${view.path === view.build.href ? packagesSection(view.build) : ''}\n${table('files', head, rows, 'this directory is empty')}${pager(view.paging, 'entries')}${view.build.signed && view.path === view.build.href ? verifySection(view.build.href) : ''}`;
}

/** Sealed builds, newest first: which, when, how much, signed, and from what. */
function sealedBuildsTable(builds: readonly SealedBuildView[]): string {
  const rows = builds.map((b) => {
    const from = [b.branch ? esc(b.branch) : '', b.revision ? `<code title="${esc(b.revision)}">${esc(b.revision.slice(0, 12))}</code>` : ''].filter(Boolean).join(' ');
    return (
      `<tr><td class="name">${nameLink(b.href, b.path)}</td><td>${date(b.sealedAt)}</td><td class="num">${b.files}</td><td class="num">${size(b.bytes)}</td>` +
      `<td class="opt">${b.signed ? 'signed' : ''}</td><td class="opt">${from}</td></tr>`
    );
  });
  return table('builds', ['<th>build</th>', '<th>sealed (UTC)</th>', '<th class="num">files</th>', '<th class="num">size</th>', '<th class="opt">signed</th>', '<th class="opt">branch, revision</th>'], rows, 'no sealed build yet');
}

function renderBuildList(view: Extract<PageView, { view: 'builds' }>): string {
  const f = view.filters;
  const said = [f.type && `type ${esc(f.type)}`, f.project && `project ${esc(f.project)}`, f.branch && `branch ${esc(f.branch)}`, f.revision && `revision ${esc(f.revision)}`].filter(Boolean).join(', ');
  return (
    `<h1>sealed builds</h1>\n<p class="summary">newest first${said ? `, ${said}` : ''}<span class="sep" aria-hidden="true"> · </span>${link(view.feedHref, 'feed (Atom)')}</p>\n` +
    sealedBuildsTable(view.builds) +
    (view.nextHref ? `\n<p class="summary">${link(view.nextHref, 'older builds')}</p>` : '')
  );
}

/** Two builds to compare, named by their paths; each project page also links "compare with previous". */
function renderCompareForm(): string {
  return (
    '<h1>compare builds</h1>\n<p class="summary">files and inputs added, removed and changed between two builds, and whether they are identical (reproducible)</p>\n' +
    '<form class="compare" method="get" action="/-/compare">' +
    '<p><label for="from">from</label> <input id="from" name="from" required placeholder="/dpkg/hello/41/" pattern="/?[^/]+/[^/]+/[^/]+/?" title="a build: /TYPE/PROJECT/BUILD/" autocomplete="off" spellcheck="false"></p>' +
    '<p><label for="to">to</label> <input id="to" name="to" required placeholder="/dpkg/hello/42/" pattern="/?[^/]+/[^/]+/[^/]+/?" title="a build: /TYPE/PROJECT/BUILD/" autocomplete="off" spellcheck="false"></p>' +
    '<p><button type="submit">compare</button></p></form>'
  );
}

/** What "signed" means for this build, and the two ways to check it. */
function verifySection(href: string): string {
  return (
    `\n<h2 id="verify">verifying this build</h2>\n<p>The repository signed <code>SHA256SUMS</code> (every file's SHA-256) and the provenance (what the build stored and downloaded) with its key when the build was sealed. Pin the key once (<a href="/-/signing-key">/-/signing-key</a>, all keys at <a href="/-/signing-keys">/-/signing-keys</a>), then either:</p>\n` +
    `<pre>artifact-repo verify $BASE${esc(href)} --key artifact-repo.pub    # BASE: this repository's address</pre>\n` +
    `<p>which checks the signature, every file and the provenance (the client is at <a href="/-/client/artifact-repo">/-/client/artifact-repo</a>), or, with OpenSSH alone, with the keys in an allowed_signers file:</p>\n` +
    `<pre>ssh-keygen -Y verify -f allowed_signers -I artifact-repo -n artifact-repo -s SHA256SUMS.sig &lt; SHA256SUMS\nsha256sum -c SHA256SUMS</pre>`
  );
}

function renderSearch(view: Extract<PageView, { view: 'search' }>): string {
  const out = ['<h1>search</h1>'];
  if (view.sha256 !== null) out.push(`<p>SHA-256 ${fullSha(view.sha256)}</p>`);
  if (view.error !== null) out.push(`<p class="error" role="alert">${esc(view.error)}</p>`);
  else if (view.query === null) out.push('<p class="empty">Enter a SHA-256 above to find every stored file with that content, or a name: a project (hello), PROJECT/BUILD or TYPE/PROJECT/BUILD.</p>');
  else if (view.builds !== undefined) {
    out.push(`<p class="summary">sealed builds minted from revision <code>${esc(view.query)}</code></p>`, sealedBuildsTable(view.builds));
    if (view.open && view.open.length > 0) out.push('<h2>open builds of this revision</h2>', table('results', ['<th>build</th>'], view.open.map((n) => `<tr><td class="name">${nameLink(n.href, n.path)}</td></tr>`), ''));
  } else if (view.sha256 === null) {
    out.push(`<p class="summary">projects and builds named like “${esc(view.query)}” (files are found by their SHA-256)</p>`);
    const rows = view.names.map((n) => `<tr><td class="name">${nameLink(n.href, n.path)}</td><td>${n.kind}</td></tr>`);
    out.push(table('results', ['<th>path</th>', '<th>what</th>'], rows, 'no project or build has this name'));
    if (view.more) out.push(`<p class="summary">more names match than one page shows (${view.names.length}): say more of the name</p>`);
  } else {
    const rows = view.results.map(
      (r: SearchResult) =>
        `<tr><td class="name">${nameLink(r.href, r.path)}</td><td class="name">${nameLink(r.buildHref, r.build)}</td>` +
        `<td class="num">${size(r.size)}</td><td class="opt">${date(r.modified)}</td></tr>`,
    );
    const head = ['<th>path</th>', '<th>build</th>', '<th class="num">size</th>', '<th class="opt">modified (UTC)</th>'];
    out.push(table('results', head, rows, 'no file has this checksum'));
    if (view.more) out.push(`<p class="summary">more files have this checksum than one page shows (${view.results.length})</p>`);
  }
  return out.join('\n');
}

function compareSection(title: string, entries: EntryView[]): string {
  const rows = entries.map(
    (e) => `<tr><td class="name">${entryName(e)}</td><td class="num">${e.size === null ? '' : size(e.size)}</td><td>${shortSha(e.sha256)}</td></tr>`,
  );
  return table('compare', ['<th>path</th>', '<th class="num">size</th>', '<th>SHA-256</th>'], rows, `no ${title} files`);
}

function changedSection(changed: ChangedFile[]): string {
  const rows = changed.map(
    (c) =>
      `<tr><td class="name">${nameLink(c.href, c.path)}</td><td class="num change">${size(c.fromSize)} → ${size(c.toSize)}</td>` +
      `<td class="change">${shortSha(c.fromSha256)} → ${shortSha(c.toSha256)}</td></tr>`,
  );
  return table('compare', ['<th>path</th>', '<th class="num">size</th>', '<th>SHA-256</th>'], rows, 'no changed files');
}

function renderCompare(view: Extract<PageView, { view: 'compare' }>): string {
  const out = [
    '<h1>compare builds</h1>',
    `<p class="summary">${link(view.from, displayPath(view.from))} → ${link(view.to, displayPath(view.to))}</p>`,
  ];
  if (view.error !== null) {
    out.push(`<p class="error" role="alert">${esc(view.error)}</p>`);
    return out.join('\n');
  }
  const { counts } = view;
  if (view.reproducible) {
    out.push(`<p class="verdict ok">reproducible: every file identical (${plural(counts.identical, 'file', 'files')})</p>`);
  } else {
    const summary = [`${counts.added} added`, `${counts.removed} removed`, `${counts.changed} changed`, `${counts.identical} identical`];
    out.push(`<p class="verdict diff">not reproducible: ${summary.join(', ')}</p>`);
  }
  if (view.provenance) {
    const says = (same: boolean, what: string): string => (same ? `the same ${what}` : `different ${what}`);
    out.push(`<p class="summary">signed provenance: ${says(view.provenance.outputs, 'outputs')}, ${says(view.provenance.inputs, 'inputs')}</p>`);
  }
  // Each list shows its first files; the heading says when there are more.
  const heading = (title: string, total: number, shown: number): string => `${title} (${total}${shown < total ? `, the first ${shown} shown` : ''})`;
  if (counts.added > 0) out.push(`<h2>${heading('added', counts.added, view.added.length)}</h2>`, compareSection('added', view.added));
  if (counts.removed > 0) out.push(`<h2>${heading('removed', counts.removed, view.removed.length)}</h2>`, compareSection('removed', view.removed));
  if (counts.changed > 0) out.push(`<h2>${heading('changed', counts.changed, view.changed.length)}</h2>`, changedSection(view.changed));
  if (counts.identical > 0) {
    // Identical files are the uninteresting majority; keep them out of the way.
    out.push(`<details><summary>${heading('identical', counts.identical, view.identical.length)}</summary>`, compareSection('identical', view.identical), '</details>');
  }
  if (view.inputs) out.push(compareInputsSection(view.inputs));
  return out.join('\n');
}

function auditHref(buildHref: string): string {
  return `/-/audit?build=${encodeURIComponent(decodeURIComponent(buildHref))}`;
}

function auditDetails(entry: AuditEntryView): string {
  return Object.entries(entry)
    .filter(([key, value]) => key !== 'time' && key !== 'event' && key !== 'build' && value !== null)
    .map(([key, value]) => `<span class="field">${esc(key)}</span> ${key === 'sha256' ? fullSha(String(value)) : esc(String(value))}`)
    .join('<br>');
}

function renderAudit(view: Extract<PageView, { view: 'audit' }>): string {
  const rows = view.entries.map((e) => `<tr><td class="opt">${date(e.time)}</td><td>${esc(e.event)}</td><td class="name">${auditDetails(e)}</td></tr>`);
  const shown = view.entries.length === 0 ? '' : `entries ${view.offset + 1}–${view.offset + view.entries.length} of ${view.total}`;
  const pages = [view.previousHref === null ? '' : link(view.previousHref, 'earlier'), view.nextHref === null ? '' : link(view.nextHref, 'later')].filter(Boolean);
  const nav = pages.length === 0 ? '' : `\n<p class="summary">${pages.join('<span class="sep" aria-hidden="true"> · </span>')}</p>`;
  return (
    `<h1>audit trail</h1>\n<p class="summary">build ${link(view.buildHref, displayPath(view.build))}${shown ? `<span class="sep" aria-hidden="true"> · </span>${shown}` : ''}</p>\n` +
    table('audit', ['<th class="opt">time (UTC)</th>', '<th>event</th>', '<th>details</th>'], rows, 'nothing recorded for this build') +
    nav
  );
}

/** A URL as a view gives it: whole for masters; in public views without its query, which shows as `?…` (its keyed hash on hover). */
function inputUrl(url: string, queryHash: string | null | undefined): string {
  return queryHash ? `${esc(url)}<span title="${esc(queryHash)}">?…</span>` : esc(url);
}

function inputRows(inputs: InputView[]): string[] {
  return inputs.map(
    (i) =>
      `<tr><td>${esc(i.method)}</td><td class="name">${esc(i.url)}</td><td class="num">${i.status}</td><td class="num">${size(i.size)}</td>` +
      `<td>${shortSha(i.sha256)}</td><td class="opt">${esc(i.source)}${i.changed ? ' <span class="badge open">changed later</span>' : ''}</td></tr>`,
  );
}

const INPUT_HEAD = ['<th>method</th>', '<th>URL</th>', '<th class="num">status</th>', '<th class="num">size</th>', '<th>SHA-256</th>', '<th class="opt">source</th>'];

function publicInputRows(inputs: PublicInputView[]): string[] {
  return inputs.map((i) => `<tr><td>${esc(i.method)}</td><td class="name">${inputUrl(i.url, i.queryHash)}</td><td>${shortSha(i.sha256)}</td><td class="opt">${esc(i.source)}</td></tr>`);
}

const PUBLIC_INPUT_HEAD = ['<th>method</th>', '<th>URL</th>', '<th>SHA-256</th>', '<th class="opt">source</th>'];

function renderInputs(view: Extract<PageView, { view: 'inputs' }>): string {
  const misses = view.misses.map((m) => `<tr><td class="opt">${date(m.time)}</td><td>${esc(m.method)}</td><td class="name">${esc(m.url)}</td></tr>`);
  const refusals = view.refusals.map((r) => `<tr><td class="opt">${date(r.time)}</td><td>${esc(r.method)}</td><td class="name">${esc(r.url)}</td><td class="num">${r.status}</td><td>${esc(r.reason)}</td></tr>`);
  const partials = view.partials.map((p) => `<tr><td class="opt">${date(p.time)}</td><td>${esc(p.method)}</td><td class="name">${esc(p.url)}</td><td class="num">${p.status}</td><td>${esc(p.range)}</td></tr>`);
  return (
    `<h1>inputs</h1>\n<p class="summary">what build ${link(view.buildHref, displayPath(view.build))} downloaded through the build proxy</p>\n` +
    table('inputs', INPUT_HEAD, inputRows(view.exchanges), 'nothing was downloaded through the build proxy') +
    pager(view.paging, 'requests') +
    (refusals.length === 0 ? '' : `\n<h2>refused by the build proxy (${view.refusalTotal}${view.refusalTotal > refusals.length ? `, the first ${refusals.length} listed` : ''})</h2>\n${table('refusals', ['<th class="opt">time (UTC)</th>', '<th>method</th>', '<th>URL</th>', '<th class="num">status</th>', '<th>why</th>'], refusals, '')}`) +
    (misses.length === 0 ? '' : `\n<h2>replay misses (${view.missTotal}${view.missTotal > misses.length ? `, the first ${misses.length} listed` : ''})</h2>\n${table('misses', ['<th class="opt">time (UTC)</th>', '<th>method</th>', '<th>URL</th>'], misses, '')}`) +
    (partials.length === 0
      ? ''
      : `\n<h2>parts passed through, not recorded (${view.partialTotal}${view.partialTotal > partials.length ? `, the first ${partials.length} listed` : ''})</h2>\n${table('partials', ['<th class="opt">time (UTC)</th>', '<th>method</th>', '<th>URL</th>', '<th class="num">status</th>', '<th>range</th>'], partials, '')}`)
  );
}

function compareInputsSection(inputs: NonNullable<Extract<PageView, { view: 'compare' }>['inputs']>): string {
  const { counts } = inputs;
  const out = [`<h2>inputs: ${counts.added} added, ${counts.removed} removed, ${counts.changed} changed, ${counts.identical} identical</h2>`];
  if (inputs.added.length) out.push('<h3>added inputs</h3>', table('inputs', PUBLIC_INPUT_HEAD, publicInputRows(inputs.added), ''));
  if (inputs.removed.length) out.push('<h3>removed inputs</h3>', table('inputs', PUBLIC_INPUT_HEAD, publicInputRows(inputs.removed), ''));
  if (inputs.changed.length) {
    const rows = inputs.changed.map((c) => `<tr><td>${esc(c.method)}</td><td class="name">${inputUrl(c.url, c.queryHash)}</td><td class="change">${shortSha(c.fromSha256)} → ${shortSha(c.toSha256)}</td></tr>`);
    out.push('<h3>changed inputs</h3>', table('inputs', ['<th>method</th>', '<th>URL</th>', '<th>SHA-256</th>'], rows, ''));
  }
  const { unlisted } = inputs;
  if (unlisted.added + unlisted.removed + unlisted.changed > 0) {
    out.push(`<p class="summary">not listed here (requests other than GET, answers other than 2xx: what provenance leaves out): ${unlisted.added} added, ${unlisted.removed} removed, ${unlisted.changed} changed; masters see them on each build's inputs page</p>`);
  }
  return out.join('\n');
}

function mirrorState(e: MirrorEntryView): string {
  if (e.state === 'ok') return '<span class="badge sealed">ok</span>';
  if (e.state === 'pending') return `<span class="badge open">pending</span>${e.bytes_so_far === null ? '' : ` ${size(e.bytes_so_far)} so far`}`;
  return `<span class="badge open">failed</span> ${esc(e.reason ?? '')}${e.next_try_at ? ` <span class="muted">(next try ${date(e.next_try_at)})</span>` : ''}`;
}

function renderMirror(view: Extract<PageView, { view: 'mirror' }>): string {
  const rows = view.entries.map((e) => {
    const what = e.url ?? e.image ?? '';
    // The entry's own page says everything about it, the download link included.
    const name = nameLink(`/-/mirror/${encodeURIComponent(e.id)}`, what);
    return (
      `<tr><td class="name">${name}${e.note ? `<br><span class="muted">${esc(e.note)}</span>` : ''}</td><td>${mirrorState(e)}</td>` +
      `<td class="num">${e.size === null ? '' : size(e.size)}</td><td>${shortSha(e.sha256)}</td><td class="opt">${esc(e.declared_by)}<br>${date(e.declared_at)}</td><td class="opt">${e.fetched_at ? date(e.fetched_at) : ''}</td></tr>`
    );
  });
  const how =
    '<p class="summary">external files and container images (by digest) that builds depend on: fetched once, kept for ever, served by the build proxy under their own URLs. ' +
    'Masters declare them with the form below (it asks for a master\'s name and password), <code>artifact-repo mirror add URL</code>, or a POST of JSON to <code>/-/mirror</code>.</p>';
  return (
    `<h1>mirror</h1>\n${how}\n` +
    table('mirror', ['<th>URL or image</th>', '<th>state</th>', '<th class="num">size</th>', '<th>SHA-256</th>', '<th class="opt">declared</th>', '<th class="opt">fetched</th>'], rows, 'nothing is mirrored yet') +
    '\n<h2 id="declare">declare a file or an image</h2>\n' +
    '<form class="declare" method="post" action="/-/mirror">' +
    '<p><label for="url">file URL</label> <input id="url" name="url" type="url" placeholder="https://example.org/tool-1.2.tar.gz" autocomplete="off" spellcheck="false"></p>' +
    '<p><label for="sha256">its SHA-256, if known</label> <input id="sha256" name="sha256" placeholder="64 hexadecimal digits" pattern="[0-9a-fA-F]{64}" autocomplete="off" spellcheck="false"></p>' +
    '<p><label for="image">or an image by digest</label> <input id="image" name="image" placeholder="registry.example.org/library/alpine@sha256:…" autocomplete="off" spellcheck="false"></p>' +
    '<p><label for="note">what it is for</label> <input id="note" name="note" maxlength="1000" autocomplete="off"></p>' +
    '<p><button type="submit">declare</button></p></form>'
  );
}

function renderMirrorEntry(view: Extract<PageView, { view: 'mirror-entry' }>): string {
  const e = view.entry;
  const row = (name: string, value: string): string => `<tr><th scope="row">${name}</th><td>${value}</td></tr>`;
  const rows = [
    row(e.kind === 'file' ? 'URL' : 'image', `<span class="name">${esc(e.url ?? e.image ?? '')}</span>`),
    row('state', `${mirrorState(e)}${e.attempts > 0 ? ` <span class="muted">(${plural(e.attempts, 'try', 'tries')})</span>` : ''}`),
    row('SHA-256', e.sha256 === null ? '' : fullSha(e.sha256)),
    row('size', e.size === null ? '' : size(e.size)),
    row('note', esc(e.note)),
    row('declared', `${esc(e.declared_by)}, ${date(e.declared_at)}`),
    row('fetched', e.fetched_at === null ? '' : date(e.fetched_at)),
    row('download', e.download === null ? '' : link(e.download, 'download', ' download')),
  ];
  const used = e.used_by.map((u) => `<tr><td class="name">${nameLink(u.build, u.build)}</td><td>${date(u.at)}</td></tr>`);
  return (
    `<h1>mirror entry ${esc(e.id)}</h1>\n<div class="scroll"><table class="entry"><tbody>\n${rows.join('\n')}\n</tbody></table></div>\n` +
    `<h2>builds it served${e.used_by.length > 0 ? ` (the latest ${e.used_by.length})` : ''}</h2>\n${table('used', ['<th>build</th>', '<th>first served (UTC)</th>'], used, 'no build has used it yet')}\n` +
    `<form class="remove" method="post" action="${esc(view.path)}"><input type="hidden" name="action" value="remove"><p><button type="submit">remove this entry</button> <span class="muted">(a master\'s credentials; its bytes go once no build\'s inputs refer to them)</span></p></form>`
  );
}

function renderError(view: Extract<PageView, { view: 'error' }>): string {
  const reason = STATUS_CODES[view.status];
  // A master-only page: the browser asks for the name and password once this is answered.
  const why = view.status === 401 ? '\n<p>This page is for build masters: sign in with a master\'s name and password (the server\'s MASTER_USER, buildbot by default). Builds, their files, search and compare need no sign-in.</p>' : '';
  return `<h1>${view.status}${reason === undefined ? '' : ` ${esc(reason)}`}</h1>\n<p class="error" role="alert">${esc(view.message)}</p>${why}\n<p><a href="/">back to all artifacts</a></p>`;
}

function renderBody(view: PageView): string {
  switch (view.view) {
    case 'root':
      return (
        `<h1>${SITE_NAME}</h1>\n${entriesTable(view.entries, 'nothing has been uploaded yet')}${pager(view.paging, 'entries')}` +
        (view.recent.length === 0 ? '' : `\n<h2>sealed lately</h2>\n${sealedBuildsTable(view.recent)}\n<p class="summary">${link('/-/builds', 'all sealed builds')}<span class="sep" aria-hidden="true"> · </span>${link('/-/builds.atom', 'feed')}</p>`)
      );
    case 'builds':
      return renderBuildList(view);
    case 'type':
      return `<h1>${esc(displayPath(view.path))}</h1>\n${entriesTable(view.entries, 'no projects yet')}${pager(view.paging, 'entries')}`;
    case 'project':
      return renderProject(view);
    case 'directory':
      return renderDirectory(view);
    case 'search':
      return renderSearch(view);
    case 'compare':
      return renderCompare(view);
    case 'audit':
      return renderAudit(view);
    case 'inputs':
      return renderInputs(view);
    case 'mirror':
      return renderMirror(view);
    case 'error':
      return renderError(view);
    case 'compare-form':
      return renderCompareForm();
    case 'mirror-entry':
      return renderMirrorEntry(view);
    default: {
      const unknown: never = view;
      return unknown;
    }
  }
}

function pageTitle(view: PageView): string {
  switch (view.view) {
    case 'root':
      return SITE_NAME;
    case 'builds':
      return `sealed builds · ${SITE_NAME}`;
    case 'search':
      return `search · ${SITE_NAME}`;
    case 'compare':
      return `compare · ${SITE_NAME}`;
    case 'audit':
      return `audit ${displayPath(view.build)} · ${SITE_NAME}`;
    case 'inputs':
      return `inputs ${displayPath(view.build)} · ${SITE_NAME}`;
    case 'mirror':
      return `mirror · ${SITE_NAME}`;
    case 'error':
      return `${view.status} ${STATUS_CODES[view.status] ?? 'error'} · ${SITE_NAME}`;
    default:
      return `${displayPath(view.path)} · ${SITE_NAME}`;
  }
}

function breadcrumbs(crumbs: Crumb[]): string {
  const items = crumbs.map((c, i) =>
    i === crumbs.length - 1 ? `<li><span aria-current="page">${esc(c.name)}</span></li>` : `<li>${link(c.href, c.name)}</li>`,
  );
  return `<nav aria-label="breadcrumb"><ol class="crumbs">${items.join('')}</ol></nav>`;
}

function searchForm(current: string | null): string {
  const value = current === null ? '' : ` value="${esc(current)}"`;
  return (
    '<form class="search" role="search" method="get" action="/-/search">' +
    '<label for="q" class="vh">find files by SHA-256, projects and builds by name</label>' +
    `<input id="q" name="q" type="search" placeholder="SHA-256 or name" maxlength="200" title="a SHA-256, a project name, PROJECT/BUILD or TYPE/PROJECT/BUILD" required autocomplete="off" spellcheck="false"${value}>` +
    '<button type="submit">search</button></form>'
  );
}

export function renderPage(view: PageView): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${esc(pageTitle(view))}</title>
<style>${STYLE}</style>
</head>
<body>
<header class="site"><a class="brand" href="/">${SITE_NAME}</a> <a href="/-/mirror">mirror</a>${searchForm(view.view === 'search' ? view.query : null)}</header>
${breadcrumbs(view.crumbs)}
<main>
${renderBody(view)}
</main>
</body>
</html>
`;
}
