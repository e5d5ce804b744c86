import path from 'node:path';
import { expect } from 'chai';
import type { CollectJob, Strategy } from '../../strategies/strategy.js';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import { createStorageCatalog } from '../../src/catalog/storage-catalog.js';
import { openCassandraNode } from '../../src/cassandra/cassandra-node.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ArchiveError, BackupExistsError, BackupNotFoundError, ChecksumMismatchError, UsageError } from '../../src/errors.js';
import { singlePlan, type RestorePlan } from '../../src/jobs/backup-chain.js';
import type { JobContext } from '../../src/jobs/job-context.js';
import { RPC_FIELD_NAMES, checkBackupRequest, runBackup, type BackupJobRequest, type StrategyLookup } from '../../src/runner/run-backup.js';
import { runRestore, type RestoreJobRequest } from '../../src/runner/run-restore.js';
import { createStorage } from '../../src/storage/create-storage.js';
import { createLocalStorage } from '../../src/storage/local-storage.js';
import { createNodeUnderTest, type NodeUnderTest } from '../support/e2e-nodes.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { recordFixture } from '../support/record-fixture.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

const SHA = 'a'.repeat(64);
const INSTANCE = 'runner-node';
const silent = { step: () => undefined, begin: () => undefined, advance: () => undefined, end: () => undefined };

/** A complete COMPLETED record of this test's instance and cluster. */
function completedRecord(id: string, fields: Partial<BackupRecord> = {}): BackupRecord {
  return recordFixture({ id, location: `file:///store/${id}.tar`, object_key: `${id}.tar`, stored_bytes: 10, instance_id: INSTANCE, strategy: 'IncrementalOne', sha256: SHA, checksum: SHA, files: [], ...fields });
}

/**
 * Strategies whose hooks record what the runner hands them. `collect`
 * stores no file: the runner's own half (object, record) still runs.
 */
function recordingStrategy(name: string, buildsOn: boolean) {
  const calls = { collected: [] as CollectJob[], refused: [] as string[], planned: [] as string[][] };
  const strategy: Strategy = {
    name,
    description: 'records its calls',
    collect: async (_ctx, job, store) => {
      calls.collected.push(job);
      return store({ files: [] });
    },
    ...(buildsOn
      ? {
          refuseParent: (parent: BackupRecord) => {
            calls.refused.push(parent.id);
            return parent.name === 'refuse me' ? 'is not to be built on' : undefined;
          },
          restorePlan: (chain: BackupRecord[]): RestorePlan => {
            calls.planned.push(chain.map((r) => r.id));
            return singlePlan(chain.at(-1)!);
          },
        }
      : {}),
  };
  return { strategy, calls };
}

describe('the job runner (runBackup, runRestore) on a simulated node', function () {
  this.timeout(60_000);
  let dir: string;
  let node: NodeUnderTest;
  let ctx: JobContext;
  let lookedUp: { role: string; name: string }[];
  let full: ReturnType<typeof recordingStrategy>;
  let incremental: ReturnType<typeof recordingStrategy>;
  let lookup: StrategyLookup;
  const quiet = { onWarning: () => undefined };

  before(async () => {
    dir = await makeTempDir('runner');
    node = await createNodeUnderTest(path.join(dir, INSTANCE), { storePath: path.join(dir, 'store') }, { seed: 'runner' }, {
      backup_strategy: 'FullOne',
      backup_incremental_strategy: 'IncrementalOne',
      // Leave the test process's priority alone.
      backup_nice: 0,
      backup_ionice_class: 'none',
    });
    await node.sim!.start();
  });
  after(async () => {
    await stopAllSimNodes();
    await removeDir(dir);
  });

  beforeEach(async () => {
    await removeDir(path.join(dir, 'store'));
    const config = await loadConfig(node.configFile, {});
    const storage = createStorage(config);
    ctx = { config, node: await openCassandraNode(config), storage, catalog: createStorageCatalog(storage), progress: silent, signal: new AbortController().signal };
    full = recordingStrategy('FullOne', false);
    incremental = recordingStrategy('IncrementalOne', true);
    lookedUp = [];
    lookup = async (role, name) => {
      lookedUp.push({ role, name });
      const found = [full.strategy, incremental.strategy].find((s) => s.name === name);
      if (!found) throw new Error(`no strategy ${name}`);
      return found;
    };
  });

  const request = (fields: Partial<BackupJobRequest> = {}): BackupJobRequest => ({ id: 'b-1', name: 'nightly', keyspaces: [], tables: [], ...fields });
  const run = (fields: Partial<BackupJobRequest> = {}) => runBackup(request(fields), ctx, { ...quiet, findStrategy: lookup });

  describe('backup', () => {
    it('runs backup_strategy for a full backup, and writes the record of what it stored', async () => {
      const record = await run({ keyspaces: ['shop'] });
      expect(lookedUp).to.deep.equal([{ role: 'backup', name: 'FullOne' }]);
      expect(full.calls.collected).to.deep.equal([{ target: { id: 'b-1', name: 'nightly', keyspaces: ['shop'], tables: [] } }]);
      expect(record).to.include({ id: 'b-1', state: 'COMPLETED', type: 'full', strategy: 'FullOne', instance_id: INSTANCE, file_count: 0 });
      expect(record.cassandra_version).to.match(/^4\.0/);
      expect(await ctx.catalog.get('b-1')).to.deep.equal(record);
      expect((await ctx.storage.head(record.object_key))?.size).to.equal(record.stored_bytes);
    });

    it('builds on the named parent with backup_incremental_strategy, handing the strategy the chain full first', async () => {
      await ctx.catalog.put(completedRecord('p-0'));
      await ctx.catalog.put(completedRecord('p-1', { type: 'incremental', parent: { id: 'p-0', location: 'file:///store/p-0.tar', checksum: SHA } }));
      const record = await run({ parent: { id: 'p-1' } });
      expect(incremental.calls.refused).to.deep.equal(['p-1']);
      const job = incremental.calls.collected[0]!;
      expect(job.parent?.record.id).to.equal('p-1');
      expect(job.parent?.chain.map((r) => r.id)).to.deep.equal(['p-0', 'p-1']);
      expect(record).to.include({ type: 'incremental', strategy: 'IncrementalOne' });
      expect(record.parent?.id).to.equal('p-1');
    });

    it("builds on this instance's newest COMPLETED backup when asked for the newest", async () => {
      await ctx.catalog.put(completedRecord('old', { created: '2026-12-01T01:00:00.000Z' }));
      await ctx.catalog.put(completedRecord('newest-ok', { created: '2026-12-02T01:00:00.000Z' }));
      await ctx.catalog.put(completedRecord('newer-failed', { created: '2026-12-03T01:00:00.000Z', state: 'FAILED' }));
      await ctx.catalog.put(completedRecord('other-node', { created: '2026-12-04T01:00:00.000Z', instance_id: 'node-b' }));
      const record = await run({ parent: 'newest' });
      expect(record.parent?.id).to.equal('newest-ok');
    });

    it('takes a full backup, and records why, when the strategy refuses the parent or a fresh chain is asked for', async () => {
      await ctx.catalog.put(completedRecord('p-0', { name: 'refuse me' }));
      const refused = await run({ parent: { id: 'p-0' } });
      expect(refused).to.include({ type: 'full', strategy: 'IncrementalOne', full_reason: 'parent backup p-0 is not to be built on' });
      expect(incremental.calls.collected.map((j) => j.parent)).to.deep.equal([undefined]);
      const fresh = await run({ id: 'b-2', parent: { id: 'p-0' }, forceFull: true });
      expect(fresh).to.include({ type: 'full', full_reason: 'a full backup was asked for (--full)' });
    });

    it('says a strategy of full backups only built on nothing', async () => {
      await ctx.catalog.put(completedRecord('p-0'));
      const config = { ...ctx.config, backup_incremental_strategy: 'FullOne' };
      const record = await runBackup(request({ parent: { id: 'p-0' } }), { ...ctx, config }, { ...quiet, findStrategy: lookup });
      expect(record).to.include({ type: 'full', strategy: 'FullOne', full_reason: 'FullOne takes full backups only' });
    });

    it('refuses an incremental backup on the newest when the instance has no COMPLETED one, saying to take a full one', async () => {
      await ctx.catalog.put(completedRecord('other-node', { instance_id: 'node-b' }));
      const err = await rejectionOf(run({ parent: 'newest' }));
      expect(err).to.be.instanceOf(BackupNotFoundError);
      expect(err.message).to.contain(`instance ${INSTANCE} needs a COMPLETED backup`).and.contain('take a full backup first');
      expect(incremental.calls.collected).to.deep.equal([]);
    });

    it('refuses an id the catalog already has, before the strategy collects anything', async () => {
      await ctx.catalog.put(completedRecord('b-1'));
      const err = await rejectionOf(run());
      expect(err).to.be.instanceOf(BackupExistsError);
      expect(full.calls.collected).to.deep.equal([]);
    });

    it('refuses a bad request before any strategy is looked up, naming the field as the requester wrote it', async () => {
      const cases: [Partial<BackupJobRequest>, RegExp][] = [
        [{ id: '../etc' }, /^backup_info\.id '\.\.\/etc': use letters, digits/],
        [{ keyspaces: ['a'], tables: ['a.b'] }, /^backup_info\.keyspaces and backup_info\.tables cannot be used together$/],
        [{ tables: ['shop'] }, /^backup_info\.tables: 'shop' is not of the form keyspace\.table$/],
        [{ parent: { id: 'x/../y' } }, /^backup_info\.parent 'x\/\.\.\/y': not a backup id$/],
      ];
      for (const [fields, message] of cases) {
        const err = await rejectionOf(run(fields));
        expect(err, JSON.stringify(fields)).to.be.instanceOf(UsageError);
        expect(err.message).to.match(message);
      }
      expect(lookedUp).to.deep.equal([]);
    });

    it('names the command-line options in the same errors for the CLI', () => {
      const cli = { id: '--backup-id', keyspaces: '--keyspaces', tables: '--tables', parent: '--parent' };
      expect(() => checkBackupRequest(request({ keyspaces: ['a'], tables: ['a.b'] }), cli)).to.throw(UsageError, '--keyspaces and --tables cannot be used together');
      expect(() => checkBackupRequest(request({ tables: ['a.b', 'x'] }), RPC_FIELD_NAMES)).to.throw(UsageError, "backup_info.tables: 'x' is not of the form keyspace.table");
    });
  });

  describe('restore', () => {
    const restoreRequest = (fields: Partial<RestoreJobRequest> = {}): RestoreJobRequest => ({
      backupId: 'r-1',
      checksum: null,
      location: null,
      sourceClusterName: null,
      rootPassword: null,
      ...fields,
    });

    it("asks the record's strategy for its plan of the chain, full first, and checks the objects before touching the node", async () => {
      await ctx.catalog.put(completedRecord('r-0'));
      await ctx.catalog.put(completedRecord('r-1', { type: 'incremental', parent: { id: 'r-0', location: 'file:///store/r-0.tar', checksum: SHA } }));
      const err = await rejectionOf(runRestore(restoreRequest({ location: 'file:///store/r-1.tar', checksum: SHA }), () => ctx, lookup));
      expect(lookedUp).to.deep.equal([{ role: 'restore', name: 'IncrementalOne' }]);
      expect(incremental.calls.planned).to.deep.equal([['r-0', 'r-1']]);
      // The records are made up: their objects are not in the store, and the restore stops there.
      expect(err).to.be.instanceOf(ArchiveError);
      expect(err.message).to.equal('backup r-1: its object r-1.tar is missing from local storage; the backup cannot be restored');
      expect(await node.sim!.isRunning()).to.equal(true);
    });

    it("refuses a checksum other than the catalog's with ChecksumMismatchError, from either entry point, restoring nothing", async () => {
      await ctx.catalog.put(completedRecord('r-1'));
      for (const location of [null, 'file:///store/r-1.tar']) {
        const err = await rejectionOf(runRestore(restoreRequest({ checksum: 'b'.repeat(64), location }), () => ctx, lookup));
        expect(err).to.be.instanceOf(ChecksumMismatchError);
        expect(err.message).to.equal(`backup r-1: its checksum in the catalog is ${SHA}, not ${'b'.repeat(64)} as the request says (the backup may have been replaced); nothing was restored`);
      }
      expect(lookedUp).to.deep.equal([]);
    });

    it("refuses a location other than the record's", async () => {
      await ctx.catalog.put(completedRecord('r-1'));
      const err = await rejectionOf(runRestore(restoreRequest({ location: 'file:///elsewhere/r-1.tar' }), () => ctx, lookup));
      expect(err).to.be.instanceOf(BackupNotFoundError);
      expect(err.message).to.contain("the requested location file:///elsewhere/r-1.tar is not the catalog's file:///store/r-1.tar");
      expect(lookedUp).to.deep.equal([]);
    });

    it("looks in the location's container when the backup is not in the configured one", async () => {
      const otherStorage = createLocalStorage({ path: path.join(dir, 'store', 'other-container') });
      const other: JobContext = { ...ctx, storage: otherStorage, catalog: createStorageCatalog(otherStorage) };
      const location = 'https://swift.example/v1/AUTH_p/other_backups/r-1.tar';
      await other.catalog.put(completedRecord('r-1', { strategy: 'FullOne', location }));
      const opened: (string | null)[] = [];
      const open = (container: string | null): JobContext => {
        opened.push(container);
        return container === 'other_backups' ? other : ctx;
      };
      const err = await rejectionOf(runRestore(restoreRequest({ location }), open, lookup));
      expect(opened).to.deep.equal([null, 'other_backups']);
      expect(lookedUp).to.deep.equal([{ role: 'restore', name: 'FullOne' }]);
      expect(err.message).to.equal('backup r-1: its object r-1.tar is missing from local storage; the backup cannot be restored');
    });

    it('says a backup with no record is not in the catalog when the store cannot vouch for an archive', async () => {
      const err = await rejectionOf(runRestore(restoreRequest({ backupId: 'missing-1' }), () => ctx, lookup));
      expect(err).to.be.instanceOf(BackupNotFoundError);
      expect(err.message).to.match(/^backup missing-1 is not in the catalog \(.*\); check the id and the storage settings$/);
      expect(lookedUp).to.deep.equal([]);
    });

    it('refuses an unusable backup id before it opens any storage', async () => {
      const err = await rejectionOf(runRestore(restoreRequest({ backupId: '../x' }), () => expect.fail('storage was opened') as never, lookup));
      expect(err).to.be.instanceOf(UsageError);
    });
  });
});

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  return expect.fail('expected a rejection');
}
