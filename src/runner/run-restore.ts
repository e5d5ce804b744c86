import { findStrategy } from '../../strategies/registry.js';
import { describeBackupIdRule, isValidBackupId } from '../catalog/backup-id.js';
import type { BackupRecord } from '../catalog/backup-record.js';
import { BackupNotFoundError, ChecksumMismatchError, UsageError } from '../errors.js';
import { FOREIGN_STRATEGY, containerAndObject, findForeignArchive } from '../jobs/foreign-archive.js';
import { locationOf, type StoredBackup } from '../jobs/stored-backup.js';
import type { JobContext } from '../jobs/job-context.js';
import { resolveChain } from '../jobs/backup-chain.js';
import { restoreArchive, type RestoreResult } from '../jobs/restore-archive.js';
import type { StrategyLookup } from './run-backup.js';

/** A restore as the CLI (`guest-agent restore`) and the RPC endpoint (`prepare(backup_info)`) both ask for it. */
export interface RestoreJobRequest {
  backupId: string;
  /** Refuse unless the backup's checksum is this one (Trove's backup_info.checksum, --checksum). */
  checksum: string | null;
  /**
   * Where the requester says the backup is (Trove's backup_info.location):
   * refused unless the record says the same. It also names the container and
   * object of a backup that has no record in this agent's own container.
   */
  location: string | null;
  /** For an archive with no catalog record: the cluster name it was taken under (see ForeignArchiveRequest). */
  sourceClusterName: string | null;
  /** Trove's prepare(root_password): the superuser's new password, else the agent's own. */
  rootPassword: string | null;
}

/**
 * The job context a restore works in; `swiftContainer` is set when the
 * backup is looked for in another container than the configured one.
 */
export type OpenJobContext = (swiftContainer: string | null) => JobContext;

/**
 * Runs a restore: finds what to restore (the catalog's record, or an archive
 * with no record, vouched for by the store's checksum), refuses it when it is
 * not what the requester named (location, checksum), and runs the one
 * restore transaction on it with the plan of the strategy that made it.
 */
export async function runRestore(request: RestoreJobRequest, open: OpenJobContext, lookup: StrategyLookup = findStrategy): Promise<RestoreResult> {
  const { backupId: id } = request;
  if (!isValidBackupId(id)) throw new UsageError(`backup id '${id}': use ${describeBackupIdRule()}`);
  const { ctx, backup } = await findRestorable(request, open);
  const location = locationOf(backup);
  if (request.location !== null && location !== request.location) {
    const recorded = backup.kind === 'foreign' ? `where this agent's ${ctx.storage.name} storage has ${backup.archive.objectKey}:` : "the catalog's";
    throw new BackupNotFoundError(`backup ${id}: the requested location ${request.location} is not ${recorded} ${location}; refusing to restore something else than what was asked`);
  }
  // An archive's checksum was compared with the request's when it was found.
  if (backup.kind === 'catalog') checkRequestedChecksum(backup.record, request.checksum);
  const strategyName = backup.kind === 'catalog' ? backup.record.strategy : FOREIGN_STRATEGY;
  const strategy = await lookup('restore', strategyName, ctx.config.restore_namespace);
  const chainPlan = strategy.restorePlan;
  return restoreArchive(ctx, backup, {
    rootPassword: request.rootPassword,
    ...(chainPlan ? { plan: async (c: JobContext, newest: BackupRecord) => chainPlan.call(strategy, await resolveChain(c.catalog, newest)) } : {}),
  });
}

function checkRequestedChecksum(record: BackupRecord, requested: string | null): void {
  const expected = record.checksum ?? record.sha256;
  if (requested !== null && requested !== expected && requested !== record.sha256) {
    throw new ChecksumMismatchError(
      `backup ${record.id}: its checksum in the catalog is ${expected}, not ${requested} as the request says (the backup may have been replaced); nothing was restored`,
    );
  }
}

async function findRestorable(request: RestoreJobRequest, open: OpenJobContext): Promise<{ ctx: JobContext; backup: StoredBackup }> {
  const { backupId: id } = request;
  let ctx = open(null);
  const record = await ctx.catalog.get(id);
  if (record) return { ctx, backup: { kind: 'catalog', record } };
  let objectKey: string | undefined;
  if (request.location !== null) {
    // Ours in another container, or not ours: Trove's location names the container and the object.
    const named = containerAndObject(id, request.location);
    ctx = open(named.container);
    objectKey = named.objectKey;
    const there = await ctx.catalog.get(id);
    if (there) return { ctx, backup: { kind: 'catalog', record: there } };
  }
  const archive = await findForeignArchive(ctx, { backupId: id, objectKey, checksum: request.checksum, sourceClusterName: request.sourceClusterName });
  return { ctx, backup: { kind: 'foreign', archive } };
}
