/**
 * What the catalog knows about one backup. A backup without a complete record
 * does not exist: the record is written last.
 */
export type BackupState = 'BUILDING' | 'COMPLETED' | 'FAILED' | 'DELETE_FAILED';
export type BackupType = 'full' | 'incremental';
/** How the stored TAR is compressed; `lzop` (the seed tool's) is only ever read. */
export const COMPRESSIONS = ['gzip', 'none', 'zstd', 'lz4', 'lzop'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export interface ArchivedTable {
  keyspace: string;
  /** Directory name of the table: `<table>-<32 hex id>`. */
  directory: string;
  /** `schema.cql` written by the snapshot (user keyspaces only). */
  schema?: string;
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
