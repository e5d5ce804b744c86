import { createHash } from 'node:crypto';
import type { SeededRandom } from './random.js';

/** 100-ns intervals between the Gregorian epoch (1582-10-15) and the Unix epoch, as UUID v1 counts time. */
const GREGORIAN_OFFSET = 0x01b21dd213814000n;

function format(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * A time-based (version 1) UUID, the kind Cassandra assigns to user tables (e.g.
 * 5b3c5a40-e5d6-11f1-a510-f7efc34e21c0). `node` is 6 bytes, fixed per simulated host.
 */
export function timeUuid(epochMillis: number, nanosTicks: number, clockSeq: number, node: Buffer): string {
  const ts = BigInt(epochMillis) * 10000n + BigInt(nanosTicks % 10000) + GREGORIAN_OFFSET;
  const timeLow = ts & 0xffffffffn;
  const timeMid = (ts >> 32n) & 0xffffn;
  const timeHi = ((ts >> 48n) & 0x0fffn) | 0x1000n;
  const seq = (clockSeq & 0x3fff) | 0x8000;
  const hex =
    timeLow.toString(16).padStart(8, '0') +
    timeMid.toString(16).padStart(4, '0') +
    timeHi.toString(16).padStart(4, '0') +
    seq.toString(16).padStart(4, '0') +
    node.subarray(0, 6).toString('hex').padStart(12, '0');
  return format(hex);
}

/** A random (version 4) UUID drawn from a seeded generator, like the host id Cassandra creates once. */
export function randomUuid(rng: SeededRandom): string {
  const bytes = rng.bytes(16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  return format(bytes.toString('hex'));
}

/** A name-based (version 3, MD5) UUID, as Cassandra derives schema versions from a digest. */
export function nameUuid(data: string | Buffer): string {
  const bytes = createHash('md5').update(data).digest();
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x30;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  return format(bytes.toString('hex'));
}

/** `5b3c5a40-e5d6-11f1-...` → `5b3c5a40e5d611f1...`: the suffix of a table directory name. */
export function compactUuid(uuid: string): string {
  return uuid.replace(/-/g, '');
}

export function expandUuid(compact: string): string {
  return format(compact);
}
