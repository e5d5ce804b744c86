import path from 'node:path';
import { expect } from 'chai';
import { findStrategy } from '../../strategies/registry.js';
import type { BackupRecord, ManifestFile } from '../../src/catalog/backup-record.js';
import { createStorageCatalog } from '../../src/catalog/storage-catalog.js';
import { openCassandraNode } from '../../src/cassandra/cassandra-node.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { JobContext } from '../../src/jobs/job-context.js';
import { runBackup, type BackupJobRequest } from '../../src/runner/run-backup.js';
import { runRestore } from '../../src/runner/run-restore.js';
import { createStorage } from '../../src/storage/create-storage.js';
import { createNodeUnderTest, type NodeUnderTest } from '../support/e2e-nodes.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { digestTree } from '../support/tree-digest.js';

const USER_KEYSPACES = ['shop', 'metrics'];
const silent = { step: () => undefined, begin: () => undefined, advance: () => undefined, end: () => undefined };

/**
 * The strategies run in this process against a simulated node: what each one
 * stores, and that the runner's restore gives back what was backed up.
 */
describe('strategies, run in process on a simulated node', function () {
  this.timeout(120_000);
  let dir: string;
  let node: NodeUnderTest;

  before(async () => {
    dir = await makeTempDir('strategies');
    node = await createNodeUnderTest(path.join(dir, 'node'), { storePath: path.join(dir, 'store') }, { seed: 'strategies', incrementalBackups: true }, { backup_nice: 0, backup_ionice_class: 'none' });
    await node.sim!.start();
  });
  after(async () => {
    await stopAllSimNodes();
    await removeDir(dir);
  });

  async function context(extra: Record<string, string> = {}): Promise<JobContext> {
    const config = await loadConfig(node.configFile, Object.fromEntries(Object.entries(extra).map(([k, v]) => [`GUEST_AGENT_${k.toUpperCase()}`, v])));
    const storage = createStorage(config);
    return { config, node: await openCassandraNode(config), storage, catalog: createStorageCatalog(storage), progress: silent, signal: new AbortController().signal };
  }

  const backup = async (ctx: JobContext, request: Partial<BackupJobRequest> & { id: string }): Promise<BackupRecord> =>
    runBackup({ name: request.id, keyspaces: [], tables: [], ...request }, ctx, { onWarning: () => undefined });

  /** The snapshot's own files, which no live directory has. */
  const snapshotOnly = (name: string): boolean => name.endsWith('/manifest.json') || name.endsWith('/schema.cql');

  /** User-table SSTable files of the live data directory (name → SHA-256), as a manifest names them. */
  async function liveUserFiles(): Promise<Map<string, string>> {
    const files = new Map<string, string>();
    for (const [name, sha] of await digestTree(node.dataDirs[0]!, ['snapshots', 'backups'])) {
      // A restore leaves the snapshot's manifest.json and schema.cql in the table directories; Cassandra ignores them.
      if (USER_KEYSPACES.includes(name.split('/')[0]!) && !snapshotOnly(name)) files.set(name, sha);
    }
    return files;
  }

  const userFiles = (record: BackupRecord): ManifestFile[] => (record.files ?? []).filter((f) => USER_KEYSPACES.includes(f.name.split('/')[0]!) && !snapshotOnly(f.name));
  const names = (files: ManifestFile[]): string[] => files.map((f) => f.name).sort();

  it('NodetoolSnapshot stores every SSTable of the snapshot, writes the record last and clears the snapshot', async () => {
    const ctx = await context();
    const live = await liveUserFiles();
    const record = await backup(ctx, { id: 'snap-1' });
    expect(record.strategy).to.equal('NodetoolSnapshot');
    expect(record.state).to.equal('COMPLETED');
    expect(names(userFiles(record))).to.deep.equal([...live.keys()].sort());
    expect(await ctx.catalog.get('snap-1')).to.deep.equal(record);
    expect((await ctx.storage.head(record.object_key))?.size).to.equal(record.stored_bytes);
    const snapshots = [...(await digestTree(node.dataDirs[0]!)).keys()].filter((n) => n.includes('/snapshots/snap-1/'));
    expect(snapshots).to.deep.equal([]);
  });

  it('NodetoolDifferential stores only the SSTables its parent chain lacks, and names where each file is', async () => {
    const ctx = await context();
    const parent = await backup(ctx, { id: 'diff-0', forceFull: true });
    await node.sim!.write('shop', 'orders', 30_000);
    const child = await backup(ctx, { id: 'diff-1', parent: { id: 'diff-0' } });
    expect(child.strategy).to.equal('NodetoolDifferential');
    expect(child.parent?.id).to.equal('diff-0');
    // Cassandra rewrites some components of existing SSTables (Statistics.db, Summary.db): those are stored again when they changed.
    const inParent = new Map(userFiles(parent).map((f) => [f.name, f]));
    for (const file of userFiles(child)) {
      const before = inParent.get(file.name);
      const same = before !== undefined && before.size === file.size && before.crc32 === file.crc32;
      const rewrittenInPlace = /-(Statistics|Summary)\.db$/.test(file.name);
      expect(file.stored_in, file.name).to.equal(same && !rewrittenInPlace ? 'diff-0' : 'diff-1');
    }
    const newData = userFiles(child).filter((f) => f.name.endsWith('-Data.db') && !inParent.has(f.name));
    expect(newData.map((f) => [f.name.split('/')[1]!.split('-')[0], f.stored_in])).to.deep.equal([['orders', 'diff-1']]);
  });

  it('NodetoolIncremental stores the SSTables Cassandra hard-linked into backups/ since its parent', async () => {
    const ctx = await context({ backup_incremental_strategy: 'NodetoolIncremental' });
    const first = await backup(ctx, { id: 'inc-0', forceFull: true });
    expect(first.type).to.equal('full');
    await node.sim!.write('metrics', 'events', 20_000);
    const second = await backup(ctx, { id: 'inc-1', parent: { id: 'inc-0' } });
    expect(second.type).to.equal('incremental');
    const newData = userFiles(second).filter((f) => f.stored_in === 'inc-1' && f.name.endsWith('-Data.db'));
    expect(newData.map((f) => f.name.split('/')[1]!.split('-')[0])).to.deep.equal(['events']);
    expect(userFiles(second).filter((f) => f.stored_in === 'inc-1').every((f) => f.name.startsWith('metrics/events-'))).to.equal(true);
    const leftInBackups = [...(await digestTree(node.dataDirs[0]!, ['snapshots'])).keys()].filter((n) => n.includes('/backups/') && USER_KEYSPACES.includes(n.split('/')[0]!));
    expect(leftInBackups).to.deep.equal([]);
  });

  it('a differential chain restored through the runner gives back the files as they were at its newest backup', async () => {
    const ctx = await context();
    await backup(ctx, { id: 'round-0', forceFull: true });
    await node.sim!.write('shop', 'customers', 25_000);
    await backup(ctx, { id: 'round-1', parent: { id: 'round-0' } });
    const atBackup = await liveUserFiles();
    await node.sim!.write('shop', 'orders', 40_000);
    await node.sim!.nodetool(['flush']);
    expect(await liveUserFiles()).to.not.deep.equal(atBackup);

    const result = await runRestore({ backupId: 'round-1', checksum: null, location: null, sourceClusterName: null, rootPassword: null }, () => ctx, findStrategy);
    expect(result.backupId).to.equal('round-1');
    const restored = await liveUserFiles();
    const differing = [...new Set([...restored.keys(), ...atBackup.keys()])].filter((n) => restored.get(n) !== atBackup.get(n));
    expect(differing).to.deep.equal([]);
    expect(await node.sim!.isRunning()).to.equal(true);
  });
});
