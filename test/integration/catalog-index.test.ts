import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import { INDEX_PREFIX, indexPrefixOf, parseIndexKey } from '../../src/catalog/catalog-index.js';
import { summaryOf, type BackupSummary, type IndexedCatalog } from '../../src/catalog/catalog.js';
import { createStorageCatalog } from '../../src/catalog/storage-catalog.js';
import { MalformedRecordError } from '../../src/errors.js';
import type { Storage } from '../../src/storage/storage.js';
import { testStores } from '../support/test-stores.js';

/** A record as the agent writes one, small. */
function sampleRecord(id: string, extra: Partial<BackupRecord> = {}): BackupRecord {
  return {
    id,
    instance_id: 'inst-1',
    name: `backup ${id}`,
    created: '2026-11-20T03:00:00.000Z',
    updated: '2026-11-20T03:01:00.000Z',
    state: 'COMPLETED',
    type: 'full',
    strategy: 'NodetoolSnapshot',
    parent: null,
    keyspaces: [],
    tables: [],
    archived_tables: [{ keyspace: 'shop', directory: 'orders-0123456789abcdef0123456789abcdef' }],
    file_count: 12,
    raw_bytes: 4096,
    stored_bytes: 4608,
    sha256: 'a'.repeat(64),
    checksum: 'b'.repeat(32),
    location: `http://store.example/v1/AUTH_x/backups/${id}.tar`,
    object_key: `${id}.tar`,
    compression: 'none',
    data_directory_count: 1,
    cassandra_version: '4.0.11',
    cluster_name: 'Test Cluster',
    ring: { text: '', tokens: ['-9000', '0', '9000'] },
    ...extra,
  };
}

const backends = testStores('catalog-index', 1024 * 1024);

/** The storage with its GETs counted: a listing from the index makes none. */
function counting(storage: Storage): { storage: Storage; gets: () => number } {
  let gets = 0;
  return {
    storage: {
      ...storage,
      get: (key, signal) => {
        gets += 1;
        return storage.get(key, signal);
      },
    },
    gets: () => gets,
  };
}

async function keysUnder(storage: Storage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of storage.list(prefix)) keys.push(info.key);
  return keys;
}

async function summariesOf(catalog: IndexedCatalog): Promise<Map<string, BackupSummary>> {
  const found = new Map<string, BackupSummary>();
  for await (const summary of catalog.summaries()) {
    expect(found.has(summary.id), `${summary.id} listed twice`).to.equal(false);
    found.set(summary.id, summary);
  }
  return found;
}

for (const backend of backends) {
  describe(`catalog index: ${backend.name} storage`, function () {
    this.timeout(120_000);
    // Swift and S3 keys hold whole summaries; a local file name (255 bytes) holds only a reference to the record.
    const fromKeys = backend.name !== 'local';
    let storage: Storage;
    let catalog: IndexedCatalog;
    let gets: () => number;
    const warnings: string[] = [];

    before(async () => {
      ({ storage, gets } = counting(await backend.open()));
      catalog = createStorageCatalog(storage, { warn: (m) => warnings.push(m) });
    });
    after(() => backend.cleanUp());
    afterEach(() => expect(warnings, 'index warnings').to.deep.equal([]));

    it('lists what put wrote, with one index entry per backup, from the keys alone where they hold the summary', async () => {
      const records = [sampleRecord(randomUUID()), sampleRecord(randomUUID(), { type: 'incremental', parent: { id: 'p-1', location: 'x', checksum: 'y' } })];
      for (const record of records) await catalog.put(record);
      const before = gets();
      const listed = await summariesOf(catalog);
      for (const record of records) {
        expect(listed.get(record.id)).to.deep.equal(summaryOf(record));
        const entries = await keysUnder(storage, indexPrefixOf(record.id));
        expect(entries).to.have.length(1);
        expect(parseIndexKey(entries[0]!)?.kind).to.equal(fromKeys ? 'summary' : 'reference');
      }
      if (fromKeys) expect(gets() - before, 'GETs during the listing').to.equal(0);
      // The record is still the whole truth.
      expect(await catalog.get(records[0]!.id)).to.deep.equal(records[0]);
    });

    it('shows an update (DELETE_FAILED) and keeps only its current entry', async () => {
      const record = sampleRecord(randomUUID());
      await catalog.put(record);
      await catalog.put({ ...record, state: 'DELETE_FAILED', updated: '2026-11-21T00:00:00.000Z' });
      expect((await summariesOf(catalog)).get(record.id)?.state).to.equal('DELETE_FAILED');
      const entries = await keysUnder(storage, indexPrefixOf(record.id));
      expect(entries).to.have.length(1);
      if (fromKeys) expect(entries[0]).to.contain('.DELETE_5fFAILED.');
    });

    it('delete removes the index entries and the record', async () => {
      const record = sampleRecord(randomUUID());
      await catalog.put(record);
      await catalog.delete(record.id);
      expect(await keysUnder(storage, indexPrefixOf(record.id))).to.deep.equal([]);
      expect(await catalog.get(record.id)).to.equal(undefined);
      expect((await summariesOf(catalog)).has(record.id)).to.equal(false);
      await catalog.delete(record.id); // deleting again is not an error
    });

    it('lists a record written without an index entry (an older version) and writes the missing entry', async () => {
      const record = sampleRecord(randomUUID(), { name: 'legacy' });
      await storage.put(`catalog/${record.id}.json`, Readable.from([Buffer.from(JSON.stringify(record, null, 2))]), {});
      expect(await keysUnder(storage, indexPrefixOf(record.id))).to.deep.equal([]);
      expect((await summariesOf(catalog)).get(record.id)).to.deep.equal(summaryOf(record));
      expect(await keysUnder(storage, indexPrefixOf(record.id))).to.have.length(1);
      const before = gets();
      expect((await summariesOf(catalog)).get(record.id)).to.deep.equal(summaryOf(record));
      if (fromKeys) expect(gets() - before, 'GETs during the second listing').to.equal(0);
    });

    it('ignores an index entry whose record is gone, and trusts the record over an entry older than it', async () => {
      const gone = sampleRecord(randomUUID(), { name: 'gone' });
      await catalog.put(gone);
      await storage.delete(`catalog/${gone.id}.json`);
      expect(await keysUnder(storage, indexPrefixOf(gone.id))).to.have.length(1);
      expect((await summariesOf(catalog)).has(gone.id)).to.equal(false);

      // An update whose entry was never written: the record changed, its entry still says COMPLETED.
      const record = sampleRecord(randomUUID());
      await catalog.put(record);
      const changed = { ...record, state: 'DELETE_FAILED' as const };
      await storage.put(`catalog/${record.id}.json`, Readable.from([Buffer.from(`${JSON.stringify(changed, null, 2)}\n`)]), {});
      expect((await summariesOf(catalog)).get(record.id)?.state).to.equal('DELETE_FAILED');
      const entries = await keysUnder(storage, indexPrefixOf(record.id));
      expect(entries).to.have.length(1);
      if (fromKeys) expect(entries[0]).to.contain('.DELETE_5fFAILED.');
    });

    it('lists the other backups when a record is malformed or not JSON, saying which it passed over; get refuses it, naming the field', async () => {
      const good = sampleRecord(randomUUID());
      await catalog.put(good);
      // Written behind the catalog's back, as a damaged or hostile store holds them: no index entry.
      const hostile = sampleRecord(randomUUID(), { files: [{ name: '../../etc/passwd', dir: 0, size: 1, crc32: '00000000', stored_in: 'x' }] });
      const hostileKey = `catalog/${hostile.id}.json`;
      await storage.put(hostileKey, Readable.from([Buffer.from(JSON.stringify(hostile))]), {});
      const garbled = randomUUID();
      await storage.put(`catalog/${garbled}.json`, Readable.from([Buffer.from('{"id": ')]), {});

      const listed = await summariesOf(catalog);
      expect(listed.get(good.id)).to.deep.equal(summaryOf(good));
      expect(listed.has(hostile.id) || listed.has(garbled)).to.equal(false);
      const ids: string[] = [];
      for await (const record of catalog.list()) ids.push(record.id);
      expect(ids).to.include(good.id);
      expect(ids).not.to.include.members([hostile.id, garbled]);
      const passedOver = warnings.splice(0);
      const where = `${hostileKey} in ${storage.name} storage`;
      expect(passedOver.filter((w) => w.startsWith(`backup record ${where}: files[0].name must be a relative TAR name`))).to.have.length(2);
      expect(passedOver.filter((w) => w.includes(`catalog/${garbled}.json in ${storage.name} storage is not valid JSON`))).to.have.length(2);
      expect(passedOver.every((w) => w.endsWith('; listings pass over it'))).to.equal(true);
      // Nothing was written for them.
      expect(await keysUnder(storage, indexPrefixOf(hostile.id))).to.deep.equal([]);

      const refused = await catalog.get(hostile.id).then(() => undefined, (err: unknown) => err);
      expect(refused).to.be.instanceOf(MalformedRecordError);
      expect((refused as Error).message).to.equal(
        `backup record ${where}: files[0].name must be a relative TAR name <keyspace>/<table-dir>/<file>, got "../../etc/passwd" (its name climbs out of the data directory with '..')`,
      );
      expect(await catalog.get(garbled).catch((err: unknown) => err)).to.be.instanceOf(MalformedRecordError);
      await storage.delete(hostileKey);
      await storage.delete(`catalog/${garbled}.json`);
    });

    it('gives back odd and long names (shortened with … from the key, whole from the record)', async () => {
      const odd = sampleRecord(randomUUID(), { name: 'nächtlich / 夜間 #1 50% "q" ~t.x_y' });
      const long = sampleRecord(randomUUID(), { name: `long-${'n'.repeat(200)}` });
      await catalog.put(odd);
      await catalog.put(long);
      const listed = await summariesOf(catalog);
      expect(listed.get(odd.id)?.name).to.equal(odd.name);
      expect(listed.get(long.id)?.name).to.equal(fromKeys ? `${long.name.slice(0, 64)}…` : long.name);
      expect((await catalog.get(long.id))?.name).to.equal(long.name);
    });

    it('lists every summary across listing pages', async () => {
      const paged = await backend.open({ listingPageSize: 7 });
      const pagedCatalog = createStorageCatalog(paged);
      const ids = Array.from({ length: 20 }, () => randomUUID());
      await Promise.all(ids.map((id) => pagedCatalog.put(sampleRecord(id))));
      const listed = await summariesOf(pagedCatalog);
      expect(ids.filter((id) => !listed.has(id))).to.deep.equal([]);
      // Nothing but entries under the prefix: no temporary upload left behind.
      expect((await keysUnder(paged, INDEX_PREFIX)).every((key) => parseIndexKey(key) !== undefined)).to.equal(true);
    });
  });
}
