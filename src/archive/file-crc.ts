import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';

/** CRC-32 as the manifest records it: 8 lowercase hex digits. */
export function crcHex(value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0');
}

/**
 * Passes bytes through while computing their CRC-32 (zlib's, ~3 GB/s: far
 * cheaper than the SHA-256 that guards the whole object). Per-file CRCs let a
 * differential backup recognise a file its parent already holds, and restore
 * and verify check each file on its own.
 */
export class CrcStream extends Transform {
  #crc = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#crc = zlib.crc32(chunk, this.#crc);
    callback(null, chunk);
  }

  get crc32(): string {
    return crcHex(this.#crc);
  }
}

/** CRC-32 of a whole file, read in large chunks. */
export async function fileCrc32(file: string, signal?: AbortSignal): Promise<string> {
  let crc = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024, ...(signal ? { signal } : {}) })) {
    crc = zlib.crc32(chunk as Buffer, crc);
  }
  return crcHex(crc);
}
