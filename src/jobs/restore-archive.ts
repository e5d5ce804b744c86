import { chown, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkReadable, readStages } from '../archive/archive-format.js';
import { createThrottle } from '../archive/throttle.js';
import { ByteMeter, DigestStream } from '../archive/digest-stream.js';
import { extractArchive, type ExtractedFile, type ExtractOptions, type ExtractResult } from '../archive/tar-extract.js';
import { incompleteReason, type BackupRecord } from '../catalog/backup-record.js';
import { checkAdminCredentials } from '../cassandra/admin-credentials.js';
import { freeSpace } from '../cassandra/data-layout.js';
import { resolveDataOwner, type Owner } from '../cassandra/data-owner.js';
import { ArchiveError, BackupNotFoundError, ChecksumMismatchError, ConfigError, IncompatibleBackupError, InsufficientSpaceError, ServiceError, errorMessage } from '../errors.js';
import { formatBytes } from '../util/format-bytes.js';
import { readYamlText, writeYamlText } from '../cassandra/yaml-editor.js';
import { DirectorySwap, type SwapPlan } from './directory-swap.js';
import { isForeignArchive, readForeignArchive } from './foreign-archive.js';
import { checkYamlMapping, resetNodeIdentity } from './node-identity-reset.js';
import { fileKey, singlePlan, type RestorePlan } from './backup-chain.js';
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
  /**
   * Which objects a restore of this record reads and which file each one
   * contributes: the strategy's view of a chain. Default: the record alone.
   */
  plan?: (ctx: JobContext, record: BackupRecord) => Promise<RestorePlan>;
}

type ExtractLimits = Pick<ExtractOptions, 'maxBytes' | 'declaredSize'>;

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
  await checkDataDirectories(ctx);
  // Held from the first check to the end: a second restore is refused at once, not rolled back into the first.
  const release = await RestoreJournal.lock(ctx.node, backupId);
  try {
    return await restoreLocked(ctx, backupId, options);
  } finally {
    await release();
  }
}

async function restoreLocked(ctx: JobContext, backupId: string, options: RestoreOptions): Promise<RestoreResult> {
  const { settings, service } = ctx.node;
  const record = await loadRestorableRecord(ctx, backupId);

  ctx.progress.step(`checking backup ${backupId}`);
  const plan = options.plan ? await options.plan(ctx, record) : singlePlan(record);
  for (const member of plan.members) {
    await checkStoredObject(ctx, backupId, member);
    await checkReadable(member, ctx.config);
  }
  // One object: everything in it is extracted. A chain: the files wanted from all of them.
  const extractedBytes = plan.members.length > 1 && plan.files ? plan.files.reduce((sum, f) => sum + f.size, 0) : record.raw_bytes;
  await checkFreeSpace(settings.dataFileDirectories, extractedBytes);
  // The identity reset reads it after the swap, where a broken file would cost a roll-back: checked now.
  await checkAdminCredentials(ctx.config.admin_credentials_file, options.rootPassword ?? null);
  // Also fails early when the status command cannot run at all.
  if (await service.isRunning()) await checkSameMajorVersion(ctx, record);
  else ctx.progress.step(`Cassandra is not running: the backup's version (${record.cassandra_version || 'not recorded'}) cannot be compared with this node's`);
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
    extracted = await extractPlan(ctx, plan, fresh, owner, isForeignArchive(record) ? undefined : extractedBytes);
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

/** Checks, before anything is read, that a member's object is there whole. */
async function checkStoredObject(ctx: JobContext, backupId: string, member: BackupRecord): Promise<void> {
  const whose = member.id === backupId ? `backup ${backupId}: its` : `backup ${backupId}: its ancestor ${member.id}'s`;
  const object = await ctx.storage.head(member.object_key);
  if (!object) {
    throw new ArchiveError(`${whose} object ${member.object_key} is missing from ${ctx.storage.name} storage; the backup cannot be restored`);
  }
  if (object.size !== member.stored_bytes) {
    throw new ArchiveError(`${whose} object is ${object.size} bytes but the catalog says ${member.stored_bytes}; it is truncated or was replaced`);
  }
}

/**
 * Extracts every member of the plan in order into the same fresh
 * directories, each object's SHA-256 verified as it streams, then checks
 * that every file wanted arrived once with its size and CRC-32.
 * `declaredBytes`: what the records declare the restore writes, the most it
 * may write (undefined for a foreign archive, which declares nothing).
 */
async function extractPlan(ctx: JobContext, plan: RestorePlan, targets: string[], owner: Owner | undefined, declaredBytes: number | undefined): Promise<ExtractResult> {
  const wanted = plan.files ? new Map(plan.files.map((f) => [fileKey(f), f])) : undefined;
  const limits: ExtractLimits = {
    ...(wanted ? { declaredSize: (name: string, dir: number) => wanted.get(fileKey({ name, dir }))?.size } : {}),
  };
  const written = new Map<string, ExtractedFile>();
  const total: ExtractResult = { files: 0, bytes: 0 };
  ctx.progress.begin('restore', plan.members.reduce((sum, m) => sum + m.stored_bytes, 0));
  try {
    for (const [i, member] of plan.members.entries()) {
      const of = plan.members.length > 1 ? ` (${i + 1} of ${plan.members.length}: ${member.type} backup ${member.id})` : '';
      ctx.progress.step(`downloading and extracting ${member.object_key}${of}`);
      const select = wanted ? (name: string, dir: number) => wanted.get(fileKey({ name, dir }))?.stored_in === member.id : undefined;
      const left = declaredBytes === undefined ? {} : { maxBytes: declaredBytes - total.bytes };
      const result = await extractMember(ctx, member, targets, owner, select, (file) => written.set(fileKey(file), file), { ...limits, ...left });
      total.files += result.files;
      total.bytes += result.bytes;
    }
  } finally {
    ctx.progress.end();
  }
  if (wanted) checkManifest(plan, wanted, written);
  return total;
}

function checkManifest(plan: RestorePlan, wanted: Map<string, { name: string; size: number; crc32: string; stored_in: string }>, written: Map<string, ExtractedFile>): void {
  const newest = plan.members[plan.members.length - 1]!.id;
  for (const [key, file] of wanted) {
    const got = written.get(key);
    if (!got) {
      throw new ArchiveError(`backup ${newest}: ${file.name} is missing from the object of backup ${file.stored_in}, which the manifest says holds it; restore another backup`);
    }
    if (got.size !== file.size || got.crc32 !== file.crc32) {
      throw new ChecksumMismatchError(`backup ${newest}: ${file.name} from backup ${file.stored_in} has ${got.size} bytes with CRC-32 ${got.crc32}, the manifest says ${file.size} bytes with ${file.crc32}; restore another backup`);
    }
  }
}

async function extractMember(
  ctx: JobContext,
  record: BackupRecord,
  targets: string[],
  owner: Owner | undefined,
  select: ((name: string, dir: number) => boolean) | undefined,
  onFile: (file: ExtractedFile) => void,
  limits: ExtractLimits,
): Promise<ExtractResult> {
  const digest = new DigestStream();
  const foreign = isForeignArchive(record);
  // Before the object is opened: a key that cannot read it fails with nothing to close.
  const stages = await readStages(record, ctx.config);
  let source;
  try {
    source = foreign ? await readForeignArchive(ctx, record) : await ctx.storage.get(record.object_key, ctx.signal);
  } catch (err) {
    for (const stage of stages) stage.destroy();
    throw err;
  }
  const result = await extractArchive(source, {
    targets,
    ...(owner ? { owner } : {}),
    signal: ctx.signal,
    ...(select ? { select } : {}),
    onFile,
    ...limits,
    // Trove 13 archived with `tar -P`: absolute names in its node's data directory.
    ...(foreign ? { stripSourceDataDirectory: true } : {}),
    // max_bandwidth limits the stored bytes read, as for a backup.
    transforms: [...throttled(ctx.config.max_bandwidth), new ByteMeter((n) => ctx.progress.advance(n)), digest, ...stages],
  }).catch((err: unknown) => {
    // The store's check cuts the stream at the part that differs: its error says which, the TAR parser's would not.
    const cause = source.errored instanceof ChecksumMismatchError ? source.errored : err;
    throw namingBackup(record.id, cause);
  });
  // Checked against the store's checksum as it streamed; nobody recorded a SHA-256 or a file count.
  if (foreign) return result;
  const actual = digest.digest();
  if (actual !== record.sha256) {
    throw new ChecksumMismatchError(`backup ${record.id}: the stored object's SHA-256 is ${actual}, the catalog says ${record.sha256}; the object is corrupt, restore another backup`);
  }
  if (!select && result.files !== record.file_count) {
    throw new ArchiveError(`backup ${record.id}: the archive holds ${result.files} files, the catalog says ${record.file_count}`);
  }
  return result;
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

/** A chain reads several objects: an error must say whose object it came from. */
function namingBackup(id: string, err: unknown): unknown {
  if (!(err instanceof ArchiveError) || err.message.includes(`backup ${id}`)) return err;
  const Kind = err instanceof ChecksumMismatchError ? ChecksumMismatchError : ArchiveError;
  return new Kind(`backup ${id}: ${err.message}`, { cause: err });
}

function throttled(bytesPerSecond: number): NodeJS.ReadWriteStream[] {
  const throttle = createThrottle(bytesPerSecond);
  return throttle ? [throttle] : [];
}

/**
 * SSTables of another major version are not what this node reads (a newer
 * format, or one it would need `nodetool upgradesstables` for): refused
 * before anything is touched. Foreign archives record no version.
 */
async function checkSameMajorVersion(ctx: JobContext, record: BackupRecord): Promise<void> {
  if (!record.cassandra_version) return;
  const nodeVersion = await ctx.node.nodetool.version();
  const major = (version: string) => /^(\d+)\./.exec(version)?.[1];
  if (major(record.cassandra_version) !== major(nodeVersion)) {
    throw new IncompatibleBackupError(
      `backup ${record.id} was taken on Cassandra ${record.cassandra_version} and this node runs ${nodeVersion}: restore it onto a node of the same major version (${major(record.cassandra_version) ?? '?'}.x), then upgrade`,
    );
  }
}

/**
 * Every data directory exists: one that does not is a typo or a volume not
 * mounted, and restoring into a new directory there would put the data where
 * the operator does not expect it. Created only when asked
 * (restore_create_data_directories).
 */
async function checkDataDirectories(ctx: JobContext): Promise<void> {
  for (const dir of ctx.node.settings.dataFileDirectories) {
    const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw new ConfigError(`cannot read data directory ${dir} (data_file_directories in ${ctx.node.settings.file}): ${errorMessage(err)}`, { cause: err });
    });
    if (info?.isDirectory()) continue;
    if (info) throw new ConfigError(`data directory ${dir} (data_file_directories in ${ctx.node.settings.file}) is not a directory`);
    if (!ctx.config.restore_create_data_directories) {
      throw new ConfigError(
        `data directory ${dir} (data_file_directories in ${ctx.node.settings.file}) does not exist: a typo, or a volume that is not mounted? Fix cassandra.yaml or mount the volume; set restore_create_data_directories: true to have the restore create it`,
      );
    }
    ctx.progress.step(`creating data directory ${dir} (restore_create_data_directories)`);
    await mkdir(dir, { recursive: true, mode: 0o755 });
  }
}
