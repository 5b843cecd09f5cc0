// PROPPATCH (RFC 4918 section 9.2): all instructions succeed or none is applied.
import { toHref } from '../domain/tree-path.js';
import type { TreeRequest } from '../http/context.js';
import { HttpError } from '../http/errors.js';
import { readSmallBody } from '../http/request-body.js';
import type { StoredProperty } from '../storage/meta-store.js';
import { guardWrite } from './preconditions.js';
import { isProtected } from './properties.js';
import { parseProppatch, renderMultistatus, XmlBodyError, type PropPatchOp, type PropValue } from './xml.js';

function nameOf(op: PropPatchOp): { ns: string; local: string } {
  return op.op === 'set' ? { ns: op.prop.ns, local: op.prop.local } : op.name;
}

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
  const stats = await services.store.stat(target.segments);
  if (!stats) throw new HttpError(404, 'not found');
  await guardWrite(request, target.segments);
  const refused = ops.filter((op) => isProtected(nameOf(op)));
  const names: PropValue[] = ops.map((op) => ({ name: nameOf(op) }));
  let propstats;
  if (refused.length > 0) {
    const refusedNames = refused.map((op) => ({ name: nameOf(op) }));
    const others = names.filter((n) => !refusedNames.some((r) => r.name.ns === n.name.ns && r.name.local === n.name.local));
    propstats = [{ status: 403, props: refusedNames, description: 'protected property' }];
    if (others.length) propstats.push({ status: 424, props: others, description: 'not applied: another instruction failed' });
  } else {
    const meta = await services.meta.read(target.segments);
    let props: StoredProperty[] = meta.props;
    for (const op of ops) {
      const { ns, local } = nameOf(op);
      props = props.filter((p) => !(p.ns === ns && p.local === local));
      if (op.op === 'set') props.push(op.prop);
    }
    await services.meta.write(target.segments, { props });
    propstats = [{ status: 200, props: names }];
  }
  const xml = renderMultistatus([{ href: toHref(target.segments, stats.isDirectory()), propstats }]);
  res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(xml) });
  res.end(xml);
}
