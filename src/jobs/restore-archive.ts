import { chown, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkReadable, readStages } from '../archive/archive-format.js';
import { createThrottle } from '../archive/throttle.js';
import { ByteMeter, DigestStream } from '../archive/digest-stream.js';
import { extractArchive, type ExtractedFile, type ExtractOptions, type ExtractResult } from '../archive/tar-extract.js';
import type { Readable } from 'node:stream';
import type { StoredFormat } from '../archive/stored-format.js';
import { incompleteReason, type BackupRecord, type ManifestFile } from '../catalog/backup-record.js';
import { checkAdminCredentials } from '../cassandra/admin-credentials.js';
import { freeSpace } from '../cassandra/data-layout.js';
import { resolveDataOwner, type Owner } from '../cassandra/data-owner.js';
import { ArchiveError, BackupNotFoundError, ChecksumMismatchError, ConfigError, IncompatibleBackupError, InsufficientSpaceError, ServiceError, errorMessage } from '../errors.js';
import { formatBytes } from '../util/format-bytes.js';
import { readYamlText, writeYamlText } from '../cassandra/yaml-editor.js';
import { DirectorySwap, type SwapPlan } from './directory-swap.js';
import { readForeignArchive } from './foreign-archive.js';
import { idOf, type StoredBackup } from './stored-backup.js';
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
export async function restoreArchive(ctx: JobContext, backup: StoredBackup, options: RestoreOptions = {}): Promise<RestoreResult> {
  await checkDataDirectories(ctx);
  // Held from the first check to the end: a second restore is refused at once, not rolled back into the first.
  const release = await RestoreJournal.lock(ctx.node, idOf(backup));
  try {
    return await restoreLocked(ctx, await sourceOf(ctx, backup, options), options);
  } finally {
    await release();
  }
}

/** One object a restore reads, and how its bytes are checked. */
interface RestoreObject {
  id: string;
  /** For progress: which member of a chain it is. */
  label: string;
  key: string;
  storedBytes: number;
  format: StoredFormat;
  open(): Promise<Readable>;
  /** What the catalog recorded of it; absent for an archive with no record, which the store's checksum vouches for as it streams. */
  recorded?: { sha256: string; fileCount: number };
  /** Trove 13 archived with `tar -P`: absolute names in its node's data directory. */
  absoluteNames: boolean;
}

/** Everything a restore reads, and what is known of it before a byte is read. */
interface RestoreSource {
  backupId: string;
  objects: RestoreObject[];
  /** For a chain: every file wanted, with the member that holds it. Absent: all of the one object. */
  files?: ManifestFile[];
  /** What the restore writes: declared by the records (then also the most it may write), or estimated. */
  rawBytes: number;
  declared: boolean;
  /** '' when nothing recorded it. */
  cassandraVersion: string;
  /** The cluster name the restored system.local holds. */
  clusterName: string;
  storedBytes: number;
}

/** The objects of a catalog backup (its chain, as the strategy plans it) or of an archive with no record. */
async function sourceOf(ctx: JobContext, backup: StoredBackup, options: RestoreOptions): Promise<RestoreSource> {
  if (backup.kind === 'foreign') {
    const { archive } = backup;
    return {
      backupId: archive.id,
      objects: [{ id: archive.id, label: '', key: archive.objectKey, storedBytes: archive.storedBytes, format: archive.format, open: () => readForeignArchive(ctx, archive), absoluteNames: true }],
      rawBytes: archive.estimatedRawBytes,
      declared: false,
      cassandraVersion: '',
      clusterName: archive.clusterName,
      storedBytes: archive.storedBytes,
    };
  }
  const { record } = backup;
  const reason = incompleteReason(record);
  if (reason) throw new BackupNotFoundError(`backup ${record.id} cannot be restored: ${reason}`);
  const plan = options.plan ? await options.plan(ctx, record) : singlePlan(record);
  const chained = plan.members.length > 1;
  return {
    backupId: record.id,
    objects: plan.members.map((member, i) => ({
      id: member.id,
      label: chained ? ` (${i + 1} of ${plan.members.length}: ${member.type} backup ${member.id})` : '',
      key: member.object_key,
      storedBytes: member.stored_bytes,
      format: member,
      open: () => ctx.storage.get(member.object_key, ctx.signal),
      recorded: { sha256: member.sha256, fileCount: member.file_count },
      absoluteNames: false,
    })),
    ...(plan.files ? { files: plan.files } : {}),
    // One object: everything in it is extracted. A chain: the files wanted from all of them.
    rawBytes: chained && plan.files ? plan.files.reduce((sum, f) => sum + f.size, 0) : record.raw_bytes,
    declared: true,
    cassandraVersion: record.cassandra_version,
    clusterName: record.cluster_name,
    storedBytes: record.stored_bytes,
  };
}

async function restoreLocked(ctx: JobContext, source: RestoreSource, options: RestoreOptions): Promise<RestoreResult> {
  const { settings, service } = ctx.node;
  const { backupId } = source;

  ctx.progress.step(`checking backup ${backupId}`);
  for (const object of source.objects) {
    await checkStoredObject(ctx, backupId, object);
    await checkReadable(object.format, ctx.config);
  }
  await checkFreeSpace(settings.dataFileDirectories, source.rawBytes);
  // The identity reset reads it after the swap, where a broken file would cost a roll-back: checked now.
  await checkAdminCredentials(ctx.config.admin_credentials_file, options.rootPassword ?? null);
  // Also fails early when the status command cannot run at all.
  if (await service.isRunning()) await checkSameMajorVersion(ctx, backupId, source.cassandraVersion);
  else ctx.progress.step(`Cassandra is not running: the backup's version (${source.cassandraVersion || 'not recorded'}) cannot be compared with this node's`);
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
    extracted = await extractAll(ctx, source, fresh, owner);
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
    identity = await resetNodeIdentity(ctx, source.clusterName, { originalYaml, rootPassword: options.rootPassword ?? null });
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
    storedBytes: source.storedBytes,
    dataDirectories: settings.dataFileDirectories,
    clusterName: identity.clusterName,
    starts: identity.starts,
  };
}

/** Checks, before anything is read, that a member's object is there whole. */
async function checkStoredObject(ctx: JobContext, backupId: string, member: RestoreObject): Promise<void> {
  const whose = member.id === backupId ? `backup ${backupId}: its` : `backup ${backupId}: its ancestor ${member.id}'s`;
  const object = await ctx.storage.head(member.key);
  if (!object) {
    throw new ArchiveError(`${whose} object ${member.key} is missing from ${ctx.storage.name} storage; the backup cannot be restored`);
  }
  if (object.size !== member.storedBytes) {
    const said = member.recorded ? 'the catalog says' : 'it was when it was found';
    throw new ArchiveError(`${whose} object is ${object.size} bytes but ${said} ${member.storedBytes}; it is truncated or was replaced`);
  }
}

/**
 * Extracts every object in order into the same fresh directories, each one
 * verified as it streams (its SHA-256, or the store's checksum), then checks
 * that every file wanted arrived once with its size and CRC-32. What the
 * records declare is also the most the restore may write; an estimate is not.
 */
async function extractAll(ctx: JobContext, source: RestoreSource, targets: string[], owner: Owner | undefined): Promise<ExtractResult> {
  const wanted = source.files ? new Map(source.files.map((f) => [fileKey(f), f])) : undefined;
  const limits: ExtractLimits = {
    ...(wanted ? { declaredSize: (name: string, dir: number) => wanted.get(fileKey({ name, dir }))?.size } : {}),
  };
  const written = new Map<string, ExtractedFile>();
  const total: ExtractResult = { files: 0, bytes: 0 };
  ctx.progress.begin('restore', source.objects.reduce((sum, o) => sum + o.storedBytes, 0));
  try {
    for (const object of source.objects) {
      ctx.progress.step(`downloading and extracting ${object.key}${object.label}`);
      const select = wanted ? (name: string, dir: number) => wanted.get(fileKey({ name, dir }))?.stored_in === object.id : undefined;
      const left = source.declared ? { maxBytes: source.rawBytes - total.bytes } : {};
      const result = await extractObject(ctx, object, targets, owner, select, (file) => written.set(fileKey(file), file), { ...limits, ...left });
      total.files += result.files;
      total.bytes += result.bytes;
    }
  } finally {
    ctx.progress.end();
  }
  if (wanted) checkManifest(source.backupId, wanted, written);
  return total;
}

function checkManifest(newest: string, wanted: Map<string, ManifestFile>, written: Map<string, ExtractedFile>): void {
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

async function extractObject(
  ctx: JobContext,
  object: RestoreObject,
  targets: string[],
  owner: Owner | undefined,
  select: ((name: string, dir: number) => boolean) | undefined,
  onFile: (file: ExtractedFile) => void,
  limits: ExtractLimits,
): Promise<ExtractResult> {
  const digest = new DigestStream();
  // Before the object is opened: a key that cannot read it fails with nothing to close.
  const stages = await readStages(object.format, ctx.config);
  let source;
  try {
    source = await object.open();
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
    ...(object.absoluteNames ? { stripSourceDataDirectory: true } : {}),
    // max_bandwidth limits the stored bytes read, as for a backup.
    transforms: [...throttled(ctx.config.max_bandwidth), new ByteMeter((n) => ctx.progress.advance(n)), digest, ...stages],
  }).catch((err: unknown) => {
    // The store's check cuts the stream at the part that differs: its error says which, the TAR parser's would not.
    const cause = source.errored instanceof ChecksumMismatchError ? source.errored : err;
    throw namingBackup(object.id, cause);
  });
  // Checked against the store's checksum as it streamed; nobody recorded a SHA-256 or a file count.
  if (!object.recorded) return result;
  const actual = digest.digest();
  if (actual !== object.recorded.sha256) {
    throw new ChecksumMismatchError(`backup ${object.id}: the stored object's SHA-256 is ${actual}, the catalog says ${object.recorded.sha256}; the object is corrupt, restore another backup`);
  }
  if (!select && result.files !== object.recorded.fileCount) {
    throw new ArchiveError(`backup ${object.id}: the archive holds ${result.files} files, the catalog says ${object.recorded.fileCount}`);
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
async function checkSameMajorVersion(ctx: JobContext, backupId: string, backupVersion: string): Promise<void> {
  if (!backupVersion) return;
  const nodeVersion = await ctx.node.nodetool.version();
  const major = (version: string) => /^(\d+)\./.exec(version)?.[1];
  if (major(backupVersion) !== major(nodeVersion)) {
    throw new IncompatibleBackupError(
      `backup ${backupId} was taken on Cassandra ${backupVersion} and this node runs ${nodeVersion}: restore it onto a node of the same major version (${major(backupVersion) ?? '?'}.x), then upgrade`,
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
