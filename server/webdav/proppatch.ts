// PROPPATCH (RFC 4918 section 9.2): all instructions succeed or none is applied.
import { toHref } from '../domain/tree-path.js';
import type { TreeRequest } from './context.js';
import { HttpError } from '../http/errors.js';
import { readSmallBody } from '../http/request-body.js';
import { MAX_PROPERTIES, propertiesProblem } from '../domain/record-rules.js';
import { type StoredProperty } from '../domain/stores.js';
import { guardWrite } from './preconditions.js';
import { isProtected } from './properties.js';
import { parseProppatch, renderMultistatus, XmlBodyError, type PropPatchOp, type PropValue } from './xml.js';

function nameOf(op: PropPatchOp): { ns: string; local: string } {
  return op.op === 'set' ? { ns: op.prop.ns, local: op.prop.local } : op.name;
}

const keyOf = (name: { ns: string; local: string }): string => `{${name.ns}}${name.local}`;

// More instructions than a resource may hold properties, twice over, is not a client's doing.
const MAX_INSTRUCTIONS = 2 * MAX_PROPERTIES;

export async function proppatch(request: TreeRequest): Promise<void> {
  const { req, res, target, services } = request;
  const body = await readSmallBody(req, res, services.config.maxXmlBodyBytes);
  let ops: PropPatchOp[];
  try {
    ops = parseProppatch(body);
  } catch (err) {
    if (err instanceof XmlBodyError) throw new HttpError(400, `bad PROPPATCH body: ${err.message}`);
    throw err;
  }
  if (ops.length > MAX_INSTRUCTIONS) throw new HttpError(400, `a PROPPATCH may hold at most ${MAX_INSTRUCTIONS} instructions`);
  const stats = await services.store.stat(target.segments);
  if (!stats) throw new HttpError(404, 'not found');
  await guardWrite(request, target.segments);
  const refused = ops.filter((op) => isProtected(nameOf(op)));
  const names: PropValue[] = ops.map((op) => ({ name: nameOf(op) }));
  let propstats;
  if (refused.length > 0) {
    const refusedKeys = new Set(refused.map((op) => keyOf(nameOf(op))));
    const others = names.filter((n) => !refusedKeys.has(keyOf(n.name)));
    propstats = [{ status: 403, props: refused.map((op) => ({ name: nameOf(op) })), description: 'protected property' }];
    if (others.length) propstats.push({ status: 424, props: others, description: 'not applied: another instruction failed' });
  } else {
    // Applied in order to a map: one pass, whatever the number of properties.
    const props = new Map<string, StoredProperty>((await services.meta.properties(target.segments)).map((p) => [keyOf(p), p]));
    for (const op of ops) {
      if (op.op === 'set') props.set(keyOf(op.prop), op.prop);
      else props.delete(keyOf(op.name));
    }
    const next = [...props.values()];
    const problem = propertiesProblem(next);
    if (problem) {
      // RFC 4918 9.2.1: 507 for what cannot be stored; nothing is applied.
      const sets = names.filter((_, i) => ops[i]?.op === 'set');
      const rest = names.filter((_, i) => ops[i]?.op !== 'set');
      propstats = [{ status: 507, props: sets, description: problem }];
      if (rest.length) propstats.push({ status: 424, props: rest, description: 'not applied: another instruction failed' });
    } else {
      // Only the properties: a file's checksum and a build's state and pin are kept apart.
      await services.meta.setProperties(target.segments, next);
      propstats = [{ status: 200, props: names }];
    }
  }
  const xml = renderMultistatus([{ href: toHref(target.segments, stats.isDirectory()), propstats }]);
  res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(xml) });
  res.end(xml);
}
