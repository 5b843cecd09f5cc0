// Daemons a test starts (Swift's servers, Ceph's): their output kept for the message when
// one fails to come up, all killed and waited for at the end, their folder removed.
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3Client } from '../../server/storage/s3-blobs.js';

export class Daemons {
  private readonly children: ChildProcess[] = [];
  private readonly output: string[] = [];

  constructor(private readonly dir: string) {}

  /** Starts one; `options.env` replaces the environment it gets (this process's by default). */
  start(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    child.stdout?.on('data', (d: Buffer) => this.output.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => this.output.push(d.toString()));
    this.children.push(child);
    return child;
  }

  /** Kills one of them (an outage a test makes) and waits for its end. */
  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const ended = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await ended;
  }

  /** The last of what they printed, for an error message. */
  tail(): string {
    return this.output.join('').slice(-2000);
  }

  async stop(): Promise<void> {
    for (const child of this.children) if (child.exitCode === null) child.kill('SIGKILL');
    await Promise.all(this.children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** An S3 server a test started: where, as whom, a client, and its end. */
export interface RunningS3 {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A client of it (path style, as Swift needs). */
  client: S3Client;
  /** Makes a bucket and returns its name (waiting for the server behind the endpoint to be ready). */
  bucket(name: string): Promise<string>;
  stop(): Promise<void>;
}

export async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function runningS3(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }, daemons: Daemons, readyMs: number): RunningS3 {
  // Made as the app makes its client (s3Client): the stores the tests build on it behave as the app's.
  const client = s3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials, maxAttempts: 1 });
  return {
    endpoint,
    ...credentials,
    client,
    async bucket(name) {
      // The first request may come before the servers behind the endpoint are ready.
      await until(`bucket ${name}`, () => client.send(new CreateBucketCommand({ Bucket: name })).then(() => true, () => false), readyMs);
      return name;
    },
    async stop() {
      client.destroy();
      await daemons.stop();
    },
  };
}
