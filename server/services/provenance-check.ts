// What a sealed build's signed provenance says, as two digests (inputs, outputs), checked
// in a worker thread (provenance-worker.ts): compare asks it of two builds, and a statement
// of tens of megabytes must not be parsed on the thread that answers requests.
import { Worker } from 'node:worker_threads';
import type { KeyObject } from 'node:crypto';
import type { ArtifactTree } from '../domain/stores.js';
import type { ProvenanceAnswer, ProvenanceRequest } from './provenance-worker.js';

// A statement lists every output and input: generous, but a file larger than this is not the repository's.
const MAX_PROVENANCE_BYTES = 64 * 1024 * 1024;
// Answers kept, for the builds compared lately.
const KNOWN = 256;

class ProvenanceChecker {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, (digests: ProvenanceAnswer['digests']) => void>();
  private readonly known = new Map<string, NonNullable<ProvenanceAnswer['digests']>>();

  private get thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./provenance-worker.js', import.meta.url), { execArgv: [] });
    worker.on('message', (answer: ProvenanceAnswer) => {
      this.waiting.get(answer.id)?.(answer.digests);
      this.waiting.delete(answer.id);
    });
    const fail = (): void => {
      this.worker = null;
      for (const answer of this.waiting.values()) answer(null);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    // Idle, it must not keep the process alive.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /**
   * The digests of the provenance in `file` if it is signed by one of `keys`; null otherwise.
   * A sealed build's provenance never changes: the answer is kept while the file is the same
   * (inode, size, modification time) and the keys are.
   */
  async digests(tree: ArtifactTree, segments: readonly string[], keys: readonly KeyObject[]): Promise<ProvenanceAnswer['digests']> {
    const pems = keys.map((k) => k.export({ type: 'spki', format: 'pem' }).toString());
    const stats = await tree.stat(segments).catch(() => null);
    if (!stats?.isFile() || stats.size > MAX_PROVENANCE_BYTES) return null;
    const key = `${segments.join('/')}\0${stats.ino}:${stats.size}:${stats.mtimeMs}\0${pems.join('')}`;
    const kept = this.known.get(key);
    if (kept) return kept;
    const local = await tree.localFile(segments, MAX_PROVENANCE_BYTES).catch(() => null);
    if (!local) return null;
    const id = this.nextId++;
    const answer = new Promise<ProvenanceAnswer['digests']>((resolve) => this.waiting.set(id, resolve));
    const request: ProvenanceRequest = { id, file: local.path, keys: pems, maxBytes: MAX_PROVENANCE_BYTES };
    this.thread.postMessage(request);
    const digests = await answer.finally(() => local.release().catch(() => undefined));
    if (digests) {
      if (this.known.size >= KNOWN) this.known.delete(this.known.keys().next().value as string);
      this.known.set(key, digests);
    }
    return digests;
  }
}

/** One checking thread per process. */
export const provenanceChecker = new ProvenanceChecker();
