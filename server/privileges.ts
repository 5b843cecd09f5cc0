// Started as root, as the container starts it so that it can read a secret file of mode
// 0600 owned by root (compose bind-mounts secrets with the host's owner and mode), the
// process becomes RUN_AS_USER before it opens a data directory, the way nginx's master
// reads its configuration as root and then runs as `user`.
import { readFileSync } from 'node:fs';

export class PrivilegeError extends Error {}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

/** The entry of a user name or numeric uid in the text of /etc/passwd, or null. */
export function findUser(passwd: string, user: string): PasswdEntry | null {
  const byUid = /^\d+$/.test(user);
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (!name || uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) continue;
    if (byUid ? uid === user : name === user) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return null;
}

/**
 * Becomes `user` (supplementary groups, group, then user) when running as root; when not,
 * checks that the process already is that user. No-op without a user.
 */
export function becomeUser(user: string | null, passwdFile = '/etc/passwd'): void {
  if (user === null || typeof process.getuid !== 'function') return;
  let passwd: string;
  try {
    passwd = readFileSync(passwdFile, 'utf8');
  } catch (err) {
    throw new PrivilegeError(`RUN_AS_USER: ${passwdFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const entry = findUser(passwd, user);
  if (!entry) throw new PrivilegeError(`RUN_AS_USER: no user "${user}" in ${passwdFile}`);
  const current = process.getuid();
  if (current === entry.uid) return;
  if (current !== 0) throw new PrivilegeError(`RUN_AS_USER is ${user} (uid ${entry.uid}), but the process runs as uid ${current}; start it as root or as that user`);
  try {
    // initgroups is in Node on POSIX, but not in @types/node 20.
    (process as NodeJS.Process & { initgroups?: (user: string, group: number) => void }).initgroups?.(entry.name, entry.gid);
    process.setgid?.(entry.gid);
    process.setuid?.(entry.uid);
  } catch (err) {
    throw new PrivilegeError(`RUN_AS_USER: cannot become ${user}: ${(err as Error).message}`);
  }
  if (process.getuid() !== entry.uid || process.getgid?.() !== entry.gid) throw new PrivilegeError(`RUN_AS_USER: still running as uid ${process.getuid()} after switching to ${user}`);
}
