import { lstat, unlink } from 'node:fs/promises';
import { findIncrementalFiles, type SnapshotFile, type TableSelection } from '../src/cassandra/data-layout.js';
import { AgentError, errorMessage } from '../src/errors.js';
import type { BackupRecord } from '../src/catalog/backup-record.js';
import { unionManifestPlan } from '../src/jobs/backup-chain.js';
import type { JobContext } from '../src/jobs/job-context.js';
import { withSnapshot, type StoreBackup } from '../src/jobs/snapshot-backup.js';
import type { CollectJob, Strategy } from './strategy.js';

/** Cassandra's incremental backups are off: an incremental backup would be empty. */
export class IncrementalBackupsOffError extends AgentError {}

/**
 * Incremental backup from Cassandra's own incremental backups, as
 * cassandra_snapshotter does it: with `incremental_backups: true`, Cassandra
 * hard-links every flushed SSTable into `<table-dir>/backups/`. The first
 * backup of a chain is a snapshot (the files already in backups/ are covered
 * by it); each later one flushes, stores the files of every backups/
 * directory, and then removes exactly those files (Cassandra never does).
 * A restore applies the full backup and every later file, in order.
 */
export const strategy: Strategy = {
  name: 'NodetoolIncremental',
  description: "incremental backup of the SSTables Cassandra hard-links into backups/ since the parent (needs incremental_backups: true)",

  refuseParent(_parent, chain) {
    const other = chain.find((m) => m.strategy !== 'NodetoolIncremental' || !m.files);
    return other ? `is in a chain with backup ${other.id} taken by ${other.strategy}, which does not keep track of Cassandra's backups/ directories` : undefined;
  },

  async collect(ctx, job, store) {
    const running = await ctx.node.nodetool.incrementalBackupsRunning();
    const selection: TableSelection = { keyspaces: job.target.keyspaces, tables: job.target.tables };
    if (!job.parent) {
      if (!running) ctx.progress.step(offMessage(ctx, 'warning: incremental backups built on this full backup will be refused'));
      return fullBackup(ctx, job, store, selection);
    }
    if (!running) throw new IncrementalBackupsOffError(offMessage(ctx, `cannot take incremental backup ${job.target.id}`));
    ctx.progress.step('flushing memtables, so that every write so far is in an SSTable');
    await flushSelection(ctx, selection);
    const files = (await findIncrementalFiles(ctx.node.settings.dataFileDirectories, selection)).files;
    const before = await identities(files);
    const record = await store({ files });
    await removeStored(ctx, files, before);
    return record;
  },

  restorePlan: unionManifestPlan,
};

/**
 * The first backup of a chain: a snapshot. The files already in backups/
 * are covered by it, and are removed once it is stored.
 */
async function fullBackup(ctx: JobContext, job: CollectJob, store: StoreBackup, selection: TableSelection): Promise<BackupRecord> {
  // Listed before the snapshot: every one is either live (and in the
  // snapshot) or already compacted into a live SSTable that is.
  const before = (await findIncrementalFiles(ctx.node.settings.dataFileDirectories, selection)).files;
  const beforeIds = await identities(before);
  // The snapshot's own flush links its new SSTables into backups/ too
  // (cassandra-facts): the same inodes, already in this full backup.
  const inSnapshot = new Set<string>();
  const record = await withSnapshot(ctx, job.target, async (files) => {
    for (const id of (await identities(files)).values()) inSnapshot.add(inodeKey(id));
    return store({ files });
  });
  const after = (await findIncrementalFiles(ctx.node.settings.dataFileDirectories, selection)).files;
  const afterIds = await identities(after);
  const flushedBySnapshot = after.filter((f) => !beforeIds.has(f.sourcePath) && inSnapshot.has(inodeKey(afterIds.get(f.sourcePath))));
  await removeStored(ctx, [...before, ...flushedBySnapshot], new Map([...afterIds, ...beforeIds]));
  return record;
}

function offMessage(ctx: JobContext, what: string): string {
  return `${what}: Cassandra's incremental backups are off on this node (nodetool statusbackup: not running); set incremental_backups: true in ${ctx.node.settings.file} and restart, or run 'nodetool enablebackup', then take a full backup to start a chain (or use backup_incremental_strategy: NodetoolDifferential, which needs no Cassandra setting)`;
}

async function flushSelection(ctx: JobContext, selection: TableSelection): Promise<void> {
  if (selection.tables.length > 0) {
    const byKeyspace = new Map<string, string[]>();
    for (const name of selection.tables) {
      const [keyspace, table] = name.split('.', 2) as [string, string];
      byKeyspace.set(keyspace, [...(byKeyspace.get(keyspace) ?? []), table]);
    }
    for (const [keyspace, tables] of byKeyspace) await ctx.node.nodetool.flush(keyspace, tables);
  } else if (selection.keyspaces.length > 0) {
    for (const keyspace of selection.keyspaces) await ctx.node.nodetool.flush(keyspace);
  } else {
    await ctx.node.nodetool.flush();
  }
}

type Identity = { dev: number; ino: number };

const inodeKey = (id: Identity | undefined): string => (id ? `${id.dev}:${id.ino}` : '');

async function identities(files: SnapshotFile[]): Promise<Map<string, Identity>> {
  const ids = new Map<string, Identity>();
  for (const file of files) {
    const info = await lstat(file.sourcePath).catch(() => undefined);
    if (info) ids.set(file.sourcePath, { dev: info.dev, ino: info.ino });
  }
  return ids;
}

/**
 * Removes the backups/ files now safely stored: only the very files listed
 * (same inode), never one created since under the same name. A file left
 * behind is harmless (stored again next time; a restore takes the newest).
 */
async function removeStored(ctx: JobContext, files: SnapshotFile[], stored: Map<string, Identity>): Promise<void> {
  let kept = 0;
  for (const file of files) {
    const was = stored.get(file.sourcePath);
    const now = await lstat(file.sourcePath).catch(() => undefined);
    if (!was || !now || now.dev !== was.dev || now.ino !== was.ino) continue;
    await unlink(file.sourcePath).catch((err: unknown) => {
      kept += 1;
      if (kept === 1) ctx.progress.step(`warning: could not remove ${file.sourcePath} from backups/: ${errorMessage(err)}; it will be stored again by the next incremental backup`);
    });
  }
}
