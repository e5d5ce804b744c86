/** Connection facts of the test Swift (with s3api) started by test/services/object-store.sh. */
export const swiftTestAccount = {
  authUrl: process.env.SWIFT_AUTH_URL ?? 'http://127.0.0.1:8080/auth/v1.0',
  user: process.env.SWIFT_USER ?? 'test:tester',
  key: process.env.SWIFT_KEY ?? 'testing',
};
