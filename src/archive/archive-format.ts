import type { Duplex } from 'node:stream';
import type { BackupRecord, Compression, EncryptionInfo } from '../catalog/backup-record.js';
import type { AgentConfig } from '../config/config-schema.js';
import { archiveSuffix, createCompressor, createDecompressor } from './compression.js';

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
  /** Fresh stages from TAR bytes to stored bytes, in order. */
  stages(): Duplex[];
}

export async function writeFormat(config: AgentConfig): Promise<WriteFormat> {
  const compression = config.backup_compression;
  return {
    compression,
    suffix: archiveSuffix(compression),
    stages: () => [createCompressor(compression, config.backup_compression_level)],
  };
}

/** The record's fields that say how its stored bytes were written. */
export type StoredFormat = Pick<BackupRecord, 'id' | 'compression' | 'encryption'>;

/** Fresh stages from a record's stored bytes back to TAR bytes, in order. */
export async function readStages(record: StoredFormat, _config: AgentConfig): Promise<Duplex[]> {
  return [createDecompressor(record.compression)];
}
