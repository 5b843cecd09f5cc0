// `artifact-repo migrate --to-bucket`: copies a repository's bytes from its volume
// (ARTIFACTS_DIR: the tree, and the bodies of recordings and the mirror) into the bucket
// of BLOB_STORE, the tree into the database of DATABASE_URL (whose records the repository
// already keeps: `migrate --to postgres://…` first). Resumable: a file already in the
// bucket (same size and time, checked when it was sent) is not sent again, so a run that
// was cut short is simply run again. Verified: every file goes up checked against its
// recorded checksum (or one computed from its bytes: a file whose bytes are not what its
// record says is not copied, and the run fails), and a last pass checks that every file
// of the volume is in the bucket's tree. Each file keeps its modification time (its
// ETag and Last-Modified do not change). The servers must be stopped meanwhile.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BucketLocation, TreeStats } from '../domain/stores.js';
import { ArtifactStore } from '../storage/artifact-store.js';
import { CONTENT_DIR } from '../storage/content-store.js';
import { Database } from '../storage/pg/database.js';
import { BucketTree } from '../storage/pg/bucket-tree.js';
import { BucketContent } from '../storage/pg/bucket-content.js';
import { PgChecksumIndex, PgResourceRecords } from '../storage/pg/resource-records.js';
import { S3BlobStore } from '../storage/s3-blobs.js';
import { Catalog, recordMatches } from '../services/catalog.js';

export interface BucketMoveReport {
  collections: number;
  /** Files of the tree on the volume. */
  files: number;
  /** Sent to the bucket by this run. */
  copied: number;
  /** In the bucket already with the same checksum (a run before). */
  skipped: number;
  bytes: number;
  /** Bodies of recordings and the mirror on the volume, and how many this run sent. */
  bodies: number;
  bodiesCopied: number;
  /** Files whose bytes are not what their checksum record says: not copied (the run fails). */
  mismatched: string[];
}

/** The target cannot take the copy now: a server uses its database. */
export class BucketMoveRefused extends Error {}

const SHA256_RE = /^[0-9a-f]{64}$/;
const MIGRATE_REPLICA = 'migrate';

export async function moveToBucket(from: { artifactsDir: string }, databaseUrl: string, bucket: BucketLocation, progress: (line: string) => void = () => undefined): Promise<BucketMoveReport> {
  const volume = new ArtifactStore(from.artifactsDir);
  await volume.init();
  const db = await Database.open(databaseUrl);
  const blobs = S3BlobStore.open(bucket);
  try {
    // No server may write meanwhile: what it wrote to the volume would be missed.
    if (!(await db.replicaLock(false).take())) throw new BucketMoveRefused('a server (or another migrate) is using this database: stop the servers first');
    const tree = new BucketTree(db, blobs, volume.incoming, MIGRATE_REPLICA);
    const content = new BucketContent(db, blobs, volume.incoming, MIGRATE_REPLICA);
    const resources = new PgResourceRecords(db, MIGRATE_REPLICA);
    const catalog = new Catalog(tree, resources, new PgChecksumIndex(db));
    const report: BucketMoveReport = { collections: 0, files: 0, copied: 0, skipped: 0, bytes: 0, bodies: 0, bodiesCopied: 0, mismatched: [] };

    /** The checksum of a volume file: its record while it still describes it, else computed from its bytes. */
    const volumeChecksum = async (segments: string[], stats: TreeStats): Promise<string> => {
      const record = await resources.fileRecord(segments);
      // Size and time, whatever the inode: a volume restored or copied elsewhere has new
      // inodes, and its bytes must still be what was recorded.
      if (recordMatches(record, { size: stats.size, mtimeMs: stats.mtimeMs, ino: record?.ino ?? stats.ino })) return record.sha256;
      const hash = createHash('sha256');
      await pipeline(createReadStream(volume.fsPath(segments)), hash);
      return hash.digest('hex');
    };
    /**
     * Whether the bucket's tree has this very file: copied before (same size and time, which
     * the copy keeps, and no server changed the volume since) and checked then, its checksum
     * recorded. The volume's bytes are not read again for that.
     */
    const inBucket = async (segments: string[], stats: TreeStats): Promise<boolean> => {
      const there = await tree.stat(segments);
      return Boolean(there?.isFile() && there.size === stats.size && there.mtimeMs === stats.mtimeMs && (await catalog.checksumOf(segments, there)) !== null);
    };

    // Folder by folder, so that no list of the whole tree is held at once.
    const walk = async (segments: string[], visit: (segments: string[], stats: TreeStats) => Promise<void>): Promise<void> => {
      const members = (await volume.names(segments)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const member of members) {
        const at = [...segments, member.name];
        const stats = await volume.stat(at);
        if (!stats) continue;
        await visit(at, stats);
        if (stats.isDirectory()) await walk(at, visit);
      }
    };

    await walk([], async (segments, stats) => {
      if (stats.isDirectory()) {
        await tree.ensureCollection(segments);
        report.collections++;
        return;
      }
      report.files++;
      if (await inBucket(segments, stats)) {
        report.skipped++;
        return;
      }
      const sha256 = await volumeChecksum(segments, stats);
      const opened = await volume.open(segments);
      if (!opened) return;
      try {
        // Checked on the way: bytes that are not what the record says are not copied.
        await catalog.storeFile(segments, await opened.stream(), sha256, stats.size, undefined, stats.mtimeMs);
      } catch (err) {
        if ((err as Error).message.startsWith('checksum mismatch')) {
          report.mismatched.push(`/${segments.join('/')}`);
          return;
        }
        throw err;
      }
      report.copied++;
      report.bytes += stats.size;
      if (report.copied % 1000 === 0) progress(`${report.copied} files sent (${report.bytes} bytes)`);
    });

    // The bodies builds downloaded and the mirror keeps, by their names (their checksums).
    const bodies = path.join(from.artifactsDir, CONTENT_DIR, 'sha256');
    for (const prefix of (await readdir(bodies).catch(() => [] as string[])).sort()) {
      for (const name of (await readdir(path.join(bodies, prefix)).catch(() => [] as string[])).sort()) {
        if (!SHA256_RE.test(name)) continue;
        report.bodies++;
        if (await content.has(name)) continue;
        await content.put(createReadStream(path.join(bodies, prefix, name)), name);
        report.bodiesCopied++;
      }
    }

    // The last pass: every file of the volume is in the bucket's tree, with its checksum.
    await walk([], async (segments, stats) => {
      if (stats.isDirectory() || report.mismatched.includes(`/${segments.join('/')}`)) return;
      if (!(await inBucket(segments, stats))) report.mismatched.push(`/${segments.join('/')}`);
    });
    return report;
  } finally {
    blobs.close();
    await db.close();
  }
}
