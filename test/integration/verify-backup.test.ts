import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import zlib from 'node:zlib';
import { DeleteBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { execa } from 'execa';
import type { BackupRecord, ManifestFile } from '../../src/catalog/backup-record.js';
import type { Catalog } from '../../src/catalog/catalog.js';
import { createStorageCatalog } from '../../src/catalog/storage-catalog.js';
import { writeFormat } from '../../src/archive/archive-format.js';
import { packFiles } from '../../src/archive/tar-pack.js';
import { runBackupVerify } from '../../src/cli/dbaas-verify.js';
import type { AgentConfig } from '../../src/config/config-schema.js';
import { loadConfig } from '../../src/config/load-config.js';
import { BackupNotFoundError, MalformedRecordError } from '../../src/errors.js';
import type { JobContext } from '../../src/jobs/job-context.js';
import { uploadArchive } from '../../src/jobs/upload-archive.js';
import { verdictLine, verifyBackup, type VerifyReport } from '../../src/jobs/verify-backup.js';
import { createStorage } from '../../src/storage/create-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { silentProgress } from '../../src/util/progress.js';
import { s3TestAccount, swiftTestAccount } from '../support/object-store-env.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { recordFixture } from '../support/record-fixture.js';

const TABLE = 'shop/orders-5b3c5a40e5d611f1a510f7efc34e21c0';
const OTHER_TABLE = 'shop/customers-0a1b2c3d4e5f60718293a4b5c6d7e8f9';

interface FixtureFile {
  name: string;
  content: Buffer;
  /** Data directory index (0 when absent). */
  dir?: number;
}

/** A store the tests write backups into and tamper with behind the agent's back. */
interface Store {
  config: AgentConfig;
  storage: Storage;
  catalog: Catalog;
  /** Scratch space for the files a fixture packs. */
  scratch: string;
}

const crc32 = (content: Buffer): string => zlib.crc32(content).toString(16).padStart(8, '0');

const manifestOf = (files: FixtureFile[], storedIn: string): ManifestFile[] =>
  files.map((f) => ({ name: f.name, dir: f.dir ?? 0, size: f.content.length, crc32: crc32(f.content), stored_in: storedIn }));

/** Files as a snapshot would give them: a few SSTable components with random bytes, and the table's manifest. */
function tableFiles(generation: number, table = TABLE, dataSize = 40_000): FixtureFile[] {
  return [
    { name: `${table}/nb-${generation}-big-Data.db`, content: randomBytes(dataSize) },
    { name: `${table}/nb-${generation}-big-Index.db`, content: randomBytes(3_000) },
    { name: `${table}/nb-${generation}-big-TOC.txt`, content: Buffer.from('Data.db\nIndex.db\nTOC.txt\n') },
    { name: `${table}/manifest.json`, content: Buffer.from(`{"files":["nb-${generation}-big-Data.db"]}`) },
  ];
}

interface BackupFixture {
  id: string;
  /** What the TAR holds. */
  files: FixtureFile[];
  /** The record's manifest: by default every file packed, stored in this backup; null: a record from before manifests. */
  manifest?: ManifestFile[] | null;
  parent?: BackupRecord;
}

/**
 * Stores a backup as the agent does (packFiles → the configured compression →
 * SHA-256 → the driver's put, through uploadArchive) and writes its record.
 */
async function storeBackup(store: Store, fixture: BackupFixture): Promise<BackupRecord> {
  const dir = path.join(store.scratch, fixture.id);
  await mkdir(dir, { recursive: true });
  const entries = await Promise.all(
    fixture.files.map(async (file, i) => {
      const sourcePath = path.join(dir, String(i));
      await writeFile(sourcePath, file.content);
      return { sourcePath, entryName: file.name, dataDirIndex: file.dir ?? 0, size: file.content.length };
    }),
  );
  // uploadArchive uses the context's configuration, storage and progress; never the node.
  const ctx = { config: store.config, storage: store.storage, catalog: store.catalog, progress: silentProgress, signal: new AbortController().signal } as Omit<JobContext, 'node'> as JobContext;
  const upload = await uploadArchive(ctx, { backupId: fixture.id, files: entries, meta: { 'backup-id': fixture.id }, format: await writeFormat(store.config) });
  const record = recordFixture(
    {
      id: fixture.id,
      instance_id: 'verify-test',
      file_count: upload.fileCount,
      raw_bytes: upload.rawBytes,
      stored_bytes: upload.storedBytes,
      sha256: upload.sha256,
      checksum: upload.checksum,
      location: upload.location,
      object_key: upload.objectKey,
      compression: upload.compression,
      ...(fixture.manifest === null ? {} : { files: fixture.manifest ?? manifestOf(fixture.files, fixture.id) }),
      data_directory_count: 2,
    },
    fixture.parent,
  );
  await store.catalog.put(record);
  return record;
}

const verify = (store: Store, id: string, chain = false): Promise<VerifyReport> =>
  verifyBackup({ config: store.config, storage: store.storage, catalog: store.catalog, progress: silentProgress }, id, { chain });

async function openStore(env: Record<string, string>, scratch: string): Promise<Store> {
  const config = await loadConfig(undefined, env);
  const storage = createStorage(config);
  return { config, storage, catalog: createStorageCatalog(storage), scratch };
}

/** Changes one bit of a stored file in place. */
async function flipByte(file: string, offset: number): Promise<void> {
  const stored = await readFile(file);
  stored[offset] = stored[offset]! ^ 0x01;
  await writeFile(file, stored);
}

const statuses = (report: VerifyReport): Record<string, string> => Object.fromEntries(report.files.map((f) => [f.name, f.status]));

describe('verify a stored backup: local storage', function () {
  this.timeout(60_000);
  let base: string;
  let store: Store;
  const objectFile = (rec: BackupRecord): string => path.join(base, 'store', rec.object_key);

  before(async () => {
    base = await makeTempDir('verify');
    store = await openStore({ GUEST_AGENT_BACKUP_LOCAL_PATH: path.join(base, 'store') }, path.join(base, 'scratch'));
  });
  after(() => removeDir(base));

  for (const compression of ['none', 'gzip', 'zstd'] as const) {
    it(`passes a good ${compression} archive: every manifest file there with its size and CRC-32, the SHA-256 as recorded`, async () => {
      const compressed = { ...store, config: await loadConfig(undefined, { GUEST_AGENT_BACKUP_LOCAL_PATH: path.join(base, 'store'), GUEST_AGENT_BACKUP_COMPRESSION: compression }) };
      // The second data directory's files carry their index as a PAX record.
      const files = [...tableFiles(1), { name: `${OTHER_TABLE}/nb-7-big-Data.db`, content: randomBytes(5_000), dir: 1 }];
      const rec = await storeBackup(compressed, { id: `good-${compression}`, files });
      const report = await verify(compressed, rec.id);
      expect(report.problems).to.deep.equal([]);
      expect(report.ok).to.equal(true);
      expect(report.files).to.deep.equal(rec.files!.map((f) => ({ ...f, status: 'ok' })));
      expect(report.objects).to.deep.equal([
        { backup_id: rec.id, key: rec.object_key, check: 'streamed', stored_bytes: rec.stored_bytes, bytes_read: rec.stored_bytes, sha256: rec.sha256, ok: true },
      ]);
      expect(report).to.include({ backup_id: rec.id, in_catalog: true, bytes_read: rec.stored_bytes, objects_verified: 1 });
      expect(verdictLine(report)).to.match(new RegExp(`^backup ${rec.id} is good: 5 files \\(.+\\) checked, .+ read from 1 object$`));
    });
  }

  it('names a flipped byte as a SHA-256 mismatch, and the file it falls in as a CRC difference', async () => {
    const files = tableFiles(2);
    const rec = await storeBackup(store, { id: 'flip-1', files });
    await flipByte(objectFile(rec), 512 + 100); // inside the first file's contents, just after its TAR header

    const report = await verify(store, rec.id);
    expect(report.ok).to.equal(false);
    expect(report.problems[0]).to.match(
      /^backup flip-1: the SHA-256 of its \d+ stored bytes is [0-9a-f]{64}, the catalog says [0-9a-f]{64}; flip-1\.tar is corrupt; it cannot be restored as it was taken: take a new backup$/,
    );
    expect(report.problems[1]).to.equal(
      `backup flip-1: ${files[0]!.name} has CRC-32 ${report.files[0]!.found!.crc32} in flip-1.tar, its manifest says ${crc32(files[0]!.content)}; it cannot be restored as it was taken: take a new backup`,
    );
    expect(statuses(report)).to.deep.equal({ [files[0]!.name]: 'crc differs', [files[1]!.name]: 'ok', [files[2]!.name]: 'ok', [files[3]!.name]: 'ok' });
    expect(verdictLine(report)).to.equal(`${report.problems[0]} (1 more problem; --json lists every file)`);
  });

  it('reads a compressed archive with a flipped byte to its end: the SHA-256 mismatch first, then the archive that no longer decompresses', async () => {
    const gzip = { ...store, config: await loadConfig(undefined, { GUEST_AGENT_BACKUP_LOCAL_PATH: path.join(base, 'store'), GUEST_AGENT_BACKUP_COMPRESSION: 'gzip' }) };
    const rec = await storeBackup(gzip, { id: 'flip-gz', files: tableFiles(3) });
    await flipByte(objectFile(rec), Math.floor(rec.stored_bytes / 2));

    const report = await verify(gzip, rec.id);
    expect(report.problems[0]).to.match(/^backup flip-gz: the SHA-256 of its \d+ stored bytes is [0-9a-f]{64}, the catalog says [0-9a-f]{64}; flip-gz\.tar\.gz is corrupt;/);
    expect(report.problems[1]).to.match(/^backup flip-gz: flip-gz\.tar\.gz cannot be read as a TAR compressed with gzip \(.+\); it cannot be restored/);
    expect(report.objects[0]).to.include({ bytes_read: rec.stored_bytes, ok: false });
  });

  it('says an archive was written broken when its stored bytes match the recorded SHA-256 but it does not decompress', async () => {
    const rec = await storeBackup(store, { id: 'broken-1', files: tableFiles(4) });
    // The record says gzip: the stored bytes are exactly those recorded, yet no gzip stream.
    await store.catalog.put({ ...rec, compression: 'gzip' });
    const report = await verify(store, rec.id);
    expect(report.problems).to.deep.equal([
      'backup broken-1: broken-1.tar cannot be read as a TAR compressed with gzip (incorrect header check), although its stored bytes match the recorded SHA-256: it was written broken; it cannot be restored as it was taken: take a new backup',
      'backup broken-1: 4 files of the manifest were not found in the part of broken-1.tar that could be read; it cannot be restored as it was taken: take a new backup',
    ]);
    expect(report.objects[0]).to.include({ sha256: rec.sha256, bytes_read: rec.stored_bytes, ok: false });
  });

  it('names a truncated object by its size, and the files cut off as missing', async () => {
    const files = tableFiles(5);
    const rec = await storeBackup(store, { id: 'cut-1', files });
    await truncate(objectFile(rec), 30_000); // inside the first file (40,000 bytes)
    const report = await verify(store, rec.id);
    expect(report.problems[0]).to.equal(
      `backup cut-1: its object cut-1.tar is 30000 bytes but the catalog says ${rec.stored_bytes}; it is truncated or was replaced; it cannot be restored as it was taken: take a new backup`,
    );
    expect(report.problems.slice(1).join('\n')).to.match(/the SHA-256 of its 30000 stored bytes is/);
    expect(report.problems.slice(1).join('\n')).to.match(/cut-1\.tar cannot be read as a TAR \(Unexpected end of data\)/);
    expect(Object.values(statuses(report))).to.deep.equal(['missing', 'missing', 'missing', 'missing']);
    expect(report.objects[0]).to.include({ bytes_read: 30_000 });
  });

  it('names a file of the manifest that the archive lacks', async () => {
    const files = tableFiles(6);
    const lost = { name: `${TABLE}/nb-6-big-Summary.db`, content: randomBytes(700) };
    const rec = await storeBackup(store, { id: 'lacks-1', files, manifest: manifestOf([...files, lost], 'lacks-1') });
    const report = await verify(store, rec.id);
    expect(report.problems).to.deep.equal([
      `backup lacks-1: ${lost.name} (data directory 0) is in its manifest but not in lacks-1.tar; it cannot be restored as it was taken: take a new backup`,
    ]);
    expect(report.files.find((f) => f.name === lost.name)).to.deep.equal({ name: lost.name, dir: 0, size: 700, crc32: crc32(lost.content), status: 'missing', stored_in: 'lacks-1' });
    expect(report.objects[0]).to.include({ ok: true, sha256: rec.sha256 });
  });

  it('names a file whose size or contents differ from the manifest, and a file the manifest does not list', async () => {
    const files = tableFiles(7);
    const manifest = manifestOf(files, 'differ-1');
    manifest[1] = { ...manifest[1]!, size: manifest[1]!.size + 1 };
    manifest[2] = { ...manifest[2]!, crc32: crc32(Buffer.from('Data.db\nIndex.db\nTOC.tx!\n')) };
    const extra = { name: `${TABLE}/nb-7-big-Filter.db`, content: randomBytes(64) };
    const rec = await storeBackup(store, { id: 'differ-1', files: [...files, extra], manifest });
    const report = await verify(store, rec.id);
    const remedy = 'it cannot be restored as it was taken: take a new backup';
    expect(report.problems).to.deep.equal([
      `backup differ-1: ${files[1]!.name} is 3000 bytes in differ-1.tar, its manifest says 3001; ${remedy}`,
      `backup differ-1: ${files[2]!.name} has CRC-32 ${crc32(files[2]!.content)} in differ-1.tar, its manifest says ${manifest[2]!.crc32}; ${remedy}`,
      `backup differ-1: differ-1.tar holds ${extra.name} (data directory 0), which its manifest does not list; ${remedy}`,
    ]);
    expect(statuses(report)).to.deep.equal({
      [files[0]!.name]: 'ok',
      [files[1]!.name]: 'size differs',
      [files[2]!.name]: 'crc differs',
      [files[3]!.name]: 'ok',
      [extra.name]: 'unexpected',
    });
    expect(report.files[1]!.found).to.deep.equal({ size: 3000, crc32: crc32(files[1]!.content) });
  });

  it('reports a TAR entry a restore would refuse, without writing anything', async () => {
    // Only the TAR holds it: a manifest naming it would make the record itself malformed (record-schema.ts).
    const files = tableFiles(8);
    const rec = await storeBackup(store, { id: 'escape-1', files: [...files, { name: 'shop/../../etc/cron.d/x', content: Buffer.from('* * * * * root sh\n') }], manifest: manifestOf(files, 'escape-1') });
    const report = await verify(store, rec.id);
    expect(report.problems[0]).to.equal(
      "backup escape-1: escape-1.tar holds an entry a restore refuses, 'shop/../../etc/cron.d/x': its name climbs out of the data directory with '..'; it cannot be restored as it was taken: take a new backup",
    );
  });

  it('refuses a record whose manifest names a file outside the data directory, naming the field, before reading anything', async () => {
    const rec = await storeBackup(store, { id: 'hostile-manifest-1', files: tableFiles(12) });
    await store.catalog.put({ ...rec, files: rec.files!.map((f, i) => (i === 1 ? { ...f, name: 'shop/../../etc/cron.d/x' } : f)) });
    const failure = await verify(store, rec.id).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).to.be.instanceOf(MalformedRecordError);
    expect((failure as Error).message).to.equal(
      `backup record catalog/hostile-manifest-1.json in local storage: files[1].name must be a relative TAR name <keyspace>/<table-dir>/<file>, got "shop/../../etc/cron.d/x" (its name climbs out of the data directory with '..')`,
    );
  });

  it('checks a record from before manifests by its file count and raw size', async () => {
    const good = await storeBackup(store, { id: 'old-1', files: tableFiles(9), manifest: null });
    const goodReport = await verify(store, good.id);
    expect(goodReport.problems).to.deep.equal([]);
    expect(goodReport.files.map((f) => [f.name, f.size, f.crc32, f.status])).to.deep.equal(tableFiles(9).map((f, i) => [f.name, f.content.length, goodReport.files[i]!.crc32, 'ok']));
    expect(goodReport.files.map((f) => f.crc32)).to.satisfy((crcs: string[]) => crcs.every((c) => /^[0-9a-f]{8}$/.test(c)));

    const counted = await storeBackup(store, { id: 'old-2', files: tableFiles(10), manifest: null });
    await store.catalog.put({ ...counted, file_count: 5 });
    expect((await verify(store, counted.id)).problems).to.deep.equal(['backup old-2: old-2.tar holds 4 files, the catalog says 5; it cannot be restored as it was taken: take a new backup']);
  });

  it('reports an incomplete record instead of reading the object', async () => {
    const rec = await storeBackup(store, { id: 'failed-1', files: tableFiles(11) });
    await store.catalog.put({ ...rec, state: 'FAILED' });
    const report = await verify(store, rec.id);
    expect(report.problems).to.deep.equal(['backup failed-1: its catalog record is incomplete (its state is FAILED, not COMPLETED); it cannot be restored as it was taken: take a new backup']);
    expect(report.objects).to.deep.equal([]);
  });

  it('refuses an id that is in neither the catalog nor the store', async () => {
    const failure = await verify(store, 'no-such-backup').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).to.be.instanceOf(BackupNotFoundError);
    expect((failure as Error).message).to.equal('backup no-such-backup is not in the catalog (local storage, catalog/); check the id and the storage settings');
  });

  describe('a differential backup', () => {
    let parent: BackupRecord;
    let child: BackupRecord;
    let parentFiles: FixtureFile[];
    let childFiles: FixtureFile[];

    beforeEach(async () => {
      const tag = randomBytes(3).toString('hex');
      parentFiles = tableFiles(20);
      childFiles = [{ name: `${TABLE}/nb-21-big-Data.db`, content: randomBytes(9_000) }];
      parent = await storeBackup(store, { id: `full-${tag}`, files: parentFiles });
      // The child's object adds one file; its manifest keeps the parent's Data.db and Index.db where they are.
      const kept = manifestOf(parentFiles.slice(0, 2), parent.id);
      child = await storeBackup(store, { id: `diff-${tag}`, files: childFiles, parent, manifest: [...kept, ...manifestOf(childFiles, `diff-${tag}`)] });
    });

    it('passes with its ancestor present, leaving the files stored there unread without --chain', async () => {
      const report = await verify(store, child.id);
      expect(report.problems).to.deep.equal([]);
      expect(report.chain).to.deep.equal([child.id, parent.id]);
      expect(report.objects.map((o) => [o.backup_id, o.check, o.ok])).to.deep.equal([
        [child.id, 'streamed', true],
        [parent.id, 'head', true],
      ]);
      expect(report.files.map((f) => [f.name, f.stored_in, f.status])).to.deep.equal([
        [childFiles[0]!.name, child.id, 'ok'],
        [parentFiles[0]!.name, parent.id, 'not checked'],
        [parentFiles[1]!.name, parent.id, 'not checked'],
      ]);
      expect(verdictLine(report)).to.match(/; 2 files stored in ancestors not read \(--chain reads them\)$/);
    });

    it('with --chain, checks the files it keeps in its ancestor in the ancestor\'s object', async () => {
      const report = await verify(store, child.id, true);
      expect(report.problems).to.deep.equal([]);
      expect(report.objects.map((o) => [o.backup_id, o.check, o.ok])).to.deep.equal([
        [child.id, 'streamed', true],
        [parent.id, 'streamed', true],
      ]);
      expect(report.files.filter((f) => f.status !== 'ok')).to.deep.equal([]);
      expect(report.files.filter((f) => f.stored_in === parent.id).map((f) => f.name)).to.deep.equal(parentFiles.map((f) => f.name));
      expect(report.bytes_read).to.equal(child.stored_bytes + parent.stored_bytes);
    });

    it('with --chain, names a corrupt ancestor and says the backup cannot be restored', async () => {
      await flipByte(objectFile(parent), 600);
      // Without --chain only its presence and size are checked: cheap, and blind to this.
      expect((await verify(store, child.id)).ok).to.equal(true);
      const report = await verify(store, child.id, true);
      expect(report.problems[0]).to.match(
        new RegExp(`^backup ${child.id}: its ancestor ${parent.id}: the SHA-256 of its \\d+ stored bytes is [0-9a-f]{64}, the catalog says ${parent.sha256}; ${parent.id}\\.tar is corrupt; ${child.id} builds on it and cannot be restored: take a new full backup$`),
      );
      expect(report.files.find((f) => f.name === parentFiles[0]!.name)).to.include({ stored_in: parent.id, status: 'crc differs' });
    });

    it("names an ancestor whose object is missing, or whose record is gone", async () => {
      await rm(objectFile(parent));
      expect((await verify(store, child.id)).problems).to.deep.equal([
        `backup ${child.id}: its ancestor ${parent.id}: its object ${parent.object_key} is missing from local storage; ${child.id} builds on it and cannot be restored: take a new full backup`,
      ]);
      await store.catalog.delete(parent.id);
      const report = await verify(store, child.id);
      expect(report.problems).to.deep.equal([
        `backup ${child.id}: its ancestor ${parent.id} (the parent of ${child.id}) is not in the catalog (local storage, catalog/); it cannot be restored: take a new full backup`,
      ]);
      expect(report.files.filter((f) => f.stored_in === parent.id).map((f) => f.status)).to.deep.equal(['not checked', 'not checked']);
    });
  });

  describe('dbaas backup-verify', () => {
    const capture = () => {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      const text = { stdout: '', stderr: '' };
      stdout.on('data', (c: Buffer) => (text.stdout += c.toString()));
      stderr.on('data', (c: Buffer) => (text.stderr += c.toString()));
      return { streams: { stdout, stderr: stderr as unknown as NodeJS.WriteStream }, text };
    };

    it('exits 0 with a one-line verdict for a good backup, and 1 with the first problem for a damaged one', async () => {
      const rec = await storeBackup(store, { id: 'dbaas-1', files: tableFiles(30) });
      const good = capture();
      expect(await runBackupVerify({ id: rec.id, chain: false, json: false }, store, good.streams)).to.equal(0);
      expect(good.text.stdout).to.match(/^backup dbaas-1 is good: 4 files \(.+\) checked, .+ read from 1 object\n$/);
      expect(good.text.stderr).to.match(/^dbaas: reading dbaas-1\.tar \(.+\) from local storage: checking SHA-256, TAR structure, 4 files against the manifest\n$/);

      await truncate(objectFile(rec), 1_000);
      const bad = capture();
      expect(await runBackupVerify({ id: rec.id, chain: false, json: false }, store, bad.streams)).to.equal(1);
      expect(bad.text.stdout).to.equal('');
      expect(bad.text.stderr.split('\n').at(-2)).to.match(/^dbaas backup-verify: backup dbaas-1: its object dbaas-1\.tar is 1000 bytes but the catalog says \d+; it is truncated or was replaced; it cannot be restored as it was taken: take a new backup \(\d+ more problems; --json lists every file\)$/);
    });

    it('prints one JSON document with --json, also when the backup is damaged, and only the first problem on stderr', async () => {
      const rec = await storeBackup(store, { id: 'dbaas-2', files: tableFiles(31) });
      await flipByte(objectFile(rec), 700);
      const out = capture();
      expect(await runBackupVerify({ id: rec.id, chain: false, json: true }, store, out.streams)).to.equal(1);
      const doc = JSON.parse(out.text.stdout) as { ok: boolean; command: string; verify: VerifyReport; error: { type: string; message: string }; exit_code: number };
      expect(doc).to.include({ ok: false, command: 'backup-verify', exit_code: 1 });
      expect(doc.error).to.deep.equal({ type: 'BackupDamaged', message: doc.verify.problems[0] });
      expect(doc.error.message).to.match(/^backup dbaas-2: the SHA-256 of its \d+ stored bytes is/);
      expect(doc.verify.files.map((f) => f.status)).to.deep.equal(['crc differs', 'ok', 'ok', 'ok']);
      expect(out.text.stderr).to.match(/^dbaas backup-verify: backup dbaas-2: the SHA-256 [^\n]+\n$/);
    });
  });
});

/** Plain requests to the test Swift's account with a tempauth token, behind the driver's back. */
async function swiftAccount(): Promise<(method: string, objectPath: string, body?: Buffer) => Promise<Response>> {
  const auth = await fetch(swiftTestAccount.authUrl, { headers: { 'X-Auth-User': swiftTestAccount.user, 'X-Auth-Key': swiftTestAccount.key } });
  await auth.body?.cancel();
  const token = auth.headers.get('x-auth-token')!;
  const storageUrl = auth.headers.get('x-storage-url')!;
  return (method, objectPath, body) => fetch(`${storageUrl}/${objectPath}`, { method, headers: { 'X-Auth-Token': token }, ...(body ? { body: new Uint8Array(body) } : {}) });
}

describe('verify a stored backup: Swift', function () {
  this.timeout(120_000);
  const container = `verify-${randomBytes(4).toString('hex')}`;
  let base: string;
  let store: Store;
  const swiftEnv = {
    GUEST_AGENT_STORAGE_STRATEGY: 'swift',
    GUEST_AGENT_SWIFT_AUTH_URL: swiftTestAccount.authUrl,
    GUEST_AGENT_SWIFT_USER: swiftTestAccount.user,
    GUEST_AGENT_SWIFT_KEY: swiftTestAccount.key,
    GUEST_AGENT_BACKUP_SWIFT_CONTAINER: container,
    // Tiny segments: a backup of ~100 KB becomes a Static Large Object of several.
    GUEST_AGENT_BACKUP_SEGMENT_MAX_SIZE: String(32 * 1024),
  };

  before(async () => {
    base = await makeTempDir('verify-swift');
    store = await openStore(swiftEnv, path.join(base, 'scratch'));
  });
  after(async () => {
    await execa('swift', ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key, 'delete', container], { reject: false });
    await removeDir(base);
  });

  const segments = async (id: string): Promise<string[]> => {
    const names: string[] = [];
    for await (const info of store.storage.list(`${id}_`)) names.push(info.key);
    return names;
  };

  it('passes a good multi-segment backup, checked against its ETag as well as its SHA-256', async () => {
    const rec = await storeBackup(store, { id: 'slo-good', files: tableFiles(1, TABLE, 100_000) });
    expect((await segments(rec.id)).length).to.be.greaterThan(2);
    const report = await verify(store, rec.id);
    expect(report.problems).to.deep.equal([]);
    expect(report.objects[0]).to.deep.equal({ backup_id: rec.id, key: 'slo-good.tar', check: 'streamed', stored_bytes: rec.stored_bytes, bytes_read: rec.stored_bytes, sha256: rec.sha256, store_checksum: rec.checksum, ok: true });
  });

  it('names an object whose ETag is not the one the catalog recorded', async () => {
    const rec = await storeBackup(store, { id: 'etag-1', files: tableFiles(5, TABLE, 10_000) });
    const recorded = 'ab'.repeat(16);
    await store.catalog.put({ ...rec, checksum: recorded });
    const report = await verify(store, rec.id);
    expect(report.problems).to.deep.equal([
      `backup etag-1: its object etag-1.tar has ETag ${rec.checksum}, the catalog says ${recorded}; it was replaced; it cannot be restored as it was taken: take a new backup`,
    ]);
  });

  it('names the segment of a Static Large Object that was deleted', async () => {
    const rec = await storeBackup(store, { id: 'slo-hole', files: tableFiles(2, TABLE, 100_000) });
    const names = await segments(rec.id);
    const send = await swiftAccount();
    expect((await send('DELETE', `${container}/${names[1]}`)).status).to.equal(204);
    const report = await verify(store, rec.id);
    expect(report.problems[0]).to.equal(
      `backup slo-hole: swift: segment 2 of ${names.length} of slo-hole.tar (${container}/${names[1]}) is missing; the archive cannot be restored (after 32768 bytes); it cannot be restored as it was taken: take a new backup`,
    );
    expect(report.objects[0]).to.include({ bytes_read: 32_768, ok: false });
    expect(report.objects[0]!.sha256).to.equal(undefined);
    expect(report.files.filter((f) => f.status === 'missing').length).to.be.greaterThan(0);
  });

  it('names a segment whose bytes were replaced', async () => {
    const rec = await storeBackup(store, { id: 'slo-swap', files: tableFiles(3, TABLE, 100_000) });
    const names = await segments(rec.id);
    const send = await swiftAccount();
    expect((await send('PUT', `${container}/${names[2]}`, randomBytes(32 * 1024))).status).to.equal(201);
    const report = await verify(store, rec.id);
    expect(report.problems[0]).to.match(
      new RegExp(`^backup slo-swap: swift: segment 3 of ${names.length} of slo-swap\\.tar \\(${container}/${names[2]}\\) was replaced after the upload: its ETag is [0-9a-f]{32}, the manifest recorded [0-9a-f]{32} \\(after 65536 bytes\\); it cannot be restored as it was taken: take a new backup$`),
    );
  });

  it("checks an archive without a catalog record (Trove's) against its ETag and for its TAR structure", async () => {
    const rec = await storeBackup(store, { id: 'trove-1', files: tableFiles(4, TABLE, 100_000) });
    await store.catalog.delete(rec.id);
    const good = await verify(store, rec.id);
    expect(good.problems).to.deep.equal([]);
    expect(good).to.include({ ok: true, in_catalog: false });
    expect(good.objects[0]).to.include({ key: 'trove-1.tar', store_checksum: rec.checksum, bytes_read: rec.stored_bytes });
    expect(good.files.map((f) => [f.name, f.status])).to.deep.equal(tableFiles(4).map((f) => [f.name, 'ok']));
    expect(verdictLine(good)).to.match(/it has no catalog record: checked against the store's ETag and for its TAR structure only$/);

    const names = await segments(rec.id);
    const send = await swiftAccount();
    expect((await send('DELETE', `${container}/${names.at(-1)}`)).status).to.equal(204);
    const bad = await verify(store, rec.id);
    expect(bad.problems[0]).to.match(new RegExp(`^backup trove-1: swift: segment ${names.length} of ${names.length} of trove-1\\.tar \\(${container}/${names.at(-1)}\\) is missing;`));
  });

  it("reads an archive Trove's old strategy encrypted with openssl (.gz.enc) through the configured passphrase", async () => {
    // As Trove's old strategy stored it: tar | gzip | openssl enc -aes-256-cbc -salt, uploaded as <id>.gz.enc.
    const files = tableFiles(6, TABLE, 60_000);
    const dir = path.join(base, 'legacy');
    await mkdir(dir, { recursive: true });
    const entries = await Promise.all(
      files.map(async (file, i) => {
        await writeFile(path.join(dir, String(i)), file.content);
        return { sourcePath: path.join(dir, String(i)), entryName: file.name, dataDirIndex: 0 };
      }),
    );
    const tarGz = Buffer.concat(await packFiles(entries, { chunkSize: 64 * 1024 }).pipe(zlib.createGzip()).toArray());
    const encrypted = await execa('openssl', ['enc', '-aes-256-cbc', '-salt', '-md', 'sha256', '-pass', 'pass:trove-secret'], { input: tarGz, encoding: 'buffer' });
    await store.storage.put('trove-enc.gz.enc', Readable.from([Buffer.from(encrypted.stdout)]), {});

    const keyed = await openStore({ ...swiftEnv, GUEST_AGENT_TROVE_BACKUP_AES_CBC_KEY: 'trove-secret' }, path.join(base, 'scratch'));
    const good = await verify(keyed, 'trove-enc');
    expect(good.problems).to.deep.equal([]);
    expect(good.objects[0]).to.include({ key: 'trove-enc.gz.enc', ok: true });
    expect(good.files.map((f) => [f.name, f.size, f.crc32])).to.deep.equal(files.map((f) => [f.name, f.content.length, crc32(f.content)]));

    const wrong = await openStore({ ...swiftEnv, GUEST_AGENT_TROVE_BACKUP_AES_CBC_KEY: 'not-the-passphrase' }, path.join(base, 'scratch'));
    const report = await verify(wrong, 'trove-enc');
    expect(report.problems[0]).to.match(
      /^backup trove-enc: trove-enc\.gz\.enc cannot be read as a TAR compressed with gzip \(.*trove_backup_aes_cbc_key does not decrypt it.*\), although its stored bytes match its ETag: the configured key does not decrypt it, or it was written broken; /,
    );
  });
});

describe('verify a stored backup: S3', function () {
  this.timeout(120_000);
  const bucket = `verify-${randomBytes(4).toString('hex')}`;
  let base: string;
  let store: Store;
  const client = new S3Client({
    endpoint: s3TestAccount.endpoint,
    region: s3TestAccount.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3TestAccount.accessKeyId, secretAccessKey: s3TestAccount.secretAccessKey },
  });

  before(async () => {
    base = await makeTempDir('verify-s3');
    store = await openStore(
      {
        GUEST_AGENT_STORAGE_STRATEGY: 's3',
        GUEST_AGENT_S3_BUCKET: bucket,
        GUEST_AGENT_S3_ENDPOINT: s3TestAccount.endpoint,
        GUEST_AGENT_S3_REGION: s3TestAccount.region,
        GUEST_AGENT_S3_FORCE_PATH_STYLE: 'true',
        GUEST_AGENT_S3_ACCESS_KEY: s3TestAccount.accessKeyId,
        GUEST_AGENT_S3_SECRET_KEY: s3TestAccount.secretAccessKey,
      },
      path.join(base, 'scratch'),
    );
  });
  after(async () => {
    const keys: string[] = [];
    for await (const info of store.storage.list('')) keys.push(info.key);
    for (const key of keys) await store.storage.delete(key);
    await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    client.destroy();
    await removeDir(base);
  });

  it('passes a good backup', async () => {
    const rec = await storeBackup(store, { id: 's3-good', files: tableFiles(1) });
    const report = await verify(store, rec.id);
    expect(report.problems).to.deep.equal([]);
    expect(report.objects[0]).to.include({ sha256: rec.sha256, bytes_read: rec.stored_bytes, ok: true });
  });

  it('names an object replaced by a truncated one', async () => {
    const rec = await storeBackup(store, { id: 's3-cut', files: tableFiles(2) });
    const stored = Buffer.concat(await Readable.from(await store.storage.get(rec.object_key)).toArray());
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: rec.object_key, Body: stored.subarray(0, 20_000) }));
    const report = await verify(store, rec.id);
    expect(report.problems[0]).to.equal(
      `backup s3-cut: its object s3-cut.tar is 20000 bytes but the catalog says ${rec.stored_bytes}; it is truncated or was replaced; it cannot be restored as it was taken: take a new backup`,
    );
    expect(report.problems.slice(1).join('\n')).to.match(/the SHA-256 of its 20000 stored bytes is [0-9a-f]{64}, the catalog says/);
  });
});
