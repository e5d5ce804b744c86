import { readFile } from 'node:fs/promises';
import type { ArchivedTable, BackupRecord, ManifestFile } from '../catalog/backup-record.js';
import { findSnapshotFiles, type SnapshotFile } from '../cassandra/data-layout.js';
import { parseRingTokens } from '../cassandra/nodetool.js';
import { BackupExistsError, NodetoolError, errorMessage } from '../errors.js';
import type { JobContext } from './job-context.js';
import { writeFormat, type WriteFormat } from '../archive/archive-format.js';
import { uploadArchive, type UploadResult } from './upload-archive.js';

/** What every backup is asked for, whatever its strategy. */
export interface BackupTarget {
  /** Backup id, also the snapshot tag. */
  id: string;
  name: string;
  keyspaces: string[];
  tables: string[];
}

/** What a snapshot-based strategy learns about the node while it works. */
interface NodeFacts {
  cassandraVersion: string;
  ringText: string;
}

/**
 * What must hold before a backup touches the node: the configuration can
 * write an archive (an encryption key that is missing or unsafe fails here,
 * not after the snapshot), and the id is neither a backup nor a snapshot on
 * this node (an existing snapshot with this tag is somebody's backup and is
 * never cleared). Returns the archive format (and key) to write with.
 */
export async function checkBackupCanStart(ctx: JobContext, id: string): Promise<WriteFormat> {
  const format = await writeFormat(ctx.config);
  if (await ctx.catalog.get(id)) {
    throw new BackupExistsError(`backup ${id} already exists in the catalog; choose another --backup-id`);
  }
  const existing = await findSnapshotFiles(ctx.node.settings.dataFileDirectories, id);
  if (existing.files.length > 0) {
    throw new BackupExistsError(`a snapshot named ${id} already exists on this node (${existing.files.length} files); choose another --backup-id, or remove it with 'nodetool clearsnapshot -t ${id}' if it is not needed`);
  }
  return format;
}

/**
 * Takes `nodetool snapshot -t <id>` of the target's keyspaces or tables, runs
 * `work` with its files, and clears the snapshot in every outcome (the
 * snapshot hard links would otherwise pin disk space for ever).
 */
export async function withSnapshot<T>(ctx: JobContext, target: BackupTarget, work: (files: SnapshotFile[]) => Promise<T>): Promise<T> {
  const { nodetool, settings } = ctx.node;
  ctx.progress.step(`clearing any leftover snapshot ${target.id}`);
  await nodetool.clearSnapshot(target.id);
  try {
    ctx.progress.step(`taking snapshot ${target.id}`);
    await nodetool.snapshot(target.id, { keyspaces: target.keyspaces, tables: target.tables }).catch((err: unknown) => {
      if (err instanceof NodetoolError && /already exists/.test(err.message)) {
        throw new BackupExistsError(`snapshot tag ${target.id} is already in use on this node (${err.message}); choose another --backup-id`, { cause: err });
      }
      throw err;
    });
    const snapshot = await findSnapshotFiles(settings.dataFileDirectories, target.id);
    if (snapshot.files.length === 0) {
      throw new NodetoolError(`nodetool snapshot reported success but no snapshot ${target.id} was found under ${settings.dataFileDirectories.join(', ')}; check data_file_directories in ${settings.file}`, 0);
    }
    return await work(snapshot.files);
  } finally {
    ctx.progress.step(`clearing snapshot ${target.id}`);
    await nodetool.clearSnapshot(target.id).catch((err: unknown) => {
      ctx.progress.step(`warning: could not clear snapshot ${target.id}: ${errorMessage(err)}; clear it with 'nodetool clearsnapshot -t ${target.id}'`);
    });
  }
}

/** Both at once: each is a JVM start-up. */
function nodeFacts(ctx: JobContext): Promise<NodeFacts> {
  const facts = Promise.all([ctx.node.nodetool.version(), ctx.node.nodetool.ring()]).then(([cassandraVersion, ringText]) => ({ cassandraVersion, ringText }));
  facts.catch(() => undefined);
  return facts;
}

/** Every table in the snapshot with its schema.cql (written for user keyspaces only). */
async function describeTables(files: SnapshotFile[]): Promise<ArchivedTable[]> {
  const tables = new Map<string, ArchivedTable>();
  for (const file of files) {
    const key = `${file.keyspace}/${file.tableDirectory}`;
    const table = tables.get(key) ?? { keyspace: file.keyspace, directory: file.tableDirectory };
    if (file.fileName === 'schema.cql') table.schema = await readFile(file.sourcePath, 'utf8');
    tables.set(key, table);
  }
  return [...tables.values()];
}

export interface RecordParts {
  target: BackupTarget;
  strategy: string;
  started: string;
  upload: UploadResult;
  facts: NodeFacts;
  tables: ArchivedTable[];
  parent: BackupRecord | undefined;
  /** Every file a restore yields; default: the files of this object. */
  files?: ManifestFile[];
  fullReason?: string;
}

/** The catalog record of a finished upload: everything a restore, verify or the control plane needs. */
export function buildRecord(ctx: JobContext, parts: RecordParts): BackupRecord {
  const { target, upload, facts, parent } = parts;
  return {
    id: target.id,
    instance_id: ctx.config.instance_id,
    name: target.name,
    created: parts.started,
    updated: new Date().toISOString(),
    state: 'COMPLETED',
    type: parent ? 'incremental' : 'full',
    strategy: parts.strategy,
    parent: parent ? { id: parent.id, location: parent.location, checksum: parent.checksum ?? parent.sha256 } : null,
    keyspaces: target.keyspaces,
    tables: target.tables,
    archived_tables: parts.tables,
    file_count: upload.fileCount,
    raw_bytes: upload.rawBytes,
    stored_bytes: upload.storedBytes,
    sha256: upload.sha256,
    checksum: upload.checksum,
    location: upload.location,
    object_key: upload.objectKey,
    compression: upload.compression,
    ...(upload.encryption ? { encryption: upload.encryption } : {}),
    files: parts.files ?? upload.files,
    ...(parts.fullReason ? { full_reason: parts.fullReason } : {}),
    data_directory_count: ctx.node.settings.dataFileDirectories.length,
    cassandra_version: facts.cassandraVersion,
    cluster_name: ctx.node.settings.clusterName,
    ring: { text: facts.ringText, tokens: parseRingTokens(facts.ringText) },
  };
}

/** Writes the record, last: a stored object without its record does not exist, so it is removed if the record cannot be written. */
async function commitRecord(ctx: JobContext, record: BackupRecord): Promise<BackupRecord> {
  try {
    await ctx.catalog.put(record);
  } catch (err) {
    await ctx.storage.delete(record.object_key).catch(() => undefined);
    throw err;
  }
  return record;
}

/** Object metadata of every archive (Swift: X-Object-Meta-*, S3: x-amz-meta-*); Trove's Parent-* keys for incrementals. */
function objectMeta(id: string, cassandraVersion: string, parent: BackupRecord | undefined): Record<string, string> {
  return {
    datastore: 'cassandra',
    'datastore-version': cassandraVersion,
    'backup-id': id,
    ...(parent ? { 'parent-location': parent.location, 'parent-checksum': parent.checksum ?? parent.sha256 } : {}),
  };
}

/**
 * What a strategy hands the runner to store: every file the backup covers
 * (their tables and schemas go into the record) and, of those, the ones to
 * stream now; the others are already stored in the parent chain, and
 * `reused` are their entries from the parent's manifest.
 */
export interface BackupContents {
  files: SnapshotFile[];
  /** Default: every file. */
  toStore?: SnapshotFile[];
  reused?: ManifestFile[];
}

/** Streams a backup's files as its object and writes its record last; returns the record. */
export type StoreBackup = (contents: BackupContents) => Promise<BackupRecord>;

export interface StoreSettings {
  target: BackupTarget;
  strategy: string;
  format: WriteFormat;
  parent: BackupRecord | undefined;
  fullReason?: string;
}

/**
 * The runner's half of every backup, whatever its strategy (Trove's runner
 * does the same around a strategy's command): stream the files through
 * TAR, compression and encryption to storage, then write the record.
 */
export function backupStore(ctx: JobContext, settings: StoreSettings): StoreBackup {
  const started = new Date().toISOString();
  const { target, parent } = settings;
  return async ({ files, toStore = files, reused = [] }) => {
    // Two JVM start-ups of a second or more (nodetool version, ring): started before the tables are read.
    const pendingFacts = nodeFacts(ctx);
    const tables = await describeTables(files);
    const facts = await pendingFacts;
    const inChain = parent && reused.length > 0 ? ` (${reused.length} already stored in the chain of ${parent.id})` : '';
    ctx.progress.step(`streaming ${toStore.length} files to ${ctx.storage.name} storage${inChain}`);
    const upload = await uploadArchive(ctx, { backupId: target.id, files: toStore, meta: objectMeta(target.id, facts.cassandraVersion, parent), format: settings.format });
    const record = buildRecord(ctx, {
      target,
      strategy: settings.strategy,
      started,
      upload,
      facts,
      tables,
      parent,
      files: [...reused, ...upload.files],
      ...(settings.fullReason ? { fullReason: settings.fullReason } : {}),
    });
    return commitRecord(ctx, record);
  };
}
