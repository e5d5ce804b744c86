import { execFile } from 'node:child_process';
import { open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import { runAgent } from '../support/agent-runner.js';
import { createNodeUnderTest, readCatalogRecord, restoreLeftovers, writeAgentConfig, type NodeUnderTest } from '../support/e2e-nodes.js';
import { swiftAgentSettings, swiftTestAccount } from '../support/object-store-env.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { digestTree } from '../support/tree-digest.js';

const execFileAsync = promisify(execFile);
const SYSTEM_KEYSPACES = ['system', 'system_schema', 'system_auth', 'system_distributed', 'system_traces'];
const USER_TABLES = [
  { keyspace: 'shop', table: 'orders', sstables: 3, bytes: 400_000 },
  { keyspace: 'shop', table: 'customers', sstables: 2, bytes: 150_000 },
  { keyspace: 'metrics', table: 'events', sstables: 2, bytes: 250_000 },
];

/** User-keyspace SSTable files of a node's live data directories (path → SHA-256), without snapshots/ and backups/. */
async function liveUserFiles(node: NodeUnderTest): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const dir of node.dataDirs) {
    for (const [name, sha] of await digestTree(dir, ['snapshots', 'backups'])) {
      const base = path.posix.basename(name);
      if (SYSTEM_KEYSPACES.includes(name.split('/')[0]!) || base === 'manifest.json' || base === 'schema.cql') continue;
      files.set(name, sha);
    }
  }
  return files;
}

/** Every file left in the backups/ directories of the user tables. */
async function backupsDirFiles(node: NodeUnderTest): Promise<string[]> {
  const names: string[] = [];
  for (const dir of node.dataDirs) {
    for (const name of (await digestTree(dir, ['snapshots'])).keys()) {
      if (name.includes('/backups/') && !SYSTEM_KEYSPACES.includes(name.split('/')[0]!)) names.push(name);
    }
  }
  return names;
}

async function backup(node: NodeUnderTest, id: string, ...flags: string[]): Promise<BackupRecord> {
  const run = await runAgent(['backup', '--config', node.configFile, '--backup-id', id, '--json', ...flags]);
  expect(run.exitCode, run.stderr).to.equal(0);
  return readCatalogRecord(node.configFile, id);
}

async function restore(node: NodeUnderTest, id: string) {
  return runAgent(['restore', '--config', node.configFile, '--backup-id', id, '--json']);
}

/** Flips one byte in the middle of a local file. */
async function flipByte(file: string): Promise<void> {
  const { size } = await stat(file);
  const handle = await open(file, 'r+');
  try {
    const at = Math.floor(size / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}

interface StoreCase {
  name: string;
  settings: (bucket: string) => Record<string, unknown>;
  cleanUp: (bucket: string) => Promise<unknown>;
}

const deleteContainer = (bucket: string) =>
  execFileAsync('swift', ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key, 'delete', bucket]).catch(() => undefined);

/**
 * A chain reaches its store only through the Storage interface, which the
 * contract suite checks on every backend (S3 included): one local and one
 * remote, segmented store are enough here, and keep this suite short.
 */
const STORES: StoreCase[] = [
  { name: 'local storage', settings: () => ({}), cleanUp: async () => undefined },
  {
    name: 'Swift',
    settings: (container) => swiftAgentSettings(container),
    cleanUp: deleteContainer,
  },
];

describe('backup chains: incremental and differential backups, end to end', function () {
  this.timeout(300_000);
  let base: string;

  before(async function () {
    base = await makeTempDir('chains');
  });

  after(async () => {
    await stopAllSimNodes();
    if (base) await removeDir(base);
  });

  /** A source node with data and a fresh target node, both running, sharing one store. */
  async function nodePair(label: string, settings: Record<string, unknown>, sourceOptions: { incrementalBackups?: boolean } = {}) {
    const stores = { storePath: path.join(base, `${label}-store`) };
    const source = await createNodeUnderTest(path.join(base, `${label}-a`), stores, { tables: USER_TABLES, seed: 61, ...sourceOptions }, settings);
    const target = await createNodeUnderTest(path.join(base, `${label}-b`), stores, { tables: [{ keyspace: 'shop', table: 'orders', sstables: 1, bytes: 10_000 }], seed: 62 }, settings);
    await Promise.all([source.sim!.start(), target.sim!.start()]);
    return { source, target, stores };
  }

  for (const store of STORES) {
    it(`differential on ${store.name}: full → differential → compaction → differential; the restore holds exactly the last snapshot`, async () => {
      const bucket = `chain-diff-${store.name.split(' ')[0]!.toLowerCase()}-${process.pid}`;
      try {
        const { source, target } = await nodePair(bucket, store.settings(bucket));
        const full = await backup(source, 'd0');
        expect(full).to.include({ type: 'full', strategy: 'NodetoolSnapshot' });
        expect(full.files, 'a full backup lists its files').to.have.length(full.file_count);

        await source.sim!.write('shop', 'customers', 8_000);
        const first = await backup(source, 'd1', '--incremental');
        expect(first).to.include({ type: 'incremental', strategy: 'NodetoolDifferential' });
        expect(first.parent).to.include({ id: 'd0', location: full.location });
        // Only the new SSTable, the in-place-rewritten components and the snapshot's own files are stored again.
        expect(first.stored_bytes).to.be.below(full.stored_bytes / 4);
        expect(first.files!.filter((f) => f.stored_in === 'd0').length).to.be.greaterThan(first.file_count);
        expect(first.files!.filter((f) => f.stored_in === 'd1')).to.have.length(first.file_count);

        const beforeCompaction = await liveUserFiles(source);
        const compacted = await source.sim!.nodetool(['compact', 'shop', 'orders']);
        expect(compacted.exitCode, compacted.stderr).to.equal(0);
        await source.sim!.write('metrics', 'events', 6_000);
        const second = await backup(source, 'd2', '--parent', 'd1');
        expect(second.parent?.id).to.equal('d1');
        const expected = await liveUserFiles(source);
        const removedByCompaction = [...beforeCompaction.keys()].filter((n) => !expected.has(n));
        expect(removedByCompaction.length, 'compaction removed files').to.be.greaterThan(0);
        expect(new Set(second.files!.map((f) => f.stored_in))).to.deep.equal(new Set(['d0', 'd1', 'd2']));

        const run = await restore(target, 'd2');
        expect(run.exitCode, run.stderr).to.equal(0);
        const restored = await liveUserFiles(target);
        expect([...restored.keys()].sort()).to.deep.equal([...expected.keys()].sort());
        for (const [name, sha] of expected) expect(restored.get(name), name).to.equal(sha);
        for (const name of removedByCompaction) expect(restored.has(name), `${name} was compacted away`).to.equal(false);
        expect(await target.sim!.isRunning()).to.equal(true);
        expect(await restoreLeftovers(target)).to.deep.equal([]);
      } finally {
        await store.cleanUp(bucket);
      }
    });
  }

  {
    // Its own part is on the node (Cassandra's backups/ directories): local storage is enough.
    const store = STORES[0]!;
    it(`incremental (Cassandra's backups/) on ${store.name}: full → incremental → incremental; the restore holds the full backup plus every later SSTable`, async () => {
      const bucket = `chain-incr-${store.name.split(' ')[0]!.toLowerCase()}-${process.pid}`;
      try {
        const settings = { ...store.settings(bucket), backup_incremental_strategy: 'NodetoolIncremental' };
        const { source, target } = await nodePair(bucket, settings, { incrementalBackups: true });
        await source.sim!.write('shop', 'orders', 5_000);
        const flushed = await source.sim!.nodetool(['flush']);
        expect(flushed.exitCode).to.equal(0);
        expect((await backupsDirFiles(source)).length, 'Cassandra linked the flushed SSTable into backups/').to.be.greaterThan(0);

        const full = await backup(source, 'i0', '--full');
        const user = (rec: BackupRecord) => rec.files!.filter((f) => !SYSTEM_KEYSPACES.includes(f.name.split('/')[0]!));
        expect(full).to.include({ type: 'full', strategy: 'NodetoolIncremental' });
        expect(full.full_reason, 'no incremental was asked for').to.equal(undefined);
        expect(await backupsDirFiles(source), 'files covered by the full backup are removed from backups/').to.deep.equal([]);
        const afterFull = await liveUserFiles(source);

        await source.sim!.write('shop', 'orders', 7_000);
        const first = await backup(source, 'i1', '--incremental');
        expect(first).to.include({ type: 'incremental', strategy: 'NodetoolIncremental' });
        expect(first.parent?.id).to.equal('i0');
        expect(user(first).every((f) => f.name.startsWith('shop/orders-')), 'only the table written to').to.equal(true);
        expect(user(first), 'one SSTable, 8 components').to.have.length(8);
        const afterFirst = await liveUserFiles(source);
        expect(await backupsDirFiles(source), 'uploaded files are removed from backups/').to.deep.equal([]);

        const compacted = await source.sim!.nodetool(['compact', 'shop', 'orders']);
        expect(compacted.exitCode, compacted.stderr).to.equal(0);
        await source.sim!.write('metrics', 'events', 4_000);
        const second = await backup(source, 'i2', '--incremental');
        expect(second.parent?.id).to.equal('i1');
        expect(user(second).every((f) => f.name.startsWith('metrics/events-')), 'compaction output is not in backups/').to.equal(true);
        expect(user(second)).to.have.length(8);
        const afterSecond = await liveUserFiles(source);

        const run = await restore(target, 'i2');
        expect(run.exitCode, run.stderr).to.equal(0);
        const restored = await liveUserFiles(target);
        // The full backup's files, then each incremental's, as they were on the source when stored.
        const expected = new Map(afterFull);
        for (const file of user(first)) expected.set(file.name, afterFirst.get(file.name)!);
        for (const file of user(second)) expected.set(file.name, afterSecond.get(file.name)!);
        expect([...restored.keys()].sort()).to.deep.equal([...expected.keys()].sort());
        for (const [name, sha] of expected) expect(restored.get(name), name).to.equal(sha);
        expect(await target.sim!.isRunning()).to.equal(true);
      } finally {
        await store.cleanUp(bucket);
      }
    });
  }

  describe('on local storage', () => {
    let source: NodeUnderTest;
    let target: NodeUnderTest;
    let storePath: string;

    before(async function () {
      const pair = await nodePair('local-rules', {});
      ({ source, target } = pair);
      storePath = pair.stores.storePath;
      await backup(source, 'r0');
      await source.sim!.write('shop', 'orders', 3_000);
      await backup(source, 'r1', '--incremental');
      await source.sim!.write('shop', 'customers', 3_000);
      await backup(source, 'r2', '--incremental');
    });

    it('refuses to restore a chain with a missing member, naming it, before the node is touched', async () => {
      const member = await readCatalogRecord(source.configFile, 'r1');
      const object = path.join(storePath, member.object_key);
      const moved = `${object}.away`;
      await execFileAsync('mv', [object, moved]);
      const before = await liveUserFiles(target);
      try {
        const run = await restore(target, 'r2');
        expect(run.exitCode).to.equal(1);
        expect(run.json).to.include({ ok: false });
        expect(String((run.json!.error as { message: string }).message)).to.match(/its ancestor r1's object r1\.tar is missing/);
      } finally {
        await execFileAsync('mv', [moved, object]);
      }
      expect(await liveUserFiles(target)).to.deep.equal(before);
      expect(await target.sim!.isRunning()).to.equal(true);
      expect(await restoreLeftovers(target)).to.deep.equal([]);
    });

    it('refuses a chain with a corrupt member, naming it, and leaves the node untouched', async () => {
      const member = await readCatalogRecord(source.configFile, 'r0');
      const object = path.join(storePath, member.object_key);
      await execFileAsync('cp', [object, `${object}.good`]);
      await flipByte(object);
      const before = await liveUserFiles(target);
      try {
        const run = await restore(target, 'r2');
        expect(run.exitCode).to.equal(1);
        expect(String((run.json!.error as { message: string }).message)).to.match(/backup r0: .*(SHA-256|corrupt|CRC)/);
      } finally {
        await execFileAsync('mv', [`${object}.good`, object]);
      }
      expect(await liveUserFiles(target)).to.deep.equal(before);
      expect(await target.sim!.isRunning()).to.equal(true);
      expect(await restoreLeftovers(target)).to.deep.equal([]);
    });

    it('takes a full backup, and says why, when the parent is of another instance', async () => {
      const other = await createNodeUnderTest(path.join(base, 'local-rules-c'), { storePath }, { tables: USER_TABLES, seed: 63 });
      await other.sim!.start();
      const run = await runAgent(['backup', '--config', other.configFile, '--backup-id', 'c1', '--parent', 'r2', '--json']);
      expect(run.exitCode, run.stderr).to.equal(0);
      const rec = await readCatalogRecord(other.configFile, 'c1');
      expect(rec).to.include({ type: 'full' });
      expect(rec.parent).to.equal(null);
      expect(rec.full_reason).to.match(/parent backup r2 was taken on instance local-rules-a, this is local-rules-c/);
      await other.sim!.stop();
    });

    it("refuses an incremental backup when Cassandra's incremental backups are off, instead of storing an empty one", async () => {
      const config = path.join(base, 'incr-off.yaml');
      await writeAgentConfig(config, source.sim!, { storePath }, { backup_incremental_strategy: 'NodetoolIncremental' });
      const full = await runAgent(['backup', '--config', config, '--backup-id', 'o0', '--full']);
      expect(full.exitCode, full.stderr).to.equal(0);
      expect(full.stderr).to.match(/incremental backups are off on this node/);
      const run = await runAgent(['backup', '--config', config, '--backup-id', 'o1', '--incremental', '--json']);
      expect(run.exitCode).to.equal(1);
      expect(String((run.json!.error as { message: string }).message)).to.match(/incremental backups are off on this node .*incremental_backups: true/);
      const listing = await readdir(path.join(storePath, 'catalog'));
      expect(listing).to.not.include('o1.json');
      await rm(config);
    });
  });
});
