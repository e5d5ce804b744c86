import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { createLocalStorage } from '../../src/storage/local-storage.js';
import { createS3Storage, type S3StorageOptions } from '../../src/storage/s3-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { createSwiftStorage } from '../../src/storage/swift-storage.js';
import { s3TestAccount, swiftTestAccount } from './object-store-env.js';
import { makeTempDir, removeDir } from './temp-dir.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

/** One backend of the test object store (or a local directory), in a namespace of its own. */
export interface TestStore {
  name: 'local' | 'swift' | 's3';
  /** The container or bucket (swift, s3); undefined for local, whose directory is made on first open. */
  namespace: string | undefined;
  /** The store, in the same namespace each time, with the driver's listing page size changed if asked. */
  open(options?: { listingPageSize?: number }): Promise<Storage>;
  /** Removes the namespace and everything in it. */
  cleanUp(): Promise<void>;
}

/** Options of an S3 store on the test server in `bucket` (5 MiB parts, 2 in flight). */
export const s3TestOptions = (bucket: string, extra: Partial<S3StorageOptions> = {}): S3StorageOptions => ({
  ...s3TestAccount,
  bucket,
  forcePathStyle: true,
  partSize: 5 * MiB,
  queueSize: 2,
  ...extra,
});

/** A plain SDK client on the test server, to look behind the backend. */
export const s3TestClient = (): S3Client =>
  new S3Client({
    endpoint: s3TestAccount.endpoint,
    region: s3TestAccount.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3TestAccount.accessKeyId, secretAccessKey: s3TestAccount.secretAccessKey },
  });

/** Deletes every object (and unfinished upload) in the bucket, then the bucket. */
export async function removeS3Bucket(bucket: string): Promise<void> {
  const storage = createS3Storage(s3TestOptions(bucket));
  const keys: string[] = [];
  for await (const info of storage.list('')) keys.push(info.key);
  for (const key of keys) await storage.delete(key);
  const client = s3TestClient();
  await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
  client.destroy();
}

/** Deletes a Swift container of the test account and everything in it. */
export async function removeSwiftContainer(container: string): Promise<void> {
  await run('swift', ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key, 'delete', container]).catch(() => undefined);
}

/** A local, a Swift (segments of `swiftSegmentSize`) and an S3 store, each in a new namespace named after `label`. */
export function testStores(label: string, swiftSegmentSize: number): TestStore[] {
  const suffix = randomBytes(4).toString('hex');
  let dir: string | undefined;
  const container = `${label}-${suffix}`;
  const bucket = `${label}-s3-${suffix}`;
  return [
    {
      name: 'local',
      namespace: undefined,
      async open() {
        dir ??= await makeTempDir(label);
        return createLocalStorage({ path: dir });
      },
      cleanUp: () => removeDir(dir),
    },
    {
      name: 'swift',
      namespace: container,
      open: async (options = {}) => createSwiftStorage({ ...swiftTestAccount, container, segmentSize: swiftSegmentSize, ...options }),
      cleanUp: () => removeSwiftContainer(container),
    },
    {
      name: 's3',
      namespace: bucket,
      open: async (options = {}) => createS3Storage(s3TestOptions(bucket, options)),
      cleanUp: () => removeS3Bucket(bucket),
    },
  ];
}
