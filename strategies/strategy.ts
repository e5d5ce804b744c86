import type { BackupRecord } from '../src/catalog/backup-record.js';
import type { RestorePlan } from '../src/jobs/backup-chain.js';
import type { JobContext } from '../src/jobs/job-context.js';
import type { ParentReference } from '../src/jobs/parent-backup.js';
import type { BackupTarget, StoreBackup } from '../src/jobs/snapshot-backup.js';

export interface BackupRequest extends BackupTarget {
  /**
   * The backup to build on, for an incremental one: by id (CLI, dbaas) or by
   * Trove's `backup_info.parent` (location and checksum). Absent: full.
   */
  parent?: ParentReference;
  /** Take a full backup even though a parent is given (cassandra_snapshotter's --new-snapshot). */
  forceFull?: boolean;
}

/** The backup a strategy collects files for: what was asked, and the parent chosen to build on (absent: a full backup). */
export interface CollectJob {
  target: BackupTarget;
  parent?: { record: BackupRecord; chain: BackupRecord[] };
}

/**
 * A strategy is one file in this folder exporting `strategy`; the registry
 * finds it by `name` (Trove's backup_strategy, and the record's strategy for
 * a restore). The runner owns the pipeline, as Trove's backup runner does:
 * it checks the request, chooses the parent, streams and records the backup,
 * and runs the one restore transaction. A strategy says what a backup of
 * Cassandra is: which files (`collect`), what it can build on
 * (`refuseParent`), and which objects a restore reads (`restorePlan`).
 */
export interface Strategy {
  name: string;
  description: string;
  /**
   * Why `parent` (its chain full first) cannot be built on, or undefined if
   * it can. Absent: the strategy takes full backups only.
   */
  refuseParent?(parent: BackupRecord, chain: BackupRecord[]): string | undefined;
  /**
   * Finds the backup's files and hands them to `store` while they exist
   * (inside a snapshot, before it is cleared), then tidies what it made.
   * Returns the record `store` wrote.
   */
  collect(ctx: JobContext, job: CollectJob, store: StoreBackup): Promise<BackupRecord>;
  /** Which objects a restore of the newest member of `chain` (full first) reads, and which file each gives. Absent: the record's own object, whole. */
  restorePlan?(chain: BackupRecord[]): RestorePlan;
}
