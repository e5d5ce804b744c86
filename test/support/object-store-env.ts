/** Connection facts of the test Swift (with s3api) started by test/services/object-store.sh. */
export const swiftTestAccount = {
  authUrl: process.env.SWIFT_AUTH_URL ?? 'http://127.0.0.1:8080/auth/v1.0',
  user: process.env.SWIFT_USER ?? 'test:tester',
  key: process.env.SWIFT_KEY ?? 'testing',
};

/** The same test Swift through its S3 API (s3api); path-style addressing is required. */
export const s3TestAccount = {
  endpoint: process.env.S3_ENDPOINT ?? 'http://127.0.0.1:8080',
  accessKeyId: process.env.S3_ACCESS_KEY ?? 'test:tester',
  secretAccessKey: process.env.S3_SECRET_KEY ?? 'testing',
  region: process.env.S3_REGION ?? 'us-east-1',
};

/** Agent configuration keys for the test Swift: one container, segments of `segmentSize`. */
export function swiftAgentSettings(container: string, segmentSize: string | number = '256KiB'): Record<string, unknown> {
  return {
    storage_strategy: 'swift',
    swift_auth_url: swiftTestAccount.authUrl,
    swift_user: swiftTestAccount.user,
    swift_key: swiftTestAccount.key,
    backup_swift_container: container,
    backup_segment_max_size: segmentSize,
  };
}

/** Agent configuration keys for the test S3 (s3api): one bucket, an optional key prefix. */
export function s3AgentSettings(bucket: string, extra: { prefix?: string; partSize?: string | number; queueSize?: number } = {}): Record<string, unknown> {
  return {
    storage_strategy: 's3',
    s3_bucket: bucket,
    s3_endpoint: s3TestAccount.endpoint,
    s3_region: s3TestAccount.region,
    s3_force_path_style: true,
    s3_access_key: s3TestAccount.accessKeyId,
    s3_secret_key: s3TestAccount.secretAccessKey,
    s3_part_size: extra.partSize ?? '5MiB',
    ...(extra.prefix ? { s3_prefix: extra.prefix } : {}),
    ...(extra.queueSize ? { s3_queue_size: extra.queueSize } : {}),
  };
}
