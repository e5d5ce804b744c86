import { Transform, type TransformCallback } from 'node:stream';
import { performance } from 'node:perf_hooks';

/**
 * A pipeline stage that passes bytes on unchanged, at most `bytesPerSecond`
 * of them per second (max_bandwidth), or undefined for 0 (unlimited), so that
 * callers add no stage at all then: `[..., ...(throttle ? [throttle] : [])]`.
 */
export function createThrottle(bytesPerSecond: number): Throttle | undefined {
  if (!Number.isSafeInteger(bytesPerSecond) || bytesPerSecond < 0) {
    throw new RangeError(`throttle: the bandwidth must be a whole number of bytes per second, 0 for unlimited; got ${bytesPerSecond}`);
  }
  return bytesPerSecond === 0 ? undefined : new Throttle(bytesPerSecond);
}

/**
 * A token bucket: tokens (bytes) accrue at the rate, up to a burst of a tenth
 * of a second's worth, and a chunk waits for tokens before it is passed on.
 * Chunks larger than the burst are passed on in slices, so the stream never
 * runs ahead of the rate by more than the burst, whatever the chunk size.
 * Over any interval of T seconds at most burst + rate × T bytes pass.
 *
 * One timer at a time, never a busy loop; it is cleared when the stream is
 * destroyed (an abort or a failure elsewhere in the pipeline), so a throttle
 * never keeps the process alive. The next chunk is taken only once the
 * previous one has passed entirely, and Transform holds it back while the
 * reader is behind: memory is one chunk plus the stream buffers.
 */
export class Throttle extends Transform {
  readonly bytesPerSecond: number;
  /** The most bytes passed at once; also the most tokens saved up while idle. */
  readonly burst: number;
  #tokens: number;
  #refilledAt = performance.now();
  #timer: NodeJS.Timeout | undefined;

  constructor(bytesPerSecond: number) {
    super();
    this.bytesPerSecond = bytesPerSecond;
    this.burst = Math.max(1, Math.ceil(bytesPerSecond / 10));
    this.#tokens = this.burst;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pass(chunk, 0, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    callback(error);
  }

  /** Passes on what tokens allow from `offset`, then sleeps until enough have accrued for the next slice. */
  #pass(chunk: Buffer, offset: number, callback: TransformCallback): void {
    while (offset < chunk.length) {
      if (this.destroyed) return;
      this.#refill();
      const size = Math.min(this.burst, chunk.length - offset);
      if (this.#tokens < size) {
        const waitMs = Math.ceil(((size - this.#tokens) * 1000) / this.bytesPerSecond);
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#pass(chunk, offset, callback);
        }, waitMs);
        return;
      }
      this.#tokens -= size;
      this.push(size === chunk.length ? chunk : chunk.subarray(offset, offset + size));
      offset += size;
    }
    callback();
  }

  #refill(): void {
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#refilledAt) * this.bytesPerSecond) / 1000);
    this.#refilledAt = now;
  }
}
