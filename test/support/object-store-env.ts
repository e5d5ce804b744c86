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
