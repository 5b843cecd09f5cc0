// Real client programs from Debian's packages. .ci/run installs them; on a developer's
// machine without one, its tests are skipped with a message, but under CI a missing tool
// fails the run rather than passing quietly.
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './harness.js';

export function findTool(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return null;
}

/**
 * The one way a test gives up because this machine lacks something (a program, root, a
 * mount): on a developer's machine it is skipped with a message saying what is missing;
 * under CI (`CI` set, as .ci/run does) it fails instead, so that a green run never hides
 * a suite that did not run.
 */
export function skipUnlessCi(ctx: Mocha.Context, missing: string, fix: string): never {
  if (process.env.CI) throw new Error(`${missing}: ${fix}`);
  console.warn(`      skipped: ${missing} (${fix})`);
  ctx.skip();
}

/** The tool's path; skips the test (or fails it under CI) when it is not installed. */
export function requireTool(ctx: Mocha.Context, name: string, debianPackage: string): string {
  return findTool(name) ?? skipUnlessCi(ctx, `${name} is not installed`, `apt-get install ${debianPackage}, as .ci/run does`);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion without blocking the event loop (servers run in this process). */
export function run(
  file: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number; uid?: number; gid?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd, uid: options.uid, gid: options.gid, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    // A program that never reads its standard input (mount.davfs) must not fail the test.
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

export { execFile };

/**
 * Runs an ES module script (`node --input-type=module -e`) from the repository's root: its
 * exit code, or null if it was still running after `timeoutMs` (then killed). For what
 * must not keep a process alive.
 */
export function exitCodeOfScript(script: string, timeoutMs: number): Promise<number | null> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: 'ignore' });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(null);
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}
