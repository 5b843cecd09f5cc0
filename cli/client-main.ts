// The entry of the client that the repository serves as one file (GET /-/client/artifact-repo):
// the commands of cli/client.ts and nothing else, bundled by esbuild at build time.
import { asksForHelp, CLIENT_COMMANDS, clientCommandList, runClientCommand } from './client.js';

const USAGE = `usage: artifact-repo COMMAND [--help]

${clientCommandList()}

This is the client a build worker needs; the admin commands (master, token, mirror,
retention, signing-key, migrate, serve) come with the repository's own installation.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || asksForHelp([name])) {
    (name === undefined ? process.stderr : process.stdout).write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = CLIENT_COMMANDS[name];
  if (!command) {
    process.stderr.write(`artifact-repo: unknown command "${name}"\n${USAGE}\n`);
    return 2;
  }
  try {
    return await runClientCommand(command, rest, process.env, { stdout: process.stdout, stderr: process.stderr });
  } catch (err) {
    const code = (err as { code?: string }).code;
    process.stderr.write(`artifact-repo ${name}: ${(err as Error).message}${code?.startsWith('ERR_PARSE_ARGS_') ? `\n${command.usage}` : ''}\n`);
    return code?.startsWith('ERR_PARSE_ARGS_') ? 2 : 1;
  }
}

// Not top-level await: the bundle is CommonJS, so that a file named plain `artifact-repo` runs.
void main(process.argv.slice(2)).then((code) => process.exit(code));
