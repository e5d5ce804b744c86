import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { execa } from 'execa';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigError, StorageError } from '../../src/errors.js';
import { createStorage } from '../../src/storage/create-storage.js';

const moduleUrl = (relative: string): string => JSON.stringify(fileURLToPath(new URL(relative, import.meta.url)));

/**
 * Runs `body` in a fresh node with createStorage and loadConfig imported, and
 * says whether the AWS SDK was loaded by the end. The SDK is CommonJS, so
 * once imported it is in require.cache.
 */
async function loadsAwsSdk(body: string): Promise<boolean> {
  const script = `
    import { createRequire } from 'node:module';
    const { createStorage } = await import(${moduleUrl('../../src/storage/create-storage.js')});
    const { loadConfig } = await import(${moduleUrl('../../src/config/load-config.js')});
    ${body}
    const cache = createRequire(import.meta.url).cache;
    console.log(Object.keys(cache).some((name) => name.includes('@aws-sdk/client-s3')));
  `;
  const child = await execa('node', ['--input-type=module', '-e', script], { timeout: 30_000 });
  return child.stdout.trim().split('\n').pop() === 'true';
}

describe('createStorage', () => {
  it('refuses S3 options the driver cannot work with at once, naming the option, before any request', async () => {
    const config = await loadConfig(undefined, {
      GUEST_AGENT_STORAGE_STRATEGY: 's3',
      GUEST_AGENT_S3_BUCKET: 'backups',
      GUEST_AGENT_S3_ACCESS_KEY: 'AKIAEXAMPLE',
    });
    expect(() => createStorage(config)).to.throw(StorageError, "s3 storage: option 'secretAccessKey' is required when the other key is set");
  });

  it('names the settings a backend needs and lacks', async () => {
    const refusal = async (env: Record<string, string>) => {
      const config = await loadConfig(undefined, env);
      try {
        createStorage(config);
      } catch (err) {
        expect(err).to.be.instanceOf(ConfigError);
        return (err as Error).message;
      }
      return expect.fail('expected a ConfigError');
    };
    expect(await refusal({ GUEST_AGENT_STORAGE_STRATEGY: 's3' })).to.equal('storage_strategy is s3 but s3_bucket is not set');
    expect(await refusal({ GUEST_AGENT_STORAGE_STRATEGY: 'swift', GUEST_AGENT_SWIFT_USER: 'u' })).to.equal('storage_strategy is swift but swift_auth_url, swift_key are not set');
    expect(await refusal({ GUEST_AGENT_STORAGE_STRATEGY: 'swift', GUEST_AGENT_SWIFT_AUTH_VERSION: '3' })).to.equal(
      'storage_strategy is swift but swift_auth_url, swift_user, swift_key, swift_project_name are not set',
    );
    expect(await refusal({ GUEST_AGENT_STORAGE_STRATEGY: 'swift', GUEST_AGENT_SWIFT_AUTH_VERSION: '2' })).to.equal('swift_auth_version 2 is not supported: use 1 (tempauth) or 3 (Keystone v3)');
  });

  it('does not load the AWS SDK for a local or Swift store', async function () {
    this.timeout(60_000);
    const used = await loadsAwsSdk(`
      createStorage(await loadConfig(undefined, { GUEST_AGENT_STORAGE_STRATEGY: 'local', GUEST_AGENT_BACKUP_LOCAL_PATH: '/tmp' }));
      createStorage(await loadConfig(undefined, { GUEST_AGENT_STORAGE_STRATEGY: 'swift', GUEST_AGENT_SWIFT_AUTH_URL: 'http://127.0.0.1:1/auth/v1.0', GUEST_AGENT_SWIFT_USER: 'u', GUEST_AGENT_SWIFT_KEY: 'k' }));
    `);
    expect(used).to.equal(false);
  });

  it('loads it when an S3 store is first used, not before', async function () {
    this.timeout(60_000);
    const s3 = `const storage = createStorage(await loadConfig(undefined, { GUEST_AGENT_STORAGE_STRATEGY: 's3', GUEST_AGENT_S3_BUCKET: 'b', GUEST_AGENT_S3_ENDPOINT: 'http://127.0.0.1:1', GUEST_AGENT_S3_ACCESS_KEY: 'a', GUEST_AGENT_S3_SECRET_KEY: 's' }));`;
    expect(await loadsAwsSdk(s3), 'built, not used').to.equal(false);
    // Port 1 refuses the connection at once: the SDK is loaded and the request fails.
    expect(await loadsAwsSdk(`${s3}\n await storage.head('x').catch(() => undefined);`), 'used').to.equal(true);
  });
});
