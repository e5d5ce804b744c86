import type { SeededRandom } from './random.js';

/**
 * Sizes of the non-Data components relative to Data.db, fitted to the captured trees (e.g. Data
 * 7181 → Index 2698, Filter 392, Summary 88, Statistics 5749, CompressionInfo 55) and kept
 * plausible for multi-GiB tables (partition index and bloom filter grow with partitions, not bytes).
 */
export interface ComponentSizes {
  'CompressionInfo.db': number;
  'Filter.db': number;
  'Index.db': number;
  'Statistics.db': number;
  'Summary.db': number;
}

const LARGE = 1024 * 1024;

export function planComponentSizes(dataSize: number, rng: SeededRandom): ComponentSizes {
  const large = dataSize >= LARGE;
  // Small tables compress 1.5-4x, so one 16 KiB chunk covers a few KiB of Data.db.
  const uncompressed = large ? dataSize * 1.02 : dataSize * (1.5 + rng.next() * 3);
  const chunks = Math.max(1, Math.ceil(uncompressed / 16384));
  const partitions = large ? Math.ceil(dataSize / 2048) : Math.max(1, Math.ceil(dataSize / 24));
  return {
    'CompressionInfo.db': 39 + 8 * chunks,
    'Filter.db': 16 + 8 * Math.ceil(partitions / 48),
    'Index.db': large ? Math.ceil(partitions * 12) : Math.max(8, Math.round(dataSize * (0.3 + rng.next() * 0.1))),
    'Statistics.db': 4700 + rng.int(0, 1500) + Math.min(20000, Math.floor(dataSize / 100000)),
    'Summary.db': 56 + 8 * Math.min(large ? 200000 : 8, Math.ceil(partitions / 128)),
  };
}
