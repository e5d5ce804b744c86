/**
 * How long `dbaas backup-list` takes with many backups on the test Swift
 * (test/services/object-store.sh): --count catalog records (default 1,000)
 * with their index entries in a fresh container, then the library call
 * (the index listing, and DbaasControlPlane.listBackups) and the real
 * `dbaas backup-list --json` process, without RabbitMQ and with it when it
 * is reachable, each --runs times (default 5); for comparison, one listing
 * the way it was done before the index (a GET per record). Prints a table,
 * writes bench/results/<date>-<host>-backup-list.json, and deletes its
 * container. Not part of the tests (no timing is asserted anywhere).
 *
 *   npm run build && node dist/bench/backup-list.js [--count 1000] [--runs 5]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { execa } from 'execa';
import yaml from 'js-yaml';
import type { BackupRecord } from '../src/catalog/backup-record.js';
import type { IndexedCatalog } from '../src/catalog/catalog.js';
import { createStorageCatalog } from '../src/catalog/storage-catalog.js';
import { loadConfig } from '../src/config/load-config.js';
import { DbaasControlPlane } from '../src/control/control-plane.js';
import { createSwiftStorage } from '../src/storage/swift-storage.js';
import { swiftTestAccount } from '../test/support/object-store-env.js';
import { dbaasBin } from '../test/support/dbaas-runner.js';
import { repoRoot } from '../test/support/repo-paths.js';
import { recordFixture } from '../test/support/record-fixture.js';

const RABBIT_URL = process.env.TEST_RABBIT_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
/** Records written at a time while setting up. */
const SETUP_CONCURRENCY = 16;

interface Timing {
  what: string;
  runs: number[];
  listed: number;
  note?: string;
}

/** A record the size of a real one: a few tables with their schema, a short ring. */
function benchRecord(index: number, parent: BackupRecord | undefined): BackupRecord {
  const id = randomUUID();
  const created = new Date(Date.UTC(2026, 0, 1) + index * 3_600_000).toISOString();
  const tables = Array.from({ length: 8 }, (_, t) => ({
    keyspace: 'shop',
    directory: `table${t}-${randomBytes(16).toString('hex')}`,
    schema: `CREATE TABLE IF NOT EXISTS shop.table${t} (id uuid PRIMARY KEY, customer text, total decimal, placed timestamp) WITH compaction = {'class': 'SizeTieredCompactionStrategy'};`,
  }));
  const location = `${swiftTestAccount.authUrl.replace('/auth/v1.0', '')}/v1/AUTH_test/database_backups/${id}.tar`;
  return recordFixture(
    {
      id,
      instance_id: `instance-${index % 10}`,
      name: `nightly ${created.slice(0, 13)}`,
      created,
      archived_tables: tables,
      file_count: 64,
      raw_bytes: 5_000_000_000 + index,
      stored_bytes: 5_000_000_000 + index,
      sha256: randomBytes(32).toString('hex'),
      checksum: randomBytes(16).toString('hex'),
      location,
      object_key: `${id}.tar`,
      cluster_name: 'Bench Cluster',
      ring: { text: '', tokens: Array.from({ length: 16 }, (_, t) => String(-9e18 + t * 1.1e18)) },
    },
    parent,
  );
}

async function seconds<T>(work: () => Promise<T>): Promise<{ seconds: number; result: T }> {
  const started = process.hrtime.bigint();
  const result = await work();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, result };
}

async function forEachConcurrently<T>(items: readonly T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function count(iterable: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of iterable) n += 1;
  return n;
}

async function rabbitReachable(): Promise<boolean> {
  try {
    const connection = await amqp.connect(RABBIT_URL, { timeout: 3000 });
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

/** `dbaas backup-list --json` as a user runs it; the number of backups it printed. */
async function dbaasList(configFile: string): Promise<number> {
  const result = await execa(process.execPath, [dbaasBin(), 'backup-list', '--json', '--config', configFile], { reject: false, timeout: 120_000 });
  if (result.exitCode !== 0) throw new Error(`dbaas backup-list failed (exit ${result.exitCode}): ${result.stderr}`);
  return (JSON.parse(result.stdout) as unknown[]).length;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { count: { type: 'string', default: '1000' }, runs: { type: 'string', default: '5' } } });
  const total = Number(values.count);
  const runs = Number(values.runs);
  if (!Number.isSafeInteger(total) || total < 1) throw new Error(`--count '${values.count}': expected a whole number, at least 1`);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs '${values.runs}': expected a whole number, at least 1`);

  const container = `bench-list-${process.pid}-${randomBytes(3).toString('hex')}`;
  const conductorTopic = `trove-conductor-bench-${process.pid}`;
  const base = await mkdtemp(path.join(os.tmpdir(), 'cga-bench-list-'));
  const storage = createSwiftStorage({ ...swiftTestAccount, container, segmentSize: 64 * 1024 * 1024 });
  const catalog: IndexedCatalog = createStorageCatalog(storage, { warn: (m) => process.stderr.write(`warning: ${m}\n`) });
  const rabbit = await rabbitReachable();
  try {
    // Every fourth backup a full one, the others incremental on the one before.
    const records: BackupRecord[] = [];
    for (let i = 0; i < total; i++) records.push(benchRecord(i, i % 4 === 0 ? undefined : records[i - 1]));
    process.stdout.write(`writing ${total} catalog records with their index entries to container ${container} (${SETUP_CONCURRENCY} at a time) ...\n`);
    const setup = await seconds(() => forEachConcurrently(records, SETUP_CONCURRENCY, (record) => catalog.put(record)));

    const config = {
      storage_strategy: 'swift',
      swift_auth_url: swiftTestAccount.authUrl,
      swift_user: swiftTestAccount.user,
      swift_key: swiftTestAccount.key,
      backup_swift_container: container,
      dbaas_state_dir: path.join(base, 'dbaas-state'),
      conductor_topic: conductorTopic,
    };
    const withoutBroker = path.join(base, 'dbaas.yaml');
    const withBroker = path.join(base, 'dbaas-rabbit.yaml');
    await writeFile(withoutBroker, yaml.dump(config), { mode: 0o600 });
    await writeFile(withBroker, yaml.dump({ ...config, transport_url: RABBIT_URL }), { mode: 0o600 });
    const plane = await DbaasControlPlane.open({ config: await loadConfig(withoutBroker), broker: 'optional' });

    // Each row is printed as soon as it is measured: a long run that fails late still shows what it got.
    const header = [`listing of ${total} backups`, 'median', 'min', 'max', 'runs'];
    const widths = [52, 9, 9, 9, 4];
    const line = (cells: string[]): string => `${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}\n`;
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    process.stdout.write(`setup: ${total} records written in ${setup.seconds.toFixed(1)} s\n${line(header)}`);
    const timings: Timing[] = [];
    const measure = async (what: string, work: () => Promise<number>, times = runs, note?: string): Promise<void> => {
      const timing: Timing = { what, runs: [], listed: 0, ...(note ? { note } : {}) };
      for (let i = 0; i < times; i++) {
        const { seconds: s, result } = await seconds(work);
        if (result !== total) throw new Error(`${what} listed ${result} backups, not ${total}`);
        timing.runs.push(s);
        timing.listed = result;
      }
      timings.push(timing);
      const t = timing.runs;
      process.stdout.write(line([what, `${median(t).toFixed(3)} s`, `${Math.min(...t).toFixed(3)} s`, `${Math.max(...t).toFixed(3)} s`, String(t.length)]));
    };
    await measure('library: catalog.summaries() (index)', () => count(catalog.summaries()));
    await measure('library: DbaasControlPlane.listBackups()', async () => (await plane.listBackups()).length);
    await plane.close();
    await measure('dbaas backup-list --json (no RabbitMQ)', () => dbaasList(withoutBroker));
    if (rabbit) await measure('dbaas backup-list --json (with RabbitMQ)', () => dbaasList(withBroker));
    await measure('before the index: catalog.list() (a GET per record)', () => count(catalog.list()), 1, 'one run');

    process.stdout.write(`load average while measuring: ${os.loadavg().map((l) => l.toFixed(1)).join(', ')} (${os.cpus().length} cores)\n`);
    if (!rabbit) process.stdout.write(`(RabbitMQ at ${new URL(RABBIT_URL).host} not reachable: the run with it was skipped)\n`);

    const date = new Date().toISOString().slice(0, 10);
    const resultsDir = path.join(repoRoot(), 'bench/results');
    await mkdir(resultsDir, { recursive: true });
    const file = path.join(resultsDir, `${date}-${os.hostname()}-backup-list.json`);
    const report = {
      bench: 'backup-list',
      date: new Date().toISOString(),
      host: os.hostname(),
      cores: os.cpus().length,
      // Other work on the machine slows every run: say how busy it was.
      load_average_1m_5m_15m: os.loadavg(),
      node: process.version,
      storage: 'swift (test/services/object-store.sh, single node, 127.0.0.1:8080)',
      backups: total,
      setup_seconds: setup.seconds,
      rabbitmq: rabbit,
      timings: timings.map((t) => ({ what: t.what, median_seconds: median(t.runs), runs_seconds: t.runs, listed: t.listed, ...(t.note ? { note: t.note } : {}) })),
    };
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`results: ${path.relative(repoRoot(), file)}\n`);
  } finally {
    await execa('swift', ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key, 'delete', container], { reject: false, timeout: 600_000 });
    if (rabbit) {
      const connection = await amqp.connect(RABBIT_URL).catch(() => undefined);
      const channel = await connection?.createChannel();
      await channel?.deleteQueue(conductorTopic).catch(() => undefined);
      await connection?.close().catch(() => undefined);
    }
    await rm(base, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
