import { pipeline } from 'node:stream';
import type { WriteFormat } from '../archive/archive-format.js';
import { createThrottle } from '../archive/throttle.js';
import { DigestStream } from '../archive/digest-stream.js';
import { packFiles, type PackEntry } from '../archive/tar-pack.js';
import type { Compression, EncryptionInfo } from '../archive/stored-format.js';
import type { ManifestFile } from '../catalog/backup-record.js';
import { BackupExistsError } from '../errors.js';
import type { ObjectMeta } from '../storage/storage.js';
import type { JobContext } from './job-context.js';

export interface UploadRequest {
  backupId: string;
  files: (PackEntry & { size: number })[];
  meta: ObjectMeta;
  /** From checkBackupCanStart: the format (and key) checked before the snapshot is the one used. */
  format: WriteFormat;
}

export interface UploadResult {
  objectKey: string;
  location: string;
  compression: Compression;
  encryption?: EncryptionInfo;
  fileCount: number;
  rawBytes: number;
  storedBytes: number;
  sha256: string;
  /** Each file as archived (stored_in: this backup), in archive order. */
  files: ManifestFile[];
  /** What the control plane is told: the store's own checksum where it has one (Swift's ETag, which Trove checks), else the SHA-256. */
  checksum: string;
}

/**
 * The files as one TAR → compressed → hashed → stored object, one pipeline
 * with backpressure and nothing staged on disk. The SHA-256 is of the stored
 * bytes. Never overwrites an existing object.
 */
export async function uploadArchive(ctx: JobContext, request: UploadRequest): Promise<UploadResult> {
  const { format } = request;
  const objectKey = `${request.backupId}${format.suffix}`;
  if (await ctx.storage.head(objectKey)) {
    throw new BackupExistsError(`backup ${request.backupId}: object ${objectKey} already exists in ${ctx.storage.name} storage; choose another backup id`);
  }
  const rawBytes = request.files.reduce((sum, f) => sum + f.size, 0);
  const digest = new DigestStream();
  const files: ManifestFile[] = [];
  const onFile = (entry: PackEntry, size: number, crc32: string): void => {
    files.push({ name: entry.entryName, dir: entry.dataDirIndex, size, crc32, stored_in: request.backupId });
  };
  ctx.progress.begin('backup', rawBytes);

  // The first failure of the archive side (reading a file, compressing) is
  // the one worth reporting; storage then fails only because its source did.
  let sourceError: unknown;
  const stored = pipeline(
    [packFiles(request.files, { chunkSize: ctx.config.backup_chunk_size, onBytes: (n) => ctx.progress.advance(n), onFile }), ...format.stages(request.backupId), ...optional(createThrottle(ctx.config.max_bandwidth)), digest],
    (err) => {
      if (err) sourceError ??= err;
    },
  ) as unknown as DigestStream;
  try {
    const put = await ctx.storage.put(objectKey, stored, request.meta, ctx.signal);
    return {
      objectKey,
      location: put.location,
      compression: format.compression,
      ...(format.encryption ? { encryption: format.encryption } : {}),
      fileCount: request.files.length,
      rawBytes,
      storedBytes: put.size,
      sha256: digest.digest(),
      files,
      checksum: put.storeChecksum ?? digest.digest(),
    };
  } catch (err) {
    // Storage may fail before it reads anything: stop the producer so that no
    // file stays open and no snapshot file is read for nothing.
    stored.destroy();
    throw sourceError ?? err;
  } finally {
    ctx.progress.end();
  }
}

/** max_bandwidth limits the stored bytes: what crosses the network, whatever the compression. */
function optional<T>(stage: T | undefined): T[] {
  return stage ? [stage] : [];
}
