import type { BackupRecord, BackupState, BackupType } from './backup-record.js';

/** The catalog's narrow interface: what exists, its state, parent, checksum, size and location. */
export interface Catalog {
  /** Where the records live, for messages. */
  readonly description: string;
  get(id: string): Promise<BackupRecord | undefined>;
  put(record: BackupRecord): Promise<void>;
  list(): AsyncIterable<BackupRecord>;
  delete(id: string): Promise<void>;
}

/**
 * What a listing of backups shows of each: enough to list, filter, and
 * follow parents, without the files, tables and ring of the full record.
 */
export interface BackupSummary {
  id: string;
  instance_id: string;
  /** Possibly shortened, ending in '…' then (the record has the whole name); null when the record has none. */
  name: string | null;
  created: string;
  state: BackupState;
  type: BackupType;
  parent_id: string | null;
  stored_bytes: number;
  strategy: string;
  location: string;
  /** The checksum reported to the control plane: the record's `checksum`, else its SHA-256. */
  checksum: string;
}

/**
 * A catalog that can list what backup-list needs without reading every
 * record (one request per record is what makes a listing slow on Swift).
 */
export interface IndexedCatalog extends Catalog {
  summaries(): AsyncIterable<BackupSummary>;
}

export function summaryOf(record: BackupRecord): BackupSummary {
  return {
    id: record.id,
    instance_id: record.instance_id,
    // Records of archives not taken by us (and hand-made ones) may lack a name.
    name: typeof record.name === 'string' ? record.name : null,
    created: record.created,
    state: record.state,
    type: record.type,
    parent_id: record.parent?.id ?? null,
    stored_bytes: record.stored_bytes,
    strategy: record.strategy,
    location: record.location,
    checksum: record.checksum ?? record.sha256,
  };
}
