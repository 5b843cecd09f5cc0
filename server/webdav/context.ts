// What a tree request handler is given: the parsed request and the services behind it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/config.js';
import type { TreePath } from '../domain/tree-path.js';
import type { ArtifactStore } from '../storage/artifact-store.js';
import type { ResourceRecords } from '../storage/meta-store.js';
import type { Catalog } from '../storage/catalog.js';
import type { Builds } from '../builds/builds.js';
import type { LockManager } from './lock-manager.js';
import type { TokenService } from '../../token-service/token-service.js';
import type { Authorisation, TreeMethod } from '../auth/authorise.js';
import type { EventSink } from '../domain/events.js';
import type { Gate } from '../support/gate.js';
import type { InputStore, RecordingLimits } from '../storage/input-records.js';
import type { KeyedHash } from '../domain/keyed-hash.js';
import type { Signer } from '../signing/signer.js';

export interface TreeServices {
  config: Config;
  store: ArtifactStore;
  meta: ResourceRecords;
  locks: LockManager;
  tokens: TokenService;
  catalog: Catalog;
  builds: Builds;
  /** The audit trail (and metrics) hear of every change made. */
  emit: EventSink;
  /** Listings that may be long, and compares: a few at a time, the rest wait or get 503. */
  pageGate: Gate;
  compareGate: Gate;
  /** What each build downloaded through the build proxy, and how much of it is read. */
  inputs: InputStore;
  inputLimits: RecordingLimits;
  /** What public views show of a URL's query (publicUri). */
  recordingHash: KeyedHash;
  /** The keys sealed builds are signed with (compare checks provenance against them). */
  signer: Signer;
}

export interface TreeRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: TreeMethod;
  target: TreePath;
  destination: TreePath | null;
  auth: Authorisation;
  services: TreeServices;
}

/** The token id acting, or null for a public request. */
export function principalOf(request: TreeRequest): string | null {
  return request.auth.kind === 'token' ? request.auth.token.id : null;
}
