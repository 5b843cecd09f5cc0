import { expect } from 'chai';
import {
  XmlBodyError,
  isMkcolBodyEmpty,
  parseLockinfo,
  parseProppatch,
  parsePropfind,
  parseXml,
  renderErrorBody,
  renderMultistatus,
  renderProp,
  serializeChildren,
  statusLine,
  xmlEscape,
  xmlEscapeAttribute,
} from '../../server/webdav/xml.js';
import type { DeadProperty, PropPatchOp, XmlElement, XmlNode } from '../../server/webdav/xml.js';

const NS = 'http://webdav.org/neon/litmus/';
const DECL = '<?xml version="1.0" encoding="utf-8" ?>';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

function expectXmlError(fn: () => unknown, message?: RegExp): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected an XmlBodyError').to.be.instanceOf(XmlBodyError);
  if (message && caught instanceof Error) expect(caught.message).to.match(message);
}

function elements(nodes: readonly XmlNode[]): XmlElement[] {
  return nodes.filter((n): n is XmlElement => typeof n !== 'string');
}

function child(el: XmlElement, ns: string, local: string): XmlElement {
  const found = elements(el.children).find((c) => c.ns === ns && c.local === local);
  if (!found) throw new Error(`no {${ns}}${local} under {${el.ns}}${el.local}`);
  return found;
}

function textOf(el: XmlElement): string {
  return el.children.filter((c): c is string => typeof c === 'string').join('');
}

function onlySet(ops: PropPatchOp[]): DeadProperty {
  expect(ops).to.have.length(1);
  const op = ops[0];
  if (!op || op.op !== 'set') throw new Error('expected one set op');
  return op.prop;
}

function nested(depth: number): string {
  return '<a>'.repeat(depth) + '</a>'.repeat(depth);
}

describe('webdav/xml', () => {
  describe('parseXml', () => {
    it('builds a namespace-aware tree, drops xmlns declarations from attrs, merges CDATA into text', () => {
      const root = parseXml(buf(
        `${DECL}<D:root xmlns:D="DAV:" xmlns:x="urn:x" x:a="1" b="2">`
        + 'one<![CDATA[<two>]]>three<x:child/><plain xmlns=""/></D:root>',
      ));
      expect(root).to.include({ ns: 'DAV:', local: 'root', prefix: 'D' });
      expect(root.attrs).to.deep.equal([
        { ns: 'urn:x', local: 'a', prefix: 'x', value: '1' },
        { ns: '', local: 'b', prefix: '', value: '2' },
      ]);
      expect(root.children[0]).to.equal('one<two>three');
      const kids = elements(root.children);
      expect(kids.map((k) => [k.ns, k.local])).to.deep.equal([['urn:x', 'child'], ['', 'plain']]);
    });

    it('accepts a UTF-8 byte order mark and nesting right at the depth limit', () => {
      const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), buf('<a/>')]);
      expect(parseXml(withBom).local).to.equal('a');
      expect(parseXml(buf(nested(64))).local).to.equal('a');
    });

    it('accepts 10 000 elements', () => {
      const root = parseXml(buf(`<r>${'<e/>'.repeat(9_999)}</r>`));
      expect(root.children).to.have.length(9_999);
    });

    const bad: [string, string | Buffer, RegExp?][] = [
      ['non-well-formed XML (litmus propfind_invalid)', '<foo>'],
      ['truncated XML', '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:pr'],
      ['mismatched tags', '<a><b></a></b>'],
      ['an empty body', ''],
      ['an undeclared element prefix', '<D:propfind xmlns:D="DAV:"><D:prop><bar:foo/></D:prop></D:propfind>'],
      ['an undeclared attribute prefix', '<a q:x="1"/>'],
      ['an empty-valued prefix declaration (litmus propfind_invalid2, on the root)',
        '<D:propfind xmlns:D="DAV:" xmlns:bar=""><D:prop><bar:foo/></D:prop></D:propfind>'],
      ['an empty-valued prefix declaration (litmus propfind_invalid2, as sent)',
        '<D:propfind xmlns:D="DAV:"><D:prop><bar:foo xmlns:bar=""/></D:prop></D:propfind>'],
      ['a DOCTYPE declaring an entity (billion laughs)',
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        + '<D:propfind xmlns:D="DAV:"><D:prop>&lol2;</D:prop></D:propfind>', /DOCTYPE/],
      ['an external entity (XXE)',
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>', /DOCTYPE/],
      ['a bare DOCTYPE', '<!DOCTYPE r><r/>', /DOCTYPE/],
      ['an undefined entity reference', '<r>&nope;</r>'],
      ['text before the root', 'junk<r/>'],
      ['text after the root', '<r/>junk'],
      ['a second root element', '<r/><r/>'],
      ['invalid UTF-8', Buffer.from([0x3c, 0x72, 0x3e, 0xc3, 0x28, 0x3c, 0x2f, 0x72, 0x3e]), /UTF-8/],
      ['a UTF-16 body', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<r/>', 'utf16le')]), /UTF-8/],
      ['a declared non-UTF-8 encoding', '<?xml version="1.0" encoding="ISO-8859-1"?><r/>', /UTF-8/],
      ['XML 1.1 (which would allow undeclaring prefixes)', '<?xml version="1.1"?><r/>'],
      ['a depth bomb', nested(100_000), /deep/],
      ['one level over the depth limit', nested(65), /deep/],
      ['more than 10 000 elements', `<r>${'<e/>'.repeat(10_000)}</r>`, /too many/],
    ];
    for (const [name, body, message] of bad) {
      it(`refuses ${name}`, () => {
        expectXmlError(() => parseXml(typeof body === 'string' ? buf(body) : body), message);
      });
    }
  });

  describe('parsePropfind', () => {
    it('treats an empty or whitespace-only body as allprop', () => {
      expect(parsePropfind(Buffer.alloc(0))).to.deep.equal({ kind: 'allprop', include: [] });
      expect(parsePropfind(buf(' \r\n\t'))).to.deep.equal({ kind: 'allprop', include: [] });
    });

    it('reads a named-property request as litmus propfind_d0 sends it', () => {
      const body = `${DECL}\n<propfind xmlns="DAV:"><prop>\n`
        + '<getcontentlength xmlns="DAV:"/>\n<getlastmodified xmlns="DAV:"/>\n'
        + `<displayname xmlns="DAV:"/>\n<resourcetype xmlns="DAV:"/>\n<foo xmlns="${NS}"/>\n<bar xmlns="${NS}"/>\n`
        + '</prop></propfind>\n';
      expect(parsePropfind(buf(body))).to.deep.equal({
        kind: 'prop',
        props: [
          { ns: 'DAV:', local: 'getcontentlength' },
          { ns: 'DAV:', local: 'getlastmodified' },
          { ns: 'DAV:', local: 'displayname' },
          { ns: 'DAV:', local: 'resourcetype' },
          { ns: NS, local: 'foo' },
          { ns: NS, local: 'bar' },
        ],
      });
    });

    it('keeps null-namespace names and drops duplicates (litmus propwformed)', () => {
      const body = `${DECL}<propfind xmlns='DAV:'><prop><nonamespace xmlns=''/><nonamespace xmlns=''/></prop></propfind>`;
      expect(parsePropfind(buf(body))).to.deep.equal({ kind: 'prop', props: [{ ns: '', local: 'nonamespace' }] });
    });

    it('reads propname', () => {
      expect(parsePropfind(buf('<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>'))).to.deep.equal({ kind: 'propname' });
    });

    it('reads allprop with include', () => {
      const body = '<D:propfind xmlns:D="DAV:"><D:allprop/><D:include><D:supportedlock/><x:y xmlns:x="urn:x"/></D:include></D:propfind>';
      expect(parsePropfind(buf(body))).to.deep.equal({
        kind: 'allprop',
        include: [{ ns: 'DAV:', local: 'supportedlock' }, { ns: 'urn:x', local: 'y' }],
      });
    });

    it('ignores unknown elements (litmus propextended)', () => {
      const body = `${DECL}<propfind xmlns="DAV:"><foobar/><allprop/><x:other xmlns:x="urn:x"/></propfind>`;
      expect(parsePropfind(buf(body))).to.deep.equal({ kind: 'allprop', include: [] });
    });

    const bad: [string, string][] = [
      ['a wrong root', '<D:propertyupdate xmlns:D="DAV:"/>'],
      ['propfind in no namespace', '<propfind><allprop/></propfind>'],
      ['a propfind with nothing to do', '<D:propfind xmlns:D="DAV:"/>'],
      ['prop together with propname', '<D:propfind xmlns:D="DAV:"><D:prop/><D:propname/></D:propfind>'],
      ['include without allprop', '<D:propfind xmlns:D="DAV:"><D:propname/><D:include/></D:propfind>'],
      ['malformed XML', '<D:propfind xmlns:D="DAV:"><D:allprop>'],
    ];
    for (const [name, body] of bad) {
      it(`refuses ${name}`, () => expectXmlError(() => parsePropfind(buf(body))));
    }
  });

  describe('parseProppatch', () => {
    it('keeps set and remove in document order (litmus propremoveset)', () => {
      const body = `${DECL}<propertyupdate xmlns='DAV:'>`
        + `<remove><prop><removeset xmlns='${NS}'/></prop></remove>`
        + `<set><prop><removeset xmlns='${NS}'>x</removeset></prop></set>`
        + `<set><prop><removeset xmlns='${NS}'>y</removeset></prop></set>`
        + '</propertyupdate>';
      expect(parseProppatch(buf(body))).to.deep.equal([
        { op: 'remove', name: { ns: NS, local: 'removeset' } },
        { op: 'set', prop: { ns: NS, local: 'removeset', valueXml: 'x' } },
        { op: 'set', prop: { ns: NS, local: 'removeset', valueXml: 'y' } },
      ]);
    });

    it('reads several properties in several namespaces from one set (litmus propset / propmanyns)', () => {
      const body = '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
        + '<a:somename xmlns:a="alpha">manynsvalue</a:somename><b:somename xmlns:b="beta">v2</b:somename>'
        + '</D:prop></D:set><D:remove><D:prop><a:gone xmlns:a="alpha"/></D:prop></D:remove></D:propertyupdate>';
      expect(parseProppatch(buf(body))).to.deep.equal([
        { op: 'set', prop: { ns: 'alpha', local: 'somename', valueXml: 'manynsvalue' } },
        { op: 'set', prop: { ns: 'beta', local: 'somename', valueXml: 'v2' } },
        { op: 'remove', name: { ns: 'alpha', local: 'gone' } },
      ]);
    });

    it('reads a null-namespace property (litmus propnullns)', () => {
      const body = `${DECL}<propertyupdate xmlns="DAV:"><set><prop>`
        + '<nonamespace xmlns="">randomvalue</nonamespace></prop></set></propertyupdate>';
      expect(onlySet(parseProppatch(buf(body)))).to.deep.equal({ ns: '', local: 'nonamespace', valueXml: 'randomvalue' });
    });

    it('keeps characters above U+FFFF, as a reference or literal (litmus prophighunicode)', () => {
      const body = `${DECL}<propertyupdate xmlns='DAV:'><set><prop>`
        + `<high-unicode xmlns='${NS}'>&#65536;\u{1F600}</high-unicode></prop></set></propertyupdate>`;
      expect(onlySet(parseProppatch(buf(body))).valueXml).to.equal('\u{10000}\u{1F600}');
    });

    it('serialises a value that declares its own namespace (litmus propvalnspace)', () => {
      const body = `${DECL}<propertyupdate xmlns='DAV:'><set><prop>`
        + `<t:valnspace xmlns:t='${NS}'><foo xmlns='bar'/></t:valnspace></prop></set></propertyupdate>`;
      expect(onlySet(parseProppatch(buf(body)))).to.deep.equal({
        ns: NS, local: 'valnspace', valueXml: '<ns0:foo xmlns:ns0="bar"/>',
      });
    });

    it('serialises mixed content, namespaced attributes, no-namespace children and special characters', () => {
      const body = '<D:propertyupdate xmlns:D="DAV:" xmlns="urn:default"><D:set><D:prop>'
        + '<p>a &lt; b &amp; "c" '
        + '<x:outer xmlns:x="urn:x" xmlns:y="urn:y" y:attr="1&amp;2" plain="q&quot;"><plain xmlns="">t</plain>'
        + '<y:inner><x:deep/></y:inner></x:outer> tail<![CDATA[]]>&#13;</p>'
        + '</D:prop></D:set></D:propertyupdate>';
      const prop = onlySet(parseProppatch(buf(body)));
      expect(prop.ns).to.equal('urn:default');
      expect(prop.valueXml).to.equal(
        'a &lt; b &amp; &quot;c&quot; '
        + '<ns0:outer xmlns:ns0="urn:x" xmlns:ns1="urn:y" ns1:attr="1&amp;2" plain="q&quot;">'
        + '<plain xmlns="">t</plain><ns1:inner><ns0:deep/></ns1:inner></ns0:outer> tail&#13;',
      );
    });

    it('keeps xml:lang of the property element, inherited or own', () => {
      const body = '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop xml:lang="de">'
        + '<x:a xmlns:x="urn:x">Hallo</x:a><x:b xmlns:x="urn:x" xml:lang="en-GB">Hello</x:b><x:c xmlns:x="urn:x" xml:lang="">-</x:c>'
        + '</D:prop></D:set></D:propertyupdate>';
      const ops = parseProppatch(buf(body));
      expect(ops).to.deep.equal([
        { op: 'set', prop: { ns: 'urn:x', local: 'a', valueXml: 'Hallo', lang: 'de' } },
        { op: 'set', prop: { ns: 'urn:x', local: 'b', valueXml: 'Hello', lang: 'en-GB' } },
        { op: 'set', prop: { ns: 'urn:x', local: 'c', valueXml: '-' } },
      ]);
    });

    it('keeps xml:lang of elements inside the value as attributes', () => {
      const body = '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
        + '<x:a xmlns:x="urn:x"><x:t xml:lang="fr">oui</x:t></x:a></D:prop></D:set></D:propertyupdate>';
      expect(onlySet(parseProppatch(buf(body))).valueXml).to.equal('<ns0:t xmlns:ns0="urn:x" xml:lang="fr">oui</ns0:t>');
    });

    const bad: [string, string][] = [
      ['an empty body', ''],
      ['a whitespace body', '  \n'],
      ['a wrong root', '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'],
      ['set without prop', '<D:propertyupdate xmlns:D="DAV:"><D:set/></D:propertyupdate>'],
      ['an update naming no property', '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop/></D:set></D:propertyupdate>'],
      ['an undeclared prefix in a value', '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:a xmlns:x="urn:x"><q:b/></x:a></D:prop></D:set></D:propertyupdate>'],
    ];
    for (const [name, body] of bad) {
      it(`refuses ${name}`, () => expectXmlError(() => parseProppatch(buf(body))));
    }
  });

  describe('parseLockinfo', () => {
    it('reads the exclusive lock request neon sends for litmus', () => {
      const body = `${DECL}\n<lockinfo xmlns='DAV:'>\n <lockscope><exclusive/></lockscope>\n`
        + '<locktype><write/></locktype><owner>litmus test suite</owner>\n</lockinfo>\n';
      expect(parseLockinfo(buf(body))).to.deep.equal({ scope: 'exclusive', ownerXml: 'litmus test suite' });
    });

    it('reads a shared lock with an href owner as a self-contained fragment', () => {
      const body = '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype>'
        + '<D:owner><D:href>http://example.org/~me?a=1&amp;b=2</D:href></D:owner></D:lockinfo>';
      expect(parseLockinfo(buf(body))).to.deep.equal({
        scope: 'shared',
        ownerXml: '<ns0:href xmlns:ns0="DAV:">http://example.org/~me?a=1&amp;b=2</ns0:href>',
      });
    });

    it('gives ownerXml null without an owner and treats an empty body as a refresh', () => {
      const body = '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
      expect(parseLockinfo(buf(body))).to.deep.equal({ scope: 'exclusive', ownerXml: null });
      expect(parseLockinfo(Buffer.alloc(0))).to.equal(null);
      expect(parseLockinfo(buf('\r\n'))).to.equal(null);
    });

    const lockinfo = (inner: string): string => `<D:lockinfo xmlns:D="DAV:">${inner}</D:lockinfo>`;
    const bad: [string, string][] = [
      ['a wrong root', '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'],
      ['a non-write locktype', lockinfo('<D:lockscope><D:exclusive/></D:lockscope><D:locktype><x:read xmlns:x="urn:x"/></D:locktype>')],
      ['an empty locktype', lockinfo('<D:lockscope><D:exclusive/></D:lockscope><D:locktype/>')],
      ['a missing locktype', lockinfo('<D:lockscope><D:exclusive/></D:lockscope>')],
      ['a missing lockscope', lockinfo('<D:locktype><D:write/></D:locktype>')],
      ['an unknown lockscope', lockinfo('<D:lockscope><D:private/></D:lockscope><D:locktype><D:write/></D:locktype>')],
      ['two scopes at once', lockinfo('<D:lockscope><D:exclusive/><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype>')],
      ['malformed XML', '<D:lockinfo xmlns:D="DAV:"><D:lockscope>'],
    ];
    for (const [name, body] of bad) {
      it(`refuses ${name}`, () => expectXmlError(() => parseLockinfo(buf(body))));
    }
  });

  it('isMkcolBodyEmpty is true only for zero bytes', () => {
    expect(isMkcolBodyEmpty(Buffer.alloc(0))).to.equal(true);
    expect(isMkcolBodyEmpty(buf(' '))).to.equal(false);
    expect(isMkcolBodyEmpty(buf('afafafaf'))).to.equal(false);
  });

  describe('escaping', () => {
    it('xmlEscape escapes markup, quotes and CR and keeps astral characters', () => {
      expect(xmlEscape(`<a href="x">&'\r\n\u{10000}`)).to.equal('&lt;a href=&quot;x&quot;&gt;&amp;&apos;&#13;\n\u{10000}');
    });

    it('xmlEscape replaces characters XML cannot carry', () => {
      expect(xmlEscape('a\u0000b\u001Fc\uD800d\uFFFF')).to.equal('a\uFFFDb\uFFFDc\uFFFDd\uFFFD');
    });

    it('xmlEscapeAttribute keeps tabs and newlines through attribute normalisation', () => {
      const value = 'a\tb\nc\rd "e"';
      const root = parseXml(buf(`<r v="${xmlEscapeAttribute(value)}"/>`));
      expect(root.attrs[0]?.value).to.equal(value);
    });
  });

  describe('rendering', () => {
    it('renderProp uses D: for DAV:, xmlns="" for no namespace, a declared prefix otherwise, and xml:lang', () => {
      expect(renderProp({ name: { ns: 'DAV:', local: 'getetag' }, valueXml: '"abc"' })).to.equal('<D:getetag>"abc"</D:getetag>');
      expect(renderProp({ name: { ns: '', local: 'nonamespace' }, valueXml: 'randomvalue' }))
        .to.equal('<nonamespace xmlns="">randomvalue</nonamespace>');
      expect(renderProp({ name: { ns: 'urn:x&y', local: 'e' } })).to.equal('<P:e xmlns:P="urn:x&amp;y"/>');
      expect(renderProp({ name: { ns: NS, local: 'l' }, valueXml: '', lang: 'en' }))
        .to.equal(`<P:l xmlns:P="${NS}" xml:lang="en"/>`);
    });

    it('statusLine gives reason phrases', () => {
      expect(statusLine(200)).to.equal('HTTP/1.1 200 OK');
      expect(statusLine(404)).to.equal('HTTP/1.1 404 Not Found');
      expect(statusLine(423)).to.equal('HTTP/1.1 423 Locked');
      expect(statusLine(424)).to.equal('HTTP/1.1 424 Failed Dependency');
      expect(statusLine(507)).to.equal('HTTP/1.1 507 Insufficient Storage');
    });

    it('renderMultistatus produces the RFC 4918 structure', () => {
      const text = renderMultistatus([
        {
          href: '/dav/a%20b?x=1&y=2',
          propstats: [
            {
              status: 200,
              props: [
                { name: { ns: 'DAV:', local: 'resourcetype' }, valueXml: '<D:collection/>' },
                { name: { ns: '', local: 'nonamespace' }, valueXml: 'v' },
              ],
            },
            { status: 404, props: [{ name: { ns: NS, local: 'missing' } }], description: 'gone <now>' },
          ],
        },
        { href: '/dav/locked', status: 423, error: '<D:lock-token-submitted><D:href>/dav/locked</D:href></D:lock-token-submitted>' },
      ]);
      expect(text.startsWith('<?xml version="1.0" encoding="utf-8"?>')).to.equal(true);
      const root = parseXml(buf(text));
      expect(root).to.include({ ns: 'DAV:', local: 'multistatus' });
      const responses = elements(root.children);
      expect(responses.map((r) => `${r.ns}${r.local}`)).to.deep.equal(['DAV:response', 'DAV:response']);
      const [first, second] = responses as [XmlElement, XmlElement];

      expect(textOf(child(first, 'DAV:', 'href'))).to.equal('/dav/a%20b?x=1&y=2');
      const propstats = elements(first.children).filter((e) => e.local === 'propstat');
      expect(propstats).to.have.length(2);
      const [ok, missing] = propstats as [XmlElement, XmlElement];
      expect(textOf(child(ok, 'DAV:', 'status'))).to.equal('HTTP/1.1 200 OK');
      const okProps = elements(child(ok, 'DAV:', 'prop').children);
      expect(okProps.map((p) => [p.ns, p.local])).to.deep.equal([['DAV:', 'resourcetype'], ['', 'nonamespace']]);
      expect(elements(okProps[0]?.children ?? []).map((c) => `${c.ns}${c.local}`)).to.deep.equal(['DAV:collection']);
      expect(textOf(child(missing, 'DAV:', 'status'))).to.equal('HTTP/1.1 404 Not Found');
      expect(textOf(child(missing, 'DAV:', 'responsedescription'))).to.equal('gone <now>');
      expect(elements(child(missing, 'DAV:', 'prop').children).map((p) => [p.ns, p.local])).to.deep.equal([[NS, 'missing']]);

      expect(textOf(child(second, 'DAV:', 'status'))).to.equal('HTTP/1.1 423 Locked');
      const tokenSubmitted = child(child(second, 'DAV:', 'error'), 'DAV:', 'lock-token-submitted');
      expect(textOf(child(tokenSubmitted, 'DAV:', 'href'))).to.equal('/dav/locked');
    });

    it('renderMultistatus refuses an entry with neither or both of propstats and status', () => {
      expect(() => renderMultistatus([{ href: '/x' }])).to.throw(Error);
      expect(() => renderMultistatus([{ href: '/x', status: 200, propstats: [{ status: 200, props: [] }] }])).to.throw(Error);
    });

    it('renderErrorBody wraps a DAV: precondition and rejects names that would inject markup', () => {
      const text = renderErrorBody('lock-token-submitted');
      expect(text).to.equal('<D:error xmlns:D="DAV:"><D:lock-token-submitted/></D:error>');
      const root = parseXml(buf(text));
      expect(elements(root.children).map((c) => `${c.ns}${c.local}`)).to.deep.equal(['DAV:lock-token-submitted']);
      expect(() => renderErrorBody('x/><evil')).to.throw(Error);
    });
  });

  describe('dead property round trip', () => {
    const values: [string, string][] = [
      ['plain text', `<t:p xmlns:t="${NS}">value goes here</t:p>`],
      ['null namespace property', '<nonamespace xmlns="">randomvalue</nonamespace>'],
      ['astral characters', `<t:p xmlns:t="${NS}">&#65536;\u{1F600}\u00e9</t:p>`],
      ['XML-special characters and CR', `<t:p xmlns:t="${NS}">&lt;&amp;&gt;"'&#13;\n</t:p>`],
      ['nested namespaced elements and attributes',
        `<t:p xmlns:t="${NS}" xmlns:a="urn:a"><a:x a:k="v&#10;w" k="1"><b:y xmlns:b="urn:b">in</b:y>mid<t:z/></a:x></t:p>`],
      ['no-namespace children under a namespaced one', '<t:p xmlns:t="urn:t"><t:x><none xmlns=""><deeper/></none></t:x></t:p>'],
      ['a child in the same namespace as the property', '<t:p xmlns:t="urn:t"><t:x>same</t:x></t:p>'],
      ['a DAV: property with a DAV: child', '<D:p><D:href>/x</D:href></D:p>'],
      ['xml:lang on the property', `<t:p xmlns:t="${NS}" xml:lang="en-US">colour</t:p>`],
      ['an empty value', `<t:p xmlns:t="${NS}"/>`],
    ];
    for (const [name, propXml] of values) {
      it(`keeps ${name}`, () => {
        const body = `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>${propXml}</D:prop></D:set></D:propertyupdate>`;
        const prop = onlySet(parseProppatch(buf(body)));
        const rendered = renderMultistatus([{
          href: '/r',
          propstats: [{ status: 200, props: [{ name: { ns: prop.ns, local: prop.local }, valueXml: prop.valueXml, lang: prop.lang }] }],
        }]);
        const response = elements(parseXml(buf(rendered)).children)[0];
        if (!response) throw new Error('no response');
        const back = elements(child(child(response, 'DAV:', 'propstat'), 'DAV:', 'prop').children)[0];
        if (!back) throw new Error('no property');
        expect([back.ns, back.local]).to.deep.equal([prop.ns, prop.local]);
        expect(serializeChildren(back.children)).to.equal(prop.valueXml);
        const lang = back.attrs.find((a) => a.ns === XML_NS && a.local === 'lang')?.value;
        expect(lang).to.equal(prop.lang);
      });
    }

    it('gives a fragment the same meaning inside a hostile default namespace and prefix', () => {
      const body = '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><t:p xmlns:t="urn:t">'
        + '<none xmlns="">x<a:in xmlns:a="urn:a"><n2 xmlns=""/></a:in></none><b:y xmlns:b="urn:b"><n3 xmlns=""/></b:y>'
        + '</t:p></D:prop></D:set></D:propertyupdate>';
      const { valueXml } = onlySet(parseProppatch(buf(body)));
      const wrapped = parseXml(buf(`<w xmlns="urn:evil" xmlns:ns0="urn:other" xmlns:ns1="urn:other">${valueXml}</w>`));
      expect(serializeChildren(wrapped.children)).to.equal(valueXml);
      const none = elements(wrapped.children)[0];
      expect(none).to.include({ ns: '', local: 'none' });
      const n3 = elements(elements(wrapped.children)[1]?.children ?? [])[0];
      expect(n3).to.include({ ns: '', local: 'n3' });
    });
  });
});
