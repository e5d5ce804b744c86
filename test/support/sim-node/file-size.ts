/**
 * org.apache.cassandra.io.util.FileUtils.stringifyFileSize as nodetool prints sizes
 * ("163.16 KiB", "13 bytes", "7.4 KiB"): DecimalFormat("#.##"), whose default rounding is
 * HALF_EVEN on the exact binary value. bytes/2^k is exact in a double, so the rounding can be
 * done on integers.
 */
const UNITS: ReadonlyArray<readonly [bigint, string]> = [
  [1024n ** 4n, 'TiB'],
  [1024n ** 3n, 'GiB'],
  [1024n ** 2n, 'MiB'],
  [1024n, 'KiB'],
];

function formatHundredths(hundredths: bigint): string {
  const whole = hundredths / 100n;
  const frac = hundredths % 100n;
  if (frac === 0n) return whole.toString();
  if (frac % 10n === 0n) return `${whole}.${frac / 10n}`;
  return `${whole}.${frac.toString().padStart(2, '0')}`;
}

function roundHalfEven(numerator: bigint, denominator: bigint): bigint {
  const q = numerator / denominator;
  const twiceRemainder = (numerator % denominator) * 2n;
  if (twiceRemainder > denominator) return q + 1n;
  if (twiceRemainder === denominator) return q % 2n === 0n ? q : q + 1n;
  return q;
}

export function stringifyFileSize(bytes: number): string {
  const value = BigInt(Math.max(0, Math.round(bytes)));
  for (const [unit, label] of UNITS) {
    if (value >= unit) return `${formatHundredths(roundHalfEven(value * 100n, unit))} ${label}`;
  }
  return `${value} bytes`;
}
