// Blobs in an S3-compatible bucket (issue 32), with the AWS SDK: a put streams (multipart
// past PART_SIZE, by @aws-sdk/lib-storage, hashed on the way; an aborted body aborts the
// upload, so no object appears), a get takes a range, a list goes in key order. Only the
// operations every S3 server has (Swift's s3api and Ceph RGW are tested): no conditional
// write, tag, ACL or version.
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { measuring } from './measuring.js';
import { blobKeyProblem, type BlobStore, type BucketLocation } from '../domain/stores.js';

/** Parts of a multipart upload: what one part holds in memory while it is sent. */
const PART_SIZE = 8 * 1024 * 1024;
/** Parts in flight at once, per upload. */
const QUEUE_SIZE = 2;
/** Deletions in flight at once (DeleteObject: multi-object delete is not on every server). */
const DELETE_CONCURRENCY = 8;

export interface S3Location {
  client: S3Client;
  bucket: string;
  /** Below which the repository's keys are ('' for the whole bucket; else ends with '/'). */
  prefix: string;
}

function missing(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.$metadata.httpStatusCode === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound');
}

export class S3BlobStore implements BlobStore {
  constructor(private readonly at: S3Location) {}

  /** The bucket of BLOB_STORE, with the AWS SDK's own chain of credentials (environment, shared files, instance roles). */
  static open(location: BucketLocation): S3BlobStore {
    const client = new S3Client({ region: location.region, forcePathStyle: location.forcePathStyle, ...(location.endpoint ? { endpoint: location.endpoint } : {}) });
    return new S3BlobStore({ client, bucket: location.bucket, prefix: location.prefix });
  }

  /** Lets go of the client's connections. */
  close(): void {
    this.at.client.destroy();
  }

  private keyOf(key: string): string {
    const problem = blobKeyProblem(key);
    if (problem) throw new Error(`${problem}: ${JSON.stringify(key.slice(0, 100))}`);
    return `${this.at.prefix}${key}`;
  }

  async put(key: string, body: Readable): Promise<{ size: number; sha256: string }> {
    const counting = measuring();
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    const upload = new Upload({ client: this.at.client, params: { Bucket: this.at.bucket, Key: this.keyOf(key), Body: out }, partSize: PART_SIZE, queueSize: QUEUE_SIZE, leavePartsOnError: false });
    // The body failing aborts the upload (its parts are removed): no object, whole or not.
    const feeding = pipeline(body, counting.stream, out).catch((err: unknown) => {
      void upload.abort().catch(() => undefined);
      throw err;
    });
    // The store failing ends the body too: it would otherwise wait, paused, for ever.
    const storing = upload.done().catch((err: unknown) => {
      out.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    });
    // Both settled before the put answers: a failed put has ended its body and its upload.
    const [fed, stored] = await Promise.allSettled([feeding, storing]);
    if (stored.status === 'rejected') throw stored.reason;
    if (fed.status === 'rejected') throw fed.reason;
    return counting.result();
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable | null> {
    try {
      const answer = await this.at.client.send(new GetObjectCommand({ Bucket: this.at.bucket, Key: this.keyOf(key), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }));
      return answer.Body as Readable;
    } catch (err) {
      if (missing(err)) return null;
      throw err;
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    try {
      const answer = await this.at.client.send(new HeadObjectCommand({ Bucket: this.at.bucket, Key: this.keyOf(key) }));
      return { size: answer.ContentLength ?? 0 };
    } catch (err) {
      if (missing(err)) return null;
      throw err;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    const queue = [...keys];
    const worker = async (): Promise<void> => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
        await this.at.client.send(new DeleteObjectCommand({ Bucket: this.at.bucket, Key: this.keyOf(key) }));
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, queue.length) }, worker));
  }

  async list(prefix: string, after: string | null, limit: number): Promise<{ keys: string[]; next: string | null }> {
    const answer = await this.at.client.send(
      new ListObjectsV2Command({ Bucket: this.at.bucket, Prefix: `${this.at.prefix}${prefix}`, MaxKeys: limit, ...(after !== null ? { StartAfter: `${this.at.prefix}${after}` } : {}) }),
    );
    const keys = (answer.Contents ?? []).flatMap((o) => (o.Key ? [o.Key.slice(this.at.prefix.length)] : []));
    return { keys, next: answer.IsTruncated ? (keys[keys.length - 1] ?? null) : null };
  }

  async copy(from: string, to: string): Promise<void> {
    // CopySource is "bucket/key", each part URL-encoded (keys may hold spaces and more).
    const source = `${this.at.bucket}/${this.keyOf(from).split('/').map(encodeURIComponent).join('/')}`;
    await this.at.client.send(new CopyObjectCommand({ Bucket: this.at.bucket, Key: this.keyOf(to), CopySource: source }));
  }
}
