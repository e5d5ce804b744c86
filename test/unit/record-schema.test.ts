import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import { parseBackupRecord } from '../../src/catalog/record-schema.js';
import { MalformedRecordError } from '../../src/errors.js';
import type { JobContext } from '../../src/jobs/job-context.js';
import { buildRecord } from '../../src/jobs/snapshot-backup.js';
import { cassandraFactsDir } from '../support/repo-paths.js';

const SOURCE = 'catalog/ab12.json in local storage';
const TABLE = 'shop/orders-5b3c5a40e5d611f1a510f7efc34e21c0';

/** A record exactly as a backup writes it (buildRecord), through JSON as the catalog stores it. */
async function writtenRecord(options: { parent?: BackupRecord; encrypted?: boolean } = {}): Promise<BackupRecord> {
  const ringText = await readFile(path.join(cassandraFactsDir(), 'nt_ring.stdout'), 'utf8');
  const id = options.parent ? 'ab12-incr' : 'ab12';
  const ctx = {
    config: { instance_id: 'instance-1' },
    node: { settings: { dataFileDirectories: ['/var/lib/cassandra/data', '/mnt/disk2/data'], clusterName: 'Test Cluster' } },
  } as unknown as JobContext;
  const record = buildRecord(ctx, {
    target: { id, name: `nightly ${id}`, keyspaces: ['shop'], tables: [] },
    strategy: options.parent ? 'NodetoolIncremental' : 'NodetoolSnapshot',
    started: '2026-11-20T03:00:00.000Z',
    upload: {
      objectKey: `${id}.tar.gz`,
      location: `http://store.example/v1/AUTH_x/backups/${id}.tar.gz`,
      compression: 'gzip',
      ...(options.encrypted ? { encryption: { scheme: 'aes-256-gcm-chunked-v1', key_id: 'k-2026' } } : {}),
      fileCount: 3,
      rawBytes: 43_100,
      storedBytes: 41_000,
      sha256: 'a'.repeat(64),
      files: [
        { name: `${TABLE}/nb-1-big-Data.db`, dir: 0, size: 40_000, crc32: '0badcafe', stored_in: id },
        { name: `${TABLE}/nb-1-big-Index.db`, dir: 1, size: 3_000, crc32: '12345678', stored_in: id },
        { name: `${TABLE}/.orders_by_day/nb-1-big-Data.db`, dir: 0, size: 100, crc32: 'deadbeef', stored_in: id },
      ],
      checksum: 'b'.repeat(32),
    },
    facts: { cassandraVersion: '4.0.11', ringText },
    tables: [{ keyspace: 'shop', directory: 'orders-5b3c5a40e5d611f1a510f7efc34e21c0', schema: 'CREATE TABLE shop.orders (id int PRIMARY KEY);' }],
    parent: options.parent,
    ...(options.parent ? {} : { fullReason: 'no parent was given' }),
  });
  return JSON.parse(JSON.stringify(record)) as BackupRecord;
}

/** What parseBackupRecord throws for `value`, or undefined when it accepts it. */
function refusal(value: unknown): MalformedRecordError | undefined {
  try {
    parseBackupRecord(value, SOURCE);
    return undefined;
  } catch (err) {
    expect(err).to.be.instanceOf(MalformedRecordError);
    return err as MalformedRecordError;
  }
}

describe('catalog record schema', () => {
  it('accepts a record as the current code writes it, unchanged', async () => {
    const full = await writtenRecord({ encrypted: true });
    expect(full.ring.tokens.length, 'the ring fixture gives tokens').to.be.greaterThan(0);
    expect(parseBackupRecord(structuredClone(full), SOURCE)).to.deep.equal(full);
    const incremental = await writtenRecord({ parent: full });
    expect(incremental.parent).to.deep.equal({ id: full.id, location: full.location, checksum: full.checksum });
    expect(parseBackupRecord(structuredClone(incremental), SOURCE)).to.deep.equal(incremental);
  });

  it('accepts an old record without a manifest, a checksum or encryption', async () => {
    const { files: _files, checksum: _checksum, encryption: _encryption, full_reason: _reason, ...old } = await writtenRecord();
    expect(old).not.to.have.any.keys('files', 'checksum', 'encryption');
    expect(parseBackupRecord(structuredClone(old), SOURCE)).to.deep.equal(old);
  });

  it('accepts a valid record that cannot be restored (FAILED, DELETE_FAILED): incomplete is not malformed', async () => {
    const record = await writtenRecord();
    for (const state of ['FAILED', 'DELETE_FAILED', 'BUILDING'] as const) {
      expect(refusal({ ...record, state, delete_failed_reason: 'could not delete the stored object' })).to.equal(undefined);
    }
  });

  it('keeps fields it does not know (a newer version wrote them)', async () => {
    const record = { ...(await writtenRecord()), written_by: { version: '9.0' } };
    expect(parseBackupRecord(structuredClone(record), SOURCE)).to.deep.equal(record);
  });

  describe('refuses a hostile or damaged record, naming the record and the exact field', () => {
    const cases: [string, (r: Record<string, unknown> & BackupRecord) => unknown, RegExp][] = [
      ["a manifest name that climbs out with '..'", (r) => withFile(r, 2, { name: '../../etc/passwd' }), /: files\[2\]\.name must be a relative TAR name .*, got "\.\.\/\.\.\/etc\/passwd" \(its name climbs out of the data directory with '\.\.'\)$/],
      ['an absolute manifest name', (r) => withFile(r, 0, { name: '/etc/cron.d/x' }), /: files\[0\]\.name must be a relative TAR name .*, got "\/etc\/cron\.d\/x" \(its name is an absolute path\)$/],
      ['a manifest name with a newline', (r) => withFile(r, 1, { name: 'shop/t/na-1\nrestore COMPLETED' }), /: files\[1\]\.name must be .*, got "shop\/t\/na-1\\nrestore COMPLETED" \(its name holds a control character, which Cassandra never writes\)$/],
      ['files that is not a list', (r) => ({ ...r, files: { name: 'x' } }), /: files must be a list of files \{name, dir, size, crc32, stored_in\}, got an object$/],
      ["a parent id with '/' and '..'", (r) => ({ ...r, parent: { id: 'x/../y', location: 'l', checksum: 'c' } }), /: parent\.id must be a backup id \(letters, digits.*\), got "x\/\.\.\/y"$/],
      ['a stored_in that is not a backup id', (r) => withFile(r, 1, { stored_in: '../other' }), /: files\[1\]\.stored_in must be a backup id .*, got "\.\.\/other"$/],
      ['a negative size', (r) => withFile(r, 1, { size: -5 }), /: files\[1\]\.size must be a whole number >= 0, got -5$/],
      ['a size given as text', (r) => withFile(r, 2, { size: '12x' }), /: files\[2\]\.size must be a whole number >= 0, got "12x"$/],
      ['a fractional raw size', (r) => ({ ...r, raw_bytes: 1.5 }), /: raw_bytes must be a whole number >= 0, got 1\.5$/],
      ['a crc32 that is not 8 hex digits', (r) => withFile(r, 0, { crc32: 'BADCAFE' }), /: files\[0\]\.crc32 must be a CRC-32 \(8 lowercase hex digits\), got "BADCAFE"$/],
      ['a data directory the node did not have', (r) => withFile(r, 1, { dir: 2 }), /: files\[1\]\.dir must be a data directory index below data_directory_count \(2\), got 2$/],
      ['a sha256 that is not hex', (r) => ({ ...r, sha256: 'z'.repeat(64) }), /: sha256 must be a SHA-256 digest \(64 lowercase hex digits\), got "z{60}…"$/],
      ['an encryption key id that is a number', (r) => ({ ...r, encryption: { scheme: 'aes-256-gcm-chunked-v1', key_id: 42 } }), /: encryption\.key_id must be a string, got 42$/],
      ['a ring token that is a number', (r) => ({ ...r, ring: { text: '', tokens: ['-9000', 0] } }), /: ring\.tokens\[1\] must be a string, got 0$/],
      ["a state this agent never writes ('DONE')", (r) => ({ ...r, state: 'DONE' }), /: state must be one of BUILDING, COMPLETED, FAILED, DELETE_FAILED, got "DONE"$/],
      ['an unknown compression', (r) => ({ ...r, compression: 'brotli' }), /: compression must be one of gzip, none, zstd, lz4, lzop, got "brotli"$/],
      ['a missing required field', (r) => ({ ...r, object_key: undefined }), /: object_key must be a string, got nothing$/],
      ['a null optional field', (r) => ({ ...r, checksum: null }), /: checksum must be a string, got null$/],
      ['a table without its directory', (r) => ({ ...r, archived_tables: [{ keyspace: 'shop' }] }), /: archived_tables\[0\]\.directory must be a string, got nothing$/],
      ['a parent that is a string', (r) => ({ ...r, parent: 'ab11' }), /: parent must be null or an object \{id, location, checksum\}, got "ab11"$/],
    ];
    for (const [label, damage, message] of cases) {
      it(label, async () => {
        const error = refusal(damage((await writtenRecord({ encrypted: true })) as Record<string, unknown> & BackupRecord));
        expect(error, 'refused').to.be.instanceOf(MalformedRecordError);
        expect(error!.message.startsWith(`backup record ${SOURCE}: `), error!.message).to.equal(true);
        expect(error!.message).to.match(message);
        expect(error!.message, 'one line').not.to.contain('\n');
      });
    }
  });

  it('refuses what is not an object at all', () => {
    expect(refusal([1, 2])?.message).to.equal(`backup record ${SOURCE} must be a JSON object, got a list of 2`);
    expect(refusal(null)?.message).to.equal(`backup record ${SOURCE} must be a JSON object, got null`);
  });

  it('shows at most 60 characters of a long value', async () => {
    const message = refusal({ ...(await writtenRecord()), sha256: 'z'.repeat(100_000) })?.message;
    expect(message).to.equal(`backup record ${SOURCE}: sha256 must be a SHA-256 digest (64 lowercase hex digits), got "${'z'.repeat(60)}…"`);
  });

  it('refuses a record stored under another id than its own', async () => {
    const record = await writtenRecord();
    expect(() => parseBackupRecord(record, SOURCE, { id: 'ab13' })).to.throw(MalformedRecordError, `backup record ${SOURCE}: id must be 'ab13', the id the record is stored under, got "ab12"`);
    expect(parseBackupRecord(record, SOURCE, { id: 'ab12' })).to.equal(record);
  });
});

function withFile(record: BackupRecord, index: number, change: Record<string, unknown>): unknown {
  const files = record.files!.map((f, i) => (i === index ? { ...f, ...change } : f));
  return { ...record, files };
}
