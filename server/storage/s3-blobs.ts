// Blobs in an S3-compatible bucket (issue 32), with the AWS SDK: a put streams, hashed on
// the way (one PutObject when its length is known, else multipart by @aws-sdk/lib-storage;
// an aborted body aborts the request or the upload, so no object appears), a get takes a
// range, a list goes in key order. Only the operations every S3 server has (Swift's s3api
// and Ceph RGW are tested): no conditional write, tag, ACL or version.
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortMultipartUploadCommand, CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Failure, isSystemError } from '../domain/errors.js';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { measuring } from './measuring.js';
import { blobKeyProblem, type BlobStore, type BucketLocation } from '../domain/stores.js';

/** The longest body sent as one PutObject: the limit of one request on S3, Swift and RGW alike. */
const SINGLE_PUT_MAX_BYTES = 5 * 1024 ** 3;
/** Whether a body of this size goes as one PutObject: its length known, and within one request's limit. */
function oneRequest(size: number | undefined): size is number {
  return size !== undefined && size <= SINGLE_PUT_MAX_BYTES;
}

/** Parts of a multipart upload (a body of unknown length, or a longer one): what one part holds in memory while it is sent. */
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

/** A connection that cannot be made fails within this; one that goes silent, within the idle time. */
const CONNECT_TIMEOUT_MS = 5_000;
const IDLE_TIMEOUT_MS = 60_000;

/** The object store is not answering (down, unreachable, overloaded): 503, and the request can be tried again. */
export class ObjectStoreUnavailable extends Failure {
  constructor(cause: unknown) {
    super('unavailable', 'the object store is unreachable; try again shortly', 5);
    this.cause = cause;
  }
}

/**
 * What an S3 call's failure means to a client: the store away or overloaded (a network
 * error, a timeout, a 5xx, SlowDown, an upload that gave up on it) is ObjectStoreUnavailable; what it refused (a 403:
 * the credentials, a missing bucket) an internal failure, whose cause goes to the log only.
 */
export function s3Failure(err: unknown): Error {
  if (err instanceof Failure) return err;
  const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
  const name = (err as Error | undefined)?.name ?? '';
  if (isSystemError(err) || (status !== undefined && status >= 500) || ['TimeoutError', 'RequestTimeout', 'SlowDown', 'ServiceUnavailable', 'InternalError', 'AbortError'].includes(name) || /socket hang up|ECONNREFUSED|ECONNRESET|ETIMEDOUT/.test((err as Error | undefined)?.message ?? '')) {
    return new ObjectStoreUnavailable(err);
  }
  const failure = new Failure('internal', `the object store refused the request (${status ?? name})`);
  failure.cause = err;
  return failure;
}

function missing(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.$metadata.httpStatusCode === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound');
}

/** The SDK's warnings, which it prints on the console unless given a logger: what fails is the caller's to report. */
const QUIET: NonNullable<S3ClientConfig['logger']> = { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * An S3 client as the repository uses one (the app, and the tests and benchmarks that go
 * to the same bucket): the SDK's own checksums only where S3 requires them, since by
 * default it sends a streamed body "aws-chunked" with a trailing CRC32, which Swift refuses
 * (501), and checks one on every download; the repository hashes (SHA-256) every byte it
 * stores and serves.
 */
export function s3Client(config: S3ClientConfig): S3Client {
  return new S3Client({
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // No "Expect: 100-continue" on large bodies: the SDK would send each on a connection of
    // its own (no keep-alive), and wait seconds on a server that never answers 100.
    expectContinueHeader: false,
    logger: QUIET,
    ...config,
  });
}

/**
 * Multipart uploads (bodies of unknown length) at once, per replica: each holds up to three
 * parts in memory (two in flight, one filling), and what a build sends is otherwise
 * unbounded. Past it, such a put is refused (503) at once; bodies of known length never wait.
 */
const MAX_MULTIPART_UPLOADS = 4;

export class S3BlobStore implements BlobStore {
  private multipartUploads = 0;
  private readonly maxMultipartUploads: number;
  /** How long the client's socket may be silent (its requestHandler's socketTimeout), if it is cut at all. */
  private readonly idleTimeoutMs: number | null;

  constructor(
    private readonly at: S3Location,
    options: { maxMultipartUploads?: number; idleTimeoutMs?: number } = {},
  ) {
    this.maxMultipartUploads = options.maxMultipartUploads ?? MAX_MULTIPART_UPLOADS;
    this.idleTimeoutMs = options.idleTimeoutMs ?? null;
  }

  /** The bucket of BLOB_STORE, with the AWS SDK's own chain of credentials (environment, shared files, instance roles). */
  static open(location: BucketLocation, options: { idleTimeoutMs?: number } = {}): S3BlobStore {
    const client = s3Client({
      region: location.region,
      forcePathStyle: location.forcePathStyle,
      ...(location.endpoint ? { endpoint: location.endpoint } : {}),
      // A store that is down fails a request in seconds, not never (the SDK waits for ever by
      // default): a connection within CONNECT_TIMEOUT_MS, and a socket silent for
      // IDLE_TIMEOUT_MS is cut (its requestTimeout only warns, and would cut long downloads).
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS },
    });
    return new S3BlobStore({ client, bucket: location.bucket, prefix: location.prefix }, { idleTimeoutMs: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS });
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

  async put(key: string, body: Readable, size?: number): Promise<{ size: number; sha256: string }> {
    const multipart = !oneRequest(size);
    if (multipart) {
      if (this.multipartUploads >= this.maxMultipartUploads) {
        body.destroy();
        throw new Failure('unavailable', 'too many uploads without a Content-Length at once; send one, or try again shortly', 5);
      }
      this.multipartUploads++;
    }
    try {
      return await this.transfer(key, body, size);
    } finally {
      if (multipart) this.multipartUploads--;
    }
  }

  private async transfer(key: string, body: Readable, size: number | undefined): Promise<{ size: number; sha256: string }> {
    const counting = measuring(size);
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    // Every error of `out` heard, for its whole life: the SDK pipes it without listening, and
    // the pipeline below stops listening once the body has gone into it (whatever is left in
    // it may still fail on its way to the store). What failed is told by the promises.
    out.on('error', () => undefined);
    const sending = this.send(key, out, size);
    // One request goes at the client's pace: when the store's socket fell silent because the
    // body did (nothing waiting to be sent, the body not ended, nothing from it for half the
    // idle time), the client stalled, not the store.
    const bodyStalled = (): boolean =>
      oneRequest(size) && this.idleTimeoutMs !== null && !counting.stream.writableFinished && out.readableLength === 0 && out.writableLength === 0 && counting.idleMs() >= this.idleTimeoutMs / 2;
    let stalled = false;
    // Whichever fails first is the cause: the body (the store's request is then aborted:
    // no object, whole or not), or the store (the body is then ended: it would otherwise
    // wait, paused, for ever). An AbortError from the body's side is the upload's own doing
    // (it gave up on the store and ended its input).
    let failedFirst: 'body' | 'store' | null = null;
    const feeding = pipeline(body, counting.stream, out).catch((err: unknown) => {
      if (failedFirst === null && (err as Error | undefined)?.name !== 'AbortError') {
        failedFirst = 'body';
        sending.abort();
      }
      throw err;
    });
    const storing = sending.done.catch((err: unknown) => {
      if (failedFirst === null) {
        failedFirst = 'store';
        stalled = bodyStalled();
      }
      out.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    });
    // Both settled before the put answers: a failed put has ended its body and its request.
    const [fed, stored] = await Promise.allSettled([feeding, storing]);
    if (failedFirst === 'body' && fed.status === 'rejected') throw fed.reason;
    if (stalled) throw new Failure('invalid', 'request body stalled: nothing arrived for too long; nothing was stored');
    if (stored.status === 'rejected') throw s3Failure(stored.reason);
    if (fed.status === 'rejected') throw fed.reason;
    return counting.result();
  }

  /**
   * The request(s) that store `body`: one streamed PutObject when its length is known and
   * within one request's limit (no part is buffered, so no copy and a few MiB at most);
   * otherwise lib-storage's multipart upload, which holds its parts in memory.
   */
  private send(key: string, body: Readable, size: number | undefined): { done: Promise<unknown>; abort(): void } {
    const target = { Bucket: this.at.bucket, Key: this.keyOf(key) };
    if (oneRequest(size)) {
      const controller = new AbortController();
      return { done: this.at.client.send(new PutObjectCommand({ ...target, Body: body, ContentLength: size }), { abortSignal: controller.signal }), abort: () => controller.abort() };
    }
    const upload = new Upload({ client: this.at.client, params: { ...target, Body: body }, partSize: PART_SIZE, queueSize: QUEUE_SIZE, leavePartsOnError: false });
    return { done: upload.done(), abort: () => void upload.abort().catch(() => undefined) };
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable | null> {
    try {
      const answer = await this.at.client.send(new GetObjectCommand({ Bucket: this.at.bucket, Key: this.keyOf(key), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }));
      return answer.Body as Readable;
    } catch (err) {
      if (missing(err)) return null;
      throw s3Failure(err);
    }
  }

  async presignGet(key: string, options: { contentType: string; seconds: number }): Promise<string> {
    // Signed here, with nothing asked of the store: only a clock and the credentials.
    return getSignedUrl(this.at.client, new GetObjectCommand({ Bucket: this.at.bucket, Key: this.keyOf(key), ResponseContentType: options.contentType }), { expiresIn: options.seconds });
  }

  async head(key: string): Promise<{ size: number } | null> {
    try {
      const answer = await this.at.client.send(new HeadObjectCommand({ Bucket: this.at.bucket, Key: this.keyOf(key) }));
      return { size: answer.ContentLength ?? 0 };
    } catch (err) {
      if (missing(err)) return null;
      throw s3Failure(err);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    await this.eachKey(keys, async (key) => {
      await this.at.client.send(new DeleteObjectCommand({ Bucket: this.at.bucket, Key: key }));
    });
  }

  async abortUploads(keys: readonly string[]): Promise<void> {
    await this.eachKey(keys, async (key) => {
      // The uploads begun under this very key (a prefix would take in longer keys too).
      const { Uploads = [] } = await this.at.client.send(new ListMultipartUploadsCommand({ Bucket: this.at.bucket, Prefix: key }));
      for (const upload of Uploads) {
        if (upload.Key === key && upload.UploadId) await this.at.client.send(new AbortMultipartUploadCommand({ Bucket: this.at.bucket, Key: key, UploadId: upload.UploadId }));
      }
    });
  }

  /** Runs `work` on each key (checked, prefixed), a few at a time. */
  private async eachKey(keys: readonly string[], work: (key: string) => Promise<void>): Promise<void> {
    const queue = keys.map((k) => this.keyOf(k));
    const worker = async (): Promise<void> => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) await work(key);
    };
    try {
      await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, queue.length) }, worker));
    } catch (err) {
      throw s3Failure(err);
    }
  }

  async list(prefix: string, after: string | null, limit: number): Promise<{ keys: string[]; next: string | null }> {
    const answer = await this.at.client
      .send(new ListObjectsV2Command({ Bucket: this.at.bucket, Prefix: `${this.at.prefix}${prefix}`, MaxKeys: limit, ...(after !== null ? { StartAfter: `${this.at.prefix}${after}` } : {}) }))
      .catch((err: unknown) => Promise.reject(s3Failure(err)));
    const keys = (answer.Contents ?? []).flatMap((o) => (o.Key ? [o.Key.slice(this.at.prefix.length)] : []));
    return { keys, next: answer.IsTruncated ? (keys[keys.length - 1] ?? null) : null };
  }

  async copy(from: string, to: string): Promise<void> {
    // CopySource is "bucket/key", each part URL-encoded (keys may hold spaces and more).
    const source = `${this.at.bucket}/${this.keyOf(from).split('/').map(encodeURIComponent).join('/')}`;
    await this.at.client.send(new CopyObjectCommand({ Bucket: this.at.bucket, Key: this.keyOf(to), CopySource: source })).catch((err: unknown) => Promise.reject(s3Failure(err)));
  }
}
