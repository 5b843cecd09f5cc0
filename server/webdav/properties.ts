// Live properties computed from the file system and locks, and which DAV: names are
// protected from PROPPATCH.
import { etagOf } from '../http/conditional.js';
import { contentTypeOf } from '../http/content-types.js';
import { toHref } from '../domain/tree-path.js';
import type { LockView } from '../services/lock-manager.js';
import { DAV_NS, xmlEscape, type PropValue, type XmlName } from './xml.js';
import type { Lock, TreeStats } from '../domain/stores.js';

export const LIVE_PROPERTIES = ['resourcetype', 'getcontentlength', 'getcontenttype', 'getetag', 'getlastmodified', 'creationdate', 'supportedlock', 'lockdiscovery'] as const;
const LIVE_SET = new Set<string>(LIVE_PROPERTIES);

export function isProtected(name: XmlName): boolean {
  return name.ns === DAV_NS && LIVE_SET.has(name.local);
}

/**
 * A lock as lockdiscovery shows it on a resource it covers from an ancestor: what kind of
 * lock and where its root is, without its owner, timeout or token (all optional in RFC
 * 4918 14.1), so that a few locks on a big folder do not multiply every PROPFIND of it.
 * The full form is on the lock's root.
 */
export function renderInheritedLock(lock: Lock): string {
  return (
    `<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:${lock.scope}/></D:lockscope><D:depth>infinity</D:depth>` +
    `<D:lockroot><D:href>${xmlEscape(toHref(lock.root, lock.rootIsCollection))}</D:href></D:lockroot></D:activelock>`
  );
}

export function renderActiveLock(lock: Lock, secondsLeft: number): string {
  const owner = lock.ownerXml ? `<D:owner>${lock.ownerXml}</D:owner>` : '';
  return (
    `<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:${lock.scope}/></D:lockscope>` +
    `<D:depth>${lock.depth === '0' ? '0' : 'infinity'}</D:depth>${owner}<D:timeout>Second-${secondsLeft}</D:timeout>` +
    `<D:locktoken><D:href>${xmlEscape(lock.token)}</D:href></D:locktoken>` +
    `<D:lockroot><D:href>${xmlEscape(toHref(lock.root, lock.rootIsCollection))}</D:href></D:lockroot></D:activelock>`
  );
}

const SUPPORTED_LOCK =
  '<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>' +
  '<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>';

/** The value of one live property, or undefined when this resource does not have it. */
export function liveProperty(local: string, segments: readonly string[], stats: TreeStats, locks: LockView, secondsLeft: (lock: Lock) => number): string | undefined {
  const collection = stats.isDirectory();
  switch (local) {
    case 'resourcetype':
      return collection ? '<D:collection/>' : '';
    case 'getcontentlength':
      return collection ? undefined : String(stats.size);
    case 'getcontenttype':
      return collection ? undefined : xmlEscape(contentTypeOf(segments[segments.length - 1] ?? ''));
    case 'getetag':
      return collection ? undefined : xmlEscape(etagOf(stats));
    case 'getlastmodified':
      return stats.mtime.toUTCString();
    case 'creationdate':
      // Whole seconds, as Apache writes it: neon (davfs2, cadaver) rejects fractions.
      return (stats.birthtimeMs > 0 ? stats.birthtime : stats.ctime).toISOString().replace(/\.\d{3}Z$/, 'Z');
    case 'supportedlock':
      return SUPPORTED_LOCK;
    case 'lockdiscovery':
      return locks
        .covering(segments)
        .map((l) => (l.root.length === segments.length ? renderActiveLock(l, secondsLeft(l)) : renderInheritedLock(l)))
        .join('');
    default:
      return undefined;
  }
}

export function davName(local: string): XmlName {
  return { ns: DAV_NS, local };
}

export function livePropertyValues(segments: readonly string[], stats: TreeStats, locks: LockView, secondsLeft: (lock: Lock) => number): PropValue[] {
  const values: PropValue[] = [];
  for (const local of LIVE_PROPERTIES) {
    const valueXml = liveProperty(local, segments, stats, locks, secondsLeft);
    if (valueXml !== undefined) values.push({ name: davName(local), valueXml });
  }
  return values;
}
