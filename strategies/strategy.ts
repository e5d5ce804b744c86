import type { BackupRecord } from '../src/catalog/backup-record.js';
import type { JobContext } from '../src/jobs/job-context.js';
import type { ParentReference } from '../src/jobs/parent-backup.js';
import type { RestoreOptions, RestoreResult } from '../src/jobs/restore-archive.js';

export interface BackupRequest {
  /** Backup id, also the snapshot tag. */
  id: string;
  name: string;
  keyspaces: string[];
  /** `keyspace.table` names; exclusive with keyspaces. */
  tables: string[];
  /**
   * The backup to build on, for an incremental one: by id (CLI, dbaas) or by
   * Trove's `backup_info.parent` (location and checksum). Absent: full.
   */
  parent?: ParentReference;
  /** Take a full backup even though a parent is given (cassandra_snapshotter's --new-snapshot). */
  forceFull?: boolean;
}


/**
 * A strategy is one file in this folder exporting `strategy`; the registry
 * finds it by `name` (Trove's backup_strategy / the record's strategy).
 */
export interface Strategy {
  name: string;
  description: string;
  backup(ctx: JobContext, request: BackupRequest): Promise<BackupRecord>;
  restore(ctx: JobContext, backupId: string, options?: RestoreOptions): Promise<RestoreResult>;
}
