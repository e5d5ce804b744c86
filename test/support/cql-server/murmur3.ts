/**
 * Murmur3Partitioner's token of a partition key: the first half of Cassandra's
 * MurmurHash.hash3_x64_128 (seed 0), including its sign-extension of tail bytes. A table's rows
 * come back in token order, which is why `SELECT * FROM system_auth.roles` lists roles in an order
 * that looks random (05_allowall_update_hashes.txt).
 */
const MASK = (1n << 64n) - 1n;
const C1 = 0x87c37b91114253d5n;
const C2 = 0x4cf5ad432745937fn;

const mul = (a: bigint, b: bigint): bigint => (a * b) & MASK;
const add = (a: bigint, b: bigint): bigint => (a + b) & MASK;
const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & MASK;

function fmix(k: bigint): bigint {
  let x = k;
  x ^= x >> 33n;
  x = mul(x, 0xff51afd7ed558ccdn);
  x ^= x >> 33n;
  x = mul(x, 0xc4ceb9fe1a85ec53n);
  x ^= x >> 33n;
  return x;
}

/** A byte read as Java's (long) cast of a signed byte, in 64-bit two's complement. */
const signed = (b: number): bigint => BigInt.asUintN(64, BigInt(b > 127 ? b - 256 : b));

export function murmur3Token(key: Buffer): bigint {
  const nblocks = key.length >> 4;
  let h1 = 0n;
  let h2 = 0n;
  for (let i = 0; i < nblocks; i += 1) {
    let k1 = key.readBigUInt64LE(i * 16);
    let k2 = key.readBigUInt64LE(i * 16 + 8);
    k1 = mul(rotl(mul(k1, C1), 31n), C2);
    h1 ^= k1;
    h1 = add(mul(add(rotl(h1, 27n), h2), 5n), 0x52dce729n);
    k2 = mul(rotl(mul(k2, C2), 33n), C1);
    h2 ^= k2;
    h2 = add(mul(add(rotl(h2, 31n), h1), 5n), 0x38495ab5n);
  }
  const tail = nblocks * 16;
  const rest = key.length & 15;
  let k1 = 0n;
  let k2 = 0n;
  for (let i = rest - 1; i >= 8; i -= 1) k2 ^= (signed(key[tail + i] as number) << BigInt((i - 8) * 8)) & MASK;
  if (rest > 8) {
    k2 = mul(rotl(mul(k2, C2), 33n), C1);
    h2 ^= k2;
  }
  for (let i = Math.min(rest, 8) - 1; i >= 0; i -= 1) k1 ^= (signed(key[tail + i] as number) << BigInt(i * 8)) & MASK;
  if (rest > 0) {
    k1 = mul(rotl(mul(k1, C1), 31n), C2);
    h1 ^= k1;
  }
  h1 ^= BigInt(key.length);
  h2 ^= BigInt(key.length);
  h1 = add(h1, h2);
  h2 = add(h2, h1);
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 = add(h1, h2);
  const token = BigInt.asIntN(64, h1);
  // Murmur3Partitioner.normalize: Long.MIN_VALUE is reserved for the minimum token.
  return token === -(1n << 63n) ? (1n << 63n) - 1n : token;
}

/** Sorts rows by the token of their text partition key, as a full-table read returns them. */
export function byToken<T>(rows: T[], key: (row: T) => string): T[] {
  return rows
    .map((row) => ({ row, token: murmur3Token(Buffer.from(key(row), 'utf8')) }))
    .sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0))
    .map((x) => x.row);
}
