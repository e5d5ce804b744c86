import { createCipheriv, createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

/**
 * Deterministic bulk bytes for SSTable components. Real Data.db files are LZ4-compressed, so they
 * are mostly incompressible; an AES-128-CTR keystream gives that at well over 1 GiB/s and is
 * reproducible from a seed. Each 64 KiB page starts with a short run of repetitive text so the
 * files are not perfectly incompressible either. Content is produced and written one chunk at a
 * time: a multi-GiB file never sits in memory.
 */
const CHUNK = 4 * 1024 * 1024;
const PAGE = 64 * 1024;
const TEXT_PER_PAGE = 2 * 1024;

/** Encrypting zeros yields the keystream; one shared (never written) zero buffer serves every file. */
let zeros: Buffer | undefined;

function keystream(seed: string): (length: number) => Buffer {
  const digest = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-128-ctr', digest.subarray(0, 16), digest.subarray(16, 32));
  zeros ??= Buffer.alloc(CHUNK);
  const source = zeros;
  return (length) => cipher.update(source.subarray(0, length));
}

function repetitiveText(seed: string): Buffer {
  const tag = createHash('sha1').update(seed).digest('hex').slice(0, 8);
  const row = `{"partition":"${tag}","status":"SHIPPED","region":"eu-west","flags":[0,0,0,1]};`;
  return Buffer.from(row.repeat(Math.ceil(TEXT_PER_PAGE / row.length))).subarray(0, TEXT_PER_PAGE);
}

export interface GeneratedFileOptions {
  /** Bytes placed first (the simulator's row payload in system tables). */
  prefix?: Buffer;
  /** Add the repetitive text runs (Data.db); other components are plain keystream. */
  compressibleRuns?: boolean;
}

/** Writes `size` bytes to a new file and returns their CRC32 (what Digest.crc32 records). */
export async function writeGeneratedFile(path: string, size: number, seed: string, options: GeneratedFileOptions = {}): Promise<number> {
  const next = keystream(seed);
  const text = options.compressibleRuns ? repetitiveText(seed) : undefined;
  const prefix = options.prefix ?? Buffer.alloc(0);
  const handle = await open(path, 'wx', 0o644);
  let crc = 0;
  // The next chunk is computed while the previous one is being written.
  let writing: Promise<unknown> = Promise.resolve();
  try {
    let offset = 0;
    while (offset < size) {
      const length = Math.min(CHUNK, size - offset);
      const chunk = next(length);
      if (text) {
        for (let page = Math.ceil(offset / PAGE) * PAGE; page < offset + length; page += PAGE) {
          const start = page - offset;
          text.copy(chunk, start, 0, Math.min(TEXT_PER_PAGE, length - start));
        }
      }
      if (offset < prefix.length) prefix.copy(chunk, 0, offset, Math.min(prefix.length, offset + length));
      crc = crc32(chunk, crc);
      await writing;
      writing = handle.write(chunk, 0, length);
      offset += length;
    }
    await writing;
  } finally {
    await writing.catch(() => undefined);
    await handle.close();
  }
  return crc >>> 0;
}
