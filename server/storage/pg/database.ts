// The shared state in PostgreSQL (DATABASE_URL): one pool, the schema created and migrated
// at start under an advisory lock (replicas starting together take turns), and one error
// for "the database cannot be reached" that the HTTP edge answers with 503.
import pg from 'pg';
import { Failure } from '../../domain/errors.js';

/** Schema steps, applied in order once each; a replica never runs one twice. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE mirror_entries (id text PRIMARY KEY, entry jsonb NOT NULL);
   CREATE TABLE inputs (seq bigserial PRIMARY KEY, build text NOT NULL, line jsonb NOT NULL);
   CREATE INDEX inputs_build ON inputs (build, seq);
   CREATE TABLE audit (seq bigserial PRIMARY KEY, time timestamptz NOT NULL DEFAULT clock_timestamp(), build text, entry jsonb NOT NULL);
   CREATE INDEX audit_build ON audit (build, seq);`,
  `CREATE TABLE masters (name text PRIMARY KEY, record jsonb NOT NULL);
   CREATE TABLE removed_masters (name text PRIMARY KEY, at text NOT NULL);
   CREATE TABLE tokens (id text PRIMARY KEY, scope text NOT NULL, expires_at timestamptz NOT NULL, record jsonb NOT NULL);
   CREATE INDEX tokens_scope ON tokens (scope);`,
  `CREATE TABLE proxy_authority (id integer PRIMARY KEY CHECK (id = 1), key_pem text NOT NULL, cert_pem text NOT NULL);`,
  // Several replicas: build states, writes in flight (each with a lease its replica renews),
  // WebDAV locks, the replicas themselves, and a counter that says the mirror changed.
  `CREATE TABLE builds (scope text PRIMARY KEY, record jsonb NOT NULL);
   CREATE TABLE replicas (id text PRIMARY KEY, started_at timestamptz NOT NULL DEFAULT clock_timestamp(), seen_at timestamptz NOT NULL DEFAULT clock_timestamp());
   CREATE TABLE writes (id bigserial PRIMARY KEY, scope text NOT NULL, replica text NOT NULL, lease_until timestamptz NOT NULL, cut boolean NOT NULL DEFAULT false);
   CREATE INDEX writes_scope ON writes (scope);
   CREATE INDEX writes_replica ON writes (replica);
   CREATE TABLE dav_locks (token text PRIMARY KEY, build text NOT NULL, principal text NOT NULL, expires_at timestamptz NOT NULL, lock jsonb NOT NULL);
   CREATE INDEX dav_locks_build ON dav_locks (build);
   CREATE TABLE mirror_generation (id integer PRIMARY KEY CHECK (id = 1), generation bigint NOT NULL);
   INSERT INTO mirror_generation VALUES (1, 0);`,
  // Checksum records and dead properties, by tree path; the sha256 column is the checksum
  // index. Collation "C": a folder's members are the range of paths after 'folder/'.
  `CREATE TABLE resources (path text COLLATE "C" PRIMARY KEY, sha256 text, size double precision, mtime_ms double precision, ino double precision, props jsonb);
   CREATE INDEX resources_sha256 ON resources (sha256) WHERE sha256 IS NOT NULL;
   CREATE TABLE resources_imported (id integer PRIMARY KEY CHECK (id = 1), at timestamptz NOT NULL DEFAULT clock_timestamp());`,
  // The keys that sign sealed builds: one current (with its private half), the retired ones public only.
  `CREATE TABLE signing_keys (public_key text PRIMARY KEY, private_pem text, created_at timestamptz NOT NULL, retired_at timestamptz);
   CREATE UNIQUE INDEX signing_keys_current ON signing_keys ((true)) WHERE retired_at IS NULL;`,
  // Recordings are bounded: each line's size, and per build its lines and bytes, counted
  // where a line is appended. Lines recorded before are counted once, here.
  `ALTER TABLE inputs ADD COLUMN bytes integer NOT NULL DEFAULT 0;
   UPDATE inputs SET bytes = octet_length(line::text) + 1;
   CREATE TABLE input_totals (build text PRIMARY KEY, lines integer NOT NULL, bytes bigint NOT NULL, reserved integer NOT NULL DEFAULT 0);
   INSERT INTO input_totals (build, lines, bytes) SELECT build, count(*), sum(bytes) FROM inputs GROUP BY build;`,
  // Secrets of the repository that every replica uses (the key of recordings' keyed hashes).
  `CREATE TABLE repository_secrets (name text PRIMARY KEY, value text NOT NULL);`,
  // Sealed builds, newest first: across the repository, per project, and by revision.
  `CREATE INDEX builds_sealed ON builds ((record->'sealed'->>'sealedAt') DESC, scope DESC) WHERE record ? 'sealed' AND NOT record ? 'retired';
   CREATE INDEX builds_sealed_project ON builds (split_part(scope, '/', 1), split_part(scope, '/', 2), (record->'sealed'->>'sealedAt') DESC, scope DESC) WHERE record ? 'sealed' AND NOT record ? 'retired';
   CREATE INDEX builds_sealed_revision ON builds (((record->'meta'->'source'->>'revision') COLLATE "C")) WHERE record ? 'sealed' AND NOT record ? 'retired';
   CREATE INDEX builds_sealed_type ON builds (split_part(scope, '/', 1), (record->'sealed'->>'sealedAt') DESC, scope DESC) WHERE record ? 'sealed' AND NOT record ? 'retired';
   CREATE INDEX builds_open_revision ON builds (((record->'meta'->'source'->>'revision') COLLATE "C")) WHERE NOT record ? 'sealed' AND NOT record ? 'retired';
   CREATE INDEX builds_sealed_branch ON builds ((record->'meta'->'source'->>'branch'), (record->'sealed'->>'sealedAt') DESC, scope DESC) WHERE record ? 'sealed' AND NOT record ? 'retired';`,
  // Each signing key's OpenPGP twin (apt's Release files), and the package catalogue the
  // seals write: what apt's and pip's indexes list.
  `ALTER TABLE signing_keys ADD COLUMN pgp_public text, ADD COLUMN pgp_private text;
   CREATE TABLE package_builds (scope text COLLATE "C" PRIMARY KEY, type text NOT NULL, project text NOT NULL, sealed_at text COLLATE "C" NOT NULL, skipped jsonb NOT NULL);
   CREATE INDEX package_builds_project ON package_builds (type, project, sealed_at DESC, scope DESC);
   CREATE TABLE packages (scope text COLLATE "C" NOT NULL REFERENCES package_builds ON DELETE CASCADE, path text NOT NULL, format text NOT NULL, name text NOT NULL, entry jsonb NOT NULL, PRIMARY KEY (scope, path));
   CREATE INDEX packages_python ON packages (name) WHERE format <> 'deb';`,
  // OpenID job tokens that minted a build credential (by digest): each mints once.
  `CREATE TABLE used_job_tokens (key text PRIMARY KEY, expires_at timestamptz NOT NULL);`,
  // The artifact tree as rows, its bytes as blobs in a bucket (issue 32, pg/bucket-tree.ts).
  // A row per folder and file by path ('/'-joined, the root '' implicit; collation "C": a
  // folder's members are the range of paths after 'folder/'); `version` is a file's ino,
  // new for every file written. A blob is 'uploading' (its row made before the upload
  // began: a replica that dies midway leaves it to the sweep), 'live' (at most one per
  // SHA-256: identical bytes are stored once), or 'doomed' (being deleted). The garbage
  // collector stamps `unreferenced_since` on a live blob no file refers to; the grace runs
  // from there.
  `CREATE SEQUENCE tree_versions;
   CREATE TABLE tree_entries (path text COLLATE "C" PRIMARY KEY, parent text COLLATE "C" NOT NULL, name text COLLATE "C" NOT NULL, collection boolean NOT NULL,
     size bigint NOT NULL, mtime_ms double precision NOT NULL, version bigint NOT NULL, sha256 text, blob text);
   CREATE INDEX tree_entries_parent ON tree_entries (parent, name);
   CREATE INDEX tree_entries_blob ON tree_entries (blob) WHERE blob IS NOT NULL;
   CREATE TABLE tree_blobs (key text COLLATE "C" PRIMARY KEY, sha256 text, size bigint, state text NOT NULL CHECK (state IN ('uploading', 'live', 'doomed')),
     replica text, since timestamptz NOT NULL DEFAULT clock_timestamp(), unreferenced_since timestamptz);
   CREATE UNIQUE INDEX tree_blobs_live_sha256 ON tree_blobs (sha256) WHERE state = 'live';
   CREATE INDEX tree_blobs_unreferenced ON tree_blobs (unreferenced_since) WHERE state = 'live' AND unreferenced_since IS NOT NULL;
   CREATE INDEX tree_blobs_pending ON tree_blobs (state, since) WHERE state <> 'live';`,
  // Each project's apt indexes (pg/apt-indexes.ts): a row per file, by project ('/'-joined)
  // and path below it, written whole. Collation "C": a folder's files are the paths after 'folder/'.
  `CREATE TABLE apt_files (project text COLLATE "C" NOT NULL, path text COLLATE "C" NOT NULL, body bytea NOT NULL, mtime timestamptz NOT NULL, PRIMARY KEY (project, path));`,
  // The content store's bodies as blobs in the bucket (pg/bucket-content.ts): a row per
  // object, 'uploading' (made before the upload: a replica that dies midway leaves it to
  // the sweep), 'live' (at most one per SHA-256: a body is kept once; `used_at` is when it
  // was last written, for the sweep), or 'doomed' (being deleted).
  `CREATE TABLE content_blobs (key text COLLATE "C" PRIMARY KEY, sha256 text, size bigint, state text NOT NULL CHECK (state IN ('uploading', 'live', 'doomed')),
     replica text, since timestamptz NOT NULL DEFAULT clock_timestamp(), used_at timestamptz);
   CREATE UNIQUE INDEX content_blobs_live_sha256 ON content_blobs (sha256) WHERE state = 'live';
   CREATE INDEX content_blobs_pending ON content_blobs (state, since) WHERE state <> 'live';`,
  // A put's publication in one statement (pg/bucket-tree.ts, putFile): what was thirteen
  // round trips, each a wake-up of the server, is one. In one transaction: the path's puts
  // take turns, the missing parent folders are made and all are held (FOR KEY SHARE), the
  // upload's blob goes live (or the live blob of the same bytes is reused and it doomed),
  // and the file's row names it. What it refuses is raised with a code of its own:
  // AR405 a collection is there, AR409 a file on the way, AR503 the upload was given up.
  `CREATE FUNCTION tree_publish(p_key text, p_parent text, p_name text, p_folders text[], p_folder_parents text[], p_folder_names text[],
     p_now double precision, p_blob text, p_sha256 text, p_size bigint, p_mtime double precision, p_version bigint)
   RETURNS TABLE (o_created boolean, o_replaced_size bigint, o_mtime_ms double precision, o_target text)
   LANGUAGE plpgsql AS $$
   DECLARE
     v_folders integer := coalesce(array_length(p_folders, 1), 0);
     v_locked integer;
     v_file text;
     v_found boolean;
     v_collection boolean;
     v_size bigint;
     v_mtime double precision;
     v_state text;
     v_live text;
     v_target text;
     v_rows integer;
   BEGIN
     PERFORM pg_advisory_xact_lock(hashtextextended('tree:' || p_key, 0));
     IF v_folders > 0 THEN
       FOR attempt IN 1..4 LOOP
         INSERT INTO tree_entries (path, parent, name, collection, size, mtime_ms, version)
           SELECT f, fp, fn, true, 0, p_now, nextval('tree_versions') FROM unnest(p_folders, p_folder_parents, p_folder_names) AS a(f, fp, fn) ORDER BY f
           ON CONFLICT (path) DO NOTHING;
         SELECT count(*), min(path) FILTER (WHERE NOT collection) INTO v_locked, v_file
           FROM (SELECT path, collection FROM tree_entries WHERE path = ANY(p_folders) ORDER BY path FOR KEY SHARE) AS held;
         IF v_file IS NOT NULL THEN
           RAISE EXCEPTION USING ERRCODE = 'AR409', MESSAGE = CASE WHEN v_file = p_folders[v_folders] THEN 'a file exists at this path' ELSE 'a parent of this path is a file' END;
         END IF;
         -- One removed between the two statements (by a removal that committed): made again.
         EXIT WHEN v_locked = v_folders;
         IF attempt = 4 THEN
           RAISE EXCEPTION USING ERRCODE = 'AR409', MESSAGE = 'the parent collections kept changing; try again';
         END IF;
       END LOOP;
     END IF;
     SELECT e.collection, e.size, e.mtime_ms INTO v_collection, v_size, v_mtime FROM tree_entries AS e WHERE e.path = p_key FOR UPDATE;
     v_found := FOUND;
     IF v_found AND v_collection THEN
       RAISE EXCEPTION USING ERRCODE = 'AR405', MESSAGE = 'a collection exists at this path';
     END IF;
     SELECT b.state INTO v_state FROM tree_blobs AS b WHERE b.key = p_blob FOR UPDATE;
     IF v_state IS DISTINCT FROM 'uploading' THEN
       RAISE EXCEPTION USING ERRCODE = 'AR503', MESSAGE = 'the upload was given up meanwhile (it took too long); nothing was stored';
     END IF;
     FOR attempt IN 1..4 LOOP
       -- FOR UPDATE waits for a collection that is dooming it, then skips it: never a doomed blob.
       SELECT b.key INTO v_live FROM tree_blobs AS b WHERE b.sha256 = p_sha256 AND b.state = 'live' FOR UPDATE;
       IF v_live IS NOT NULL THEN
         UPDATE tree_blobs SET unreferenced_since = NULL WHERE key = v_live;
         UPDATE tree_blobs SET state = 'doomed', sha256 = p_sha256, size = p_size, since = clock_timestamp() WHERE key = p_blob;
         v_target := v_live;
         EXIT;
       END IF;
       -- Another put of the same bytes may make its blob live first (the unique index says so): then that one is reused.
       BEGIN
         UPDATE tree_blobs SET state = 'live', sha256 = p_sha256, size = p_size, unreferenced_since = NULL WHERE key = p_blob;
         v_target := p_blob;
         EXIT;
       EXCEPTION WHEN unique_violation THEN
         IF attempt = 4 THEN RAISE; END IF;
       END;
     END LOOP;
     -- Another put of this path since the plan: its time is passed too (a replacement always
     -- gets a new validator: ETag and Last-Modified count whole seconds).
     IF v_found AND floor(v_mtime / 1000) >= floor(p_mtime / 1000) THEN
       p_mtime := (floor(v_mtime / 1000) + 1) * 1000;
     END IF;
     INSERT INTO tree_entries (path, parent, name, collection, size, mtime_ms, version, sha256, blob) VALUES (p_key, p_parent, p_name, false, p_size, p_mtime, p_version, p_sha256, v_target)
       ON CONFLICT (path) DO UPDATE SET size = EXCLUDED.size, mtime_ms = EXCLUDED.mtime_ms, version = EXCLUDED.version, sha256 = EXCLUDED.sha256, blob = EXCLUDED.blob
       WHERE NOT tree_entries.collection;
     GET DIAGNOSTICS v_rows = ROW_COUNT;
     IF v_rows <> 1 THEN
       RAISE EXCEPTION USING ERRCODE = 'AR405', MESSAGE = 'a collection exists at this path';
     END IF;
     RETURN QUERY SELECT NOT v_found, CASE WHEN v_found THEN v_size ELSE 0::bigint END, p_mtime, v_target;
   END
   $$;`,
  // An upload given up (pg/blob-rows.ts, abandon and sweepUploads) is doomed with this mark:
  // a multipart upload of it may hold parts, which its disposal aborts.
  `ALTER TABLE tree_blobs ADD COLUMN abandoned boolean NOT NULL DEFAULT false;
   ALTER TABLE content_blobs ADD COLUMN abandoned boolean NOT NULL DEFAULT false;`,
];

/** The version a migrated database is at. */
export const SCHEMA_VERSION = MIGRATIONS.length;

// pg_advisory_lock takes a bigint: this one is "artifact-repo schema".
const SCHEMA_LOCK = 0x61727469_66616374n;

export class DatabaseUnavailable extends Failure {
  constructor(cause: unknown) {
    super('unavailable', 'the database is unreachable; try again shortly', 5);
    this.cause = cause;
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);

/** Whether an error means the database is not there now (as opposed to a bad query). */
export function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  if (code && UNREACHABLE.has(code)) return true;
  const message = (err as Error).message ?? '';
  return /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Query read timeout/.test(message);
}

// Servers hold it shared, migrate exclusive: no server runs while a repository is copied in.
const REPLICA_LOCK = '7021787497453813622';
// Held by the one replica that runs the scheduled work.
const LEADER_LOCK = '7021787497453813623';

/**
 * A session advisory lock held on a connection of its own for as long as this process
 * wants it. A restart of the database ends the session and so the lock: `keep()` takes it
 * again.
 */
export class HeldLock {
  private client: pg.PoolClient | null = null;
  private taking: Promise<boolean> | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly key: string,
    private readonly shared: boolean,
  ) {}

  get held(): boolean {
    return this.client !== null;
  }

  /** Takes the lock if it is free (true), or says it is not (false). One attempt at a time. */
  take(): Promise<boolean> {
    if (this.client) return Promise.resolve(true);
    this.taking ??= this.attempt().finally(() => (this.taking = null));
    return this.taking;
  }

  private async attempt(): Promise<boolean> {
    const client = await this.pool.connect().catch((err: unknown) => {
      throw isUnreachable(err) ? new DatabaseUnavailable(err) : err;
    });
    let ok: boolean;
    // A checked-out client that loses its server emits 'error': never unheard (it would end the process).
    const ignore = (): void => undefined;
    client.on('error', ignore);
    try {
      const { rows } = await client.query<{ ok: boolean }>(`SELECT ${this.shared ? 'pg_try_advisory_lock_shared' : 'pg_try_advisory_lock'}($1) AS ok`, [this.key]);
      ok = rows[0]?.ok === true;
    } catch (err) {
      client.release(err as Error);
      throw isUnreachable(err) ? new DatabaseUnavailable(err) : err;
    }
    client.off('error', ignore);
    if (!ok) {
      client.release();
      return false;
    }
    client.on('error', (err: Error) => {
      if (this.client !== client) return;
      this.client = null;
      // Given back as broken: the pool drops it.
      client.release(err);
    });
    this.client = client;
    return true;
  }

  /**
   * Whether the lock is still held, taking it again if the session that held it ended (a
   * restart of the database): false if another process has it now, or it cannot be asked.
   */
  async keep(): Promise<boolean> {
    const client = this.client;
    if (client) {
      // A session can end without a word (a failover): asked, not assumed.
      const alive = await client.query('SELECT 1').then(
        () => true,
        () => false,
      );
      if (alive) return true;
      if (this.client === client) {
        this.client = null;
        client.release(new Error('session lost'));
      }
    }
    try {
      return await this.take();
    } catch {
      // Still away: the next try decides.
      return false;
    }
  }

  release(): void {
    const client = this.client;
    this.client = null;
    if (!client) return;
    // Ending the session (rather than unlocking) cannot fail halfway.
    client.release(new Error('lock released'));
  }
}

export class Database {
  /** Connections that hold per-build locks: apart from the queries the holders make meanwhile. */
  private readonly lockPool: pg.Pool;
  private readonly heldLocks: HeldLock[] = [];

  private constructor(
    private readonly pool: pg.Pool,
    /** Set inside atomically(): every query goes to this one connection's transaction. */
    private readonly tx: pg.PoolClient | null = null,
    lockPool?: pg.Pool,
  ) {
    this.lockPool = lockPool ?? pool;
  }

  static async open(url: string): Promise<Database> {
    const options = {
      connectionString: url,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      // A server that vanished without closing the connection is noticed.
      keepAlive: true,
      // The ordering the stores rely on (a write's admission, a seal's wait) is READ
      // COMMITTED's, whatever the database's default says.
      options: '-c default_transaction_isolation=read\\ committed',
    };
    // A query that does not answer within this fails (well inside a write's lease), rather than hang.
    const pool = new pg.Pool({ ...options, max: 10, query_timeout: 5_000 });
    // Lock waits may be long (a seal waits for a build's writes): no query timeout there.
    const lockPool = new pg.Pool({ ...options, max: 8 });
    // An idle client whose server went away must not crash the process.
    pool.on('error', () => undefined);
    lockPool.on('error', () => undefined);
    const db = new Database(pool, null, lockPool);
    try {
      await db.migrate();
    } catch (err) {
      await db.close();
      throw err;
    }
    return db;
  }

  /** A query; a database that cannot be reached is DatabaseUnavailable. */
  async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = [], name?: string): Promise<pg.QueryResult<R>> {
    try {
      // A named query is parsed and planned once per connection (the hot ones: a token per request).
      return await (this.tx ?? this.pool).query<R>(name ? { name, text, values } : { text, values });
    } catch (err) {
      throw isUnreachable(err) ? new DatabaseUnavailable(err) : err;
    }
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect().catch((err: unknown) => {
      throw isUnreachable(err) ? new DatabaseUnavailable(err) : err;
    });
    const ignore = (): void => undefined;
    client.on('error', ignore);
    try {
      await client.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK.toString()]);
      await client.query('CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)');
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_version');
      let version = rows[0]?.version ?? 0;
      if (rows.length === 0) await client.query('INSERT INTO schema_version (version) VALUES (0)');
      for (; version < MIGRATIONS.length; version++) {
        await client.query('BEGIN');
        await client.query(MIGRATIONS[version] as string);
        await client.query('UPDATE schema_version SET version = $1', [version + 1]);
        await client.query('COMMIT');
      }
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK.toString()]).catch(() => undefined);
      client.off('error', ignore);
      client.release();
    }
  }

  /**
   * Runs `work` with a Database whose every query is in one transaction (committed at the
   * end, rolled back if it throws): the stores built on it change all or nothing.
   */
  async atomically<T>(work: (tx: Database) => Promise<T>): Promise<T> {
    return this.transaction((client) => work(new Database(this.pool, client, this.lockPool)));
  }

  /** Runs `work` in one transaction on one connection (rolled back if it throws). */
  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    // Inside atomically(), a transaction is part of the one already open.
    if (this.tx) return work(this.tx);
    const client = await this.pool.connect().catch((err: unknown) => {
      throw isUnreachable(err) ? new DatabaseUnavailable(err) : err;
    });
    let broken: Error | undefined;
    const lost = (err: Error): void => void (broken = err);
    client.on('error', lost);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A ROLLBACK that fails (timed out behind a long statement) leaves the transaction
      // open on this connection: it is destroyed, never handed to the next caller.
      await client.query('ROLLBACK').catch((rollbackFailed: Error) => void (broken ??= rollbackFailed));
      throw isUnreachable(err) ? new DatabaseUnavailable(err) : err;
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  }

  /**
   * Runs `work` while this process holds the lock named `key` across every replica (a
   * session advisory lock, on a connection of the lock pool, so that the holder's own
   * queries never wait for a connection a waiter holds). Waiters queue in the database.
   */
  async withLock<T>(key: string, work: () => Promise<T>): Promise<T> {
    const client = await this.lockPool.connect().catch((err: unknown) => {
      throw isUnreachable(err) ? new DatabaseUnavailable(err) : err;
    });
    // Losing the server while `work` runs must not end the process. (The lock then ends
    // with the session: what `work` writes next fails too, the database being away.)
    let broken: Error | undefined;
    const lost = (err: Error): void => void (broken = err);
    client.on('error', lost);
    try {
      await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
    } catch (err) {
      client.off('error', lost);
      client.release(err as Error);
      throw isUnreachable(err) ? new DatabaseUnavailable(err) : err;
    }
    try {
      return await work();
    } finally {
      if (!broken) await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]).catch((err: Error) => (broken = err));
      client.off('error', lost);
      client.release(broken);
    }
  }

  /** The lock every server holds shared (and migrate alone): see REPLICA_LOCK. */
  replicaLock(shared: boolean): HeldLock {
    return this.track(new HeldLock(this.pool, REPLICA_LOCK, shared));
  }

  /** The lock of the replica that runs the scheduled work. */
  leaderLock(): HeldLock {
    return this.track(new HeldLock(this.pool, LEADER_LOCK, false));
  }

  private track(lock: HeldLock): HeldLock {
    this.heldLocks.push(lock);
    return lock;
  }

  /** The schema version this database is at (for tests and the migrate command). */
  async schemaVersion(): Promise<number> {
    const { rows } = await this.query<{ version: number }>('SELECT version FROM schema_version');
    return rows[0]?.version ?? 0;
  }

  async close(): Promise<void> {
    for (const lock of this.heldLocks.splice(0)) lock.release();
    await Promise.all([this.pool.end(), this.lockPool === this.pool ? undefined : this.lockPool.end()]);
  }
}
