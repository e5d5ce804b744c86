import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
  type PutObjectCommandInput,
  type S3ClientConfig,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ObjectNotFoundError, StorageAuthError, StorageError, errorMessage } from '../errors.js';
import { S3_LIMITS, checkS3Options, type S3StorageOptions } from './s3-options.js';
import type { ObjectInfo, ObjectMeta, PutResult, Storage } from './storage.js';

export type { S3StorageOptions } from './s3-options.js';

/** Error names S3 (and S3-compatible stores) use when they refuse the caller's credentials. */
const AUTH_ERRORS = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'InvalidClientTokenId',
  // The SDK found no credentials at all in its default chain.
  'CredentialsProviderError',
]);

/**
 * Amazon S3 and S3-compatible stores through AWS SDK v3. Uploads go through
 * lib-storage's `Upload` (multipart when the stream exceeds one part), since
 * a stream of unknown length cannot be sent as one PutObject to every store.
 * A failed or aborted upload is aborted server-side so that no parts remain.
 *
 * Long transfers: with no static keys, the SDK's default credential chain
 * serves temporary credentials (instance role, web identity) and refreshes
 * them by itself before they expire, so a multi-hour upload keeps signing
 * its parts with valid credentials.
 */
export function createS3Storage(options: S3StorageOptions): Storage {
  checkS3Options(options);
  const pageSize = options.listingPageSize ?? 1000;
  const bucket = options.bucket;
  const base = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
  const where = options.endpoint ?? `AWS region ${options.region}`;

  const config: S3ClientConfig = { region: options.region };
  if (options.endpoint) config.endpoint = options.endpoint;
  if (options.forcePathStyle) config.forcePathStyle = true;
  if (options.accessKeyId && options.secretAccessKey) {
    config.credentials = { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey };
  }
  const client = new S3Client(config);

  const fullKey = (key: string): string => (base ? `${base}/${key}` : key);
  const shortKey = (key: string): string => (base && key.startsWith(`${base}/`) ? key.slice(base.length + 1) : key);

  const statusOf = (err: unknown): number | undefined => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const isNotFound = (err: unknown): boolean => {
    const name = (err as { name?: string }).name;
    return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket' || statusOf(err) === 404;
  };

  /** The SDK's error as one of ours, with the operation, bucket and key and never a secret. */
  const failure = (what: string, key: string | undefined, err: unknown): StorageError => {
    if (err instanceof StorageError) return err;
    const name = (err as { name?: string }).name ?? 'Error';
    const status = statusOf(err);
    // HEAD answers carry no body, so a refused HEAD is a bare 403 named "Forbidden".
    if (AUTH_ERRORS.has(name) || status === 403) {
      return new StorageAuthError(
        `s3: ${what} refused for bucket '${bucket}' at ${where} (${[name === 'Unknown' ? '' : name, status ? `HTTP ${status}` : ''].filter(Boolean).join(', ')}); ` +
          "check s3_access_key/s3_secret_key or the instance's credentials and their permissions",
        { cause: err },
      );
    }
    const target = key === undefined ? `bucket '${bucket}'` : `'${key}' in bucket '${bucket}'`;
    const detail = err instanceof S3ServiceException ? `${name}${status ? ` (HTTP ${status})` : ''}: ${err.message}` : errorMessage(err);
    const message = `s3: ${what} of ${target} at ${where} failed: ${detail}`;
    return isNotFound(err) ? new ObjectNotFoundError(message, { cause: err }) : new StorageError(message, { cause: err });
  };

  let bucketReady: Promise<void> | undefined;
  const ensureBucket = (): Promise<void> => {
    bucketReady ??= (async () => {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }));
        return;
      } catch (err) {
        if (!isNotFound(err)) throw failure('HEAD', undefined, err);
      }
      try {
        await client.send(
          new CreateBucketCommand({
            Bucket: bucket,
            // us-east-1 is the one region that refuses an explicit constraint.
            ...(options.region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: options.region as never } }),
          }),
        );
      } catch (err) {
        const name = (err as { name?: string }).name;
        // Another agent sharing the bucket created it first.
        if (name !== 'BucketAlreadyOwnedByYou') throw failure('creation', undefined, err);
      }
    })().catch((err: unknown) => {
      bucketReady = undefined;
      throw err;
    });
    return bucketReady;
  };

  /** Aborts every unfinished multipart upload of exactly this key. */
  const abortMultipartUploads = async (key: string): Promise<void> => {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await client.send(
        new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key !== key || !upload.UploadId) continue;
        try {
          await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId }));
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      if (!page.IsTruncated) return;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  };

  return {
    name: 's3',
    limits: S3_LIMITS,

    async put(key: string, data: Readable, meta: ObjectMeta, signal?: AbortSignal): Promise<PutResult> {
      signal?.throwIfAborted();
      await ensureBucket();
      const target = fullKey(key);
      let size = 0;
      const body = Readable.from(
        (async function* () {
          for await (const chunk of data) {
            size += (chunk as Buffer).length;
            yield chunk as Buffer;
          }
        })(),
        { objectMode: false },
      );
      const params: PutObjectCommandInput = { Bucket: bucket, Key: target, Body: body, Metadata: meta };
      if (options.serverSideEncryption) params.ServerSideEncryption = options.serverSideEncryption;
      if (options.sseKmsKeyId) params.SSEKMSKeyId = options.sseKmsKeyId;
      if (options.storageClass) params.StorageClass = options.storageClass as StorageClass;
      const upload = new Upload({
        client,
        params,
        partSize: options.partSize,
        queueSize: options.queueSize,
        // Abort the multipart upload on failure: a backup that failed does not exist.
        leavePartsOnError: false,
      });
      const onAbort = () => void upload.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await upload.done();
      } catch (err) {
        body.destroy();
        // The source's own failure is the one to report. When the SDK gives up
        // first, tearing down its iteration destroys the source with an
        // AbortError: that is only a consequence (our own abort is the signal).
        if (data.errored && (data.errored as Error).name !== 'AbortError') throw data.errored;
        // lib-storage also reports its own internal aborts as AbortError: only ours is an abort.
        if (signal?.aborted) throw err;
        // lib-storage aborts its multipart upload, unless the store is gone:
        // then the parts stay, and the operator must be told how to remove them.
        const cleaned = await abortMultipartUploads(target).then(() => true, () => false);
        const error = failure('upload', key, err);
        if (cleaned) throw error;
        throw new (error.constructor as typeof StorageError)(
          `${error.message}; unfinished multipart parts of ${target} may remain in bucket '${bucket}': deleting the backup removes them (or 'aws s3api list-multipart-uploads --bucket ${bucket}' and abort-multipart-upload)`,
          { cause: err },
        );
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      return { location: `s3://${bucket}/${target}`, size };
    },

    async get(key: string, signal?: AbortSignal): Promise<Readable> {
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: fullKey(key) }), signal ? { abortSignal: signal } : {});
        if (!(response.Body instanceof Readable)) throw new StorageError(`s3: download of '${key}' in bucket '${bucket}' returned no body`);
        return response.Body;
      } catch (err) {
        if ((err as Error).name === 'AbortError') throw err;
        throw failure('download', key, err);
      }
    },

    async head(key: string): Promise<ObjectInfo | undefined> {
      try {
        const response = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: fullKey(key) }));
        return { key, size: response.ContentLength ?? 0, meta: { ...response.Metadata } };
      } catch (err) {
        if (isNotFound(err) && statusOf(err) !== 403) return undefined;
        throw failure('HEAD', key, err);
      }
    },

    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      let token: string | undefined;
      for (;;) {
        let page;
        try {
          page = await client.send(
            new ListObjectsV2Command({ Bucket: bucket, Prefix: fullKey(prefix), MaxKeys: pageSize, ContinuationToken: token }),
          );
        } catch (err) {
          // A bucket nobody wrote to yet holds nothing.
          if ((err as { name?: string }).name === 'NoSuchBucket') return;
          throw failure('listing', prefix, err);
        }
        for (const object of page.Contents ?? []) {
          if (object.Key === undefined) continue;
          yield { key: shortKey(object.Key), size: object.Size ?? 0, meta: {} };
        }
        if (!page.IsTruncated || !page.NextContinuationToken) return;
        token = page.NextContinuationToken;
      }
    },

    async delete(key: string): Promise<void> {
      const target = fullKey(key);
      try {
        // One by one: DeleteObjects needs a Content-MD5 that some stores insist on and current SDKs no longer send.
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: target }));
      } catch (err) {
        if (!isNotFound(err)) throw failure('delete', key, err);
      }
      try {
        await abortMultipartUploads(target);
      } catch (err) {
        if ((err as { name?: string }).name !== 'NoSuchBucket') throw failure('abort of unfinished uploads', key, err);
      }
    },
  };
}
