import { randomUUID } from 'node:crypto';

/**
 * A backup id is also the snapshot tag and part of file and object names, so it
 * is limited to characters that are safe in all three. (nodetool itself accepts
 * a tag like `a/b` and then writes into a nested directory.)
 */
const BACKUP_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isValidBackupId(id: string): boolean {
  return BACKUP_ID.test(id) && !id.includes('..');
}

export function describeBackupIdRule(): string {
  return 'letters, digits, ".", "_" and "-", starting with a letter or digit, at most 128 characters';
}

export function newBackupId(): string {
  return randomUUID();
}
