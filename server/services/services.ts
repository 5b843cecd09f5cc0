// The repository as its edges see it (the tree, the /-/ API, the build proxy, the admin
// socket): its stores and services, wired once by the composition root (server/repository.ts).
import type { Config } from '../config/config.js';
import type { KeyedHash } from '../domain/keyed-hash.js';
import type { EventSink } from '../domain/events.js';
import type { Gate } from '../domain/gate.js';
import type { IncomingFiles } from '../storage/incoming.js';
import type { Catalog } from './catalog.js';
import type { ArtifactTree, AuditTrail, AuthorityKeeper, ContentStore, InputStore, JobTokenLedger, RecordingLimits, ResourceRecords } from '../domain/stores.js';
import type { Builds } from './builds.js';
import type { InputRecorder } from './recorder.js';
import type { Mirror } from './mirror.js';
import type { Retention } from './retention.js';
import type { Signer } from './signer.js';
import type { Packages } from './packages.js';
import type { TokenService } from '../../token-service/token-service.js';
import type { LockManager } from './lock-manager.js';

export interface Services {
  config: Config;
  /** The artifact tree (a volume's files, or rows and a bucket's blobs). */
  store: ArtifactTree;
  /** This process's temporary files. */
  incoming: IncomingFiles;
  meta: ResourceRecords;
  catalog: Catalog;
  builds: Builds;
  /** Bodies by checksum: what builds downloaded through the build proxy. */
  content: ContentStore;
  /** Each build's recorded inputs. */
  inputs: InputStore;
  /** How much a build's recording may hold. */
  inputLimits: RecordingLimits;
  /** Appends to recordings within their limits (the build proxy). */
  recorder: InputRecorder;
  /** The keyed hash recordings and public views keep in place of request values and queries. */
  recordingHash: KeyedHash;
  /** Declared external files and images, kept for ever (the server fetches them). */
  mirror: Mirror;
  /** Removes from the content store every body no build (and no mirror entry) refers to. */
  sweepContent(): Promise<number>;
  tokens: TokenService;
  locks: LockManager;
  audit: AuditTrail;
  retention: Retention;
  /** Where every event goes: the audit trail and whoever else asked. */
  emit: EventSink;
  pageGate: Gate;
  compareGate: Gate;
  /** After a revoke: whether the build is sealed now, still being sealed, or still open. */
  sealStatus(scope: string): Promise<'sealed' | 'pending' | 'open'>;
  /** Where the build proxy's certificate authority is kept: the tokens volume, or the database. */
  authorityKeeper: AuthorityKeeper;
  /** The key that signs sealed builds (its public halves are served, never the private one). */
  signer: Signer;
  /** What sealed builds offer to apt and pip: the catalogue, and the projects' apt indexes. */
  packages: Packages;
  /** The CI job tokens that minted (each mints once). */
  jobTokenLedger: JobTokenLedger;
}
