/**
 * Stored size of a full, an incremental (Cassandra's backups/) and a
 * differential backup of a simulated node of --size bytes (default 1 GiB)
 * after --changed of it (default 1 %) was written anew, on local storage.
 * Sizes, not speed: the figures the chain issue's closing note asks for.
 *
 *   npm run build && node dist/bench/chain-sizes.js [--size 1GiB] [--changed 0.01]
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import type { BackupRecord } from '../src/catalog/backup-record.js';
import { parseSize } from '../src/config/parse-value.js';
import { formatBytes } from '../src/util/format-bytes.js';
import { createNodeUnderTest, readCatalogRecord, writeAgentConfig } from '../test/support/e2e-nodes.js';
import { guestAgentBin, repoRoot } from '../test/support/repo-paths.js';
import { stopAllSimNodes } from '../test/support/sim-node/index.js';

async function backup(config: string, id: string, ...flags: string[]): Promise<BackupRecord> {
  const result = await execa(process.execPath, [guestAgentBin(), 'backup', '--config', config, '--backup-id', id, ...flags], { reject: false });
  if (result.exitCode !== 0) throw new Error(`backup ${id} failed: ${result.stderr}`);
  return readCatalogRecord(config, id);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { size: { type: 'string', default: '1GiB' }, changed: { type: 'string', default: '0.01' } } });
  const size = parseSize(values.size!);
  const changed = Number(values.changed);
  if (!size || !(changed > 0 && changed < 1)) throw new Error('--size must be a size and --changed a fraction between 0 and 1');
  const base = path.join(os.tmpdir(), `cga-chain-bench-${process.pid}`);
  await mkdir(base, { recursive: true });
  try {
    const stores = { storePath: path.join(base, 'store') };
    const tables = ['t1', 't2', 't3', 't4'].map((table) => ({ keyspace: 'bench', table, sstables: 4, bytes: Math.floor(size / 4) }));
    const node = await createNodeUnderTest(path.join(base, 'a'), stores, { tables, seed: 7, incrementalBackups: true }, { backup_incremental_strategy: 'NodetoolIncremental' });
    const differentialConfig = path.join(base, 'differential.yaml');
    await writeAgentConfig(differentialConfig, node.sim!, stores, { backup_incremental_strategy: 'NodetoolDifferential' });
    await node.sim!.start();

    const full = await backup(node.configFile, 'full', '--full');
    // New data, spread over the tables as a workload would: flushed by the next backup.
    for (const table of ['t1', 't2', 't3', 't4']) await node.sim!.write('bench', table, Math.round((size * changed) / 4));
    const differential = await backup(differentialConfig, 'differential', '--parent', 'full');
    const incremental = await backup(node.configFile, 'incremental', '--parent', 'full');

    const rows = [full, incremental, differential].map((r) => ({
      backup: r.id,
      strategy: r.strategy,
      type: r.type,
      files_stored: r.file_count,
      stored_bytes: r.stored_bytes,
      stored: formatBytes(r.stored_bytes),
      fraction_of_full: Number((r.stored_bytes / full.stored_bytes).toFixed(4)),
    }));
    for (const row of rows) process.stdout.write(`${row.backup.padEnd(13)} ${row.strategy.padEnd(21)} ${String(row.files_stored).padStart(5)} files  ${row.stored.padStart(10)}  ${(row.fraction_of_full * 100).toFixed(2)} % of the full\n`);
    const results = path.join(repoRoot(), 'bench', 'results');
    await mkdir(results, { recursive: true });
    const file = path.join(results, `${new Date().toISOString().slice(0, 10)}-${os.hostname()}-chain-sizes.json`);
    await writeFile(file, `${JSON.stringify({ size_bytes: size, changed_fraction: changed, rows }, null, 2)}\n`);
    process.stdout.write(`written to ${file}\n`);
  } finally {
    await stopAllSimNodes();
    await rm(base, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
