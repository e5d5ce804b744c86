/**
 * What the CQL server needs from the node it serves. The simulated node implements it over its
 * own storage (system.local and system_auth.roles rows in its SSTables, memtables and commit
 * log), so CQL reads and writes are the node's state, not a copy of it.
 */
export interface KeyspaceInfo {
  name: string;
  durableWrites: boolean;
  replication: Record<string, string>;
  /** Names of the keyspace's tables. */
  tables: string[];
}

/** The regular columns of system_auth.roles the server writes; null deletes a cell, absent leaves it alone. */
export interface RoleColumns {
  can_login?: boolean | null;
  is_superuser?: boolean | null;
  salted_hash?: string | null;
}

export interface RoleRow extends RoleColumns {
  role: string;
  member_of?: string[] | null;
}

export interface ServerLog {
  /** A WARN line of logs/system.log with the exception lines that follow it. */
  warn(source: string, message: string, detail: string[], thread: string): void;
  /** An ERROR line: a request failed in a way Cassandra would call a bug (here: a simulator bug). */
  error(source: string, message: string, detail: string[], thread: string): void;
}

export interface CqlBackend {
  /** Every keyspace with a schema on the node (system ones included; virtual keyspaces excluded). */
  keyspaces(): Promise<KeyspaceInfo[]>;
  /** The row of system.local, keyed by column name (the 20 columns of Cassandra 4.0). */
  localRow(): Promise<Record<string, unknown>>;
  /** `UPDATE system.local SET cluster_name = ? WHERE key = 'local'` */
  saveClusterName(name: string): Promise<void>;
  /** The visible rows of system_auth.roles, in no particular order. */
  roles(): Promise<RoleRow[]>;
  writeRole(role: string, columns: RoleColumns): Promise<void>;
  log: ServerLog;
}
