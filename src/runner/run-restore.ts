import { findStrategy } from '../../strategies/registry.js';
import { describeBackupIdRule, isValidBackupId } from '../catalog/backup-id.js';
import type { BackupRecord } from '../catalog/backup-record.js';
import { BackupNotFoundError, ChecksumMismatchError, UsageError } from '../errors.js';
import { containerAndObject, findForeignArchive, isForeignArchive, withForeignArchive } from '../jobs/foreign-archive.js';
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
 * not what the requester named (location, checksum), and hands it to the
 * strategy that made it.
 */
export async function runRestore(request: RestoreJobRequest, open: OpenJobContext, lookup: StrategyLookup = findStrategy): Promise<RestoreResult> {
  const { backupId: id } = request;
  if (!isValidBackupId(id)) throw new UsageError(`backup id '${id}': use ${describeBackupIdRule()}`);
  const { ctx, record } = await findRestorable(request, open);
  if (request.location !== null && record.location !== request.location) {
    const recorded = isForeignArchive(record) ? `where this agent's ${ctx.storage.name} storage has ${record.object_key}:` : "the catalog's";
    throw new BackupNotFoundError(`backup ${id}: the requested location ${request.location} is not ${recorded} ${record.location}; refusing to restore something else than what was asked`);
  }
  const expected = record.checksum ?? record.sha256;
  if (request.checksum !== null && request.checksum !== expected && request.checksum !== record.sha256) {
    throw new ChecksumMismatchError(
      `backup ${id}: its checksum in the catalog is ${expected}, not ${request.checksum} as the request says (the backup may have been replaced); nothing was restored`,
    );
  }
  const strategy = await lookup('restore', record.strategy, ctx.config.restore_namespace);
  const chainPlan = strategy.restorePlan;
  return restoreArchive(ctx, id, {
    rootPassword: request.rootPassword,
    ...(chainPlan ? { plan: async (c: JobContext, newest: BackupRecord) => chainPlan.call(strategy, await resolveChain(c.catalog, newest)) } : {}),
  });
}

async function findRestorable(request: RestoreJobRequest, open: OpenJobContext): Promise<{ ctx: JobContext; record: BackupRecord }> {
  const { backupId: id } = request;
  let ctx = open(null);
  const record = await ctx.catalog.get(id);
  if (record) return { ctx, record };
  let objectKey: string | undefined;
  if (request.location !== null) {
    // Ours in another container, or not ours: Trove's location names the container and the object.
    const named = containerAndObject(id, request.location);
    ctx = open(named.container);
    objectKey = named.objectKey;
    const there = await ctx.catalog.get(id);
    if (there) return { ctx, record: there };
  }
  const foreign = await findForeignArchive(ctx, { backupId: id, objectKey, checksum: request.checksum, sourceClusterName: request.sourceClusterName });
  return { ctx: { ...ctx, catalog: withForeignArchive(ctx.catalog, foreign) }, record: foreign };
}
