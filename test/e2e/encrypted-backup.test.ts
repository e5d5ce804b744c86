import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { expect } from 'chai';
import { createDecryptStream } from '../../src/archive/encryption.js';
import { loadEncryptionKeys } from '../../src/archive/encryption-key.js';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import { loadConfig } from '../../src/config/load-config.js';
import { runAgent, type AgentRun } from '../support/agent-runner.js';
import { readArchive, type ArchivedFile } from '../support/archive-reader.js';
import { createNodeUnderTest, localRecordFile, restoreLeftovers, type AgentStores, type NodeUnderTest } from '../support/e2e-nodes.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { digestTree } from '../support/tree-digest.js';

/** Several 1 MiB encryption chunks per object, even gzip-compressed. */
const TABLES = [
  { keyspace: 'shop', table: 'orders', sstables: 3, bytes: 2_500_000 },
  { keyspace: 'shop', table: 'customers', sstables: 2, bytes: 400_000 },
  { keyspace: 'metrics', table: 'events', sstables: 2, bytes: 600_000 },
];
const USER_KEYSPACES = new Set(TABLES.map((t) => t.keyspace));

describe('guest-agent backup and restore with client-side encryption (aes-256-gcm)', function () {
  this.timeout(180_000);
  let base: string;
  let stores: AgentStores;
  let source: NodeUnderTest;
  /** The key backups are written with: hex, in a 0600 file the source's configuration names. */
  let keyHex: string;
  let keyId: string;
  let keyFile: string;
  let rec: BackupRecord;
  /** What the first backup archived, read from its decrypted object. */
  let archived: Map<string, ArchivedFile>;

  before(async function () {
    base = await makeTempDir('encrypted');
    stores = { storePath: path.join(base, 'store') };
    keyHex = randomBytes(32).toString('hex');
    keyFile = path.join(base, 'backup.key');
    await writeFile(keyFile, `${keyHex}\n`, { mode: 0o600 });
    source = await createNodeUnderTest(path.join(base, 'source'), stores, { tables: TABLES, seed: 71 }, {
      backup_encryption: 'aes-256-gcm',
      backup_encryption_key_file: keyFile,
      backup_compression: 'gzip',
    });
    keyId = (await loadEncryptionKeys(await loadConfig(source.configFile, {}))).current!.id;
    await source.sim!.start();
  });

  after(async () => {
    await stopAllSimNodes();
    await removeDir(base);
  });

  const objectFile = (r: BackupRecord): string => new URL(r.location).pathname;
  const readRecord = async (id: string) => JSON.parse(await readFile(localRecordFile(stores, id), 'utf8')) as BackupRecord;
  const writeRecord = (r: BackupRecord) => writeFile(localRecordFile(stores, r.id), JSON.stringify(r));
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  const neverShowsKey = (result: AgentRun) => {
    expect(result.stdout + result.stderr, 'the key never appears in the output').not.to.include(keyHex);
    expect(result.stdout + result.stderr).not.to.include(keyHex.slice(0, 16));
  };

  /** User keyspaces' live files (not snapshots): what a restore must reproduce. */
  const userFiles = async (node: NodeUnderTest) =>
    new Map([...(await digestTree(node.dataDirs[0]!, ['snapshots', 'backups']))].filter(([name]) => USER_KEYSPACES.has(name.split('/')[0]!)));

  /** The whole state a refused restore must not change: files, and whether it runs. */
  const nodeState = async (node: NodeUnderTest) => ({
    running: await node.sim!.isRunning(),
    files: Object.fromEntries(await digestTree(node.dataDirs[0]!, ['snapshots'])),
  });

  const newTarget = async (name: string, seed: number, extra: Record<string, unknown> = {}): Promise<NodeUnderTest> => {
    const node = await createNodeUnderTest(path.join(base, name), stores, { seed }, extra);
    await node.sim!.start();
    return node;
  };

  const expectRestoreRefused = async (node: NodeUnderTest, id: string, exitCode: number, message: RegExp, env: NodeJS.ProcessEnv = {}): Promise<void> => {
    const before = await nodeState(node);
    const result = await runAgent(['restore', '--config', node.configFile, '--backup-id', id], env);
    expect(result.exitCode, result.stderr).to.equal(exitCode);
    expect(result.stderr).to.match(message);
    neverShowsKey(result);
    expect(await nodeState(node), 'node untouched').to.deep.equal(before);
    expect(await restoreLeftovers(node)).to.deep.equal([]);
  };

  it('stores an object that is neither TAR nor gzip and names no file, as <id>.tar.gz.enc with the key id in the record', async () => {
    const backup = await runAgent(['backup', '--config', source.configFile, '--backup-id', 'enc-1']);
    expect(backup.exitCode, backup.stderr).to.equal(0);
    neverShowsKey(backup);
    rec = await readRecord('enc-1');
    expect(rec.object_key).to.equal('enc-1.tar.gz.enc');
    expect(rec.compression).to.equal('gzip');
    expect(rec.encryption).to.deep.equal({ scheme: 'aes-256-gcm-chunked-v1', key_id: keyId });
    expect(keyId).to.match(/^[0-9a-f]{16}$/);

    const stored = await readFile(objectFile(rec));
    expect(stored.length).to.equal(rec.stored_bytes);
    expect(stored.length, 'several 1 MiB chunks').to.be.greaterThan(3 * 1024 * 1024);
    expect(sha256(stored)).to.equal(rec.sha256);
    expect(stored.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b])), 'not gzip').to.equal(false);
    expect(stored.subarray(257, 262).toString('latin1'), 'not TAR').not.to.equal('ustar');
    for (const plain of ['Data.db', 'manifest.json', 'schema.cql', 'shop/', 'orders-', 'CREATE TABLE']) {
      expect(stored.includes(Buffer.from(plain)), `'${plain}' in the stored bytes`).to.equal(false);
    }

    // Decrypted independently of the restore path: the archive of the source's files.
    const decrypted = path.join(base, 'enc-1.tar.gz');
    const key = (await loadEncryptionKeys(await loadConfig(source.configFile, {}))).current!;
    await pipeline(createReadStream(objectFile(rec)), createDecryptStream(key, { label: 'enc-1', objectId: 'enc-1' }), createWriteStream(decrypted));
    archived = await readArchive(decrypted);
    expect(archived.size).to.equal(rec.file_count);
    const live = await userFiles(source);
    for (const [name, digest] of live) expect(archived.get(name)?.sha256, `${name} archived`).to.equal(digest);
  });

  it('restores it on another node given the key in the environment, byte for byte', async () => {
    const target = await newTarget('target-env', 72);
    const restore = await runAgent(['restore', '--config', target.configFile, '--backup-id', 'enc-1'], { GUEST_AGENT_BACKUP_ENCRYPTION_KEY: keyHex });
    expect(restore.exitCode, restore.stderr).to.equal(0);
    neverShowsKey(restore);
    // Exactly the archived files of the user keyspaces (live SSTables, and the snapshot's manifest.json and schema.cql).
    const wanted = new Map([...archived].filter(([name]) => USER_KEYSPACES.has(name.split('/')[0]!)).map(([name, file]) => [name, file.sha256]));
    expect(wanted.size).to.be.greaterThan(TABLES.length * 3);
    expect(await userFiles(target)).to.deep.equal(wanted);
    expect(await target.sim!.isRunning()).to.equal(true);
    expect(await restoreLeftovers(target)).to.deep.equal([]);
  });

  describe('refuses, leaving the node untouched and running', () => {
    let target: NodeUnderTest;
    before(async () => {
      target = await newTarget('target-refuse', 73);
    });

    it('a restore without a key', async () => {
      await expectRestoreRefused(target, 'enc-1', 2, new RegExp(`backup enc-1 is encrypted \\(aes-256-gcm-chunked-v1, key id ${keyId}\\) but no backup encryption key is configured`));
    });

    it('a restore with another key, naming both key ids', async () => {
      const otherHex = randomBytes(32).toString('hex');
      const otherFile = path.join(base, 'other.key');
      await writeFile(otherFile, otherHex, { mode: 0o600 });
      const otherId = (await loadEncryptionKeys(await loadConfig(undefined, { GUEST_AGENT_BACKUP_ENCRYPTION_KEY_FILE: otherFile }))).current!.id;
      await expectRestoreRefused(
        target,
        'enc-1',
        2,
        new RegExp(`backup enc-1 was encrypted with key id ${keyId}, but the configured key has id ${otherId} \\(backup_encryption_key_file ${otherFile}\\)`),
        { GUEST_AGENT_BACKUP_ENCRYPTION_KEY_FILE: otherFile },
      );
    });

    it('an object altered in one byte, even with its record rewritten to match (the catalog lives in the same store)', async () => {
      const backup = await runAgent(['backup', '--config', source.configFile, '--backup-id', 'enc-tampered']);
      expect(backup.exitCode, backup.stderr).to.equal(0);
      const tampered = await readRecord('enc-tampered');
      const bytes = await readFile(objectFile(tampered));
      const at = Math.floor(bytes.length / 2);
      bytes[at] = bytes[at]! ^ 0x01;
      await writeFile(objectFile(tampered), bytes);
      await writeRecord({ ...tampered, sha256: sha256(bytes) });
      await expectRestoreRefused(target, 'enc-tampered', 1, /backup enc-tampered: chunk \d+ of the stored object \(bytes \d+-\d+\) fails authentication: the stored backup was altered/, {
        GUEST_AGENT_BACKUP_ENCRYPTION_KEY: keyHex,
      });
    });

    it('an object cut at a chunk boundary, with its record rewritten to match', async () => {
      const backup = await runAgent(['backup', '--config', source.configFile, '--backup-id', 'enc-cut']);
      expect(backup.exitCode, backup.stderr).to.equal(0);
      const cut = await readRecord('enc-cut');
      const bytes = await readFile(objectFile(cut));
      // The header, then two full chunks of 1 MiB and their tags: the final chunk and one more dropped.
      const headerLength = bytes.readUInt16BE(9);
      const kept = bytes.subarray(0, headerLength + 2 * (1024 * 1024 + 16));
      await writeFile(objectFile(cut), kept);
      await writeRecord({ ...cut, stored_bytes: kept.length, sha256: sha256(kept) });
      await expectRestoreRefused(target, 'enc-cut', 1, /backup enc-cut: the stored object ends after chunk 2 without its final chunk; the stored backup was truncated/, {
        GUEST_AGENT_BACKUP_ENCRYPTION_KEY: keyHex,
      });
    });
  });

  it('refuses to back up with a key file others can read, and writes nothing', async () => {
    const openFile = path.join(base, 'open.key');
    await writeFile(openFile, `${keyHex}\n`, { mode: 0o644 });
    const backup = await runAgent(['backup', '--config', source.configFile, '--backup-id', 'enc-open'], { GUEST_AGENT_BACKUP_ENCRYPTION_KEY_FILE: openFile });
    expect(backup.exitCode, backup.stderr).to.equal(2);
    expect(backup.stderr).to.contain(`backup_encryption_key_file ${openFile}: the key file is readable by others (mode 644); run 'chmod 600 ${openFile}'`);
    neverShowsKey(backup);
    expect((await readdir(stores.storePath)).filter((name) => name.startsWith('enc-open'))).to.deep.equal([]);
    const snapshots = [...(await digestTree(source.dataDirs[0]!)).keys()].filter((name) => name.includes('/snapshots/enc-open/'));
    expect(snapshots, 'snapshot cleared').to.deep.equal([]);
  });
});
