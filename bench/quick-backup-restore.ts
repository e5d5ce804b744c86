/**
 * A quick measurement (the benchmark issue does it properly): backup and
 * restore of a simulated node of --size bytes (default 1 GiB) through the
 * guest-agent command, with wall time, MB/s of raw data and the command's
 * peak RSS (from /proc via `ps` sampling of the child). Not part of the tests.
 *
 *   npm run build && node dist/bench/quick-backup-restore.js [--size 1GiB] [--compression gzip|zstd|lz4|none] [--storage local|swift|s3] [--baseline]
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { parseArgs } from 'node:util';
import type { Compression } from '../src/catalog/backup-record.js';
import { CONFIG_SCHEMA } from '../src/config/config-schema.js';
import { parseSize } from '../src/config/parse-value.js';
import { formatBytes } from '../src/util/format-bytes.js';
import { createNodeUnderTest, readCatalogRecord } from '../test/support/e2e-nodes.js';
import { s3TestAccount, swiftTestAccount } from '../test/support/object-store-env.js';
import { guestAgentBin } from '../test/support/repo-paths.js';
import { stopAllSimNodes } from '../test/support/sim-node/index.js';

/** What a backup can be written with (lzop is only read). */
const WRITABLE: readonly Compression[] = ['gzip', 'zstd', 'lz4', 'none'];
/** The command-line tool a shell baseline compresses with. */
const BASELINE_TOOL: Partial<Record<Compression, string>> = { gzip: 'gzip', zstd: 'zstd', lz4: 'lz4' };

interface Measured {
  seconds: number;
  peakRssBytes: number;
  /** The compression tool the agent runs (zstd, lz4, lzop), which has a process of its own. */
  toolPeakRssBytes?: number;
}

const COMPRESSION_TOOLS = new Set(['zstd', 'lz4', 'lzop']);

async function peakRss(pid: number | string): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

/** Runs the agent and samples its resident set size, and that of its compression tool, every 50 ms. */
async function measure(args: string[]): Promise<Measured> {
  const started = process.hrtime.bigint();
  const child = execa(process.execPath, [guestAgentBin(), ...args], { reject: false });
  let peak = 0;
  let toolPeak = 0;
  const sample = async (): Promise<void> => {
    peak = Math.max(peak, await peakRss(child.pid!));
    const children = (await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')).split(' ').filter(Boolean);
    for (const pid of children) {
      if (COMPRESSION_TOOLS.has((await readFile(`/proc/${pid}/comm`, 'utf8')).trim())) toolPeak = Math.max(toolPeak, await peakRss(pid));
    }
  };
  const sampler = setInterval(() => void sample().catch(() => undefined), 50);
  const result = await child;
  clearInterval(sampler);
  if (result.exitCode !== 0) throw new Error(`guest-agent ${args[0]} failed: ${result.stderr}`);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, peakRssBytes: peak, ...(toolPeak ? { toolPeakRssBytes: toolPeak } : {}) };
}

/**
 * What a user would otherwise write, on the same data directory and server:
 * tar (| gzip -1, zstd -1 or lz4 -1) | swift upload --use-slo / aws s3 cp -, and back. Run
 * through bash on purpose (the pipeline is the thing measured), under
 * /usr/bin/time for wall time and the largest process's peak RSS.
 */
async function shellBaseline(storage: string, dataDir: string, bucket: string, compression: Compression): Promise<Record<string, Measured>> {
  const tool = BASELINE_TOOL[compression];
  const zip = tool ? ` | ${tool} -1 -c` : '';
  const unzip = tool ? ` | ${tool} -d -c` : '';
  const swift = `swift -A ${swiftTestAccount.authUrl} -U ${swiftTestAccount.user} -K ${swiftTestAccount.key}`;
  const restoreDir = `${dataDir}.baseline`;
  const env = { AWS_ACCESS_KEY_ID: s3TestAccount.accessKeyId, AWS_SECRET_ACCESS_KEY: s3TestAccount.secretAccessKey, AWS_DEFAULT_REGION: s3TestAccount.region };
  const aws = `/usr/bin/aws --endpoint-url ${s3TestAccount.endpoint}`;
  const [up, down] =
    storage === 'swift'
      ? [`tar -C ${dataDir} -cf - .${zip} | ${swift} upload --use-slo -S 67108864 --object-name baseline.tar ${bucket} -`, `${swift} download ${bucket} baseline.tar -o -${unzip} | tar -C ${restoreDir} -xf -`]
      : [`tar -C ${dataDir} -cf - .${zip} | ${aws} s3 cp - s3://${bucket}/baseline.tar`, `${aws} s3 cp s3://${bucket}/baseline.tar -${unzip} | tar -C ${restoreDir} -xf -`];
  const timed = async (command: string): Promise<Measured> => {
    const result = await execa('/usr/bin/time', ['-f', '%e %M', 'bash', '-o', 'pipefail', '-c', command], { env, reject: false });
    if (result.exitCode !== 0) throw new Error(`baseline failed: ${result.stderr.split('\n').slice(-3).join(' ')}`);
    const [seconds, kb] = result.stderr.trim().split('\n').pop()!.split(' ').map(Number);
    return { seconds: seconds!, peakRssBytes: kb! * 1024 };
  };
  await execa('mkdir', ['-p', restoreDir]);
  const label = storage === 'swift' ? 'swift upload --use-slo' : 'aws s3 cp -';
  return { [`shell backup (${label})`]: await timed(up), [`shell restore (${label})`]: await timed(down) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { size: { type: 'string', default: '1GiB' }, compression: { type: 'string', default: CONFIG_SCHEMA.backup_compression.default }, storage: { type: 'string', default: 'local' }, baseline: { type: 'boolean', default: false } } });
  const size = parseSize(values.size);
  if (!size) throw new Error(`--size '${values.size}' is not a size`);
  const compression = values.compression as Compression;
  if (!WRITABLE.includes(compression)) throw new Error(`--compression '${values.compression}' is not one of ${WRITABLE.join(', ')}`);
  const base = path.join(os.tmpdir(), `cga-bench-${process.pid}`);
  await mkdir(base, { recursive: true });
  const stores = { storePath: path.join(base, 'store') };
  const extra: Record<string, unknown> = { backup_compression: compression };
  const bucket = `bench-${process.pid}`;
  if (values.storage === 'swift') {
    // The test Swift of test/services/object-store.sh, 64 MiB segments as in production-like runs.
    Object.assign(extra, { storage_strategy: 'swift', swift_auth_url: swiftTestAccount.authUrl, swift_user: swiftTestAccount.user, swift_key: swiftTestAccount.key, backup_swift_container: bucket, backup_segment_max_size: '64MiB' });
  } else if (values.storage === 's3') {
    Object.assign(extra, { storage_strategy: 's3', s3_bucket: bucket, s3_endpoint: s3TestAccount.endpoint, s3_region: s3TestAccount.region, s3_force_path_style: true, s3_access_key: s3TestAccount.accessKeyId, s3_secret_key: s3TestAccount.secretAccessKey, s3_part_size: '16MiB', s3_queue_size: 4 });
  }
  try {
    const perTable = Math.floor(size / 4);
    const tables = ['t1', 't2', 't3', 't4'].map((table) => ({ keyspace: 'bench', table, sstables: 4, bytes: perTable }));
    const a = await createNodeUnderTest(path.join(base, 'a'), stores, { tables, seed: 1 }, extra);
    const b = await createNodeUnderTest(path.join(base, 'b'), stores, { seed: 2 }, extra);
    await a.sim!.start();
    await b.sim!.start();
    const backup = await measure(['backup', '--config', a.configFile, '--backup-id', 'bench-1']);
    const record = await readCatalogRecord(a.configFile, 'bench-1');
    const restore = await measure(['restore', '--config', b.configFile, '--backup-id', 'bench-1']);
    const mbps = (m: Measured) => (record.raw_bytes / 1e6 / m.seconds).toFixed(1);
    const rss = (m: Measured) => `peak RSS ${formatBytes(m.peakRssBytes)}${m.toolPeakRssBytes ? ` + ${formatBytes(m.toolPeakRssBytes)} (${record.compression})` : ''}`;
    if (values.baseline && values.storage !== 'local') {
      const shell = await shellBaseline(values.storage!, a.dataDirs[0]!, bucket, compression);
      for (const [label, m] of Object.entries(shell)) process.stdout.write(`${label.padEnd(32)} ${m.seconds.toFixed(1)} s  ${mbps(m)} MB/s  peak RSS ${formatBytes(m.peakRssBytes)}\n`);
    }
    process.stdout.write(
      `${values.storage}: ${formatBytes(record.raw_bytes)} raw, ${formatBytes(record.stored_bytes)} stored (${record.compression}), ${record.file_count} files, ${os.cpus().length} cores\n` +
        `backup  ${backup.seconds.toFixed(1)} s  ${mbps(backup)} MB/s  ${rss(backup)}\n` +
        `restore ${restore.seconds.toFixed(1)} s  ${mbps(restore)} MB/s  ${rss(restore)}\n`,
    );
  } finally {
    await stopAllSimNodes();
    await rm(base, { recursive: true, force: true });
    if (values.storage !== 'local') {
      await execa('swift', ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key, 'delete', bucket], { reject: false });
      await execa('swift', ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key, 'delete', `${bucket}+segments`], { reject: false });
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
