// A file only the service's user may read (keys, secrets), replaced whole: written to a
// temporary name with mode 0600, on disk before it replaces the old one (a crash leaves
// one whole file or the other), and never a stray copy left behind.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';

export async function writePrivateFile(file: string, contents: string): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(contents);
      await handle.chmod(0o600);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
