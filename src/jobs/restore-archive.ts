import { chown, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { readStages } from '../archive/archive-format.js';
import { ByteMeter, DigestStream } from '../archive/digest-stream.js';
import { extractArchive } from '../archive/tar-extract.js';
import { incompleteReason, type BackupRecord } from '../catalog/backup-record.js';
import { freeSpace } from '../cassandra/data-layout.js';
import { resolveDataOwner, type Owner } from '../cassandra/data-owner.js';
import { ArchiveError, BackupNotFoundError, ChecksumMismatchError, InsufficientSpaceError, ServiceError, errorMessage } from '../errors.js';
import { formatBytes } from '../util/format-bytes.js';
import { readYamlText, writeYamlText } from '../cassandra/yaml-editor.js';
import { DirectorySwap, type SwapPlan } from './directory-swap.js';
import { isForeignArchive, readForeignArchive } from './foreign-archive.js';
import { checkYamlMapping, resetNodeIdentity } from './node-identity-reset.js';
import { RestoreJournal } from './restore-journal.js';
import type { JobContext } from './job-context.js';

export interface RestoreResult {
  backupId: string;
  files: number;
  rawBytes: number;
  storedBytes: number;
  dataDirectories: string[];
  /** The cluster name the node now has (never its source's). */
  clusterName: string;
  /** Cassandra starts the restore performed after the swap. */
  starts: number;
}

export interface RestoreOptions {
  /** prepare's root_password: the superuser password to set; null keeps the agent's own. */
  rootPassword?: string | null;
}

/** Free space asked for beyond the data itself: file system slack, new SSTables at start-up. */
const SPACE_MARGIN = 1.05;

/**
 * Restores one full archive into the node's data directories:
 * checks (record, object, free space, service) → extract into fresh sibling
 * directories, verifying the SHA-256 as it streams, while the node still runs
 * → stop → swap directories (commitlog, caches and hints emptied, so no old
 * mutation is replayed over the restored data) → start → healthy → delete the
 * old directories. Any failure before the swap leaves the node untouched;
 * after it, the old directories are put back and the node started again.
 */
export async function restoreArchive(ctx: JobContext, backupId: string, options: RestoreOptions = {}): Promise<RestoreResult> {
  const { settings, service } = ctx.node;
  const record = await loadRestorableRecord(ctx, backupId);

  ctx.progress.step(`checking backup ${backupId}`);
  const object = await ctx.storage.head(record.object_key);
  if (!object) {
    throw new ArchiveError(`backup ${backupId}: its object ${record.object_key} is missing from ${ctx.storage.name} storage; the backup cannot be restored`);
  }
  if (object.size !== record.stored_bytes) {
    throw new ArchiveError(`backup ${backupId}: its object is ${object.size} bytes but the catalog says ${record.stored_bytes}; it is truncated or was replaced`);
  }
  await checkFreeSpace(settings.dataFileDirectories, record.raw_bytes);
  await service.isRunning(); // fails early when the status command cannot run at all
  // Kept to put back on any failure; parsed now so a broken file stops us before anything is touched.
  const originalYaml = await readYamlText(settings.file);
  checkYamlMapping(originalYaml, settings.file);

  const suffix = `.restore-${backupId}`;
  const owner = await resolveDataOwner(ctx.config.data_owner, settings.dataFileDirectories[0]!);
  const fresh = settings.dataFileDirectories.map((dir) => `${dir}${suffix}`);
  const removeFresh = () => Promise.all(fresh.map((dir) => rm(dir, { recursive: true, force: true })));
  const keptSuffix = `.pre-restore-${backupId}`;
  const plans: SwapPlan[] = [
    ...settings.dataFileDirectories.map((live, i) => ({ live, replacement: fresh[i]! })),
    ...[settings.commitlogDirectory, settings.savedCachesDirectory, settings.hintsDirectory].map((live) => ({ live, ...(owner ? { owner } : {}) })),
  ];
  const journal = await RestoreJournal.begin(ctx.node, { backup_id: backupId, fresh, live: plans.map((p) => p.live), kept_suffix: keptSuffix }, originalYaml);

  let extracted;
  try {
    await removeFresh(); // leftovers of an interrupted restore of the same backup
    for (const dir of fresh) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      if (owner) await chown(dir, owner.uid, owner.gid);
    }
    ctx.progress.step(`downloading and extracting ${record.object_key}`);
    extracted = await extractVerified(ctx, record, fresh, owner);
  } catch (err) {
    await removeFresh();
    await journal.finish();
    throw err;
  }

  const swap = new DirectorySwap(keptSuffix);
  ctx.progress.step('stopping Cassandra');
  await journal.advance('stopping');
  try {
    await service.stop();
  } catch (err) {
    await removeFresh();
    await journal.finish();
    // A stop that failed half-way may have left the node down: bring it back on its own data.
    if (!(await service.isRunning().catch(() => true))) {
      await service.startAndWaitHealthy().catch((startErr: unknown) => {
        throw new ServiceError(`${errorMessage(err)}; Cassandra is now down and did not start again: ${errorMessage(startErr)}`, { cause: err });
      });
    }
    throw err;
  }

  let identity;
  try {
    ctx.progress.step('moving the restored data directories into place');
    await journal.advance('swapping');
    await swap.apply(plans);
    await journal.advance('resetting');
    identity = await resetNodeIdentity(ctx, record, { originalYaml, rootPassword: options.rootPassword ?? null });
  } catch (err) {
    await rollBack(ctx, swap, err, originalYaml);
    await removeFresh();
    await journal.finish();
    throw new ServiceError(`restore ${backupId} failed and was rolled back, the node runs on its old data again: ${errorMessage(err)}`, { cause: err });
  }
  ctx.progress.step('Cassandra is up; removing the old data directories');
  await journal.advance('committing');
  await swap.commit();
  await journal.finish();
  return {
    backupId,
    files: extracted.files,
    rawBytes: extracted.bytes,
    storedBytes: record.stored_bytes,
    dataDirectories: settings.dataFileDirectories,
    clusterName: identity.clusterName,
    starts: identity.starts,
  };
}

export async function loadRestorableRecord(ctx: JobContext, backupId: string): Promise<BackupRecord> {
  const record = await ctx.catalog.get(backupId);
  if (!record) {
    throw new BackupNotFoundError(`backup ${backupId} is not in the catalog (${ctx.catalog.description}); check the id and the storage settings`);
  }
  // An archive without a record of ours (foreign-archive.ts): the store's checksum vouches for it instead.
  if (isForeignArchive(record)) return record;
  const reason = incompleteReason(record);
  if (reason) throw new BackupNotFoundError(`backup ${backupId} cannot be restored: ${reason}`);
  return record;
}

async function extractVerified(ctx: JobContext, record: BackupRecord, targets: string[], owner: Owner | undefined) {
  const digest = new DigestStream();
  ctx.progress.begin('restore', record.stored_bytes);
  try {
    const foreign = isForeignArchive(record);
    const source = foreign ? await readForeignArchive(ctx, record) : await ctx.storage.get(record.object_key, ctx.signal);
    const result = await extractArchive(source, {
      targets,
      ...(owner ? { owner } : {}),
      signal: ctx.signal,
      transforms: [new ByteMeter((n) => ctx.progress.advance(n)), digest, ...(await readStages(record, ctx.config))],
    }).catch((err: unknown) => {
      // The store's check cuts the stream at the part that differs: its error says which, the TAR parser's would not.
      throw source.errored instanceof ChecksumMismatchError ? source.errored : err;
    });
    // Checked against the store's checksum as it streamed; nobody recorded a SHA-256 or a file count.
    if (foreign) return result;
    const actual = digest.digest();
    if (actual !== record.sha256) {
      throw new ChecksumMismatchError(`backup ${record.id}: the stored object's SHA-256 is ${actual}, the catalog says ${record.sha256}; the object is corrupt, restore another backup`);
    }
    if (result.files !== record.file_count) {
      throw new ArchiveError(`backup ${record.id}: the archive holds ${result.files} files, the catalog says ${record.file_count}`);
    }
    return result;
  } finally {
    ctx.progress.end();
  }
}

async function rollBack(ctx: JobContext, swap: DirectorySwap, cause: unknown, originalYaml: string): Promise<void> {
  ctx.progress.step(`restore failed (${errorMessage(cause)}); putting the old data directories and cassandra.yaml back`);
  try {
    await ctx.node.service.stop();
  } catch {
    // It may never have started; the directories go back either way.
  }
  await swap.undo();
  await writeYamlText(ctx.node.settings.file, originalYaml);
  ctx.progress.step('starting Cassandra on its old data');
  try {
    await ctx.node.service.startAndWaitHealthy();
  } catch (err) {
    throw new ServiceError(`restore failed (${errorMessage(cause)}), the old data directories are back in place, but Cassandra does not start on them: ${errorMessage(err)}`, { cause: err });
  }
}

async function checkFreeSpace(dataDirectories: string[], rawBytes: number): Promise<void> {
  const needed = Math.ceil(rawBytes * SPACE_MARGIN);
  // Fresh directories are siblings of the live ones: count each file system once.
  const checked = new Set<number>();
  for (const dir of dataDirectories) {
    const { bytes: available, device } = await freeSpace(path.dirname(dir));
    if (checked.has(device)) continue;
    checked.add(device);
    if (available < needed) {
      throw new InsufficientSpaceError(`restore needs ${formatBytes(needed)} free beside ${dir}, only ${formatBytes(available)} is available; free space or grow the volume, then retry`);
    }
  }
}
