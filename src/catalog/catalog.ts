import type { BackupRecord } from './backup-record.js';

/** The catalog's narrow interface: what exists, its state, parent, checksum, size and location. */
export interface Catalog {
  /** Where the records live, for messages. */
  readonly description: string;
  get(id: string): Promise<BackupRecord | undefined>;
  put(record: BackupRecord): Promise<void>;
  list(): AsyncIterable<BackupRecord>;
  delete(id: string): Promise<void>;
}
