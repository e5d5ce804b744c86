import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes bytes through unchanged while hashing (SHA-256) and counting them.
 * Placed on the stored side of the pipeline, so the digest is that of the
 * object exactly as the store holds it.
 */
export class DigestStream extends Transform {
  private readonly hash = createHash('sha256');
  private hexDigest: string | undefined;
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.hexDigest = this.hash.digest('hex');
    callback();
  }

  /** The SHA-256 in hex; only once the stream has ended. */
  digest(): string {
    if (this.hexDigest === undefined) throw new Error('DigestStream: digest() called before the stream ended');
    return this.hexDigest;
  }
}

/** Counts bytes as they pass and tells a listener, for progress. */
export class ByteMeter extends Transform {
  constructor(private readonly onBytes: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.onBytes(chunk.length);
    callback(null, chunk);
  }
}
