import { StorageError } from '../errors.js';
import type { StorageLimits } from './storage.js';

/** S3's smallest multipart part (but the last). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

/** S3 takes keys of 1,024 bytes, and the driver puts `<prefix>/` before each: room for a prefix of 123 bytes. */
export const S3_LIMITS: StorageLimits = { indexKeyBudget: 900 };

export interface S3StorageOptions {
  bucket: string;
  /**
   * The bucket's region. A wrong region is the classic cause of mysterious
   * connection resets, 301 PermanentRedirect answers and signature errors on
   * AWS: the request is signed for one region and sent to another.
   */
  region: string;
  /**
   * Base path ("profile") inside the bucket, so that several clusters can
   * share one: keys are stored as `<prefix>/<key>`, listed and returned
   * without it.
   */
  prefix?: string;
  /** S3-compatible endpoint (Swift s3api, MinIO, Ceph); AWS when unset. */
  endpoint?: string;
  /** Required by most S3-compatible stores (bucket in the path, not the host name). */
  forcePathStyle?: boolean;
  /**
   * Static keys. When both are unset the SDK's default credential chain is used
   * (environment, shared config, web identity, ECS/EC2 instance roles).
   */
  accessKeyId?: string;
  /** Never logged, never in an error. */
  secretAccessKey?: string;
  /** Passed through only when set (this project's test server answers 501 to it). */
  serverSideEncryption?: 'AES256' | 'aws:kms';
  /** With serverSideEncryption 'aws:kms': the key to use instead of the account default. */
  sseKmsKeyId?: string;
  /** e.g. STANDARD_IA, GLACIER_IR; passed through only when set. */
  storageClass?: string;
  /** Bytes per multipart part, at least 5 MiB. Memory ≈ 2 × queueSize × partSize. */
  partSize: number;
  /** Parts uploaded in parallel. */
  queueSize: number;
  /** Objects per listing page (S3 allows at most 1000). */
  listingPageSize?: number;
}

/**
 * Refuses options the S3 driver cannot work with, naming the option. Kept
 * apart from the driver so that a configuration is checked at once without
 * loading the AWS SDK (~0.4 s and ~14 MiB) in processes that never talk to S3.
 */
export function checkS3Options(options: S3StorageOptions): void {
  for (const name of ['bucket', 'region'] as const) {
    if (!options[name]) throw new StorageError(`s3 storage: option '${name}' is required`);
  }
  for (const name of ['partSize', 'queueSize'] as const) {
    if (!Number.isInteger(options[name]) || options[name] <= 0) {
      throw new StorageError(`s3 storage: option '${name}' is required and must be a positive integer`);
    }
  }
  if (options.partSize < MIN_PART_SIZE) {
    throw new StorageError(`s3 storage: option 'partSize' must be at least ${MIN_PART_SIZE} bytes (5 MiB), got ${options.partSize}`);
  }
  if (Boolean(options.accessKeyId) !== Boolean(options.secretAccessKey)) {
    throw new StorageError(`s3 storage: option '${options.accessKeyId ? 'secretAccessKey' : 'accessKeyId'}' is required when the other key is set`);
  }
  if (options.sseKmsKeyId && options.serverSideEncryption !== 'aws:kms') {
    throw new StorageError("s3 storage: option 'sseKmsKeyId' needs serverSideEncryption 'aws:kms'");
  }
}
