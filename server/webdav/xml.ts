import { SaxesParser } from 'saxes';
import type { SaxesTagNS } from 'saxes';

export const DAV_NS = 'DAV:';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

const MAX_DEPTH = 64;
const MAX_ELEMENTS = 10_000;

export interface XmlName { ns: string; local: string }
/** Namespace declarations (xmlns, xmlns:p) are not listed: they are bindings, not attributes. */
export interface XmlAttribute { ns: string; local: string; prefix: string; value: string }
export interface XmlElement { ns: string; local: string; prefix: string; attrs: XmlAttribute[]; children: XmlNode[] }
export type XmlNode = XmlElement | string;

export class XmlBodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XmlBodyError';
  }
}

function decodeUtf8(body: Buffer): string {
  // fatal: a UTF-16 or Latin-1 body is refused here instead of being misread.
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new XmlBodyError('request body is not valid UTF-8');
  }
}

function appendText(el: XmlElement, text: string): void {
  const last = el.children.length - 1;
  const prev = el.children[last];
  if (typeof prev === 'string') el.children[last] = prev + text;
  else el.children.push(text);
}

/**
 * Parses a whole request body into an element tree. Refuses anything a
 * hostile or confused client could use to make the server misbehave (DTDs,
 * entity expansion, deep nesting, huge element counts, other encodings).
 */
export function parseXml(body: Buffer): XmlElement {
  const source = decodeUtf8(body);
  const parser = new SaxesParser<{ xmlns: true }>({ xmlns: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  let count = 0;

  parser.on('xmldecl', (decl) => {
    if (decl.version !== undefined && decl.version !== '1.0') {
      throw new XmlBodyError('only XML 1.0 is accepted');
    }
    if (decl.encoding !== undefined && !/^utf-?8$/i.test(decl.encoding)) {
      throw new XmlBodyError('only UTF-8 request bodies are accepted');
    }
  });
  // The DTD is refused outright, so no entity beyond the five predefined ones can exist.
  parser.on('doctype', () => {
    throw new XmlBodyError('DOCTYPE is not allowed in request bodies');
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    count += 1;
    if (count > MAX_ELEMENTS) throw new XmlBodyError('too many XML elements');
    if (stack.length >= MAX_DEPTH) throw new XmlBodyError('XML nesting too deep');
    const attrs: XmlAttribute[] = [];
    for (const a of Object.values(tag.attributes)) {
      if (a.uri === XMLNS_NS) continue;
      attrs.push({ ns: a.uri, local: a.local, prefix: a.prefix, value: a.value });
    }
    const el: XmlElement = { ns: tag.uri, local: tag.local, prefix: tag.prefix, attrs, children: [] };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else root = el;
    stack.push(el);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  const onText = (text: string): void => {
    const current = stack[stack.length - 1];
    // saxes itself rejects non-whitespace outside the root; whitespace there is meaningless.
    if (current) appendText(current, text);
  };
  parser.on('text', onText);
  parser.on('cdata', onText);

  try {
    parser.write(source).close();
  } catch (err) {
    if (err instanceof XmlBodyError) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    throw new XmlBodyError(`malformed XML: ${detail}`);
  }
  if (root === null) throw new XmlBodyError('XML body has no root element');
  return root;
}

function isBlank(body: Buffer): boolean {
  for (const byte of body) {
    if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return false;
  }
  return true;
}

function elementChildren(el: XmlElement): XmlElement[] {
  return el.children.filter((c): c is XmlElement => typeof c !== 'string');
}

function isDav(el: XmlElement, local: string): boolean {
  return el.ns === DAV_NS && el.local === local;
}

function davChildren(el: XmlElement, local: string): XmlElement[] {
  return elementChildren(el).filter((c) => isDav(c, local));
}

function expectRoot(root: XmlElement, local: string): void {
  if (!isDav(root, local)) throw new XmlBodyError(`expected a DAV:${local} root element`);
}

function uniqueNames(elements: readonly XmlElement[]): XmlName[] {
  const seen = new Set<string>();
  const names: XmlName[] = [];
  for (const el of elements) {
    const key = `{${el.ns}}${el.local}`;
    if (seen.has(key)) continue;
    seen.add(key);
    names.push({ ns: el.ns, local: el.local });
  }
  return names;
}

export type PropfindRequest =
  | { kind: 'allprop'; include: XmlName[] }
  | { kind: 'propname' }
  | { kind: 'prop'; props: XmlName[] };

/** Unknown elements inside DAV:propfind are ignored (RFC 4918 section 17; litmus propextended). */
export function parsePropfind(body: Buffer): PropfindRequest {
  if (isBlank(body)) return { kind: 'allprop', include: [] };
  const root = parseXml(body);
  expectRoot(root, 'propfind');
  let request: PropfindRequest | null = null;
  let include: XmlName[] | null = null;
  for (const child of elementChildren(root)) {
    if (child.ns !== DAV_NS) continue;
    let next: PropfindRequest | null = null;
    if (child.local === 'allprop') next = { kind: 'allprop', include: [] };
    else if (child.local === 'propname') next = { kind: 'propname' };
    else if (child.local === 'prop') next = { kind: 'prop', props: uniqueNames(elementChildren(child)) };
    else if (child.local === 'include') {
      if (include !== null) throw new XmlBodyError('DAV:include given twice');
      include = uniqueNames(elementChildren(child));
    }
    if (next !== null) {
      if (request !== null) throw new XmlBodyError('DAV:propfind must hold exactly one of allprop, propname, prop');
      request = next;
    }
  }
  if (request === null) throw new XmlBodyError('DAV:propfind must hold allprop, propname or prop');
  if (include !== null) {
    if (request.kind !== 'allprop') throw new XmlBodyError('DAV:include is only allowed with DAV:allprop');
    request.include = include;
  }
  return request;
}

export interface DeadProperty { ns: string; local: string; valueXml: string; lang?: string }
export type PropPatchOp = { op: 'set'; prop: DeadProperty } | { op: 'remove'; name: XmlName };

/** xml:lang is inherited, so the language of a property is the nearest one in scope; '' means none. */
function langIn(el: XmlElement, inherited: string | undefined): string | undefined {
  const attr = el.attrs.find((a) => a.ns === XML_NS && a.local === 'lang');
  if (!attr) return inherited;
  return attr.value === '' ? undefined : attr.value;
}

export function parseProppatch(body: Buffer): PropPatchOp[] {
  if (isBlank(body)) throw new XmlBodyError('PROPPATCH needs a DAV:propertyupdate body');
  const root = parseXml(body);
  expectRoot(root, 'propertyupdate');
  const rootLang = langIn(root, undefined);
  const ops: PropPatchOp[] = [];
  for (const action of elementChildren(root)) {
    if (action.ns !== DAV_NS || (action.local !== 'set' && action.local !== 'remove')) continue;
    const actionLang = langIn(action, rootLang);
    const propElements = davChildren(action, 'prop');
    if (propElements.length === 0) throw new XmlBodyError(`DAV:${action.local} without DAV:prop`);
    for (const prop of propElements) {
      const propLang = langIn(prop, actionLang);
      for (const p of elementChildren(prop)) {
        if (action.local === 'remove') {
          ops.push({ op: 'remove', name: { ns: p.ns, local: p.local } });
          continue;
        }
        const dead: DeadProperty = { ns: p.ns, local: p.local, valueXml: serializeChildren(p.children) };
        const lang = langIn(p, propLang);
        if (lang !== undefined) dead.lang = lang;
        ops.push({ op: 'set', prop: dead });
      }
    }
  }
  if (ops.length === 0) throw new XmlBodyError('DAV:propertyupdate names no property');
  return ops;
}

export interface LockRequest { scope: 'exclusive' | 'shared'; ownerXml: string | null }

function single(parent: XmlElement, local: string, required: boolean): XmlElement | null {
  const found = davChildren(parent, local);
  if (found.length > 1) throw new XmlBodyError(`DAV:${local} given more than once`);
  const first = found[0];
  if (!first) {
    if (required) throw new XmlBodyError(`DAV:lockinfo lacks DAV:${local}`);
    return null;
  }
  return first;
}

/** An empty body is a lock refresh and yields null. */
export function parseLockinfo(body: Buffer): LockRequest | null {
  if (isBlank(body)) return null;
  const root = parseXml(body);
  expectRoot(root, 'lockinfo');

  const scopeEl = single(root, 'lockscope', true);
  const scopes = scopeEl ? elementChildren(scopeEl) : [];
  const scopeChild = scopes[0];
  if (scopes.length !== 1 || !scopeChild || scopeChild.ns !== DAV_NS) {
    throw new XmlBodyError('DAV:lockscope must hold DAV:exclusive or DAV:shared');
  }
  let scope: LockRequest['scope'];
  if (scopeChild.local === 'exclusive') scope = 'exclusive';
  else if (scopeChild.local === 'shared') scope = 'shared';
  else throw new XmlBodyError('DAV:lockscope must hold DAV:exclusive or DAV:shared');

  const typeEl = single(root, 'locktype', true);
  const types = typeEl ? elementChildren(typeEl) : [];
  const typeChild = types[0];
  if (types.length !== 1 || !typeChild || !isDav(typeChild, 'write')) {
    throw new XmlBodyError('only DAV:write locks are supported');
  }

  const owner = single(root, 'owner', false);
  return { scope, ownerXml: owner ? serializeChildren(owner.children) : null };
}

/** Any body at all, even whitespace, is an entity MKCOL does not understand (415). */
export function isMkcolBodyEmpty(body: Buffer): boolean {
  return body.length === 0;
}

// Characters XML 1.0 cannot carry at all, not even as references; lone surrogates included.
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDFFF]/gu;

/**
 * Escapes for element text and for attribute values. \r is escaped because a
 * parser would turn a literal one into \n. Characters XML cannot represent
 * become U+FFFD so the document stays well-formed. In attribute values a
 * literal tab or newline would be normalised to a space: use
 * xmlEscapeAttribute when those must survive.
 */
export function xmlEscape(text: string): string {
  return text.replace(NOT_XML_CHAR, '\uFFFD').replace(/[&<>"'\r]/g, (c) => {
    switch (c) {
      case '&': return '&amp;';
      case '<': return '&lt;';
      case '>': return '&gt;';
      case '"': return '&quot;';
      case "'": return '&apos;';
      default: return '&#13;';
    }
  });
}

export function xmlEscapeAttribute(value: string): string {
  return xmlEscape(value).replace(/[\t\n]/g, (c) => (c === '\t' ? '&#9;' : '&#10;'));
}

interface FragmentScope {
  /** Namespaces already declared by an ancestor inside the fragment. */
  declared: ReadonlySet<string>;
  /** Whether an ancestor inside the fragment already reset the default namespace. */
  defaultReset: boolean;
}

/**
 * Serialises nodes as a fragment that means the same wherever it is pasted:
 * every element declares the namespaces it needs, and no-namespace elements
 * reset the default namespace, so nothing depends on the surrounding document.
 * Prefixes are assigned in document order, so equal trees give equal strings.
 * Limitation: prefixes used inside text or attribute values (QNames in content)
 * are not preserved, since only namespaces of element and attribute names are known.
 */
export function serializeChildren(nodes: readonly XmlNode[]): string {
  const prefixes = new Map<string, string>();
  const prefixFor = (ns: string): string => {
    if (ns === XML_NS) return 'xml';
    let p = prefixes.get(ns);
    if (p === undefined) {
      p = `ns${prefixes.size}`;
      prefixes.set(ns, p);
    }
    return p;
  };
  const out: string[] = [];

  const writeNodes = (list: readonly XmlNode[], scope: FragmentScope): void => {
    for (const node of list) {
      if (typeof node === 'string') out.push(xmlEscape(node));
      else writeElement(node, scope);
    }
  };

  const writeElement = (el: XmlElement, scope: FragmentScope): void => {
    let declared = scope.declared;
    let defaultReset = scope.defaultReset;
    const parts: string[] = [];
    const qualify = (ns: string, local: string): string => {
      const p = prefixFor(ns);
      if (ns !== XML_NS && !declared.has(ns)) {
        parts.push(` xmlns:${p}="${xmlEscapeAttribute(ns)}"`);
        const next = new Set(declared);
        next.add(ns);
        declared = next;
      }
      return `${p}:${local}`;
    };

    let name: string;
    if (el.ns === '') {
      name = el.local;
      if (!defaultReset) {
        parts.push(' xmlns=""');
        defaultReset = true;
      }
    } else {
      name = qualify(el.ns, el.local);
    }
    const attrParts: string[] = [];
    for (const a of el.attrs) {
      const attrName = a.ns === '' ? a.local : qualify(a.ns, a.local);
      attrParts.push(` ${attrName}="${xmlEscapeAttribute(a.value)}"`);
    }
    const open = `<${name}${parts.join('')}${attrParts.join('')}`;
    if (el.children.length === 0) {
      out.push(`${open}/>`);
      return;
    }
    out.push(`${open}>`);
    writeNodes(el.children, { declared, defaultReset });
    out.push(`</${name}>`);
  };

  writeNodes(nodes, { declared: new Set(), defaultReset: false });
  return out.join('');
}

export interface PropValue { name: XmlName; valueXml?: string; lang?: string }
export interface PropStat { status: number; props: PropValue[]; description?: string }
export interface MultistatusEntry { href: string; propstats?: PropStat[]; status?: number; error?: string }

const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  207: 'Multi-Status',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  423: 'Locked',
  424: 'Failed Dependency',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  507: 'Insufficient Storage',
};

export function statusLine(code: number): string {
  return `HTTP/1.1 ${code} ${REASONS[code] ?? 'Unknown'}`;
}

/**
 * One property element. DAV: properties use the D prefix, which the enclosing
 * document must bind (renderMultistatus does; LOCK answers must too). Other
 * namespaces are declared on the element itself; a caller-supplied valueXml
 * that redeclares the same prefix simply shadows it.
 */
export function renderProp(p: PropValue): string {
  const { ns, local } = p.name;
  let name: string;
  let decl = '';
  if (ns === DAV_NS) name = `D:${local}`;
  else if (ns === '') {
    name = local;
    decl = ' xmlns=""';
  } else if (ns === XML_NS) name = `xml:${local}`;
  else {
    name = `P:${local}`;
    decl = ` xmlns:P="${xmlEscapeAttribute(ns)}"`;
  }
  const lang = p.lang !== undefined ? ` xml:lang="${xmlEscapeAttribute(p.lang)}"` : '';
  const value = p.valueXml ?? '';
  if (value === '') return `<${name}${decl}${lang}/>`;
  return `<${name}${decl}${lang}>${value}</${name}>`;
}

function renderPropstat(ps: PropStat): string {
  const description = ps.description !== undefined
    ? `<D:responsedescription>${xmlEscape(ps.description)}</D:responsedescription>`
    : '';
  return `<D:propstat><D:prop>${ps.props.map(renderProp).join('')}</D:prop>`
    + `<D:status>${statusLine(ps.status)}</D:status>${description}</D:propstat>`;
}

/**
 * Each entry needs either non-empty propstats or a status (RFC 4918
 * section 14.24 allows one form per response); anything else is a caller bug
 * and throws a plain Error.
 */
export const MULTISTATUS_OPEN = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n';
export const MULTISTATUS_CLOSE = '</D:multistatus>\n';

/** One <D:response>, for answers streamed entry by entry (PROPFIND Depth 1). */
export function renderMultistatusEntry(entry: MultistatusEntry): string {
  const hasPropstats = entry.propstats !== undefined && entry.propstats.length > 0;
  if (hasPropstats === (entry.status !== undefined)) {
    throw new Error('multistatus entry needs exactly one of propstats or status');
  }
  let body = `<D:href>${xmlEscape(entry.href)}</D:href>`;
  if (entry.propstats !== undefined && hasPropstats) body += entry.propstats.map(renderPropstat).join('');
  else if (entry.status !== undefined) body += `<D:status>${statusLine(entry.status)}</D:status>`;
  if (entry.error !== undefined) body += `<D:error>${entry.error}</D:error>`;
  return `<D:response>${body}</D:response>\n`;
}

export function renderMultistatus(entries: MultistatusEntry[]): string {
  return MULTISTATUS_OPEN + entries.map(renderMultistatusEntry).join('') + MULTISTATUS_CLOSE;
}

/** condition is a DAV: precondition name such as 'lock-token-submitted'. */
export function renderErrorBody(condition: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9._-]*$/.test(condition)) throw new Error(`invalid DAV condition name: ${condition}`);
  return `<D:error xmlns:D="DAV:"><D:${condition}/></D:error>`;
}
