/**
 * The ceiling the encryption stage puts on a backup or restore: the chunked
 * AES-256-GCM streams alone (src/archive/encryption.ts), one core, data from
 * memory in 64 KiB writes as the TAR packer makes them, into a sink that
 * counts. Beside them, for scale: SHA-256 of the same bytes (every backup
 * and restore hashes the stored bytes) and the legacy AES-256-CBC decryption
 * of Trove's archives. MB/s = 10^6 bytes of plaintext per second; peak RSS
 * of this process. Not part of the tests.
 *
 *   npm run build && taskset -c 1 node dist/bench/encryption-ceiling.js [--size 1GiB] [--chunks 64KiB,1MiB,4MiB] [--runs 3]
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { Readable, Transform, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { DEFAULT_CHUNK_SIZE, createDecryptStream, createEncryptStream } from '../src/archive/encryption.js';
import { loadEncryptionKeys } from '../src/archive/encryption-key.js';
import { GZIP_START, createLegacyDecryptStream } from '../src/archive/openssl-legacy.js';
import { loadConfig } from '../src/config/load-config.js';
import { parseSize } from '../src/config/parse-value.js';
import { formatBytes } from '../src/util/format-bytes.js';

const WRITE = 64 * 1024;
/** Random, so nothing is cheaper than it would be on SSTables; reused so that making it costs nothing. */
const POOL = randomBytes(64 * 1024 * 1024);

function source(size: number): Readable {
  let sent = 0;
  return new Readable({
    highWaterMark: WRITE,
    read() {
      if (sent >= size) return this.push(null);
      const n = Math.min(WRITE, size - sent);
      const at = sent % POOL.length;
      this.push(POOL.subarray(at, at + n));
      sent += n;
    },
  });
}

function sink(): Writable {
  return new Writable({ highWaterMark: WRITE, write: (_chunk, _encoding, callback) => callback() });
}

async function timed(size: number, stages: () => Duplex[], from: () => Readable = () => source(size)): Promise<number> {
  const started = process.hrtime.bigint();
  await pipeline([from(), ...stages(), sink()]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return size / seconds / 1e6;
}

function hashing(): Transform {
  const hash = createHash('sha256');
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      hash.digest();
      callback();
    },
  });
}

/** One AES-256-GCM over the whole stream, no chunks, no tags checked: what OpenSSL itself does here. */
function rawGcm(): Transform {
  const cipher = createCipheriv('aes-256-gcm', randomBytes(32), randomBytes(12));
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      callback(null, cipher.update(chunk));
    },
    flush(callback) {
      cipher.final();
      callback();
    },
  });
}

/** What `openssl enc -aes-256-cbc -salt -md sha256` writes of gzip data, made here for any size without a file. */
function legacyEncrypting(passphrase: Buffer): Transform {
  const salt = randomBytes(8);
  const d1 = createHash('sha256').update(passphrase).update(salt).digest();
  const d2 = createHash('sha256').update(d1).update(passphrase).update(salt).digest();
  const cipher = createCipheriv('aes-256-cbc', d1, d2.subarray(0, 16));
  let first = true;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const out = cipher.update(first ? Buffer.concat([GZIP_START, chunk]) : chunk);
      callback(null, first ? Buffer.concat([Buffer.from('Salted__'), salt, out]) : out);
      first = false;
    },
    flush(callback) {
      callback(null, cipher.final());
    },
  });
}

/** The stored bytes of `size` plaintext bytes through these stages, kept in memory. */
async function stored(size: number, stages: Duplex[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline([source(size), ...stages, new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  })]);
  return Buffer.concat(parts);
}

/** Stored bytes replayed in 64 KiB writes, as a store's download arrives. */
function replay(all: Buffer): Readable {
  return Readable.from((function* () {
    for (let at = 0; at < all.length; at += WRITE) yield all.subarray(at, at + WRITE);
  })());
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { size: { type: 'string', default: '1GiB' }, chunks: { type: 'string', default: '64KiB,1MiB,4MiB' }, runs: { type: 'string', default: '3' } } });
  const size = parseSize(values.size);
  if (!size) throw new Error(`--size ${values.size}: not a size`);
  const runs = Number(values.runs);
  const chunkSizes = values.chunks!.split(',').map((c) => parseSize(c.trim()) ?? Number.NaN);
  const config = await loadConfig(undefined, { GUEST_AGENT_BACKUP_ENCRYPTION_KEY: randomBytes(32).toString('hex') });
  const key = (await loadEncryptionKeys(config)).current!;
  const passphrase = Buffer.from('bench-passphrase');
  // Decryption reads stored bytes: made once, in memory (at most 1 GiB), replayed for each run.
  const decryptSize = Math.min(size, 1024 ** 3);

  type Row = [string, number, () => Duplex[], (() => Readable)?];
  const rows: Row[] = [
    ['pass-through (the harness itself)', size, () => []],
    ['SHA-256 (every backup and restore does it)', size, () => [hashing()]],
    ['AES-256-GCM, one stream, no chunks (OpenSSL)', size, () => [rawGcm()]],
  ];
  for (const chunkSize of chunkSizes) {
    const label = `${formatBytes(chunkSize)} chunks${chunkSize === DEFAULT_CHUNK_SIZE ? ' (default)' : ''}`;
    rows.push([`encrypt, ${label}`, size, () => [createEncryptStream(key, { chunkSize })]]);
  }
  process.stdout.write(`${formatBytes(size)} from memory in 64 KiB writes, one core, median of ${runs} (MB/s of plaintext)\n`);
  const report = async ([label, bytes, stages, from]: Row): Promise<void> => {
    const rates: number[] = [];
    for (let i = 0; i < runs; i++) rates.push(await timed(bytes, stages, from));
    process.stdout.write(`${label.padEnd(52)} ${median(rates).toFixed(0).padStart(6)}   (${rates.map((r) => r.toFixed(0)).join(', ')})\n`);
  };
  for (const row of rows) await report(row);
  for (const chunkSize of chunkSizes) {
    // One object in memory at a time: RSS stays near the data's size.
    const encrypted = await stored(decryptSize, [createEncryptStream(key, { chunkSize })]);
    const label = `decrypt, ${formatBytes(chunkSize)} chunks${chunkSize === DEFAULT_CHUNK_SIZE ? ' (default)' : ''}`;
    await report([label, decryptSize, () => [createDecryptStream(key, { label: 'bench' })], () => replay(encrypted)]);
  }
  const legacy = await stored(decryptSize, [legacyEncrypting(passphrase)]);
  await report([
    "decrypt Trove's AES-256-CBC (openssl-legacy.ts)",
    decryptSize,
    () => [createLegacyDecryptStream({ passphrase, passphraseName: 'bench', kdf: 'sha256', plaintextStart: GZIP_START, label: 'bench' })],
    () => replay(legacy),
  ]);
  process.stdout.write(`peak RSS ${formatBytes(process.resourceUsage().maxRSS * 1024)} (64 MiB data pool, and ${formatBytes(decryptSize)} of stored bytes held for the decryption runs)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
