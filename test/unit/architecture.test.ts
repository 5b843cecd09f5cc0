// The layer order (.dependency-cruiser.cjs, docs/design.md) is checked before every test
// run (npm run lint:architecture). This shows the check fails when it should: on a copy of
// the code with an import against the order, a cycle, an edge importing another, the two
// store sets crossing and a folder in no layer, each is reported and the check exits
// non-zero; the code as it is passes.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { appendFile, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../helpers/harness.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

interface Verdict {
  exitCode: number;
  violations: { rule: string; from: string; to: string }[];
}

/** Runs the check exactly as `npm test` does (package.json's lint:architecture), in `dir`. */
async function check(dir: string): Promise<Verdict> {
  const scripts = (JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const [command, ...args] = (scripts['lint:architecture'] ?? '').split(' ');
  expect(command).to.equal('depcruise');
  const config = args.indexOf('--config') + 1;
  args[config] = path.join(ROOT, args[config] as string);
  const { stdout, code } = await promisify(execFile)(path.join(ROOT, 'node_modules', '.bin', 'depcruise'), args, { cwd: dir, maxBuffer: 64 * 1024 * 1024 }).then(
    (r) => ({ stdout: r.stdout, code: 0 }),
    (err: { stdout: string; code: number }) => ({ stdout: err.stdout, code: err.code }),
  );
  // "  error RULE: FROM → TO" (a cycle goes on over the next lines).
  const violations = [...stdout.matchAll(/^\s*error ([\w/-]+): (\S+) →\s*(\S*)/gm)].map((m) => ({ rule: m[1] as string, from: m[2] as string, to: m[3] as string }));
  return { exitCode: code, violations };
}

describe('architecture check (dependency-cruiser)', function () {
  this.timeout(120_000);
  let dir: string;

  before(async () => {
    dir = await makeTempDir('layers-');
    for (const folder of ['server', 'token-service', 'cli']) await cp(path.join(ROOT, folder), path.join(dir, folder), { recursive: true });
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes on the code as it is', async () => {
    const verdict = await check(ROOT);
    expect(verdict.violations).to.deep.equal([]);
    expect(verdict.exitCode).to.equal(0);
  });

  it('fails on an import against the order, a cycle, one edge importing another, the store sets crossing and a module in no layer', async () => {
    const add = (file: string, line: string): Promise<void> => appendFile(path.join(dir, file), `\n${line}\n`);
    // Storage reaching up to an edge's helper.
    await add('server/storage/artifact-store.ts', "import type { HttpError } from '../http/errors.js';\nexport type Upward = HttpError;");
    // Two pure modules importing each other.
    await add('server/domain/checksum.ts', "import { toHref } from './tree-path.js';\nexport const loop = toHref;");
    await add('server/domain/tree-path.ts', "import { SHA256_HEX_RE } from './checksum.js';\nexport const loopBack = SHA256_HEX_RE;");
    // The PostgreSQL stores using one of the volume's.
    await add('server/storage/pg/build-guard.ts', "import type { LocalBuildGuard } from '../build-guard.js';\nexport type Crossing = LocalBuildGuard;");
    // One edge using another's module.
    await add('server/api/describe.ts', "import { sendListing } from '../webdav/listing.js';\nexport const across = sendListing;");
    // A new folder nobody placed in the order.
    await mkdir(path.join(dir, 'server/elsewhere'));
    await writeFile(path.join(dir, 'server/elsewhere/thing.ts'), "import { Failure } from '../domain/errors.js';\nexport const thing = Failure;\n");
    await add('server/webdav/depth.ts', "import { thing } from '../elsewhere/thing.js';\nexport const placed = thing;");

    const verdict = await check(dir);
    expect(verdict.exitCode).to.not.equal(0);
    const found = (rule: string, from: string, to: string): boolean => verdict.violations.some((v) => v.rule === rule && v.from === from && v.to === to);
    expect(found('layer-storage', 'server/storage/artifact-store.ts', 'server/http/errors.ts'), JSON.stringify(verdict.violations)).to.equal(true);
    expect(verdict.violations.some((v) => v.rule === 'no-circular' && v.from === 'server/domain/checksum.ts')).to.equal(true);
    expect(found('store-sets-apart', 'server/storage/pg/build-guard.ts', 'server/storage/build-guard.ts')).to.equal(true);
    expect(found('edges-apart', 'server/api/describe.ts', 'server/webdav/listing.ts')).to.equal(true);
    expect(found('unplaced-module', 'server/elsewhere/thing.ts', 'server/domain/errors.ts')).to.equal(true);
    expect(found('unplaced-dependency', 'server/webdav/depth.ts', 'server/elsewhere/thing.ts')).to.equal(true);
  });
});
