import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';

/** Bytes copied together and handed to the hashing thread in one message. */
const BATCH_BYTES = 1024 * 1024;
/** Bytes handed over but not yet hashed before the stream waits: bounds memory when hashing is the slower side. */
const MAX_IN_FLIGHT_BYTES = 8 * BATCH_BYTES;

/**
 * Passes bytes through unchanged while hashing (SHA-256) and counting them.
 * Placed on the stored side of the pipeline, so the digest is that of the
 * object exactly as the store holds it.
 *
 * The hashing runs on a worker thread: on a CPU without SHA extensions
 * SHA-256 (~400 MB/s a core) is the most expensive stage of a plain backup or
 * restore, and on the main thread it competes with reading, packing and
 * writing. The bytes are copied into 1 MiB batches, which move to the worker
 * and back without a copy and are reused; the stream holds back its input
 * while more than 8 MiB wait to be hashed, so memory stays bounded (and no
 * garbage piles up) whichever side is slower.
 */
export class DigestStream extends Transform {
  private worker: Worker | undefined;
  private batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
  private batchFill = 0;
  /** Batches the worker has hashed and sent back, to fill again. */
  private readonly spare: ArrayBuffer[] = [];
  private inFlight = 0;
  /** The callback of a chunk held back until the worker catches up. */
  private heldBack: (() => void) | undefined;
  private finished: ((digest: string) => void) | undefined;
  private hexDigest: string | undefined;
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const copied = chunk.copy(this.batch, this.batchFill, offset);
      this.batchFill += copied;
      offset += copied;
      if (this.batchFill === BATCH_BYTES) this.sendBatch();
    }
    this.push(chunk);
    if (this.inFlight > MAX_IN_FLIGHT_BYTES) this.heldBack = () => callback();
    else callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.batchFill > 0) this.sendBatch();
    this.finished = (digest) => {
      this.hexDigest = digest;
      callback();
    };
    this.hasher().postMessage(null);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Also on success: the worker has answered and is closing its port.
    void this.worker?.terminate();
    this.worker = undefined;
    callback(error);
  }

  /** The SHA-256 in hex; only once the stream has ended. */
  digest(): string {
    if (this.hexDigest === undefined) throw new Error('DigestStream: digest() called before the stream ended');
    return this.hexDigest;
  }

  private sendBatch(): void {
    // The batch owns its whole ArrayBuffer (allocUnsafeSlow): moved, not copied.
    const data = this.batch.buffer;
    const length = this.batchFill;
    this.inFlight += length;
    const spare = this.spare.pop();
    this.batch = spare ? Buffer.from(spare) : Buffer.allocUnsafeSlow(BATCH_BYTES);
    this.batchFill = 0;
    this.hasher().postMessage({ data, length }, [data]);
  }

  /** Started with the first bytes, so that a stream never used costs no thread. */
  private hasher(): Worker {
    if (this.worker) return this.worker;
    // Not the agent's own node flags: some (--input-type, --eval) stop a worker from starting.
    const worker = new Worker(new URL('./sha256-worker.js', import.meta.url), { execArgv: [] });
    worker.on('message', (message: { hashed?: ArrayBuffer; length?: number; digest?: string }) => {
      if (message.hashed !== undefined) {
        this.inFlight -= message.length ?? 0;
        this.spare.push(message.hashed);
        if (this.heldBack && this.inFlight <= MAX_IN_FLIGHT_BYTES) {
          const resume = this.heldBack;
          this.heldBack = undefined;
          resume();
        }
      } else if (message.digest !== undefined) {
        this.finished?.(message.digest);
      }
    });
    worker.on('error', (err) => this.destroy(new Error(`SHA-256 worker thread failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => {
      if (this.worker === worker && this.hexDigest === undefined) this.destroy(new Error(`SHA-256 worker thread exited (code ${code}) before the digest was ready`));
    });
    this.worker = worker;
    return worker;
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
