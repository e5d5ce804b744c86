import type { BackupRecord } from '../src/catalog/backup-record.js';
import type { JobContext } from '../src/jobs/job-context.js';
import type { RestoreOptions, RestoreResult } from '../src/jobs/restore-archive.js';

export interface BackupRequest {
  /** Backup id, also the snapshot tag. */
  id: string;
  name: string;
  keyspaces: string[];
  /** `keyspace.table` names; exclusive with keyspaces. */
  tables: string[];
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
