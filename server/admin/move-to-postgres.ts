// `artifact-repo migrate --to postgres://…`: copies what an embedded repository keeps in
// files and PostgreSQL would keep (masters, tokens, build states and pins, the audit
// trail, recorded inputs, the mirror's entries, the build proxy's certificate authority)
// and the resources' checksum records and dead properties) into an empty database, in one
// transaction: all of it or nothing. The artifacts stay on the artifacts volume, which
// the replicas share; the checksum index is the records' checksums.
import type { StoreLocation } from '../domain/stores.js';
import { AuditFile } from '../storage/audit-trail.js';
import { TokenFile } from '../storage/token-records.js';
import { ArtifactStore } from '../storage/artifact-store.js';
import { InputRecordFiles } from '../storage/input-records.js';
import { UNBOUNDED } from '../domain/recording-lines.js';
import { BuildRecordFiles } from '../storage/build-records.js';
import { PgBuildRecords } from '../storage/pg/build-records.js';
import { MirrorEntryFiles } from '../storage/mirror-entries.js';
import { ResourceRecordFiles } from '../storage/resource-records.js';
import { PgResourceRecords } from '../storage/pg/resource-records.js';
import { SigningKeyFile } from '../storage/signing-keys.js';
import { PgSigningKeys } from '../storage/pg/signing-keys.js';
import { PackageCatalogueFiles } from '../storage/package-catalogue.js';
import { PgPackageCatalogue } from '../storage/pg/package-catalogue.js';
import { Database } from '../storage/pg/database.js';
import { PgAuditTrail } from '../storage/pg/audit-trail.js';
import { PgInputRecords } from '../storage/pg/input-records.js';
import { PgRepositorySecrets } from '../storage/pg/repository-secrets.js';
import { RepositorySecretFile } from '../storage/repository-secrets.js';
import { PgMirrorEntries } from '../storage/pg/mirror-entries.js';
import { PgTokenRecords } from '../storage/pg/token-records.js';
import { pgAuthorityKeeper } from '../storage/pg/authority-keeper.js';
import { fileKeeper } from '../storage/proxy-authority.js';

export interface MoveReport {
  masters: number;
  tokens: number;
  auditEntries: number;
  recordedBuilds: number;
  /** Builds with a state: sealed, pinned, being sealed, or deleted by retention. */
  buildStates: number;
  inputLines: number;
  mirrorEntries: number;
  /** Resources with a checksum record or dead properties. */
  resources: number;
  /** The keys sealed builds were signed with (the current one and the retired ones). */
  signingKeys: number;
  /** Whether the build proxy's certificate authority was copied. */
  authority: boolean;
  /** Sealed builds whose packages the catalogue lists (apt's and pip's indexes). */
  packageBuilds: number;
}

/** The target cannot take the copy: it holds data, or something else uses it. */
export class DatabaseNotEmpty extends Error {}

/** Copies the embedded stores found where `from` says into the empty database at `url`. */
export async function moveToPostgres(from: Pick<StoreLocation, 'artifactsDir' | 'tokensDir'>, url: string): Promise<MoveReport> {
  const tokens = await TokenFile.open(from.tokensDir);
  const audit = new AuditFile(from.tokensDir);
  const inputs = new InputRecordFiles(from.artifactsDir);
  const files = new ArtifactStore(from.artifactsDir);
  const mirror = new MirrorEntryFiles(from.artifactsDir, files.incoming);
  const buildStates = new BuildRecordFiles(from.artifactsDir, files.incoming);
  const resources = new ResourceRecordFiles(from.artifactsDir, files.incoming);
  const db = await Database.open(url);
  try {
    // No server may use the database while it is filled (nor a second migrate).
    if (!(await db.replicaLock(false).take())) throw new DatabaseNotEmpty('a server (or another migrate) is using this database');
    return await db.atomically(async (tx) => {
      const { rows } = await tx.query<{ n: string }>(
        'SELECT (SELECT count(*) FROM masters) + (SELECT count(*) FROM removed_masters) + (SELECT count(*) FROM tokens) + (SELECT count(*) FROM audit) + (SELECT count(*) FROM inputs) + (SELECT count(*) FROM mirror_entries) + (SELECT count(*) FROM proxy_authority) + (SELECT count(*) FROM builds) + (SELECT count(*) FROM resources) + (SELECT count(*) FROM signing_keys) + (SELECT count(*) FROM repository_secrets) + (SELECT count(*) FROM package_builds) AS n',
      );
      if (Number(rows[0]?.n ?? 0) > 0) throw new DatabaseNotEmpty('the database is not empty: migrate copies into an empty database only');
      const report: MoveReport = { masters: 0, tokens: 0, auditEntries: 0, recordedBuilds: 0, buildStates: 0, inputLines: 0, mirrorEntries: 0, resources: 0, signingKeys: 0, authority: false, packageBuilds: 0 };
      const toTokens = new PgTokenRecords(tx);
      for (const master of await tokens.masters()) {
        await toTokens.putMaster(master);
        report.masters++;
      }
      for (const [name, at] of Object.entries(tokens.data.removed_masters ?? {})) await toTokens.markRemoved(name, at);
      for (const token of await tokens.tokens()) {
        await toTokens.insertToken(token);
        report.tokens++;
      }
      const toAudit = new PgAuditTrail(tx);
      for await (const entry of audit.entries()) {
        await toAudit.append(entry);
        report.auditEntries++;
      }
      const toBuilds = new PgBuildRecords(tx);
      for (const { build, record } of await buildStates.entries()) {
        await toBuilds.put(build, record);
        report.buildStates++;
      }
      const toInputs = new PgInputRecords(tx);
      // Every line as it is, whatever the limits of the day: the copy loses nothing.
      for (const build of await inputs.all()) {
        for await (const batch of inputs.scan(build, UNBOUNDED)) {
          for (const { line } of batch) await toInputs.append(build, line, UNBOUNDED);
          report.inputLines += batch.length;
        }
        report.recordedBuilds++;
      }
      // The same secrets: recordings go on matching, and provenance keeps its query hashes.
      const toSecrets = new PgRepositorySecrets(tx);
      for (const [name, value] of Object.entries(await new RepositorySecretFile(from.tokensDir).all())) await toSecrets.getOrCreate(name, () => value);
      // The same authority, so that builds that trust it keep trusting the proxy.
      const authority = await fileKeeper(from.tokensDir).load();
      if (authority) await pgAuthorityKeeper(tx).saveIfAbsent(authority.keyPem, authority.certPem);
      report.authority = authority !== null;
      const toMirror = new PgMirrorEntries(tx);
      for (const entry of await mirror.all()) {
        await toMirror.save(entry);
        report.mirrorEntries++;
      }
      // The same signing keys: pinned keys go on verifying old seals and new ones.
      const toKeys = new PgSigningKeys(tx);
      for (const key of await new SigningKeyFile(from.tokensDir).list()) {
        await toKeys.insert(key);
        report.signingKeys++;
      }
      // The package catalogue: every replica serves the same apt and pip indexes at once.
      const toPackages = new PgPackageCatalogue(tx);
      for (const entry of await new PackageCatalogueFiles(from.artifactsDir, files.incoming).all()) {
        await toPackages.put(entry);
        report.packageBuilds++;
      }
      const toResources = new PgResourceRecords(tx, 'migrate');
      for await (const { segments, record, props } of resources.entries()) {
        if (record) await toResources.setFileRecord(segments, record);
        if (props.length > 0) await toResources.setProperties(segments, props);
        report.resources++;
      }
      // Copied here: no server imports the volume's records again.
      await tx.query('INSERT INTO resources_imported (id) VALUES (1)');
      return report;
    });
  } finally {
    await db.close();
  }
}
