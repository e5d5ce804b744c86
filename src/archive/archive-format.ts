import type { Duplex } from 'node:stream';
import type { Compression, EncryptionInfo, StoredFormat } from './stored-format.js';
import type { ArchiveConfig } from '../config/config-schema.js';
import { ArchiveError, ConfigError } from '../errors.js';
import { archiveSuffix, createCompressor, createDecompressor } from './compression.js';
import { ENCRYPTION_SCHEME, createDecryptStream, createEncryptStream } from './encryption.js';
import { loadEncryptionKeys, loadWriteKey, type EncryptionKey } from './encryption-key.js';
import { GZIP_START, createLegacyDecryptStream, kdfOfScheme, type LegacyDecryptOptions, type TroveKdf } from './openssl-legacy.js';

/**
 * How a TAR stream becomes the stored bytes, as this agent is configured to
 * write them: the one place the upload path, the restore path and verify
 * agree on the order of stages (TAR → compress → encrypt → store).
 */
export interface WriteFormat {
  compression: Compression;
  /** Absent when backups are not encrypted. */
  encryption?: EncryptionInfo;
  /** Object-name suffix telling the pipeline, as Trove names objects (`.tar.gz`, `.tar.gz.enc`). */
  suffix: string;
  /** Fresh stages from TAR bytes to the stored bytes of backup `backupId`, in order (an encrypted object is bound to its id). */
  stages(backupId: string): Duplex[];
}

/** Trove's name for an encrypted object: the pipeline's suffix plus `.enc`. */
const ENCRYPTED_SUFFIX = '.enc';

/** Reads the key (a ConfigError when it is missing or bad) before any byte is produced. */
export async function writeFormat(config: ArchiveConfig): Promise<WriteFormat> {
  const compression = config.backup_compression;
  const compress = () => createCompressor(compression, config.backup_compression_level);
  if (config.backup_encryption === 'none') {
    return { compression, suffix: archiveSuffix(compression), stages: () => [compress()] };
  }
  const key = await loadWriteKey(config);
  return {
    compression,
    encryption: { scheme: ENCRYPTION_SCHEME, key_id: key.id },
    suffix: archiveSuffix(compression) + ENCRYPTED_SUFFIX,
    stages: (backupId) => [compress(), createEncryptStream(key, { objectId: backupId })],
  };
}

/**
 * Fresh stages from a record's stored bytes back to TAR bytes, in order. For
 * an encrypted record the key is found here, so that a missing or wrong key
 * is a ConfigError before any byte is read or written.
 */
export async function readStages(record: StoredFormat, config: ArchiveConfig): Promise<Duplex[]> {
  const decrypt = record.encryption ? [await decryptStage(record, record.encryption, config)] : [];
  return [...decrypt, createDecompressor(record.compression)];
}

/**
 * Fails as readStages would for a missing or wrong key, without starting any
 * stage: a restore calls it for every member before it touches anything.
 */
export async function checkReadable(record: StoredFormat, config: ArchiveConfig): Promise<void> {
  if (record.encryption) (await decryptStage(record, record.encryption, config)).destroy();
}

async function decryptStage(record: StoredFormat, encryption: EncryptionInfo, config: ArchiveConfig): Promise<Duplex> {
  const label = `backup ${record.id}`;
  if (encryption.scheme === ENCRYPTION_SCHEME) {
    return createDecryptStream(await readKeyFor(record, encryption, config), { label, objectId: record.id });
  }
  const kdf = kdfOfScheme(encryption.scheme);
  if (kdf !== undefined) {
    if (record.compression !== 'gzip') {
      throw new ArchiveError(`${label}: Trove's encrypted archives are gzip (.gz.enc); one compressed with ${record.compression} is not one of them and is not restored`);
    }
    return createLegacyDecryptStream(legacyDecryptOptions(label, config, kdf));
  }
  throw new ArchiveError(`${label} is encrypted with scheme '${encryption.scheme}', which this agent does not know; restore it with the agent version that wrote it, or a newer one`);
}

/** The configured key whose id the record names; a ConfigError naming both ids when there is none. */
async function readKeyFor(record: StoredFormat, encryption: EncryptionInfo, config: ArchiveConfig): Promise<EncryptionKey> {
  const { readable } = await loadEncryptionKeys(config);
  const wanted = encryption.key_id;
  const key = readable.find((k) => k.id === wanted);
  if (key) return key;
  const howToSet =
    'set backup_encryption_key_file (or GUEST_AGENT_BACKUP_ENCRYPTION_KEY) to that key, or add its file to backup_encryption_old_key_files';
  if (readable.length === 0) {
    throw new ConfigError(`backup ${record.id} is encrypted (${encryption.scheme}, key id ${wanted}) but no backup encryption key is configured: ${howToSet}`);
  }
  const have = readable.map((k) => `${k.id} (${k.source})`).join(', ');
  throw new ConfigError(`backup ${record.id} was encrypted with key id ${wanted}, but the configured key${readable.length > 1 ? 's have ids' : ' has id'} ${have}: ${howToSet}`);
}

/**
 * How to decrypt an archive of Trove's old strategy with this configuration
 * (a gzip archive, as Trove's always are); a ConfigError when no passphrase
 * is configured. `kdf` 'auto' defers to trove_backup_kdf.
 */
export function legacyDecryptOptions(label: string, config: ArchiveConfig, kdf: TroveKdf | 'auto'): LegacyDecryptOptions {
  const passphrase = config.trove_backup_aes_cbc_key;
  if (passphrase === '') {
    throw new ConfigError(
      `${label} is encrypted by Trove's old strategy (openssl enc -aes-256-cbc) but trove_backup_aes_cbc_key is not set: set it (or GUEST_AGENT_TROVE_BACKUP_AES_CBC_KEY) ` +
        `to the backup_aes_cbc_key of the Trove that made the backup (Trove before Victoria defaulted to 'default_aes_cbc_key')`,
    );
  }
  return {
    passphrase: Buffer.from(passphrase, 'utf8'),
    passphraseName: 'trove_backup_aes_cbc_key',
    kdf: kdf === 'auto' ? config.trove_backup_kdf : kdf,
    plaintextStart: GZIP_START,
    label,
  };
}
