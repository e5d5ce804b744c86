import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import yaml from 'js-yaml';
import type { BackupRequest, Strategy } from '../../strategies/strategy.js';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import { createStorageCatalog } from '../../src/catalog/storage-catalog.js';
import type { CassandraNode } from '../../src/cassandra/cassandra-node.js';
import { loadConfig } from '../../src/config/load-config.js';
import { BackupNotFoundError, ChecksumMismatchError, UsageError } from '../../src/errors.js';
import type { JobContext } from '../../src/jobs/job-context.js';
import type { RestoreOptions, RestoreResult } from '../../src/jobs/restore-archive.js';
import { RPC_FIELD_NAMES, checkBackupRequest, runBackup, type BackupJobRequest, type StrategyLookup } from '../../src/runner/run-backup.js';
import { runRestore, type RestoreJobRequest } from '../../src/runner/run-restore.js';
import { createLocalStorage } from '../../src/storage/local-storage.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

const SHA = 'a'.repeat(64);

/** A complete COMPLETED record of instance node-a, as a strategy writes one. */
function completedRecord(id: string, fields: Partial<BackupRecord> = {}): BackupRecord {
  return {
    id,
    instance_id: 'node-a',
    name: id,
    created: '2026-12-01T10:00:00.000Z',
    updated: '2026-12-01T10:00:05.000Z',
    state: 'COMPLETED',
    type: 'full',
    strategy: 'Recording',
    parent: null,
    keyspaces: [],
    tables: [],
    archived_tables: [],
    file_count: 1,
    raw_bytes: 10,
    stored_bytes: 10,
    sha256: SHA,
    checksum: SHA,
    location: `file:///store/${id}.tar`,
    object_key: `${id}.tar`,
    compression: 'none',
    files: [],
    data_directory_count: 1,
    cassandra_version: '4.0.11',
    cluster_name: 'Test Cluster',
    ring: { text: '', tokens: [] },
    ...fields,
  };
}

/** A strategy that records what the runner hands it, so the tests see the runner's decisions. */
function recordingStrategy(name: string) {
  const calls: { backups: BackupRequest[]; restores: { ctx: JobContext; id: string; options: RestoreOptions | undefined }[] } = { backups: [], restores: [] };
  const strategy: Strategy = {
    name,
    description: 'records its calls',
    backup: async (_ctx, request) => {
      calls.backups.push(request);
      return completedRecord(request.id);
    },
    restore: async (ctx, id, options): Promise<RestoreResult> => {
      calls.restores.push({ ctx, id, options });
      return { backupId: id, files: 1, rawBytes: 10, storedBytes: 10, dataDirectories: [], clusterName: 'c', starts: 2 };
    },
  };
  return { strategy, calls };
}

/** The runner decides from config and catalog alone: a node it touches is a defect, and says so. */
const untouchableNode = new Proxy({} as CassandraNode, {
  get: (_target, key) => {
    throw new Error(`the runner touched the node (${String(key)}); only strategies may`);
  },
});

describe('the job runner (runBackup, runRestore)', () => {
  let dir: string;
  let ctx: JobContext;
  let lookedUp: { role: string; name: string }[];
  let full: ReturnType<typeof recordingStrategy>;
  let incremental: ReturnType<typeof recordingStrategy>;
  let lookup: StrategyLookup;
  const noWarnings = { onWarning: (w: string) => expect.fail(`unexpected warning: ${w}`) };

  beforeEach(async () => {
    dir = await makeTempDir('runner');
    const configFile = path.join(dir, 'agent.yaml');
    await writeFile(
      configFile,
      yaml.dump({
        instance_id: 'node-a',
        backup_local_path: path.join(dir, 'store'),
        backup_strategy: 'FullOne',
        backup_incremental_strategy: 'IncrementalOne',
        // Leave the test process's priority alone.
        backup_nice: 0,
        backup_ionice_class: 'none',
      }),
    );
    const config = await loadConfig(configFile, {});
    const storage = createLocalStorage({ path: config.backup_local_path });
    ctx = { config, node: untouchableNode, storage, catalog: createStorageCatalog(storage), progress: { step: () => undefined, begin: () => undefined, advance: () => undefined, end: () => undefined }, signal: new AbortController().signal };
    full = recordingStrategy('FullOne');
    incremental = recordingStrategy('IncrementalOne');
    lookedUp = [];
    lookup = async (role, name) => {
      lookedUp.push({ role, name });
      const found = [full.strategy, incremental.strategy].find((s) => s.name === name);
      if (!found) throw new Error(`no strategy ${name}`);
      return found;
    };
  });
  afterEach(() => removeDir(dir));

  const request = (fields: Partial<BackupJobRequest> = {}): BackupJobRequest => ({ id: 'b-1', name: 'nightly', keyspaces: [], tables: [], ...fields });

  describe('backup', () => {
    it('runs backup_strategy for a full backup and hands it the request as asked', async () => {
      const record = await runBackup(request({ keyspaces: ['shop'] }), ctx, { ...noWarnings, findStrategy: lookup });
      expect(record.id).to.equal('b-1');
      expect(lookedUp).to.deep.equal([{ role: 'backup', name: 'FullOne' }]);
      expect(full.calls.backups).to.deep.equal([{ id: 'b-1', name: 'nightly', keyspaces: ['shop'], tables: [] }]);
      expect(incremental.calls.backups).to.deep.equal([]);
    });

    it('runs backup_incremental_strategy when a parent is named, and when a fresh chain is asked for', async () => {
      await runBackup(request({ parent: { location: 'swift://x/p-1.tar', checksum: 'abc' } }), ctx, { ...noWarnings, findStrategy: lookup });
      await runBackup(request({ id: 'b-2', forceFull: true }), ctx, { ...noWarnings, findStrategy: lookup });
      expect(incremental.calls.backups).to.deep.equal([
        { id: 'b-1', name: 'nightly', keyspaces: [], tables: [], parent: { location: 'swift://x/p-1.tar', checksum: 'abc' } },
        { id: 'b-2', name: 'nightly', keyspaces: [], tables: [], forceFull: true },
      ]);
      expect(full.calls.backups).to.deep.equal([]);
    });

    it("builds on this instance's newest COMPLETED backup when asked for the newest", async () => {
      await ctx.catalog.put(completedRecord('old', { created: '2026-12-01T01:00:00.000Z' }));
      await ctx.catalog.put(completedRecord('newest-ok', { created: '2026-12-02T01:00:00.000Z' }));
      await ctx.catalog.put(completedRecord('newer-failed', { created: '2026-12-03T01:00:00.000Z', state: 'FAILED' }));
      await ctx.catalog.put(completedRecord('other-node', { created: '2026-12-04T01:00:00.000Z', instance_id: 'node-b' }));
      await runBackup(request({ parent: 'newest' }), ctx, { ...noWarnings, findStrategy: lookup });
      expect(incremental.calls.backups.map((r) => r.parent)).to.deep.equal([{ id: 'newest-ok' }]);
    });

    it('refuses an incremental backup on the newest when the instance has no COMPLETED one, saying to take a full one', async () => {
      await ctx.catalog.put(completedRecord('other-node', { instance_id: 'node-b' }));
      const err = await rejectionOf(runBackup(request({ parent: 'newest' }), ctx, { ...noWarnings, findStrategy: lookup }));
      expect(err).to.be.instanceOf(BackupNotFoundError);
      expect(err.message).to.contain('instance node-a needs a COMPLETED backup').and.contain('take a full backup first');
      expect(incremental.calls.backups).to.deep.equal([]);
    });

    it('refuses a bad request before any strategy is looked up, naming the field as the requester wrote it', async () => {
      const cases: [Partial<BackupJobRequest>, RegExp][] = [
        [{ id: '../etc' }, /^backup_info\.id '\.\.\/etc': use letters, digits/],
        [{ keyspaces: ['a'], tables: ['a.b'] }, /^backup_info\.keyspaces and backup_info\.tables cannot be used together$/],
        [{ tables: ['shop'] }, /^backup_info\.tables: 'shop' is not of the form keyspace\.table$/],
        [{ parent: { id: 'x/../y' } }, /^backup_info\.parent 'x\/\.\.\/y': not a backup id$/],
      ];
      for (const [fields, message] of cases) {
        const err = await rejectionOf(runBackup(request(fields), ctx, { ...noWarnings, findStrategy: lookup }));
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

    it("hands the catalog's record to the strategy that made it, with the requested password", async () => {
      await ctx.catalog.put(completedRecord('r-1', { strategy: 'IncrementalOne' }));
      const result = await runRestore(restoreRequest({ rootPassword: 'from-trove', location: 'file:///store/r-1.tar', checksum: SHA }), () => ctx, lookup);
      expect(result.backupId).to.equal('r-1');
      expect(lookedUp).to.deep.equal([{ role: 'restore', name: 'IncrementalOne' }]);
      expect(incremental.calls.restores.map(({ id, options }) => ({ id, options }))).to.deep.equal([{ id: 'r-1', options: { rootPassword: 'from-trove' } }]);
    });

    it('refuses a checksum other than the catalog\'s with ChecksumMismatchError, from either entry point, restoring nothing', async () => {
      await ctx.catalog.put(completedRecord('r-1', { strategy: 'FullOne' }));
      for (const location of [null, 'file:///store/r-1.tar']) {
        const err = await rejectionOf(runRestore(restoreRequest({ checksum: 'b'.repeat(64), location }), () => ctx, lookup));
        expect(err).to.be.instanceOf(ChecksumMismatchError);
        expect(err.message).to.equal(`backup r-1: its checksum in the catalog is ${SHA}, not ${'b'.repeat(64)} as the request says (the backup may have been replaced); nothing was restored`);
      }
      expect(full.calls.restores).to.deep.equal([]);
    });

    it('refuses a location other than the record\'s', async () => {
      await ctx.catalog.put(completedRecord('r-1', { strategy: 'FullOne' }));
      const err = await rejectionOf(runRestore(restoreRequest({ location: 'file:///elsewhere/r-1.tar' }), () => ctx, lookup));
      expect(err).to.be.instanceOf(BackupNotFoundError);
      expect(err.message).to.contain("the requested location file:///elsewhere/r-1.tar is not the catalog's file:///store/r-1.tar");
      expect(full.calls.restores).to.deep.equal([]);
    });

    it("looks in the location's container when the backup is not in the configured one", async () => {
      const otherStorage = createLocalStorage({ path: path.join(dir, 'other-container') });
      const other: JobContext = { ...ctx, storage: otherStorage, catalog: createStorageCatalog(otherStorage) };
      const location = 'https://swift.example/v1/AUTH_p/other_backups/r-1.tar';
      await other.catalog.put(completedRecord('r-1', { strategy: 'FullOne', location }));
      const opened: (string | null)[] = [];
      const open = (container: string | null): JobContext => {
        opened.push(container);
        return container === 'other_backups' ? other : ctx;
      };
      await runRestore(restoreRequest({ location }), open, lookup);
      expect(opened).to.deep.equal([null, 'other_backups']);
      expect(full.calls.restores.map((c) => c.ctx.catalog)).to.deep.equal([other.catalog]);
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
