// Before a test run: which Debian packages from .ci/debian-packages (the list .ci/run
// installs) this machine lacks, which tests will skip for want of them (or fail, under
// CI), and the one command that installs them. `node dist/test/preflight.js SCRIPT`, from
// the npm scripts (SCRIPT: test, test:faults, test:docker).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface PackageNeed {
  name: string;
  /** What needs it, in words. */
  purpose: string;
  /** The npm script whose tests need it ("test" unless the purpose says "(npm run X)"). */
  script: string;
}

/** The lines of .ci/debian-packages: `package  what needs it`, # comments. */
export function parsePackageList(text: string): PackageNeed[] {
  const needs: PackageNeed[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [name, ...rest] = line.split(/\s+/);
    const purpose = rest.join(' ');
    needs.push({ name: name as string, purpose, script: /\(npm run ([\w:]+)\)/.exec(purpose)?.[1] ?? 'test' });
  }
  return needs;
}

/** What to say before `script` runs, given the packages not installed; null when nothing is missing. */
export function preflightReport(needs: readonly PackageNeed[], missing: ReadonlySet<string>, script: string, ci: boolean): string | null {
  const lacking = needs.filter((n) => n.script === script && missing.has(n.name));
  if (lacking.length === 0) return null;
  const width = Math.max(...lacking.map((n) => n.name.length));
  return [
    `npm ${script === 'test' ? 'test' : `run ${script}`}: ${lacking.length} Debian package${lacking.length === 1 ? ' is' : 's are'} not installed here, so ${ci ? 'these tests will FAIL (CI is set)' : 'these tests will be skipped'}:`,
    ...lacking.map((n) => `  ${n.name.padEnd(width)}  ${n.purpose}`),
    'Install everything the tests use (the list .ci/run installs, .ci/debian-packages) with:',
    `  sudo apt-get install -y --no-install-recommends ${needs.map((n) => n.name).join(' ')}`,
  ].join('\n');
}

/** The packages of the list that dpkg does not know as installed; null on a system without dpkg. */
function notInstalled(names: readonly string[]): Set<string> | null {
  let out: string;
  try {
    out = execFileSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\\n', ...names], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (err) {
    // dpkg-query exits 1 when a package is unknown, and still prints the others.
    const e = err as { code?: string; stdout?: string };
    if (e.code === 'ENOENT') return null;
    out = e.stdout ?? '';
  }
  const installed = new Set(out.split('\n').filter((l) => l.endsWith(' installed')).map((l) => l.split(' ')[0]));
  return new Set(names.filter((n) => !installed.has(n)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const script = process.argv[2] ?? 'test';
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const needs = parsePackageList(readFileSync(path.join(root, '.ci/debian-packages'), 'utf8'));
  const missing = notInstalled(needs.map((n) => n.name));
  if (missing === null) process.stderr.write(`npm ${script}: no dpkg here (not Debian): tests whose program is missing will be skipped; .ci/debian-packages lists what they use\n`);
  else {
    const report = preflightReport(needs, missing, script, Boolean(process.env.CI));
    if (report !== null) process.stderr.write(`${report}\n\n`);
  }
}
