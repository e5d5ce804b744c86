/**
 * Single-stage ceilings: each stage of the agent's pipeline alone, as the
 * agent runs it, on the same data, so that a backup or restore reads as a
 * fraction of its slowest stage. Each is the better of two runs (a ceiling
 * is what the stage can do; the shared machine only ever takes from it).
 *
 * - read + SHA-256: the data files (or the stored object) read in
 *   backup_chunk_size pieces and hashed, in this process: what the agent's
 *   reading and hashing cost together on one core.
 * - compress / decompress: GNU tar's stream of the data directory (tar runs
 *   beside it and is not the limit) through the agent's own stage
 *   (src/archive/compression.ts: the zstd or lz4 command, Node's zlib for
 *   gzip) into a counting sink; decompression of the stored object likewise.
 * - disk write + fsync: random bytes in 64 KiB writes to a file opened as
 *   the local store opens its objects (`flush`: fsynced before close).
 * - encryption: src/archive/encryption.ts's AES-256-GCM streams, from memory.
 * - the object store alone: one PUT and one GET by curl.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { createCompressor, createDecompressor } from '../src/archive/compression.js';
import { createDecryptStream, createEncryptStream } from '../src/archive/encryption.js';
import { loadWriteKey } from '../src/archive/encryption-key.js';
import type { Compression } from '../src/archive/stored-format.js';
import { loadConfig } from '../src/config/load-config.js';

export interface Ceiling {
  /** MB/s (10^6 bytes per second) of the stage's input: raw bytes, or stored bytes for the restore side's reads. */
  mbps: number;
  bytesIn: number;
  bytesOut?: number;
  /** Each run's MB/s. */
  runs: number[];
}

const RUNS = 2;
const WRITE = 64 * 1024;

async function best(run: () => Promise<{ seconds: number; bytesIn: number; bytesOut?: number }>): Promise<Ceiling> {
  const rates: number[] = [];
  let last: { bytesIn: number; bytesOut?: number } = { bytesIn: 0 };
  for (let i = 0; i < RUNS; i++) {
    const r = await run();
    rates.push(r.bytesIn / 1e6 / r.seconds);
    last = r;
  }
  return { mbps: Math.max(...rates), bytesIn: last.bytesIn, ...(last.bytesOut !== undefined ? { bytesOut: last.bytesOut } : {}), runs: rates };
}

async function timed<T>(work: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = process.hrtime.bigint();
  const value = await work();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, value };
}

function counter(): Writable & { bytes: number } {
  const sink = new Writable({
    highWaterMark: WRITE,
    write(chunk: Buffer, _encoding, callback) {
      sink.bytes += chunk.length;
      callback();
    },
  }) as Writable & { bytes: number };
  sink.bytes = 0;
  return sink;
}

/** Reads the files one after another in `chunkSize` pieces into one SHA-256. */
export function readAndHash(files: string[], chunkSize: number): Promise<Ceiling> {
  return best(async () => {
    const { seconds, value } = await timed(async () => {
      const hash = createHash('sha256');
      let bytes = 0;
      for (const file of files) {
        for await (const chunk of createReadStream(file, { highWaterMark: chunkSize }) as AsyncIterable<Buffer>) {
          hash.update(chunk);
          bytes += chunk.length;
        }
      }
      hash.digest();
      return bytes;
    });
    return { seconds, bytesIn: value };
  });
}

/** GNU tar's stream of `dataDir` through the agent's compression stage. */
export function compressTar(dataDir: string, compression: Compression, level: number): Promise<Ceiling> {
  return best(async () => {
    const tar = execa('tar', ['-C', dataDir, '-cf', '-', '.'], { stdout: 'pipe', stderr: 'pipe', buffer: false });
    const input = counter();
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        input.bytes += chunk.length;
        callback(null, chunk);
      },
    });
    const sink = counter();
    const { seconds } = await timed(async () => {
      await pipeline([tar.stdout!, meter, createCompressor(compression, level) as Duplex, sink]);
      await tar;
    });
    return { seconds, bytesIn: input.bytes, bytesOut: sink.bytes };
  });
}

/** A stored object through the agent's decompression stage; MB/s of the raw bytes it gives. */
export function decompressObject(file: string, compression: Compression): Promise<Ceiling> {
  return best(async () => {
    const sink = counter();
    const { seconds } = await timed(() => pipeline([createReadStream(file, { highWaterMark: WRITE }), createDecompressor(compression) as Duplex, sink]));
    return { seconds, bytesIn: sink.bytes };
  });
}

/** Random bytes (a 16 MiB pool, repeated) in 64 KiB writes to a new file in `dir`, fsynced before close. */
export function diskWrite(dir: string, size: number): Promise<Ceiling> {
  const pool = randomBytes(16 * 1024 * 1024);
  return best(async () => {
    const file = path.join(dir, `.bench-disk-write-${process.pid}`);
    try {
      const source = Readable.from(
        (function* () {
          for (let at = 0; at < size; at += WRITE) {
            const offset = at % pool.length;
            yield pool.subarray(offset, offset + Math.min(WRITE, size - at));
          }
        })(),
      );
      const { seconds } = await timed(() => pipeline(source, createWriteStream(file, { flags: 'wx', flush: true, highWaterMark: WRITE })));
      return { seconds, bytesIn: size };
    } finally {
      await rm(file, { force: true });
    }
  });
}

/** The agent's AES-256-GCM encryption and decryption streams on `size` random bytes from memory. */
export async function encryption(size: number): Promise<{ encrypt: Ceiling; decrypt: Ceiling }> {
  const config = await loadConfig(undefined, { GUEST_AGENT_BACKUP_ENCRYPTION: 'aes-256-gcm', GUEST_AGENT_BACKUP_ENCRYPTION_KEY: randomBytes(32).toString('hex') });
  const key = await loadWriteKey(config);
  const pool = randomBytes(16 * 1024 * 1024);
  const source = (): Readable =>
    Readable.from(
      (function* () {
        for (let at = 0; at < size; at += WRITE) {
          const offset = at % pool.length;
          yield pool.subarray(offset, offset + Math.min(WRITE, size - at));
        }
      })(),
    );
  const encrypt = await best(async () => {
    const sink = counter();
    const { seconds } = await timed(() => pipeline([source(), createEncryptStream(key), sink]));
    return { seconds, bytesIn: size, bytesOut: sink.bytes };
  });
  // Decryption reads stored bytes: made once, in memory, replayed in 64 KiB pieces as a download arrives.
  const parts: Buffer[] = [];
  await pipeline([
    source(),
    createEncryptStream(key),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        parts.push(chunk);
        callback();
      },
    }),
  ]);
  const stored = Buffer.concat(parts);
  parts.length = 0;
  const decrypt = await best(async () => {
    const replay = Readable.from(
      (function* () {
        for (let at = 0; at < stored.length; at += WRITE) yield stored.subarray(at, at + WRITE);
      })(),
    );
    const { seconds } = await timed(() => pipeline([replay, createDecryptStream(key, { label: 'bench' }), counter()]));
    return { seconds, bytesIn: size };
  });
  return { encrypt, decrypt };
}

/** Swift's own largest object: a ceiling upload stays below it. */
const SWIFT_MAX_OBJECT = 5 * 1024 ** 3 - 1024 * 1024;

/**
 * The object store alone: the TAR stream of `dataDir` (at most 5 GiB, Swift's
 * largest object) PUT as one chunked request by curl, and GET back into
 * /dev/null. What Swift's servers take on this machine with nothing of the
 * agent's in the way; S3 goes through the same servers plus s3api.
 */
export async function swiftAlone(dataDir: string, objectUrl: string, token: string, scratch: string): Promise<{ put: Ceiling; get: Ceiling }> {
  const headers = path.join(scratch, 'swift-ceiling-headers');
  // Through a file: a token on a command line shows in ps.
  await writeFile(headers, `X-Auth-Token: ${token}\n`, { mode: 0o600 });
  const curl = async (script: string): Promise<{ seconds: number; bytes: number }> => {
    const { seconds, value } = await timed(() =>
      execa('bash', ['-o', 'pipefail', '-c', script, 'bash', dataDir, String(SWIFT_MAX_OBJECT), headers, objectUrl], { timeout: 3_600_000 }),
    );
    return { seconds, bytes: Number(value.stdout.trim()) };
  };
  try {
    const put = await best(async () => {
      const r = await curl(`tar -C "$1" -cf - . | head -c "$2" | curl -sS -f -X PUT -H @"$3" -T - -w '%{size_upload}' -o /dev/null "$4"`);
      return { seconds: r.seconds, bytesIn: r.bytes };
    });
    const get = await best(async () => {
      const r = await curl(`curl -sS -f -H @"$3" -w '%{size_download}' -o /dev/null "$4"`);
      return { seconds: r.seconds, bytesIn: r.bytes };
    });
    return { put, get };
  } finally {
    await execa('curl', ['-sS', '-X', 'DELETE', '-H', `@${headers}`, '-o', '/dev/null', objectUrl], { reject: false, timeout: 120_000 });
    await rm(headers, { force: true });
  }
}
