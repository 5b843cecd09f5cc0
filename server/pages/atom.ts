// The list of sealed builds as an Atom 1.0 feed (RFC 4287): one entry per sealed build,
// its id the build's URL (build names are never reused), updated when it was sealed.
import type { SealedBuildView } from './views.js';

function xml(text: string): string {
  // Characters XML 1.0 cannot hold at all are dropped; the five it reserves are escaped.
  return text.replace(/[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The feed: `base` is the repository's URL (for absolute links), `self` the feed's own URL. */
export function atomFeed(builds: readonly SealedBuildView[], base: URL, self: URL, now: string): string {
  const updated = builds[0]?.sealedAt ?? now;
  const entries = builds.map((b) => {
    const href = new URL(b.href, base).href;
    const summary = [`${b.files} file${b.files === 1 ? '' : 's'}, ${b.bytes} bytes`, b.signed ? 'signed' : 'not signed', b.branch ? `branch ${b.branch}` : '', b.revision ? `revision ${b.revision}` : ''].filter(Boolean).join('; ');
    return [
      '  <entry>',
      `    <id>${xml(href)}</id>`,
      `    <title>${xml(`${b.project} ${b.build} (${b.type})`)}</title>`,
      `    <updated>${xml(b.sealedAt)}</updated>`,
      `    <link rel="alternate" type="text/html" href="${xml(href)}"/>`,
      `    <summary>${xml(summary)}</summary>`,
      '  </entry>',
    ].join('\n');
  });
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<feed xmlns="http://www.w3.org/2005/Atom">',
    `  <id>${xml(self.href)}</id>`,
    '  <title>sealed builds</title>',
    `  <updated>${xml(updated)}</updated>`,
    '  <author><name>artifact-repo</name></author>',
    `  <link rel="self" type="application/atom+xml" href="${xml(self.href)}"/>`,
    `  <link rel="alternate" type="text/html" href="${xml(new URL(`/-/builds${self.search}`, base).href)}"/>`,
    ...entries,
    '</feed>',
    '',
  ].join('\n');
}
