import { COMPRESSIONS, type Compression, type EncryptionInfo } from '../archive/stored-format.js';

/**
 * What the catalog knows about one backup. A backup without a complete record
 * does not exist: the record is written last.
 */
export const BACKUP_STATES = ['BUILDING', 'COMPLETED', 'FAILED', 'DELETE_FAILED'] as const;
export type BackupState = (typeof BACKUP_STATES)[number];
export const BACKUP_TYPES = ['full', 'incremental'] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];

export interface ArchivedTable {
  keyspace: string;
  /** Directory name of the table: `<table>-<32 hex id>`. */
  directory: string;
  /** `schema.cql` written by the snapshot (user keyspaces only). */
  schema?: string;
}

/**
 * One file of a backup: every file a restore of this backup yields, and
 * where its bytes are stored. A differential backup stores only what its
 * parent chain does not already hold, so `stored_in` may name an ancestor.
 */
export interface ManifestFile {
  /** TAR entry name: `<keyspace>/<table-dir>/<file>`. */
  name: string;
  /** Index in `data_file_directories` of the node it was read from (0 = the first). */
  dir: number;
  size: number;
  /** CRC-32 of the contents, 8 lowercase hex digits: change detection and verify (the object's SHA-256 guards integrity). */
  crc32: string;
  /** Id of the backup whose stored object holds these bytes: this one, or an ancestor. */
  stored_in: string;
}

export interface BackupRecord {
  id: string;
  instance_id: string;
  name: string;
  created: string;
  updated: string;
  state: BackupState;
  type: BackupType;
  strategy: string;
  parent: { id: string; location: string; checksum: string } | null;
  /** What the operator asked for: empty lists mean every keyspace. */
  keyspaces: string[];
  tables: string[];
  /** Every table directory found in the snapshot, with its schema. */
  archived_tables: ArchivedTable[];
  file_count: number;
  raw_bytes: number;
  stored_bytes: number;
  sha256: string;
  /** The checksum reported to the control plane: Swift's ETag (Trove compares it), else the SHA-256. Absent in early records. */
  checksum?: string;
  location: string;
  /** The storage key of the object, relative to the storage root. */
  object_key: string;
  compression: Compression;
  /** Absent when the stored bytes are not encrypted. */
  encryption?: EncryptionInfo;
  /**
   * Every file a restore of this backup yields (for an incremental one: the
   * files its own object adds), absent in records written before manifests.
   */
  files?: ManifestFile[];
  /** Why a full backup was taken when an incremental one was asked for. */
  full_reason?: string;
  /** With state DELETE_FAILED: why the delete failed, for whoever reads the store next. */
  delete_failed_reason?: string;
  data_directory_count: number;
  cassandra_version: string;
  cluster_name: string;
  /** `nodetool ring` as printed, and the tokens of this node parsed from it. */
  ring: { text: string; tokens: string[] };
}

const REQUIRED_STRINGS = ['id', 'instance_id', 'created', 'state', 'type', 'strategy', 'sha256', 'location', 'object_key', 'compression'] as const;
const REQUIRED_NUMBERS = ['file_count', 'raw_bytes', 'stored_bytes', 'data_directory_count'] as const;

/** Why a record cannot be restored from, or undefined when it can. */
export function incompleteReason(record: Partial<BackupRecord>): string | undefined {
  for (const key of REQUIRED_STRINGS) {
    if (typeof record[key] !== 'string' || record[key] === '') return `field '${key}' is missing`;
  }
  for (const key of REQUIRED_NUMBERS) {
    if (typeof record[key] !== 'number' || !Number.isSafeInteger(record[key]) || (record[key] as number) < 0) {
      return `field '${key}' is missing or not a whole number`;
    }
  }
  if (record.state !== 'COMPLETED') return `its state is ${record.state}, not COMPLETED`;
  if (!/^[0-9a-f]{64}$/.test(record.sha256 ?? '')) return 'its sha256 is not a SHA-256 hex digest';
  if (!COMPRESSIONS.includes(record.compression as Compression)) return `unknown compression '${record.compression}'`;
  return undefined;
}
