import path from 'node:path';
import type { Readable } from 'node:stream';
import { legacyDecryptOptions } from '../archive/archive-format.js';
import { LEGACY_HEAD_BYTES, describeKdf, findLegacyKey, legacyScheme } from '../archive/openssl-legacy.js';
import type { Compression, EncryptionInfo, StoredFormat } from '../archive/stored-format.js';
import { freeSpace } from '../cassandra/data-layout.js';
import { ArchiveError, BackupNotFoundError, ChecksumMismatchError, InsufficientSpaceError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { formatBytes } from '../util/format-bytes.js';
import type { JobContext } from './job-context.js';

interface ArchiveName {
  suffix: string;
  compression: Compression;
  /** `openssl enc -aes-256-cbc -salt` over the compressed TAR, as Trove's old strategies did. */
  encrypted: boolean;
}

/**
 * The names an archive of backup `<id>` may have, in the order they are
 * looked for: Trove's layout, uncompressed, then what Trove's old strategies
 * wrote. Those named the object after the backup id plus `.gz`, and `.enc`
 * when backup_use_openssl_encryption was on (the default before Victoria):
 * `<id>.gz.enc` for Cassandra; `<id>.tar.gz.enc` is the same pipeline named
 * as the other datastores' archives are.
 */
const ARCHIVE_NAMES: readonly ArchiveName[] = [
  { suffix: '.tar.gz', compression: 'gzip', encrypted: false },
  { suffix: '.tar', compression: 'none', encrypted: false },
  { suffix: '.gz', compression: 'gzip', encrypted: false },
  { suffix: '.tar.gz.enc', compression: 'gzip', encrypted: true },
  { suffix: '.gz.enc', compression: 'gzip', encrypted: true },
];

/** The objects an archive of backup `id` may be, in the order they are looked for. */
export function foreignArchiveNames(id: string): { key: string; compression: Compression; encrypted: boolean }[] {
  return ARCHIVE_NAMES.map(({ suffix, compression, encrypted }) => ({ key: `${id}${suffix}`, compression, encrypted }));
}

/** EncryptionInfo.key_id of a Trove archive: which setting holds its passphrase (there is no key id in the archive). */
const LEGACY_KEY_ID = 'trove_backup_aes_cbc_key';

/** Trove's old NodetoolSnapshot made such archives (a TAR laid out like a data directory), and restores them. */
export const FOREIGN_STRATEGY = 'NodetoolSnapshot';

/**
 * Unpacked bytes assumed per stored byte of a gzip archive whose raw size
 * nobody recorded. Cassandra's SSTables are LZ4-compressed by default and gzip
 * gains little on them; 3 leaves room for tables stored uncompressed. It only
 * makes the refusal early: an extraction that runs out of space fails in the
 * fresh directories and leaves the node untouched all the same.
 */
const GZIP_EXPANSION_ESTIMATE = 3;

/** The same margin as the restore's own check, so that a refusal comes from here, saying that the size is an estimate. */
const SPACE_MARGIN = 1.05;

export interface ForeignArchiveRequest {
  backupId: string;
  /** The object, when the requester names it (backup_info.location); else the first of ARCHIVE_NAMES present. */
  objectKey?: string;
  /** What the requester says the checksum is (backup_info.checksum, --checksum): the store's must be the same. */
  checksum?: string | null;
  /**
   * The cluster name the archive's system.local holds, which Cassandra insists
   * on at the restore's first start: Trove names a Cassandra cluster after its
   * instance, so prepare's backup_info.instance_id (--source-cluster-name from
   * the command line). Unset: this node's own, for an archive of a node
   * configured alike.
   */
  sourceClusterName?: string | null;
}

/**
 * An archive that has no record of ours (Trove's, or an operator's `tar |
 * gzip | swift upload`), as found in the store: nobody recorded its SHA-256,
 * its files or the Cassandra version, and the store's own checksum vouches
 * for its bytes.
 */
export interface ForeignArchive {
  id: string;
  objectKey: string;
  location: string;
  /** From the object's name; an encrypted one with the key derivation found to decrypt it. */
  format: StoredFormat;
  storedBytes: number;
  /** The store's checksum of the object (Swift's ETag) and how it is computed. */
  checksum: string;
  algorithm: string;
  /** An estimate: nothing records how large the archive unpacks. */
  estimatedRawBytes: number;
  /** The cluster name its system.local holds, as the requester says (else this node's own). */
  clusterName: string;
}

/**
 * Finds the archive of a backup that has no catalog record, checks the
 * store's checksum of it against the one the requester gave, and describes it
 * as the restore reads it: compression and encryption from the
 * name, stored size and checksum from the store, one data directory, an
 * estimated raw size. An encrypted one is checked to decrypt with the
 * configured passphrase (its first block), and how its key was derived is
 * recorded, before anything is touched.
 */
export async function findForeignArchive(ctx: JobContext, request: ForeignArchiveRequest): Promise<ForeignArchive> {
  const { backupId: id } = request;
  const { storage } = ctx;
  const notInCatalog = `backup ${id} is not in the catalog (${ctx.catalog.description}); check the id and the storage settings`;
  const candidates = request.objectKey ? [request.objectKey] : foreignArchiveNames(id).map(({ key }) => key);
  if (request.objectKey) nameOf(id, request.objectKey);

  if (!storage.verifier) {
    const present = await firstPresent(storage, candidates);
    throw new BackupNotFoundError(
      present
        ? `${notInCatalog}; ${present} is in ${storage.name} storage without a record, and ${storage.name} storage keeps no checksum of its own to verify it by; only archives in Swift can be restored without a record`
        : notInCatalog,
    );
  }
  let found;
  for (const key of candidates) {
    const verifier = await storage.verifier(key);
    if (verifier) {
      found = { key, verifier };
      break;
    }
  }
  if (!found) {
    throw new BackupNotFoundError(`${notInCatalog} (no archive ${candidates.join(' or ')} in ${storage.name} storage either)`);
  }

  const { key, verifier } = found;
  const given = request.checksum?.replace(/"/g, '');
  if (given && given !== verifier.expected) {
    throw new ChecksumMismatchError(
      `backup ${id}: ${key} has ETag ${verifier.expected} (${verifier.algorithm}), but the checksum given for it is ${given}; it is not the archive that was asked for, or it was replaced: nothing was restored`,
    );
  }
  const { compression, encrypted } = nameOf(id, key);
  const encryption = encrypted ? await legacyEncryption(ctx, id, key) : undefined;
  const decrypted = encryption ? `, decrypted with trove_backup_aes_cbc_key (${describeKdf(encryption.kdf)})` : '';
  ctx.progress.step(
    `backup ${id} has no catalog record: restoring ${key} from ${storage.name} storage, verified by its ETag ${verifier.expected} (${verifier.algorithm}) as it streams${decrypted}`,
  );
  const archive: ForeignArchive = {
    id,
    objectKey: key,
    location: verifier.location,
    format: { id, compression, ...(encryption ? { encryption: encryption.info } : {}) },
    storedBytes: verifier.size,
    checksum: verifier.expected,
    algorithm: verifier.algorithm,
    estimatedRawBytes: compression === 'gzip' ? verifier.size * GZIP_EXPANSION_ESTIMATE : verifier.size,
    // A wrong guess stops Cassandra at start-up ("Saved cluster name ... != configured name"), and the restore then rolls back.
    clusterName: request.sourceClusterName || ctx.node.settings.clusterName,
  };
  await checkRoomForEstimate(ctx, archive);
  return archive;
}

/** The archive's bytes, checked against the store's checksum as they stream; refused if the object changed since it was found. */
export async function readForeignArchive(ctx: JobContext, archive: ForeignArchive): Promise<Readable> {
  const verifier = await ctx.storage.verifier?.(archive.objectKey);
  if (!verifier) throw new ArchiveError(`backup ${archive.id}: ${archive.objectKey} is no longer in ${ctx.storage.name} storage`);
  if (verifier.expected !== archive.checksum) {
    throw new ChecksumMismatchError(
      `backup ${archive.id}: ${archive.objectKey} changed since it was found: its ETag is now ${verifier.expected}, it was ${archive.checksum}`,
    );
  }
  return verifier.read(ctx.signal);
}

/** `<storage_url>/<container>/<object>` (Trove's backup location) → the container and the object. */
export function containerAndObject(backupId: string, location: string): { container: string; objectKey: string } {
  let parts: string[] = [];
  try {
    parts = new URL(location).pathname.split('/').map(decodeURIComponent);
  } catch {
    // not a URL: refused below
  }
  const objectKey = parts.at(-1);
  const container = parts.at(-2);
  if (!objectKey || !container) {
    throw new BackupNotFoundError(
      `backup ${backupId} has no catalog record, and its location '${location}' is not of the form <storage_url>/<container>/<object> naming an archive to restore without one`,
    );
  }
  return { container, objectKey };
}

function nameOf(id: string, key: string): ArchiveName {
  const match = ARCHIVE_NAMES.find(({ suffix }) => key === `${id}${suffix}`);
  if (!match) {
    throw new BackupNotFoundError(
      `backup ${id}: the object ${key} is not named after the backup (${ARCHIVE_NAMES.map(({ suffix }) => `${id}${suffix}`).join(', ')}); refusing to restore something else than what was asked`,
    );
  }
  return match;
}

/**
 * The archive's first block decrypted with the configured passphrase under
 * each key derivation Trove's openssl may have used (or the one
 * trove_backup_kdf names): a missing or wrong passphrase fails here, before
 * the restore touches anything. The derivation found goes into the record,
 * so that the restore's decryption uses it.
 */
async function legacyEncryption(ctx: JobContext, id: string, key: string) {
  const options = legacyDecryptOptions(`backup ${id}: ${key}`, ctx.config, 'auto');
  const head = await readHead(ctx.storage, key, LEGACY_HEAD_BYTES, ctx.signal);
  const { kdf } = await findLegacyKey(head, options);
  const info: EncryptionInfo = { scheme: legacyScheme(kdf), key_id: LEGACY_KEY_ID };
  return { kdf, info };
}

/** The first `bytes` bytes of an object (fewer if it is shorter); the rest is never downloaded. */
async function readHead(storage: Storage, key: string, bytes: number, signal: AbortSignal): Promise<Buffer> {
  const stop = new AbortController();
  const forward = () => stop.abort(signal.reason);
  signal.addEventListener('abort', forward, { once: true });
  const parts: Buffer[] = [];
  let total = 0;
  try {
    const stream = await storage.get(key, stop.signal);
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      parts.push(chunk);
      total += chunk.length;
      if (total >= bytes) break; // leaving the loop destroys the stream
    }
  } finally {
    signal.removeEventListener('abort', forward);
    stop.abort();
  }
  return Buffer.concat(parts).subarray(0, bytes);
}

async function firstPresent(storage: Storage, keys: string[]): Promise<string | undefined> {
  for (const key of keys) if (await storage.head(key)) return key;
  return undefined;
}

/** Everything goes to the first data directory (nothing in a foreign archive says otherwise). */
async function checkRoomForEstimate(ctx: JobContext, archive: ForeignArchive): Promise<void> {
  const dir = ctx.node.settings.dataFileDirectories[0]!;
  const needed = Math.ceil(archive.estimatedRawBytes * SPACE_MARGIN);
  const { bytes: available } = await freeSpace(path.dirname(dir));
  if (available < needed) {
    const stored = formatBytes(archive.storedBytes);
    const estimate = archive.format.compression === 'gzip' ? `${GZIP_EXPANSION_ESTIMATE} × its ${stored} stored` : `its ${stored} stored`;
    throw new InsufficientSpaceError(
      `restore of ${archive.id} needs an estimated ${formatBytes(needed)} free beside ${dir} (the archive has no catalog record, so its unpacked size is unknown and is estimated conservatively at ${estimate}, plus 5 %), only ${formatBytes(available)} is available; free space or grow the volume, then retry`,
    );
  }
}
