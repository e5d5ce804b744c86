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
 * The one interface every backend implements. Segmenting, multipart, retries
 * and temporary names live inside each driver; callers see whole objects.
 * `put` consumes the stream and resolves only once the object is durable under
 * its final name; on failure nothing is left under that name.
 */
export interface Storage {
  readonly name: string;
  put(key: string, data: Readable, meta: ObjectMeta, signal?: AbortSignal): Promise<PutResult>;
  get(key: string, signal?: AbortSignal): Promise<Readable>;
  /** undefined when the object does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
  delete(key: string): Promise<void>;
}
