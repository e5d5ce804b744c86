/**
 * How an archive's stored bytes were written: the part of a backup's record
 * the archive layer reads back. Defined here, below the catalog, so that the
 * stream stages need nothing of the catalog.
 */

/** How the stored TAR is compressed; `lzop` (the seed tool's) is only ever read. */
export const COMPRESSIONS = ['gzip', 'none', 'zstd', 'lz4', 'lzop'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** How the stored bytes are encrypted (absent: not encrypted). */
export interface EncryptionInfo {
  /** The scheme and its version, e.g. `aes-256-gcm-chunked-v1`. */
  scheme: string;
  /** Identifies the key without revealing it. */
  key_id: string;
}

/** What a reader needs to undo the write stages: the id (an AEAD's associated data), the compression and the encryption. */
export interface StoredFormat {
  id: string;
  compression: Compression;
  encryption?: EncryptionInfo;
}
