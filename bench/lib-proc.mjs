// Child processes and cleanup for bench/bench.mjs: every command the bench runs is tracked,
// so that an error or SIGINT/SIGTERM stops them all, then the registered cleanups (servers,
// temporary directory) run in reverse order, once.
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';

const running = new Set();
const cleanups = [];
let cleaning = null;

/** Runs a program to completion; rejects with its stderr's last line when it fails. */
export function run(cmd, args = [], { input, timeoutMs = 0, allowFail = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let timer = null;
    if (timeoutMs > 0) timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      running.delete(child);
      if (timer) clearTimeout(timer);
      reject(new Error(`${cmd}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      running.delete(child);
      if (timer) clearTimeout(timer);
      if ((code === 0 || allowFail) && !cleaning) return resolve({ stdout, stderr, code });
      const tail = (stderr.trim() || stdout.trim()).split('\n').filter((l) => l.trim()).slice(-6).join('\n    ');
      reject(new Error(`${path.basename(cmd)} ${args.map((a) => path.basename(a)).join(' ').slice(0, 200)} failed (${signal ?? `exit ${code}`}):\n    ${tail}`));
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

/** Registers a cleanup step; steps run last-registered first. */
export function onCleanup(label, fn) {
  cleanups.push({ label, fn });
}

/** Stops running commands, then runs every cleanup step (each at most 20 s); idempotent. */
export function cleanup() {
  cleaning ??= (async () => {
    for (const child of running) child.kill('SIGTERM');
    for (const { label, fn } of cleanups.reverse()) {
      try {
        await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 20_000).unref())]);
      } catch (err) {
        process.stderr.write(`bench: cleanup of ${label} failed: ${err.message}\n`);
      }
    }
  })();
  return cleaning;
}

export function isCleaning() {
  return cleaning !== null;
}

/** SIGINT/SIGTERM: clean up, then exit 130/143. */
export function installSignalHandlers() {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every process and removing the temporary directory\n`);
      cleanup().finally(() => process.exit(code));
    });
  }
}

/** The full path of an executable found on PATH (plus the sbin directories), or null. */
export async function which(name) {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return null;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
