// A suite's S3 mode (issue 32): every server it starts keeps its tree in a fresh
// PostgreSQL database and its bytes in a fresh bucket of a real OpenStack Swift (s3api),
// both started by the test on loopback; the server's own folder holds only its temporary
// files. The AWS SDK finds the credentials where it always does: the environment.
import { useStoreSettings } from './harness.js';
import { freshDatabase, requirePostgres } from './postgres.js';
import { requireSwift, startSwift, type RunningSwift } from './swift.js';

let buckets = 0;

/** The settings of S3 mode on a fresh bucket of this Swift (the database is the caller's). */
export async function s3Settings(swift: RunningSwift): Promise<Record<string, string>> {
  return {
    BLOB_STORE: `s3://${await swift.bucket(`repo-${process.pid}-${++buckets}`)}/tree`,
    S3_ENDPOINT: swift.endpoint,
    S3_FORCE_PATH_STYLE: 'true',
  };
}

/** Gives the AWS SDK this server's credentials through the environment, as an operator would; returns what puts the old ones back. */
export function useS3Credentials(swift: RunningSwift): () => void {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = swift.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = swift.secretAccessKey;
  return () => {
    for (const [name, value] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

/** Turns S3 mode on; returns what turns it off (and stops PostgreSQL and Swift). */
export async function bucketMode(ctx: Mocha.Context): Promise<{ swift: RunningSwift; teardown: () => Promise<void> }> {
  const postgres = await requirePostgres(ctx);
  requireSwift(ctx);
  const swift = await startSwift();
  const restore = useS3Credentials(swift);
  useStoreSettings(async () => ({ DATABASE_URL: await freshDatabase(postgres), ...(await s3Settings(swift)) }));
  return {
    swift,
    teardown: async () => {
      useStoreSettings(null);
      restore();
      await swift.stop();
      await postgres.remove();
    },
  };
}
