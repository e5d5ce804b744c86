import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { expect } from 'chai';
import type { AgentConfig } from '../../src/config/config-schema.js';
import { loadConfig } from '../../src/config/load-config.js';
import { StorageAuthError, StorageError } from '../../src/errors.js';
import { createStorage, type StorageRequest } from '../../src/storage/create-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { createSwiftStorage, type SwiftTransferOptions } from '../../src/storage/swift-storage.js';
import { defaultEndpoints, startFakeKeystone, type FakeKeystone } from '../support/fake-keystone.js';
import { startFaultyProxy, type FaultyProxy } from '../support/faulty-proxy.js';
import { swiftTestAccount } from '../support/object-store-env.js';
import { readAll, randomStream, sha256 } from '../support/random-data.js';

const run = promisify(execFile);
const swiftCli = ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key];
const SEGMENT = 64 * 1024;
const STORAGE_URL = 'http://127.0.0.1:8080/v1/AUTH_test';
const KEYSTONE_USER = { user: 'backup-user', password: 'keystone-secret-pw', projectName: 'trove-project' };

async function keysIn(storage: Storage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of storage.list(prefix)) keys.push(info.key);
  return keys;
}

/** The error a promise is rejected with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  expect.fail('expected a failure');
}

/** The agent's configuration for Swift in `container`, from environment-style overrides. */
const swiftConfig = (container: string, env: Record<string, string> = {}): Promise<AgentConfig> =>
  loadConfig(undefined, {
    GUEST_AGENT_STORAGE_STRATEGY: 'swift',
    GUEST_AGENT_BACKUP_SWIFT_CONTAINER: container,
    GUEST_AGENT_BACKUP_SEGMENT_MAX_SIZE: String(SEGMENT),
    ...env,
  });

const keystoneConfig = (keystone: FakeKeystone, container: string, env: Record<string, string> = {}) =>
  swiftConfig(container, {
    GUEST_AGENT_SWIFT_AUTH_VERSION: '3',
    GUEST_AGENT_SWIFT_AUTH_URL: keystone.url,
    GUEST_AGENT_SWIFT_USER: KEYSTONE_USER.user,
    GUEST_AGENT_SWIFT_KEY: KEYSTONE_USER.password,
    GUEST_AGENT_SWIFT_PROJECT_NAME: KEYSTONE_USER.projectName,
    ...env,
  });

/** Config for the request-token mode: Keystone's URL, and no user or password at all. */
const tokenConfig = (keystone: FakeKeystone, container: string) =>
  swiftConfig(container, { GUEST_AGENT_SWIFT_AUTH_VERSION: '3', GUEST_AGENT_SWIFT_AUTH_URL: keystone.url });

const removeContainers = (containers: string[]) =>
  Promise.all(containers.map((c) => run('swift', [...swiftCli, 'delete', c]).catch(() => undefined)));

describe('swift: Keystone v3', function () {
  this.timeout(60_000);
  const container = `ks-${randomBytes(4).toString('hex')}`;
  let keystone: FakeKeystone;
  before(async () => {
    keystone = await startFakeKeystone(KEYSTONE_USER);
  });
  beforeEach(() => {
    keystone.seen.length = 0;
  });
  after(async () => {
    await keystone?.close();
    await removeContainers([container]);
  });

  it("stores and reads back through a password login, at the catalog's public object-store endpoint of the project", async () => {
    const storage = createStorage(await keystoneConfig(keystone, container));
    const { stream, digest } = randomStream(SEGMENT * 3 + 17);
    const put = await storage.put('v3-1.tar.gz', stream, { datastore: 'cassandra' });
    expect(put.location).to.equal(`${STORAGE_URL}/${container}/v3-1.tar.gz`);
    expect(sha256(await readAll(await storage.get('v3-1.tar.gz')))).to.equal(digest);
    expect((await storage.head('v3-1.tar.gz'))?.meta.datastore).to.equal('cassandra');
    expect(keystone.seen.map((r) => `${r.method} ${r.path} ${r.status}`)).to.deep.equal(['POST /v3/auth/tokens 201']);
  });

  it('logs in again once when Swift refuses the Keystone token', async () => {
    keystone.issueRefusedTokenOnce();
    const storage = createStorage(await keystoneConfig(keystone, container));
    await storage.put('v3-2.tar.gz', Readable.from([Buffer.from('after a second login')]), {});
    expect((await readAll(await storage.get('v3-2.tar.gz'))).toString()).to.equal('after a second login');
    expect(keystone.seen.filter((r) => r.method === 'POST').map((r) => r.status)).to.deep.equal([201, 201]);
  });

  it('refuses a wrong password with a clear authentication error that hides the password', async () => {
    const storage = createStorage(await keystoneConfig(keystone, container, { GUEST_AGENT_SWIFT_KEY: 'wrong-keystone-pw' }));
    const err = await rejection(storage.head('x.tar.gz'));
    expect(err).to.be.instanceOf(StorageAuthError);
    expect(err.message).to.equal(
      `swift: Keystone at ${keystone.url}/auth/tokens refused user 'backup-user' (domain 'Default') in project 'trove-project' (domain 'Default') (HTTP 401); ` +
        'check swift_user, swift_key, swift_user_domain_name, swift_project_name and swift_project_domain_name',
    );
    expect(err.message).not.to.include('wrong-keystone-pw');
    expect(err.message).not.to.include(KEYSTONE_USER.password);
  });

  it('names the wanted interface and region, and what the catalog has, when no endpoint matches', async () => {
    const storage = createStorage(await keystoneConfig(keystone, container, { GUEST_AGENT_SWIFT_REGION_NAME: 'RegionNine', GUEST_AGENT_SWIFT_ENDPOINT_INTERFACE: 'internal' }));
    const err = await rejection(storage.head('x.tar.gz'));
    expect(err).to.be.instanceOf(StorageError);
    expect(err.message).to.match(/^swift: no object-store endpoint with interface 'internal', region 'RegionNine', for project test in the catalog Keystone returned for user 'backup-user'/);
    expect(err.message).to.include(`its object-store endpoints are: public RegionOne http://127.0.0.1:1/v1/AUTH_other; internal RegionOne http://127.0.0.1:1/v1/AUTH_test;`);
    expect(err.message).to.include(`public RegionOne ${STORAGE_URL}`);
    expect(err.message).to.match(/Check swift_endpoint_interface and swift_region_name$/);
  });

  it('uses the endpoint of the configured interface and region', async () => {
    const proxy = await startFaultyProxy();
    const elsewhere = await startFakeKeystone({
      ...KEYSTONE_USER,
      endpoints: [...defaultEndpoints(STORAGE_URL), { interface: 'internal', region: 'RegionTwo', url: `${proxy.url}/v1/AUTH_test` }],
    });
    try {
      const storage = createStorage(
        await keystoneConfig(elsewhere, container, { GUEST_AGENT_SWIFT_REGION_NAME: 'RegionTwo', GUEST_AGENT_SWIFT_ENDPOINT_INTERFACE: 'internal' }),
      );
      const put = await storage.put('v3-3.tar.gz', Readable.from([Buffer.from('internal')]), {});
      expect(put.location).to.equal(`${proxy.url}/v1/AUTH_test/${container}/v3-3.tar.gz`);
      expect(proxy.seen.some((r) => r.method === 'PUT' && r.path.endsWith('/v3-3.tar.gz'))).to.equal(true);
    } finally {
      await elsewhere.close();
      await proxy.close();
    }
  });
});

describe("swift: the request's own token (Trove 18)", function () {
  this.timeout(60_000);
  const container = `tok-${randomBytes(4).toString('hex')}`;
  const override = `tok-override-${randomBytes(4).toString('hex')}`;
  /** backup_swift_container of the override test: never written to, so never created. */
  const untouched = `tok-untouched-${randomBytes(4).toString('hex')}`;
  let keystone: FakeKeystone;
  before(async () => {
    keystone = await startFakeKeystone(KEYSTONE_USER);
  });
  beforeEach(() => {
    keystone.seen.length = 0;
  });
  after(async () => {
    await keystone?.close();
    await removeContainers([container, override, untouched]);
  });

  const withToken = async (token: string, request: StorageRequest = {}, defaultContainer = container) =>
    createStorage(await tokenConfig(keystone, defaultContainer), { authToken: token, projectId: 'test', ...request });

  it("stores and reads back with the request's token, at its project's endpoint, without a password login", async () => {
    const token = await keystone.issueToken();
    const storage = await withToken(token);
    const { stream, digest } = randomStream(SEGMENT * 2 + 5);
    const put = await storage.put('tok-1.tar.gz', stream, {});
    // The catalog lists another project's account first: the request's project decides.
    expect(put.location).to.equal(`${STORAGE_URL}/${container}/tok-1.tar.gz`);
    expect(sha256(await readAll(await storage.get('tok-1.tar.gz')))).to.equal(digest);
    expect(keystone.seen.map((r) => `${r.method} ${r.path} ${r.status} ${r.selfValidation}`)).to.deep.equal(['GET /v3/auth/tokens 200 true']);
  });

  it("fails with a clear error when Keystone no longer accepts the request's token", async () => {
    const token = keystone.tokenSwiftRefuses();
    keystone.revoke(token);
    const err = await rejection((await withToken(token)).put('tok-2.tar.gz', Readable.from([Buffer.from('x')]), {}));
    expect(err).to.be.instanceOf(StorageAuthError);
    expect(err.message).to.equal(
      `swift: Keystone at ${keystone.url}/auth/tokens refused the token that came with the request for project test (HTTP 401): ` +
        'it has expired or was revoked; retry the operation with a fresh token',
    );
    expect(err.message).not.to.include(token);
    expect(keystone.seen.filter((r) => r.method === 'POST')).to.deep.equal([]);
  });

  it("fails with a clear error, without logging in with a password, when Swift refuses the request's token", async () => {
    const token = keystone.tokenSwiftRefuses();
    const storage = createStorage(await keystoneConfig(keystone, container), { authToken: token, projectId: 'test' });
    const err = await rejection(storage.put('tok-3.tar.gz', randomStream(SEGMENT * 2).stream, {}));
    expect(err).to.be.instanceOf(StorageAuthError);
    expect(err.message).to.match(
      /^swift: PUT tok-[0-9a-f]+ refused \(HTTP 401\): Swift no longer accepts the token that came with the request for project test \(expired or revoked\); the agent cannot renew a token it was given: retry the operation with a fresh token$/,
    );
    expect(err.message).not.to.include(token);
    // Configured with a password too, yet the request's token is the only credential used.
    expect(keystone.seen.map((r) => r.method)).to.deep.equal(['GET']);
  });

  it("stores into the request's container, created if missing, instead of backup_swift_container", async () => {
    const storage = await withToken(await keystone.issueToken(), { swiftContainer: override }, untouched);
    const put = await storage.put('tok-4.tar.gz', Readable.from([Buffer.from('elsewhere')]), {});
    expect(put.location).to.equal(`${STORAGE_URL}/${override}/tok-4.tar.gz`);
    const { stdout } = await run('swift', [...swiftCli, 'list', override]);
    expect(stdout.trim()).to.equal('tok-4.tar.gz');
    const stat = await rejection(run('swift', [...swiftCli, 'stat', untouched]));
    expect(stat.message).to.match(/not found/i);
    // An empty or null override is Trove's "not given".
    for (const swiftContainer of ['', null]) {
      const fallback = await withToken(await keystone.issueToken(), { swiftContainer });
      const location = (await fallback.put('tok-5.tar.gz', Readable.from([Buffer.from('default')]), {})).location;
      expect(location).to.equal(`${STORAGE_URL}/${container}/tok-5.tar.gz`);
    }
  });

  it("uses the agent's own tempauth credentials, and says so, when a request from Trove 18 carries a Keystone token and Swift speaks auth v1", async () => {
    const config = await swiftConfig(container, { GUEST_AGENT_SWIFT_AUTH_URL: swiftTestAccount.authUrl, GUEST_AGENT_SWIFT_USER: swiftTestAccount.user, GUEST_AGENT_SWIFT_KEY: swiftTestAccount.key });
    const notices: string[] = [];
    const storage = createStorage(config, { authToken: 'a-keystone-token-of-the-user', onTokenIgnored: (why) => notices.push(why) });
    const put = await storage.put('tok-v1.tar', Readable.from([Buffer.from('with tempauth')]), {});
    expect(put.size).to.equal('with tempauth'.length);
    expect(notices).to.deep.equal(['the request carries a Keystone token, and swift_auth_version is 1 (tempauth): the agent uses its own swift_user and swift_key instead']);
  });
});

describe('swift: resending a segment', function () {
  this.timeout(60_000);
  const container = `retry-${randomBytes(4).toString('hex')}`;
  let proxy: FaultyProxy;
  before(async () => {
    proxy = await startFaultyProxy();
  });
  beforeEach(() => {
    proxy.seen.length = 0;
  });
  after(async () => {
    await proxy?.close();
    await removeContainers([container]);
  });

  /** Swift through the proxy (auth v1): every request, and the storage URL, go through it. */
  const throughProxy = (options: Partial<SwiftTransferOptions> = {}) =>
    createSwiftStorage({
      authUrl: `${proxy.url}/auth/v1.0`,
      user: swiftTestAccount.user,
      key: swiftTestAccount.key,
      container,
      segmentSize: SEGMENT,
      retryDelayMs: 20,
      ...options,
    });

  const puts = (segment: string) => proxy.seen.filter((r) => r.method === 'PUT' && r.path.endsWith(`/${segment}`)).map((r) => r.status);

  for (const [label, fault, firstStatus] of [
    ['arrive corrupted (Swift sees another MD5)', 'corrupt', 422],
    ['get a 503', 503, 503],
  ] as const) {
    it(`sends a buffered segment again when its bytes ${label}, and the object reads back intact`, async () => {
      const key = `again-${firstStatus}.tar.gz`;
      proxy.inject({ method: 'PUT', path: /_00000001$/, fault });
      const storage = throughProxy();
      const { stream, digest } = randomStream(SEGMENT * 3 + 99);
      const put = await storage.put(key, stream, {});
      expect(puts(`again-${firstStatus}_00000001`)).to.deep.equal([firstStatus, 201]);
      expect(puts(`again-${firstStatus}_00000000`)).to.deep.equal([201]);
      expect(put.size).to.equal(SEGMENT * 3 + 99);
      expect(sha256(await readAll(await storage.get(key)))).to.equal(digest);
    });
  }

  it('gives up after the last attempt and leaves nothing', async () => {
    proxy.inject({ method: 'PUT', path: /_00000001$/, fault: 503, times: 3 });
    const storage = throughProxy({ segmentAttempts: 3 });
    const err = await rejection(storage.put('hopeless.tar.gz', randomStream(SEGMENT * 3).stream, {}));
    expect(err.message).to.match(/^swift: upload of segment hopeless_00000001 failed \(HTTP 503\): fault injected by the test proxy: HTTP 503 \(gave up after 3 attempts\)$/);
    expect(puts('hopeless_00000001')).to.deep.equal([503, 503, 503]);
    expect(await keysIn(storage, 'hopeless')).to.deep.equal([]);
  });

  it('fails cleanly, with no manifest or segment left, when an unbuffered segment arrives corrupted', async () => {
    proxy.inject({ method: 'PUT', path: /_00000001$/, fault: 'corrupt' });
    const storage = throughProxy({ retryBufferSize: SEGMENT - 1 });
    const err = await rejection(storage.put('streamed.tar.gz', randomStream(SEGMENT * 3).stream, {}));
    expect(err.message).to.match(/^swift: segment streamed_00000001 was stored with ETag [0-9a-f]{32}, expected MD5 [0-9a-f]{32}$/);
    expect(puts('streamed_00000001')).to.deep.equal([201]);
    expect(await storage.head('streamed.tar.gz')).to.equal(undefined);
    expect(await keysIn(storage, 'streamed')).to.deep.equal([]);
  });

  it('fails cleanly, with nothing left, when an unbuffered segment gets a 503', async () => {
    proxy.inject({ method: 'PUT', path: /_00000001$/, fault: 503 });
    const storage = throughProxy({ retryBufferSize: 0 });
    const err = await rejection(storage.put('streamed-503.tar.gz', randomStream(SEGMENT * 3).stream, {}));
    expect(err.message).to.match(/^swift: upload of segment streamed-503_00000001 failed \(HTTP 503\)/);
    expect(puts('streamed-503_00000001')).to.deep.equal([503]);
    expect(await keysIn(storage, 'streamed-503')).to.deep.equal([]);
  });

  it('logs in again (auth v1) and resends a buffered segment refused with 401', async () => {
    proxy.inject({ method: 'PUT', path: /_00000001$/, fault: 401 });
    const storage = throughProxy();
    const { stream, digest } = randomStream(SEGMENT * 2 + 1);
    await storage.put('relogin.tar.gz', stream, {});
    expect(puts('relogin_00000001')).to.deep.equal([401, 201]);
    expect(proxy.seen.filter((r) => r.path === '/auth/v1.0').length).to.equal(2);
    expect(sha256(await readAll(await storage.get('relogin.tar.gz')))).to.equal(digest);
  });
});
