/**
 * RFC 4918 section 10.4 If header:
 *   If = ( 1*No-tag-list | 1*Tagged-list )
 *   Tagged-list = Resource-Tag 1*List      No-tag-list = List
 *   List = "(" 1*Condition ")"             Condition = ["Not"] (Coded-URL | "[" entity-tag "]")
 * Linear whitespace is allowed between any two of these tokens.
 */

export interface IfCondition { not: boolean; kind: 'token' | 'etag'; value: string }
export interface IfList { resource: string | null; conditions: IfCondition[] }

export class IfHeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IfHeaderError';
  }
}

const MAX_LENGTH = 8192;
export const NO_LOCK_TOKEN = 'DAV:no-lock';

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text.charAt(this.pos);
  }

  skipLws(): void {
    const t = this.text;
    for (;;) {
      const c = t.charAt(this.pos);
      if (c === ' ' || c === '\t') this.pos += 1;
      // obs-fold: CRLF only counts as whitespace when followed by SP or HT.
      else if (c === '\r' && t.charAt(this.pos + 1) === '\n' && /[ \t]/.test(t.charAt(this.pos + 2))) this.pos += 3;
      else return;
    }
  }

  fail(what: string): never {
    throw new IfHeaderError(`malformed If header: ${what} at offset ${this.pos}`);
  }

  /** Reads "<" URI ">"; the URI may hold no whitespace, '<' or control characters. */
  codedUrl(): string {
    if (this.peek() !== '<') this.fail("expected '<'");
    const start = this.pos + 1;
    let i = start;
    for (; i < this.text.length; i += 1) {
      const code = this.text.charCodeAt(i);
      if (code === 0x3e) break;
      if (code <= 0x20 || code === 0x7f || code === 0x3c) {
        this.pos = i;
        this.fail("invalid character in '<...>'");
      }
    }
    if (i >= this.text.length) this.fail("missing '>'");
    if (i === start) this.fail("empty '<>'");
    this.pos = i + 1;
    return this.text.slice(start, i);
  }

  /**
   * Reads "[" [W/] quoted-string "]" and returns the entity-tag as written,
   * quotes included. RFC 4918 takes entity-tag from RFC 2616, whose
   * quoted-string allows spaces (its own examples use them) and quoted-pairs.
   */
  entityTag(): string {
    this.pos += 1;
    this.skipLws();
    const start = this.pos;
    if (this.text.startsWith('W/', this.pos)) this.pos += 2;
    if (this.peek() !== '"') this.fail('entity-tag must be a quoted string');
    let i = this.pos + 1;
    for (; i < this.text.length; i += 1) {
      const code = this.text.charCodeAt(i);
      if (code === 0x22) break;
      if (code === 0x5c) {
        i += 1;
        if (i >= this.text.length) break;
        continue;
      }
      if ((code < 0x20 && code !== 0x09) || code === 0x7f) {
        this.pos = i;
        this.fail('control character in entity-tag');
      }
    }
    if (i >= this.text.length) this.fail('unterminated entity-tag');
    const tag = this.text.slice(start, i + 1);
    this.pos = i + 1;
    this.skipLws();
    if (this.peek() !== ']') this.fail("expected ']'");
    this.pos += 1;
    return tag;
  }

  list(resource: string | null): IfList {
    this.pos += 1;
    const conditions: IfCondition[] = [];
    for (;;) {
      this.skipLws();
      const c = this.peek();
      if (c === ')') {
        if (conditions.length === 0) this.fail('empty list');
        this.pos += 1;
        return { resource, conditions };
      }
      let not = false;
      if (this.text.slice(this.pos, this.pos + 3).toLowerCase() === 'not') {
        not = true;
        this.pos += 3;
        this.skipLws();
      }
      const next = this.peek();
      if (next === '<') conditions.push({ not, kind: 'token', value: this.codedUrl() });
      else if (next === '[') conditions.push({ not, kind: 'etag', value: this.entityTag() });
      else if (this.done) this.fail("missing ')'");
      else this.fail('expected a state token or entity-tag');
    }
  }
}

/** Parses an If header value; any deviation from the grammar throws IfHeaderError. */
export function parseIfHeader(value: string): IfList[] {
  if (value.length > MAX_LENGTH) throw new IfHeaderError('If header too long');
  const s = new Scanner(value);
  const lists: IfList[] = [];
  let tagged: boolean | null = null;
  let resource: string | null = null;
  // A resource tag must be followed by at least one list before the next tag.
  let tagPending = false;
  for (;;) {
    s.skipLws();
    if (s.done) break;
    const c = s.peek();
    if (c === '<') {
      if (tagged === false) s.fail('tagged and untagged lists mixed');
      if (tagPending) s.fail('resource tag without a list');
      tagged = true;
      resource = s.codedUrl();
      tagPending = true;
    } else if (c === '(') {
      if (tagged === null) tagged = false;
      lists.push(s.list(tagged ? resource : null));
      tagPending = false;
    } else {
      s.fail('unexpected character');
    }
  }
  if (tagPending) s.fail('resource tag without a list');
  if (lists.length === 0) throw new IfHeaderError('malformed If header: no list');
  return lists;
}

/** Distinct resources the lists apply to, in order of appearance; null stands for the request URI. */
export function taggedResources(lists: IfList[]): (string | null)[] {
  const seen: (string | null)[] = [];
  for (const list of lists) {
    if (!seen.includes(list.resource)) seen.push(list.resource);
  }
  return seen;
}

export interface IfResourceState { etag: string | null; lockTokens: string[] }

/**
 * Entity-tags are compared strongly (RFC 9110 8.8.3.2): both must be strong
 * and byte-identical, so a W/ tag on either side never matches. The server
 * therefore has to hand out strong ETags for If-header etags to be usable.
 */
function etagMatches(condition: string, current: string | null): boolean {
  if (current === null) return false;
  if (condition.startsWith('W/') || current.startsWith('W/')) return false;
  return condition === current;
}

function conditionHolds(c: IfCondition, state: IfResourceState): boolean {
  const holds = c.kind === 'token'
    ? c.value !== NO_LOCK_TOKEN && state.lockTokens.includes(c.value)
    : etagMatches(c.value, state.etag);
  return c.not ? !holds : holds;
}

/**
 * True when any list holds; a list holds when all its conditions do.
 * stateOf is asked about each list's resource (null: the request URI) and
 * is called at most once per distinct resource. [] evaluates to false.
 */
export function evaluateIf(lists: IfList[], stateOf: (resource: string | null) => IfResourceState): boolean {
  const cache = new Map<string | null, IfResourceState>();
  const lookup = (resource: string | null): IfResourceState => {
    let state = cache.get(resource);
    if (state === undefined) {
      state = stateOf(resource);
      cache.set(resource, state);
    }
    return state;
  };
  return lists.some((list) => {
    const state = lookup(list.resource);
    return list.conditions.every((c) => conditionHolds(c, state));
  });
}

/**
 * Lock tokens the client submits: every token that appears without Not, in
 * any list, whether or not that list evaluates true (a list that fails only
 * on an etag still shows the client knows the token). Negated tokens are not
 * submissions, and DAV:no-lock is left out since it names no lock. Callers
 * that need per-resource submission can filter lists by resource first.
 */
export function submittedLockTokens(lists: IfList[]): string[] {
  const tokens: string[] = [];
  for (const list of lists) {
    for (const c of list.conditions) {
      if (c.kind === 'token' && !c.not && c.value !== NO_LOCK_TOKEN && !tokens.includes(c.value)) {
        tokens.push(c.value);
      }
    }
  }
  return tokens;
}
