// Runs in a worker thread (provenance-check.ts): reads a sealed build's provenance, checks
// its signature against the keys given, and answers what it says as two digests. A
// statement may run to tens of megabytes: parsing it here keeps the event loop free.
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { provenanceDigests } from '../domain/provenance.js';
import { dsseVerify, IN_TOTO_PAYLOAD_TYPE } from '../domain/signing.js';

export interface ProvenanceRequest {
  id: number;
  file: string;
  /** Public keys (SPKI PEM) a signature must be made with. */
  keys: string[];
  maxBytes: number;
}

export type ProvenanceAnswer = { id: number; digests: { inputs: string; outputs: string } | null };

async function check(request: ProvenanceRequest): Promise<{ inputs: string; outputs: string } | null> {
  const text = await readFile(request.file, 'utf8').catch(() => '');
  const line = text.split('\n')[0] ?? '';
  if (line === '' || line.length > request.maxBytes) return null;
  let envelope: unknown;
  try {
    envelope = JSON.parse(line);
  } catch {
    return null;
  }
  const checked = dsseVerify(envelope, request.keys.map((pem) => createPublicKey(pem)));
  if (!checked.ok || checked.payloadType !== IN_TOTO_PAYLOAD_TYPE) return null;
  try {
    return provenanceDigests(JSON.parse(checked.payload.toString()) as Record<string, unknown>);
  } catch {
    return null;
  }
}

parentPort?.on('message', (request: ProvenanceRequest) => {
  check(request).then(
    (digests) => parentPort?.postMessage({ id: request.id, digests } satisfies ProvenanceAnswer),
    () => parentPort?.postMessage({ id: request.id, digests: null } satisfies ProvenanceAnswer),
  );
});
