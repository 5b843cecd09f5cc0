// What the admin CLI can ask of a repository: manage masters, tokens and the mirror, run retention.
// One function for both ways in: over the admin socket of a running server, or directly
// by the CLI when no server runs. Requests and answers are plain JSON values.
import type { Services } from '../services/services.js';
import { masterNameProblem } from '../domain/token-rules.js';
import { parseDeclaration } from '../services/mirror.js';

export interface AdminRequest {
  method: string;
  /** "/masters", "/masters/NAME", "/tokens", "/tokens/ID", "/mirror", "/mirror/ID", "/retention?dry_run=1", "/signing-key", "/signing-key/rotate", "/status" */
  path: string;
  body?: unknown;
}

export interface AdminResponse {
  status: number;
  body: unknown;
}

const ADMIN = 'admin-cli';

function fail(status: number, error: string): AdminResponse {
  return { status, body: { error } };
}

export async function handleAdmin(repo: Services, request: AdminRequest, role: 'server' | 'cli'): Promise<AdminResponse> {
  const url = new URL(request.path, 'http://admin');
  let parts: string[];
  try {
    parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return fail(400, 'malformed percent-encoding in the path');
  }
  const [collection, item, extra] = parts;
  if (extra !== undefined) return fail(404, 'no such admin path');
  const { tokens } = repo;
  switch (`${request.method} ${collection ?? ''}${item === undefined ? '' : ' :item'}`) {
    case 'GET status':
      return { status: 200, body: { pid: process.pid, role } };
    case 'GET masters':
      return { status: 200, body: await tokens.listMasters() };
    case 'POST masters': {
      const name = (request.body as { name?: unknown } | undefined)?.name;
      if (typeof name !== 'string') return fail(400, 'a master name is required');
      const problem = masterNameProblem(name);
      if (problem) return fail(400, problem);
      const added = await tokens.addMaster(name, ADMIN);
      if (!added.ok) return fail(409, `master ${name} already exists`);
      return { status: 201, body: { name, password: added.password } };
    }
    case 'DELETE masters :item': {
      const result = await tokens.removeMaster(item ?? '', ADMIN);
      if (result === 'unknown') return fail(404, `no master ${item}`);
      if (result === 'last') return fail(409, `${item} is the last master: add another first, or no one could mint tokens`);
      return { status: 200, body: { removed: item } };
    }
    case 'GET tokens':
      return { status: 200, body: await tokens.listLive() };
    case 'DELETE tokens :item': {
      const result = await tokens.revoke(item ?? '', ADMIN);
      if (result === 'unknown') return fail(404, `no token ${item}`);
      return { status: 200, body: { token: item, result } };
    }
    case 'GET mirror':
      return { status: 200, body: repo.mirror.list() };
    case 'POST mirror': {
      const declaration = parseDeclaration(request.body);
      if ('error' in declaration) return fail(400, declaration.error);
      const { entry, created } = await repo.mirror.declare(declaration, ADMIN);
      return { status: created ? 202 : 200, body: entry };
    }
    case 'DELETE mirror :item': {
      if (!(await repo.mirror.remove(item ?? '', ADMIN))) return fail(404, `no mirror entry ${item}`);
      await repo.sweepContent();
      return { status: 200, body: { removed: item } };
    }
    case 'GET signing-key':
      return { status: 200, body: (await repo.signer.publicKeys()).map((k) => ({ fingerprint: k.fingerprint, createdAt: k.createdAt, retiredAt: k.retiredAt })) };
    case 'POST signing-key :item': {
      if (item !== 'rotate') return fail(404, `no admin operation ${request.method} ${url.pathname}`);
      const rotated = await repo.signer.rotate();
      // The projects' apt indexes are signed again with the new key at once (a sealed
      // build's own index keeps the key that signed it: signing-keys.asc holds both).
      const failed: string[] = [];
      await repo.packages.refreshAll((project) => failed.push(project));
      return { status: 200, body: { ...rotated, ...(failed.length > 0 ? { aptIndexesNotResigned: failed } : {}) } };
    }
    case 'POST retention': {
      if (!repo.retention.policy) return fail(409, 'no retention policy is configured (set RETENTION_POLICY)');
      const dryRun = url.searchParams.get('dry_run') === '1';
      return { status: 200, body: await repo.retention.run({ dryRun, by: ADMIN }) };
    }
    default:
      return fail(404, `no admin operation ${request.method} ${url.pathname}`);
  }
}
