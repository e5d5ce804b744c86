import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A stream of `size` random bytes in uneven chunks, as a pipeline would produce, and their SHA-256. */
export function randomStream(size: number): { stream: Readable; digest: string } {
  const data = randomBytes(size);
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < size; ) {
    const length = Math.min(size - offset, 1 + Math.floor(Math.random() * 20_000));
    chunks.push(data.subarray(offset, offset + length));
    offset += length;
  }
  return { stream: Readable.from(chunks), digest: sha256(data) };
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
