/** The command line of `npm run bench`, parsed once into typed values. */
import { parseArgs } from 'node:util';
import type { Compression } from '../src/archive/stored-format.js';
import { CONFIG_SCHEMA } from '../src/config/config-schema.js';
import { parseSize } from '../src/config/parse-value.js';

export type Backend = 'local' | 'swift' | 's3';
export const BACKENDS: readonly Backend[] = ['local', 'swift', 's3'];
/** What a backup can be written with (lzop is only read). */
export const WRITABLE: readonly Compression[] = ['none', 'zstd', 'lz4', 'gzip'];

export interface BenchOptions {
  /** Bytes of user-table Data.db to generate. */
  size: number;
  backends: Backend[];
  compressions: Compression[];
  compressionLevel: number;
  /** Swift segment sizes (backup_segment_max_size and swift upload -S), one Swift row each. */
  segmentSizes: number[];
  /** S3 part size and parts in flight (s3_part_size, s3_queue_size; aws s3 multipart_chunksize, max_concurrent_requests). */
  s3PartSize: number;
  s3QueueSize: number;
  skipBaselines: boolean;
  skipCeilings: boolean;
  skipBackupList: boolean;
  quick: boolean;
  /** Keep the object store running at the end even when this run started it. */
  keepObjectStore: boolean;
  /** Results file; default bench/results/<date>-<host>[-<size>].json. */
  output?: string;
  /** Another build of the agent to measure (A/B of a product change); default this repository's dist/src/cli/guest-agent.js. */
  agent?: string;
  /** Flags for the agent's node (e.g. --max-semi-space-size=2). */
  nodeFlags: string[];
}

export const USAGE = `Usage: npm run bench -- [options]

Backs up and restores a simulated Cassandra node through 'guest-agent backup'
and 'guest-agent restore' on each store, beside the shell pipeline a user
would write (tar | compressor | swift upload / aws s3 cp, and back) and the
single-stage ceilings; prints a table and writes bench/results/<date>-<host>.json.

Options:
  --size SIZE            user data to generate (default 2GiB; e.g. 10G, 512MiB)
  --quick                a smoke run: 256MiB and no backup-list measurement
  --backends LIST        local,swift,s3 (default all three)
  --compression LIST     none,zstd,lz4,gzip (default: backup_compression's
                         default, '${CONFIG_SCHEMA.backup_compression.default}')
  --level N              compression level (default ${CONFIG_SCHEMA.backup_compression_level.default})
  --segment-size LIST    Swift segment sizes, agent and swift upload -S, one
                         row each (default 64MiB, which is held in memory
                         for retries, and backup_segment_max_size's default,
                         2GiB, which is streamed)
  --s3-part-size SIZE    S3 part size, agent and aws (default ${CONFIG_SCHEMA.s3_part_size.default / 1024 / 1024}MiB)
  --s3-queue-size N      S3 parts in flight, agent and aws (default ${CONFIG_SCHEMA.s3_queue_size.default})
  --skip-baselines       no shell pipelines
  --skip-ceilings        no single-stage ceilings
  --skip-backup-list     no backup-list measurement (bench/backup-list.ts)
  --keep-object-store    leave a Swift this run started running
  --output FILE          where to write the JSON results
  --agent FILE           measure another build's guest-agent.js (A/B of a change)
  --node-flags FLAGS     flags for the agent's node, e.g. '--max-semi-space-size=2'
  -h, --help             show this help
`;

export class BenchUsageError extends Error {}

function sizeOption(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const bytes = parseSize(raw);
  if (bytes === undefined || bytes <= 0) throw new BenchUsageError(`--${name} '${raw}': expected a size like 2GiB, 10G or 512MiB`);
  return bytes;
}

function intOption(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new BenchUsageError(`--${name} '${raw}': expected a whole number from ${min} to ${max}`);
  return value;
}

function listOption<T extends string>(name: string, raw: string | undefined, allowed: readonly T[], fallback: T[]): T[] {
  if (raw === undefined) return fallback;
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.find((i) => !allowed.includes(i as T));
  if (bad !== undefined || items.length === 0) throw new BenchUsageError(`--${name} '${raw}': expected a comma-separated list of ${allowed.join(', ')}`);
  return [...new Set(items as T[])];
}

export function parseBenchOptions(argv: string[]): BenchOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        size: { type: 'string' },
        quick: { type: 'boolean', default: false },
        backends: { type: 'string' },
        compression: { type: 'string' },
        level: { type: 'string' },
        'segment-size': { type: 'string' },
        's3-part-size': { type: 'string' },
        's3-queue-size': { type: 'string' },
        'skip-baselines': { type: 'boolean', default: false },
        'skip-ceilings': { type: 'boolean', default: false },
        'skip-backup-list': { type: 'boolean', default: false },
        'keep-object-store': { type: 'boolean', default: false },
        output: { type: 'string' },
        agent: { type: 'string' },
        'node-flags': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new BenchUsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return 'help';
  const quick = values.quick === true;
  const s3PartSize = sizeOption('s3-part-size', values['s3-part-size'], CONFIG_SCHEMA.s3_part_size.default);
  if (s3PartSize < 5 * 1024 * 1024) throw new BenchUsageError('--s3-part-size: S3 parts are at least 5MiB');
  return {
    size: sizeOption('size', values.size, quick ? 256 * 1024 * 1024 : 2 * 1024 ** 3),
    backends: listOption('backends', values.backends, BACKENDS, [...BACKENDS]),
    compressions: listOption('compression', values.compression, WRITABLE, [CONFIG_SCHEMA.backup_compression.default]),
    compressionLevel: intOption('level', values.level, CONFIG_SCHEMA.backup_compression_level.default, 1, 9),
    segmentSizes: values['segment-size'] === undefined
      ? [...new Set([64 * 1024 * 1024, CONFIG_SCHEMA.backup_segment_max_size.default])]
      : [...new Set(values['segment-size'].split(',').map((s) => sizeOption('segment-size', s.trim(), 0)))],
    s3PartSize,
    s3QueueSize: intOption('s3-queue-size', values['s3-queue-size'], CONFIG_SCHEMA.s3_queue_size.default, 1, 64),
    skipBaselines: values['skip-baselines'] === true,
    skipCeilings: values['skip-ceilings'] === true,
    skipBackupList: values['skip-backup-list'] === true || quick,
    quick,
    keepObjectStore: values['keep-object-store'] === true,
    ...(values.output ? { output: values.output } : {}),
    ...(values.agent ? { agent: values.agent } : {}),
    nodeFlags: (values['node-flags'] ?? '').split(/\s+/).filter(Boolean),
  };
}
