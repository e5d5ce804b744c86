import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { expect } from 'chai';
import { INDEX_PREFIX, parseIndexKey } from '../../src/catalog/catalog-index.js';
import { summaryOf } from '../../src/catalog/catalog.js';
import { createStorageCatalog } from '../../src/catalog/storage-catalog.js';
import { CONFIG_SCHEMA, type AgentConfig } from '../../src/config/config-schema.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigError, ObjectNotFoundError } from '../../src/errors.js';
import { BACKENDS } from '../../src/storage/backends.js';
import { createStorage } from '../../src/storage/create-storage.js';
import type { ObjectInfo, ObjectMeta, Storage, StorageLimits } from '../../src/storage/storage.js';
import { recordFixture } from '../support/record-fixture.js';

/** Enough settings for each backend to build a Storage (none is contacted): a new backend adds its own. */
const MINIMAL_ENV: Record<string, Record<string, string>> = {
  local: { GUEST_AGENT_BACKUP_LOCAL_PATH: '/tmp/backups' },
  swift: { GUEST_AGENT_SWIFT_AUTH_URL: 'http://127.0.0.1:1/auth/v1.0', GUEST_AGENT_SWIFT_USER: 'u', GUEST_AGENT_SWIFT_KEY: 'k' },
  s3: { GUEST_AGENT_S3_BUCKET: 'b' },
};

/** A store in memory, of a backend that takes keys of `limits.indexKeyBudget` bytes. */
function memoryStorage(limits: StorageLimits): Storage & { keys(): string[] } {
  const objects = new Map<string, { body: Buffer; meta: ObjectMeta }>();
  const info = (key: string): ObjectInfo | undefined => {
    const object = objects.get(key);
    return object && { key, size: object.body.length, meta: object.meta };
  };
  return {
    name: 'memory',
    limits,
    async put(key, data, meta) {
      if (Buffer.byteLength(key) > limits.indexKeyBudget) throw new Error(`key of ${Buffer.byteLength(key)} bytes: longer than this store takes`);
      const body = await buffer(data);
      objects.set(key, { body, meta });
      return { location: `memory:${key}`, size: body.length };
    },
    async get(key) {
      const object = objects.get(key);
      if (!object) throw new ObjectNotFoundError(`memory: no ${key}`);
      return Readable.from([object.body]);
    },
    head: async (key) => info(key),
    async *list(prefix) {
      for (const key of [...objects.keys()].sort()) if (key.startsWith(prefix)) yield info(key)!;
    },
    delete: async (key) => void objects.delete(key),
    keys: () => [...objects.keys()],
  };
}

describe('storage backends', () => {
  it("are storage_strategy's values, local by default, and an unknown one is refused naming them", async () => {
    const names = BACKENDS.map((backend) => backend.name);
    expect(CONFIG_SCHEMA.storage_strategy.type.values).to.deep.equal(names);
    expect(names).to.include.members(['local', 'swift', 's3']);
    expect((await loadConfig(undefined, {})).storage_strategy).to.equal('local');
    const refused = await loadConfig(undefined, { GUEST_AGENT_STORAGE_STRATEGY: 'tape' }).then(
      () => expect.fail('expected a ConfigError'),
      (err: unknown) => err,
    );
    expect(refused).to.be.instanceOf(ConfigError);
    expect((refused as Error).message).to.equal(`environment GUEST_AGENT_STORAGE_STRATEGY (key 'storage_strategy'): expected one of ${names.join(', ')}, got "tape"`);
  });

  it('have each of their keys in the configuration, with its type, default and secrecy, and share none', async () => {
    const defaults = await loadConfig(undefined, {});
    const seen = new Set<string>();
    for (const backend of BACKENDS) {
      for (const [key, spec] of Object.entries(backend.keys)) {
        expect(seen.has(key), `${key} declared twice`).to.equal(false);
        seen.add(key);
        expect((CONFIG_SCHEMA as Record<string, unknown>)[key], `${backend.name}: ${key}`).to.deep.equal({ ...spec, group: 'storage' });
        expect((defaults as Record<string, unknown>)[key], `${backend.name}: ${key}`).to.deep.equal(spec.default);
      }
    }
    expect(CONFIG_SCHEMA.swift_key.secret).to.equal(true);
    expect(CONFIG_SCHEMA.s3_secret_key.secret).to.equal(true);
    expect(CONFIG_SCHEMA.s3_part_size.type.min).to.equal(5 * 1024 * 1024);
  });

  it('build a Storage with the name and limits the backend declares', async () => {
    for (const backend of BACKENDS) {
      const storage = createStorage(await loadConfig(undefined, { GUEST_AGENT_STORAGE_STRATEGY: backend.name, ...MINIMAL_ENV[backend.name] }));
      expect(storage.name).to.equal(backend.name);
      expect(storage.limits).to.deep.equal(backend.limits);
    }
  });

  it('refuse a storage_strategy no backend has, naming the known ones', async () => {
    const config = { ...(await loadConfig(undefined, {})), storage_strategy: 'tape' } as unknown as AgentConfig;
    const names = BACKENDS.map((backend) => backend.name).join(', ');
    expect(() => createStorage(config)).to.throw(ConfigError, `storage_strategy 'tape' is not a storage backend: use one of ${names}`);
  });

  it("write catalog index keys as long as the store's declared budget allows", async () => {
    const record = recordFixture({ id: '3f2a9c4e-1b7d-4e0a-9c51-2d6f8a0b7e13', location: 'memory:3f2a9c4e-1b7d-4e0a-9c51-2d6f8a0b7e13.tar', object_key: '3f2a9c4e-1b7d-4e0a-9c51-2d6f8a0b7e13.tar', stored_bytes: 4096 });
    const roomy = memoryStorage({ indexKeyBudget: 1000 });
    const tight = memoryStorage({ indexKeyBudget: 120 });
    for (const storage of [roomy, tight]) await createStorageCatalog(storage).put(record);

    const entryOf = (storage: ReturnType<typeof memoryStorage>) => {
      const keys = storage.keys().filter((key) => key.startsWith(INDEX_PREFIX));
      expect(keys).to.have.length(1);
      return { key: keys[0]!, entry: parseIndexKey(keys[0]!) };
    };
    const whole = entryOf(roomy);
    const short = entryOf(tight);
    expect(whole.entry?.kind).to.equal('summary');
    expect(whole.key.length).to.be.above(120);
    expect(short.entry?.kind).to.equal('reference');
    expect(short.key.length).to.be.at.most(120);
    // Either way a listing gives the same summary: from the key, or from the record the reference points at.
    for (const storage of [roomy, tight]) {
      const listed = [];
      for await (const summary of createStorageCatalog(storage).summaries()) listed.push(summary);
      expect(listed).to.deep.equal([summaryOf(record)]);
    }
  });
});
