import type { Readable } from 'node:stream';

/** Metadata stored beside an object (Swift: X-Object-Meta-*, S3: x-amz-meta-*). */
export type ObjectMeta = Record<string, string>;

export interface PutResult {
  /** Where the object is, as reported to the control plane. */
  location: string;
  /** Bytes stored. */
  size: number;
  /** The store's own checksum of the object where it has one (Swift ETag), else undefined. */
  storeChecksum?: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
  meta: ObjectMeta;
}

/**
 * An object as a store that keeps its own checksum of it describes it, and a
 * way to read it checked against that checksum: what vouches for an archive
 * that has no catalog record of ours.
 */
export interface ObjectVerifier {
  /** Where the object is, as reported to the control plane. */
  location: string;
  /** Bytes stored. */
  size: number;
  /** How `expected` is made, for messages (e.g. "the MD5 of the 3 segment MD5s of a Static Large Object"). */
  algorithm: string;
  /** The store's checksum of the object (Swift: its ETag, the checksum Trove records). */
  expected: string;
  /**
   * The object's bytes, each part the store vouches for checked as it
   * passes: the stream fails with a ChecksumMismatchError naming the part as
   * soon as one differs, and at its end if the whole does not match `expected`.
   */
  read(signal?: AbortSignal): Promise<Readable>;
}

/** What a store takes, for the layers above it that must keep within it; each driver declares its own. */
export interface StorageLimits {
  /**
   * Longest key of a catalog index entry (src/catalog/catalog-index.ts), in
   * bytes, with room to spare for the driver's own names around a key (a
   * temporary name, a segment suffix, a prefix).
   */
  readonly indexKeyBudget: number;
}

/**
 * The one interface every backend implements. Segmenting, multipart, retries
 * and temporary names live inside each driver; callers see whole objects.
 * `put` consumes the stream and resolves only once the object is durable under
 * its final name; on failure nothing is left under that name.
 */
export interface Storage {
  readonly name: string;
  readonly limits: StorageLimits;
  put(key: string, data: Readable, meta: ObjectMeta, signal?: AbortSignal): Promise<PutResult>;
  get(key: string, signal?: AbortSignal): Promise<Readable>;
  /** undefined when the object does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
  delete(key: string): Promise<void>;
  /** Only stores that keep a checksum of their own (Swift); undefined when the object does not exist. */
  verifier?(key: string): Promise<ObjectVerifier | undefined>;
}
