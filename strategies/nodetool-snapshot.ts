import { readFile } from 'node:fs/promises';
import { BackupExistsError, NodetoolError, errorMessage } from '../src/errors.js';
import type { ArchivedTable, BackupRecord } from '../src/catalog/backup-record.js';
import { findSnapshotFiles, type SnapshotFile } from '../src/cassandra/data-layout.js';
import { parseRingTokens } from '../src/cassandra/nodetool.js';
import type { JobContext } from '../src/jobs/job-context.js';
import { restoreArchive } from '../src/jobs/restore-archive.js';
import { uploadArchive } from '../src/jobs/upload-archive.js';
import type { BackupRequest, Strategy } from './strategy.js';

/**
 * Full backup from a `nodetool snapshot` (Trove's NodetoolSnapshot): the
 * snapshot's hard links are streamed as one TAR laid out like a data
 * directory, and the snapshot is cleared in every outcome.
 */
export const strategy: Strategy = {
  name: 'NodetoolSnapshot',
  description: 'full backup of a nodetool snapshot (every SSTable component, manifest.json and schema.cql)',

  async backup(ctx: JobContext, request: BackupRequest): Promise<BackupRecord> {
    const { nodetool, settings } = ctx.node;
    if (await ctx.catalog.get(request.id)) {
      throw new BackupExistsError(`backup ${request.id} already exists in the catalog; choose another --backup-id`);
    }
    // An existing snapshot with this tag is somebody's backup: never clear it.
    const existing = await findSnapshotFiles(settings.dataFileDirectories, request.id);
    if (existing.files.length > 0) {
      throw new BackupExistsError(`a snapshot named ${request.id} already exists on this node (${existing.files.length} files); choose another --backup-id, or remove it with 'nodetool clearsnapshot -t ${request.id}' if it is not needed`);
    }
    const started = new Date().toISOString();

    ctx.progress.step(`clearing any leftover snapshot ${request.id}`);
    await nodetool.clearSnapshot(request.id);
    try {
      ctx.progress.step(`taking snapshot ${request.id}`);
      await nodetool.snapshot(request.id, { keyspaces: request.keyspaces, tables: request.tables }).catch((err: unknown) => {
        if (err instanceof NodetoolError && /already exists/.test(err.message)) {
          throw new BackupExistsError(`snapshot tag ${request.id} is already in use on this node (${err.message}); choose another --backup-id`, { cause: err });
        }
        throw err;
      });
      // Both are JVM start-ups of a second or more: run them beside the upload.
      const facts = Promise.all([nodetool.version(), nodetool.ring()]);
      facts.catch(() => undefined);

      const snapshot = await findSnapshotFiles(settings.dataFileDirectories, request.id);
      if (snapshot.files.length === 0) {
        throw new NodetoolError(`nodetool snapshot reported success but no snapshot ${request.id} was found under ${settings.dataFileDirectories.join(', ')}; check data_file_directories in ${settings.file}`, 0);
      }
      const tables = await describeTables(snapshot.files);
      const [cassandraVersion, ringText] = await facts;

      ctx.progress.step(`streaming ${snapshot.files.length} files to ${ctx.storage.name} storage`);
      const upload = await uploadArchive(ctx, {
        backupId: request.id,
        files: snapshot.files,
        meta: { datastore: 'cassandra', 'datastore-version': cassandraVersion, 'backup-id': request.id },
      });

      const record: BackupRecord = {
        id: request.id,
        instance_id: ctx.config.instance_id,
        name: request.name,
        created: started,
        updated: new Date().toISOString(),
        state: 'COMPLETED',
        type: 'full',
        strategy: this.name,
        parent: null,
        keyspaces: request.keyspaces,
        tables: request.tables,
        archived_tables: tables,
        file_count: upload.fileCount,
        raw_bytes: upload.rawBytes,
        stored_bytes: upload.storedBytes,
        sha256: upload.sha256,
        checksum: upload.checksum,
        location: upload.location,
        object_key: upload.objectKey,
        compression: upload.compression,
        data_directory_count: settings.dataFileDirectories.length,
        cassandra_version: cassandraVersion,
        cluster_name: settings.clusterName,
        ring: { text: ringText, tokens: parseRingTokens(ringText) },
      };
      try {
        await ctx.catalog.put(record);
      } catch (err) {
        // A stored object without its record does not exist: do not leave it behind.
        await ctx.storage.delete(upload.objectKey).catch(() => undefined);
        throw err;
      }
      return record;
    } finally {
      ctx.progress.step(`clearing snapshot ${request.id}`);
      await nodetool.clearSnapshot(request.id).catch((err: unknown) => {
        ctx.progress.step(`warning: could not clear snapshot ${request.id}: ${errorMessage(err)}; clear it with 'nodetool clearsnapshot -t ${request.id}'`);
      });
    }
  },

  restore: (ctx, backupId, options) => restoreArchive(ctx, backupId, options),
};

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
