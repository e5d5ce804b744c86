import { findStrategy } from '../../strategies/registry.js';
import type { BackupRequest, Strategy } from '../../strategies/strategy.js';
import { describeBackupIdRule, isValidBackupId } from '../catalog/backup-id.js';
import type { BackupRecord } from '../catalog/backup-record.js';
import { summaryOf, type BackupSummary, type IndexedCatalog } from '../catalog/catalog.js';
import { BackupNotFoundError, UsageError } from '../errors.js';
import { prioritySettingsFrom, withLoweredPriority } from '../util/io-priority.js';
import type { JobContext } from '../jobs/job-context.js';
import { chooseParent, type ParentChoice, type ParentReference } from '../jobs/parent-backup.js';
import { backupStore, checkBackupCanStart, type BackupTarget } from '../jobs/snapshot-backup.js';

/**
 * A backup as the CLI and the RPC endpoint both ask for it. `parent: 'newest'`
 * builds on the newest COMPLETED backup of this instance (--incremental).
 */
export interface BackupJobRequest extends Omit<BackupRequest, 'parent'> {
  parent?: ParentReference | 'newest';
}

/** How each field of the request is called where it came from, so that an error names what the requester wrote. */
export interface RequestFieldNames {
  id: string;
  keyspaces: string;
  tables: string;
  parent: string;
}

export const RPC_FIELD_NAMES: RequestFieldNames = {
  id: 'backup_info.id',
  keyspaces: 'backup_info.keyspaces',
  tables: 'backup_info.tables',
  parent: 'backup_info.parent',
};

/** Finds a strategy by role and name; the registry's, or a test's own. */
export type StrategyLookup = (role: 'backup' | 'restore', name: string, namespace: string) => Promise<Strategy>;

export interface BackupRunOptions {
  /** The priority could not be lowered: the backup runs anyway, and the caller says so where its operator looks. */
  onWarning(warning: string): void;
  findStrategy?: StrategyLookup;
}

/**
 * The one check of a backup request, whoever sent it: a usable id, a
 * selection of keyspaces or of `keyspace.table`s (not both), a parent that is
 * a backup id. Cheap, so the CLI also runs it before it sets anything up.
 */
export function checkBackupRequest(request: BackupJobRequest, names: RequestFieldNames): void {
  if (!isValidBackupId(request.id)) throw new UsageError(`${names.id} '${request.id}': use ${describeBackupIdRule()}`);
  if (request.keyspaces.length > 0 && request.tables.length > 0) {
    throw new UsageError(`${names.keyspaces} and ${names.tables} cannot be used together`);
  }
  const badTable = request.tables.find((t) => !/^[^.\s]+\.[^.\s]+$/.test(t));
  if (badTable !== undefined) throw new UsageError(`${names.tables}: '${badTable}' is not of the form keyspace.table`);
  const parentId = typeof request.parent === 'object' ? request.parent.id : undefined;
  if (parentId !== undefined && !isValidBackupId(parentId)) throw new UsageError(`${names.parent} '${parentId}': not a backup id`);
}

/**
 * Runs a backup: the strategy Trove's settings name (backup_strategy, or
 * backup_incremental_strategy when a parent or a fresh chain is asked for),
 * at lowered CPU and I/O priority. The runner checks that the backup can
 * start, chooses the parent (or says why a full backup is taken instead),
 * and stores what the strategy collects, writing the record last.
 */
export async function runBackup(request: BackupJobRequest, ctx: JobContext, options: BackupRunOptions, names: RequestFieldNames = RPC_FIELD_NAMES): Promise<BackupRecord> {
  checkBackupRequest(request, names);
  const { config } = ctx;
  const incremental = request.parent !== undefined || request.forceFull === true;
  const strategyName = incremental ? config.backup_incremental_strategy : config.backup_strategy;
  const strategy = await (options.findStrategy ?? findStrategy)('backup', strategyName, config.backup_namespace);
  const target: BackupTarget = { id: request.id, name: request.name, keyspaces: request.keyspaces, tables: request.tables };
  // Lowered as Medusa and Priam do: a backup must not starve Cassandra of CPU or disk.
  return withLoweredPriority(prioritySettingsFrom(config), options.onWarning, async () => {
    const format = await checkBackupCanStart(ctx, request.id);
    const asked = request.parent === 'newest' ? { id: await newestBackupOf(ctx) } : request.parent;
    const choice = await parentFor(ctx, strategy, { ...target, ...(asked ? { parent: asked } : {}), ...(request.forceFull === true ? { forceFull: true } : {}) });
    const fullReason = choice.parent ? undefined : choice.fullReason;
    if (fullReason) ctx.progress.step(`taking a full backup instead of an incremental one: ${fullReason}`);
    const store = backupStore(ctx, { target, strategy: strategy.name, format, parent: choice.parent, ...(fullReason ? { fullReason } : {}) });
    return strategy.collect(ctx, { target, ...(choice.parent ? { parent: { record: choice.parent, chain: choice.chain } } : {}) }, store);
  });
}

/** The parent to build on, or why not; a strategy of full backups only builds on none. */
async function parentFor(ctx: JobContext, strategy: Strategy, request: BackupRequest): Promise<ParentChoice> {
  const refuse = strategy.refuseParent;
  if (!request.parent) return { parent: undefined };
  if (!refuse) return { parent: undefined, fullReason: `${strategy.name} takes full backups only` };
  return chooseParent(ctx, request, (parent, chain) => refuse.call(strategy, parent, chain));
}

/** The newest COMPLETED backup of this instance, or a clear error when it has none. */
async function newestBackupOf(ctx: JobContext): Promise<string> {
  const { catalog } = ctx;
  const instanceId = ctx.config.instance_id;
  let newest: BackupSummary | undefined;
  // The index lists every backup without reading each record.
  const all = 'summaries' in catalog ? (catalog as IndexedCatalog).summaries() : summariesOf(catalog.list());
  for await (const record of all) {
    if (record.instance_id !== instanceId || record.state !== 'COMPLETED') continue;
    if (!newest || record.created > newest.created) newest = record;
  }
  if (!newest) {
    throw new BackupNotFoundError(`an incremental backup of instance ${instanceId} needs a COMPLETED backup in the catalog (${catalog.description}) to build on, and there is none; take a full backup first`);
  }
  return newest.id;
}

async function* summariesOf(records: AsyncIterable<BackupRecord>): AsyncIterable<BackupSummary> {
  for await (const record of records) yield summaryOf(record);
}
