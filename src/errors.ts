/**
 * One error type per thing a caller can act on. Messages say what happened and
 * what to do; they never contain a secret. `cause` keeps the original error.
 */
export class AgentError extends Error {
  /** Exit status the CLI uses for this kind of failure. */
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command line: exit 2. */
export class UsageError extends AgentError {
  override readonly exitCode = 2;
}

/** Bad or unreadable configuration: exit 2. */
export class ConfigError extends AgentError {
  override readonly exitCode = 2;
}

/** A backup id that is not in the catalog, or not complete. */
export class BackupNotFoundError extends AgentError {}

/**
 * A catalog record that is not one: not JSON, a field missing or of the
 * wrong type, or unsafe (a manifest name that climbs out of the data
 * directory). Unlike an incomplete record (a valid one that cannot be
 * restored, e.g. FAILED), nothing of it can be trusted.
 */
export class MalformedRecordError extends AgentError {}

/** A backup id that is already used. */
export class BackupExistsError extends AgentError {}

/** nodetool failed: carries the command's own words. */
export class NodetoolError extends AgentError {
  constructor(
    message: string,
    /** nodetool's own exit status, when it ran at all. */
    readonly nodetoolExitCode: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The Cassandra service could not be stopped, started or found healthy. */
export class ServiceError extends AgentError {}

/** The stored object is missing, truncated, corrupt or unsafe to extract. */
export class ArchiveError extends AgentError {}

/** The stored bytes do not hash to the checksum in the catalog. */
export class ChecksumMismatchError extends ArchiveError {}

/** Not enough free space for the operation. */
export class InsufficientSpaceError extends AgentError {}

/** The storage backend failed. */
export class StorageError extends AgentError {}

/** The object (or container) asked for does not exist. */
export class ObjectNotFoundError extends StorageError {}

/** The store refused our credentials. */
export class StorageAuthError extends StorageError {}

/** The backup cannot be restored onto this node as it is (another Cassandra major version). */
export class IncompatibleBackupError extends AgentError {}

/** Another operation holds the node. */
export class BusyError extends AgentError {}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
