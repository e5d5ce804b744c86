import type { BackupRecord } from '../catalog/backup-record.js';
import type { ForeignArchive } from './foreign-archive.js';

/**
 * What a restore reads: a backup of ours, by its catalog record (a chain
 * member brings its ancestors through `parent`), or an archive that has no
 * record, as found in the store. No made-up record stands in for the second.
 */
export type StoredBackup = { kind: 'catalog'; record: BackupRecord } | { kind: 'foreign'; archive: ForeignArchive };

export function idOf(backup: StoredBackup): string {
  return backup.kind === 'catalog' ? backup.record.id : backup.archive.id;
}

/** Where the backup is: the record's location, or the store's URL of the archive. */
export function locationOf(backup: StoredBackup): string {
  return backup.kind === 'catalog' ? backup.record.location : backup.archive.location;
}
