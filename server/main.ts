// `npm start`: read the configuration, start serving, stop cleanly on SIGTERM.
import { ConfigError, loadConfig, type Config } from './config/config.js';
import { createApp } from './app.js';
import { StoreError } from './domain/stores.js';
import { DataDirInUse } from './admin/admin-socket.js';
import { becomeUser, PrivilegeError } from './privileges.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    // The secret files are read first (as root, in the container), then the user changes.
    config = loadConfig();
    becomeUser(config.runAsUser);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PrivilegeError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  let app;
  try {
    app = await createApp(config);
  } catch (err) {
    if (err instanceof StoreError || err instanceof DataDirInUse) {
      process.stderr.write(`cannot start: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // Handlers before listening: a SIGTERM sent the moment "listening" shows must still drain.
  let stopping = false;
  const started = app;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    started.shutdown().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const address = await app.listen();
  if (app.generatedMasterPassword) {
    // The one place a secret is ever printed: a generated master password, once.
    process.stderr.write(
      `\nNo master credential was configured, so one was generated. It is shown only this once:\n` +
        `  user:     ${config.masterUser}\n  password: ${app.generatedMasterPassword}\n` +
        `Set MASTER_PASSWORD or MASTER_PASSWORD_FILE to choose your own.\n\n`,
    );
  }
  // Public, printed so that it can be pinned from the first start on (docs/provenance.md).
  const signing = await app.signingKey();
  process.stderr.write(`sealed builds are signed with ${signing.fingerprint}: ${signing.line}\n`);
  process.stderr.write(`artifact-repo listening on http://${address.address}:${address.port}/\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
