/**
 * A quick measurement (the benchmark issue does it properly): backup and
 * restore of a simulated node of --size bytes (default 1 GiB) through the
 * guest-agent command, with wall time, MB/s of raw data and the command's
 * peak RSS (from /proc via `ps` sampling of the child). Not part of the tests.
 *
 *   npm run build && node dist/bench/quick-backup-restore.js [--size 1GiB] [--compression gzip|none] [--storage local|swift]
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { parseArgs } from 'node:util';
import type { BackupRecord } from '../src/catalog/backup-record.js';
import { parseSize } from '../src/config/parse-value.js';
import { formatBytes } from '../src/util/format-bytes.js';
import { createNodeUnderTest } from '../test/support/e2e-nodes.js';
import { swiftTestAccount } from '../test/support/object-store-env.js';
import { guestAgentBin } from '../test/support/repo-paths.js';
import { stopAllSimNodes } from '../test/support/sim-node/index.js';

interface Measured {
  seconds: number;
  peakRssBytes: number;
}

/** Runs the agent and samples its resident set size every 50 ms. */
async function measure(args: string[]): Promise<Measured> {
  const started = process.hrtime.bigint();
  const child = execa(process.execPath, [guestAgentBin(), ...args], { reject: false });
  let peak = 0;
  const sampler = setInterval(() => {
    void readFile(`/proc/${child.pid}/status`, 'utf8').then(
      (status) => {
        const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
        peak = Math.max(peak, kb * 1024);
      },
      () => undefined,
    );
  }, 50);
  const result = await child;
  clearInterval(sampler);
  if (result.exitCode !== 0) throw new Error(`guest-agent ${args[0]} failed: ${result.stderr}`);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, peakRssBytes: peak };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { size: { type: 'string', default: '1GiB' }, compression: { type: 'string', default: 'gzip' }, storage: { type: 'string', default: 'local' } } });
  const size = parseSize(values.size);
  if (!size) throw new Error(`--size '${values.size}' is not a size`);
  const base = path.join(os.tmpdir(), `cga-bench-${process.pid}`);
  await mkdir(base, { recursive: true });
  const stores = { storePath: path.join(base, 'store'), catalogPath: path.join(base, 'catalog') };
  const extra: Record<string, unknown> = { backup_compression: values.compression };
  if (values.storage === 'swift') {
    // The test Swift of test/services/object-store.sh, 64 MiB segments as in production-like runs.
    Object.assign(extra, { storage_strategy: 'swift', swift_auth_url: swiftTestAccount.authUrl, swift_user: swiftTestAccount.user, swift_key: swiftTestAccount.key, backup_swift_container: `bench-${process.pid}`, backup_segment_max_size: '64MiB' });
  }
  try {
    const perTable = Math.floor(size / 4);
    const tables = ['t1', 't2', 't3', 't4'].map((table) => ({ keyspace: 'bench', table, sstables: 4, bytes: perTable }));
    const a = await createNodeUnderTest(path.join(base, 'a'), stores, { tables, seed: 1 }, extra);
    const b = await createNodeUnderTest(path.join(base, 'b'), stores, { seed: 2 }, extra);
    await a.sim!.start();
    await b.sim!.start();
    const backup = await measure(['backup', '--config', a.configFile, '--backup-id', 'bench-1']);
    const record = JSON.parse(await readFile(path.join(stores.catalogPath, 'bench-1.json'), 'utf8')) as BackupRecord;
    const restore = await measure(['restore', '--config', b.configFile, '--backup-id', 'bench-1']);
    const mbps = (m: Measured) => (record.raw_bytes / 1e6 / m.seconds).toFixed(1);
    process.stdout.write(
      `${values.storage}: ${formatBytes(record.raw_bytes)} raw, ${formatBytes(record.stored_bytes)} stored (${record.compression}), ${record.file_count} files, ${os.cpus().length} cores\n` +
        `backup  ${backup.seconds.toFixed(1)} s  ${mbps(backup)} MB/s  peak RSS ${formatBytes(backup.peakRssBytes)}\n` +
        `restore ${restore.seconds.toFixed(1)} s  ${mbps(restore)} MB/s  peak RSS ${formatBytes(restore.peakRssBytes)}\n`,
    );
  } finally {
    await stopAllSimNodes();
    await rm(base, { recursive: true, force: true });
    if (values.storage === 'swift') {
      await execa('swift', ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key, 'delete', String(extra.backup_swift_container)], { reject: false });
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
