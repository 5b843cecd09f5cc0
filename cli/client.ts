// The client half of the CLI: what a build worker or a CI job runs against a repository
// over HTTP, with no data directory and no server code. It is also bundled into one file
// that the repository serves at /-/client/artifact-repo (cli/client-main.ts), so every
// command here may import only Node's own modules, cli/ and server/domain/.
import { PROXY_ENV_USAGE, runProxyEnvCommand } from './proxy-env.js';
import { MINT_USAGE, REVOKE_USAGE, runMintCommand, runRevokeCommand } from './token-commands.js';
import { runUploadCommand, USAGE as UPLOAD_USAGE } from './upload.js';
import { runVerifyCommand, VERIFY_USAGE } from './verify.js';

export interface ClientIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

interface ClientCommand {
  /** One line for the list of commands. */
  summary: string;
  usage: string;
  /** Its standard output is shell lines for `eval "$(...)"`: on failure it prints `false`, so that the eval fails too. */
  forEval?: boolean;
  run(args: string[], env: NodeJS.ProcessEnv, io: ClientIo): Promise<number>;
}

export const CLIENT_COMMANDS: Record<string, ClientCommand> = {
  mint: { summary: 'mint a build token with the master\'s credentials; prints export lines', usage: MINT_USAGE, forEval: true, run: runMintCommand },
  upload: { summary: 'upload a directory with the build token', usage: UPLOAD_USAGE, run: runUploadCommand },
  'proxy-env': { summary: 'print the lines that point a build\'s tools at the build proxy', usage: PROXY_ENV_USAGE, forEval: true, run: runProxyEnvCommand },
  revoke: { summary: 'revoke the build token: the build is then sealed', usage: REVOKE_USAGE, run: runRevokeCommand },
  verify: { summary: 'download a sealed build and check its signature, checksums and provenance', usage: VERIFY_USAGE, run: runVerifyCommand },
};

/** Whether the words ask for help: --help or -h before any `--`. */
export function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/**
 * Runs a client command; its `--help` prints its usage and exits 0. A command for eval
 * that fails prints `false`: `eval "$(artifact-repo mint ...)"` then fails as the command
 * did, instead of going on with nothing set (a build that would run unrecorded).
 */
export async function runClientCommand(command: ClientCommand, args: string[], env: NodeJS.ProcessEnv, io: ClientIo): Promise<number> {
  if (asksForHelp(args)) {
    io.stdout.write(`${command.usage}\n`);
    return 0;
  }
  let code = 1;
  try {
    code = await command.run(args, env, io);
    return code;
  } finally {
    if (command.forEval && code !== 0) io.stdout.write('false\n');
  }
}

/** The list of client commands, for a usage text. */
export function clientCommandList(): string {
  return Object.entries(CLIENT_COMMANDS)
    .map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`)
    .join('\n');
}
