/**
 * `npm run bench`: backup and restore of a simulated Cassandra node (default
 * 2 GiB of SSTables) through the real `guest-agent backup` and `guest-agent
 * restore` commands on each store (local directory, Swift, S3 through
 * Swift's s3api, on the test object store of test/services/object-store.sh),
 * beside the shell pipeline a user would otherwise write on the same data and
 * server, and the single-stage ceilings of the agent's pipeline. Measures MB/s
 * of raw data, peak RSS of the agent's process and of its compression tool,
 * and CPU seconds; prints a table with the issue's targets, writes
 * bench/results/<date>-<host>.json, and removes everything it made (nodes,
 * temporary directories, containers and buckets) in every outcome. Never
 * part of the tests: nothing is timed there.
 *
 *   npm run bench -- [--size 2GiB] [--quick] [--backends local,swift,s3] [--compression none,zstd] [--help]
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { archiveSuffix } from '../src/archive/compression.js';
import type { Compression } from '../src/archive/stored-format.js';
import { CONFIG_SCHEMA } from '../src/config/config-schema.js';
import { formatBytes } from '../src/util/format-bytes.js';
import { createNodeUnderTest, readCatalogRecord, writeAgentConfig, type AgentStores, type NodeUnderTest } from '../test/support/e2e-nodes.js';
import { s3AgentSettings, swiftAgentSettings, swiftTestAccount } from '../test/support/object-store-env.js';
import { repoRoot } from '../test/support/repo-paths.js';
import { stopAllSimNodes } from '../test/support/sim-node/index.js';
import { runAgent, type AgentRun } from './agent-run.js';
import { benchTables, listFiles, measureCompressibility, type TreeFacts } from './bench-data.js';
import { BenchUsageError, USAGE, parseBenchOptions, type Backend, type BenchOptions } from './bench-options.js';
import {
  RSS_LIMIT_BYTES,
  earlierRuns,
  formatCeilings,
  formatTable,
  formatTargets,
  machineFacts,
  rssAcrossSizes,
  writeResults,
  type BenchResults,
  type Row,
  type Side,
  type Target,
} from './bench-report.js';
import { ensureCompressionTools, ensureGnuTime, ensureObjectStore, findShellClients, type ObjectStore, type ShellClients } from './bench-services.js';
import { runShellPipeline, writeAwsConfig, type ShellRun } from './shell-pipeline.js';
import { compressTar, decompressObject, diskWrite, encryption, readAndHash, swiftAlone, type Ceiling } from './stage-ceilings.js';

const MiB = 1024 * 1024;
/** backup-list of this many backups on the local Swift must take less than this (issue 7). */
const LIST_COUNT = 1000;
const LIST_LIMIT_SECONDS = 2;
const COMPRESSIBILITY_SAMPLE = 256 * MiB;
/** Encryption ceilings from memory: enough to be steady, little enough to hold. */
const ENCRYPTION_SAMPLE = 512 * MiB;

const benchStarted = Date.now();
const say = (message: string): void => {
  process.stderr.write(`bench [${((Date.now() - benchStarted) / 1000).toFixed(0).padStart(4)} s]: ${message}\n`);
};

/** One store configuration: a row pair (backup, restore) per compression. */
interface Variant {
  store: Backend;
  label: string;
  /** Extra agent configuration for this store. */
  config: Record<string, unknown>;
  /** Swift container or S3 bucket of this variant (deleted afterwards). */
  container?: string;
  segmentSize?: number;
}

function variants(options: BenchOptions, prefix: string): Variant[] {
  const list: Variant[] = [];
  for (const store of options.backends) {
    if (store === 'local') list.push({ store, label: 'local', config: {} });
    if (store === 'swift') {
      for (const [i, segmentSize] of options.segmentSizes.entries()) {
        const container = `${prefix}-swift${i}`;
        list.push({
          store,
          label: `swift ${formatBytes(segmentSize).replace('.0 ', ' ')} seg.`,
          container,
          segmentSize,
          config: swiftAgentSettings(container, segmentSize),
        });
      }
    }
    if (store === 's3') {
      const bucket = `${prefix}-s3`;
      list.push({
        store,
        label: `s3 ${formatBytes(options.s3PartSize).replace('.0 ', ' ')}×${options.s3QueueSize}`,
        container: bucket,
        config: s3AgentSettings(bucket, { partSize: options.s3PartSize, queueSize: options.s3QueueSize }),
      });
    }
  }
  return list;
}

/** A token and storage URL of the test account (auth v1). */
async function swiftSession(): Promise<{ token: string; storageUrl: string }> {
  const response = await fetch(swiftTestAccount.authUrl, { headers: { 'X-Auth-User': swiftTestAccount.user, 'X-Auth-Key': swiftTestAccount.key } });
  await response.body?.cancel();
  const token = response.headers.get('x-auth-token');
  const storageUrl = response.headers.get('x-storage-url');
  if (!response.ok || !token || !storageUrl) throw new Error(`swift auth at ${swiftTestAccount.authUrl} answered HTTP ${response.status}`);
  return { token, storageUrl };
}

/** Deletes a Swift container and the segment containers swift upload (`_segments`) and s3api (`+segments`) make beside it. */
async function deleteContainer(container: string, swift: string | undefined): Promise<void> {
  if (!swift) return;
  const env = { ST_AUTH: swiftTestAccount.authUrl, ST_USER: swiftTestAccount.user, ST_KEY: swiftTestAccount.key };
  for (const name of [container, `${container}_segments`, `${container}+segments`]) {
    await execa(swift, ['delete', name], { reject: false, env, timeout: 900_000 });
  }
}

function agentSide(run: AgentRun, rawBytes: number): Side & { tool?: { command: string; peak_rss_bytes: number; cpu_seconds: number } } {
  const m = run.measured;
  return {
    command: run.command,
    wall_seconds: m.wallSeconds,
    transfer_seconds: run.transferSeconds,
    raw_bytes: rawBytes,
    mbps: rawBytes / 1e6 / run.transferSeconds,
    mbps_whole_command: rawBytes / 1e6 / m.wallSeconds,
    cpu_seconds: m.cpuSeconds,
    main_cpu_seconds: m.main.cpuSeconds,
    peak_rss_bytes: m.main.peakRssBytes,
    processes: { agent: { peakRssBytes: m.main.peakRssBytes, cpuSeconds: m.main.cpuSeconds, processes: 1 }, ...m.children },
    nice: m.main.nice,
    steps: m.stderrLines.filter((l) => l.line.startsWith('guest-agent: ')).map((l) => ({ at: Number(l.at.toFixed(2)), line: l.line.slice('guest-agent: '.length) })),
    ...(run.tool ? { tool: { command: run.tool.command, peak_rss_bytes: run.tool.peakRssBytes, cpu_seconds: run.tool.cpuSeconds } } : {}),
  };
}

function shellSide(run: ShellRun, rawBytes: number): Side {
  const m = run.measured;
  return {
    command: run.command,
    wall_seconds: m.wallSeconds,
    transfer_seconds: m.wallSeconds,
    raw_bytes: rawBytes,
    mbps: rawBytes / 1e6 / m.wallSeconds,
    cpu_seconds: m.cpuSeconds,
    main_cpu_seconds: m.main.cpuSeconds,
    peak_rss_bytes: m.largestRssBytes,
    processes: { [m.main.command]: { peakRssBytes: m.main.peakRssBytes, cpuSeconds: m.main.cpuSeconds, processes: 1 }, ...m.children },
    nice: m.main.nice,
  };
}

/** The agent's backup priority (backup_nice, backup_ionice_*) as a command prefix, when the agent was seen running at it. */
function priorityPrefix(observedNice: number): string[] {
  if (observedNice <= 0) return [];
  const ioClass = { idle: ['-c', '3'], 'best-effort': ['-c', '2', '-n', String(CONFIG_SCHEMA.backup_ionice_level.default)], none: [] }[CONFIG_SCHEMA.backup_ionice_class.default];
  return ['nice', '-n', String(observedNice), ...(ioClass.length ? ['ionice', ...ioClass] : [])];
}

interface Ceilings {
  readHashData?: Ceiling;
  diskWrite?: Ceiling;
  compress: Partial<Record<Compression, Ceiling>>;
  decompress: Partial<Record<Compression, Ceiling>>;
  readHashObject: Partial<Record<Compression, Ceiling>>;
  encrypt?: Ceiling;
  decrypt?: Ceiling;
  storePut?: Ceiling;
  storeGet?: Ceiling;
  notMeasured: Record<string, string>;
}

/** The slowest stage of a row's pipeline, in MB/s of raw data. */
function slowestStage(c: Ceilings, store: Backend, direction: 'backup' | 'restore', compression: Compression, rawPerStored: number): { stage: string; mbps: number } | undefined {
  const stages: [string, number | undefined][] = [];
  if (direction === 'backup') {
    stages.push(['read+sha256', c.readHashData?.mbps]);
    if (compression !== 'none') stages.push([`${compression} -1`, c.compress[compression]?.mbps]);
    if (store === 'local') stages.push(['disk write', c.diskWrite?.mbps]);
    // The store takes stored bytes: in raw bytes it goes faster by the compression ratio.
    else stages.push(['swift PUT', c.storePut ? c.storePut.mbps * rawPerStored : undefined]);
  } else {
    const hash = c.readHashObject[compression];
    stages.push([store === 'local' ? 'read+sha256' : 'sha256', hash ? hash.mbps * rawPerStored : undefined]);
    if (compression !== 'none') stages.push([`${compression} -d`, c.decompress[compression]?.mbps]);
    stages.push(['disk write', c.diskWrite?.mbps]);
    if (store !== 'local') stages.push(['swift GET', c.storeGet ? c.storeGet.mbps * rawPerStored : undefined]);
  }
  const known = stages.filter((s): s is [string, number] => s[1] !== undefined);
  if (known.length === 0) return undefined;
  const [stage, mbps] = known.reduce((a, b) => (b[1] < a[1] ? b : a));
  return { stage, mbps };
}

interface RunContext {
  options: BenchOptions;
  base: string;
  stores: AgentStores;
  shellStore: string;
  awsConfigFile: string;
  clients: ShellClients;
  a: NodeUnderTest;
  b: NodeUnderTest;
  data: TreeFacts;
  ceilings: Ceilings;
  signal: AbortSignal;
}

/** One store configuration and compression: the agent's backup and restore, the ceilings of its stored object, the shell pipeline. */
async function measureVariant(run: RunContext, variant: Variant, compression: Compression, id: string): Promise<Row[]> {
  const { options, base, stores, clients, a, b, ceilings, signal } = run;
  const extra = { ...variant.config, backup_compression: compression, backup_compression_level: options.compressionLevel };
  const configA = path.join(base, `a-${id}.yaml`);
  const configB = path.join(base, `b-${id}.yaml`);
  await writeAgentConfig(configA, a.sim!, stores, extra);
  await writeAgentConfig(configB, b.sim!, stores, extra);

  say(`${variant.label}, ${compression}: guest-agent backup ...`);
  const build = { ...(options.agent ? { bin: path.resolve(options.agent) } : {}), nodeFlags: options.nodeFlags };
  const backup = await runAgent('backup', configA, id, { signal }, build);
  const record = await readCatalogRecord(configA, id);
  say(`${variant.label}, ${compression}: guest-agent restore ...`);
  const restore = await runAgent('restore', configB, id, { signal }, build);
  const rawPerStored = record.raw_bytes / record.stored_bytes;

  if (variant.store === 'local') {
    const object = path.join(stores.storePath, record.object_key);
    if (!options.skipCeilings) {
      ceilings.readHashObject[compression] = await readAndHash([object], 64 * 1024);
      if (compression !== 'none') ceilings.decompress[compression] = await decompressObject(object, compression);
    }
    await rm(object, { force: true });
  }

  const pair: Row[] = (['backup', 'restore'] as const).map((direction) => ({
    store: variant.store,
    label: variant.label,
    compression,
    direction,
    raw_bytes: record.raw_bytes,
    stored_bytes: record.stored_bytes,
    agent: agentSide(direction === 'backup' ? backup : restore, record.raw_bytes),
  }));

  const client = variant.store === 'swift' ? 'swift' : variant.store === 's3' ? 'aws' : undefined;
  const missingClient = client && !clients[client] ? clients.missing[client] : undefined;
  if (options.skipBaselines) for (const row of pair) row.shell_skipped = '--skip-baselines';
  else if (missingClient) for (const row of pair) row.shell_skipped = missingClient;
  else {
    say(`${variant.label}, ${compression}: shell pipeline ...`);
    const objectName = `shell-${id}${archiveSuffix(compression)}`;
    try {
      const shell = await runShellPipeline(
        {
          backend: variant.store,
          compression,
          level: options.compressionLevel,
          dataDir: a.dataDirs[0]!,
          restoreDir: path.join(base, 'shell-restore'),
          objectName,
          localDir: run.shellStore,
          swiftContainer: variant.container ?? '',
          segmentSize: variant.segmentSize ?? 0,
          s3Bucket: variant.container ?? '',
          awsConfigFile: run.awsConfigFile,
          ...(clients.swift ? { swiftCommand: clients.swift } : {}),
          ...(clients.aws ? { awsCommand: clients.aws } : {}),
          priority: priorityPrefix(backup.measured.main.nice),
        },
        { signal },
      );
      pair[0]!.shell = shellSide(shell.backup, run.data.bytes);
      pair[1]!.shell = shellSide(shell.restore, run.data.bytes);
    } catch (err) {
      if (signal.aborted) throw err;
      for (const row of pair) row.shell_skipped = `failed: ${err instanceof Error ? err.message : String(err)}`;
      say(`shell pipeline failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await rm(path.join(run.shellStore, objectName), { force: true });
    }
  }
  for (const row of pair) {
    if (row.shell) row.ratio = row.agent.mbps / row.shell.mbps;
    const slowest = slowestStage(ceilings, row.store, row.direction, compression, rawPerStored);
    if (slowest) row.ceiling = { ...slowest, fraction: row.agent.mbps / slowest.mbps };
  }
  return pair;
}

/** One line per row as it is measured, for people watching a long run. */
function summary(r: Row): string {
  const shell = r.shell ? `shell ${r.shell.mbps.toFixed(0)} MB/s (${r.ratio!.toFixed(2)}×)` : `shell ${r.shell_skipped}`;
  return `${r.label} ${r.direction} ${r.compression}: agent ${r.agent.mbps.toFixed(0)} MB/s (whole command ${r.agent.mbps_whole_command!.toFixed(0)}), ${(r.agent.peak_rss_bytes / MiB).toFixed(0)} MiB, ${r.agent.cpu_seconds.toFixed(1)} CPU s; ${shell}`;
}

async function backupListBench(signal: AbortSignal): Promise<{ result?: unknown; seconds?: number; note: string }> {
  const script = path.join(repoRoot(), 'dist/bench/backup-list.js');
  if (!existsSync(script)) return { note: 'not measured: bench/backup-list.ts is not there (dist/bench/backup-list.js missing)' };
  say(`backup-list of ${LIST_COUNT} backups (bench/backup-list.ts; setting up ${LIST_COUNT} records takes a few minutes) ...`);
  const run = await execa(process.execPath, [script, '--count', String(LIST_COUNT), '--runs', '3'], { reject: false, all: true, timeout: 3_600_000, cancelSignal: signal });
  if (run.exitCode !== 0) return { note: `not measured: bench/backup-list.ts failed (exit ${run.exitCode}): ${String(run.all).trim().split('\n').slice(-2).join(' / ')}` };
  const file = /results: (\S+)/.exec(String(run.all))?.[1];
  if (!file) return { note: 'not measured: bench/backup-list.ts did not say where its results are' };
  const result = JSON.parse(await readFile(path.resolve(repoRoot(), file), 'utf8')) as { timings?: { what: string; median_seconds: number }[] };
  const commands = (result.timings ?? []).filter((t) => t.what.startsWith('dbaas backup-list'));
  if (commands.length === 0) return { result, note: 'not measured: no `dbaas backup-list` timing in its results' };
  const seconds = Math.max(...commands.map((t) => t.median_seconds));
  return { result, seconds, note: commands.map((t) => `${t.what}: median ${t.median_seconds.toFixed(2)} s`).join('; ') };
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    const parsed = parseBenchOptions(process.argv.slice(2));
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    if (err instanceof BenchUsageError) {
      process.stderr.write(`bench: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  const started = Date.now();
  const loadStart = os.loadavg();
  const aborting = new AbortController();
  const onSignal = (name: string) => () => {
    if (aborting.signal.aborted) process.exit(130);
    say(`${name}: stopping and cleaning up (again to quit at once)`);
    aborting.abort(new Error(`interrupted by ${name}`));
  };
  process.on('SIGINT', onSignal('SIGINT'));
  process.on('SIGTERM', onSignal('SIGTERM'));
  const { signal } = aborting;

  await ensureGnuTime();
  const skipped: string[] = [];
  const tools = await ensureCompressionTools(options.compressions);
  for (const [c, why] of Object.entries(tools.missing)) skipped.push(`compression ${c}: ${why}`);
  const needStore = options.backends.some((b) => b !== 'local');
  let store: ObjectStore | undefined;
  const clients: ShellClients = await findShellClients(!options.skipBaselines);
  const prefix = `cga-bench-${process.pid}-${randomBytes(2).toString('hex')}`;
  const base = await mkdtemp(path.join(os.tmpdir(), 'cga-bench-'));
  const containers: string[] = [];
  try {
    let backends = options.backends;
    if (needStore) {
      store = await ensureObjectStore(options.keepObjectStore);
      if (store.unavailable) {
        skipped.push(`swift and s3: ${store.unavailable}`);
        backends = backends.filter((b) => b === 'local');
      }
    }
    const stores: AgentStores = { storePath: path.join(base, 'store') };
    const shellStore = path.join(base, 'shell-store');
    await mkdir(stores.storePath, { recursive: true });
    await mkdir(shellStore, { recursive: true });
    const awsConfigFile = path.join(base, 'aws-config');
    await writeAwsConfig(awsConfigFile, options.s3PartSize, options.s3QueueSize);

    say(`generating a simulated node with ${formatBytes(options.size)} of SSTables ...`);
    const generating = Date.now();
    const a = await createNodeUnderTest(path.join(base, 'a'), stores, { tables: benchTables(options.size), seed: 1 });
    const b = await createNodeUnderTest(path.join(base, 'b'), stores, { seed: 2 });
    await a.sim!.start();
    await b.sim!.start();
    const generateSeconds = (Date.now() - generating) / 1000;
    const data: TreeFacts = await listFiles(a.dataDirs);
    say(`${data.files.length} files, ${formatBytes(data.bytes)} in ${generateSeconds.toFixed(0)} s`);
    const compressibility = await measureCompressibility(a.dataDirs[0]!, Math.min(COMPRESSIBILITY_SAMPLE, data.bytes));

    const ceilings: Ceilings = { compress: {}, decompress: {}, readHashObject: {}, notMeasured: {} };
    if (!options.skipCeilings) {
      say('stage ceilings: read+sha256 of the data files, disk write, encryption ...');
      ceilings.readHashData = await readAndHash(data.files, CONFIG_SCHEMA.backup_chunk_size.default);
      ceilings.diskWrite = await diskWrite(stores.storePath, data.bytes);
      try {
        const e = await encryption(Math.min(ENCRYPTION_SAMPLE, data.bytes));
        ceilings.encrypt = e.encrypt;
        ceilings.decrypt = e.decrypt;
      } catch (err) {
        ceilings.notMeasured.encryption = `not measured: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (backends.some((x) => x !== 'local')) {
        say('stage ceiling: the object store alone (curl PUT and GET of the TAR stream) ...');
        const container = `${prefix}-ceiling`;
        containers.push(container);
        try {
          const session = await swiftSession();
          await fetch(`${session.storageUrl}/${container}`, { method: 'PUT', headers: { 'X-Auth-Token': session.token } }).then((r) => r.body?.cancel());
          const alone = await swiftAlone(a.dataDirs[0]!, `${session.storageUrl}/${container}/ceiling.tar`, session.token, base);
          ceilings.storePut = alone.put;
          ceilings.storeGet = alone.get;
        } catch (err) {
          ceilings.notMeasured.store = `not measured: ${err instanceof Error ? err.message : String(err)}`;
        }
        await deleteContainer(container, clients.swift);
      }
    }

    const rows: Row[] = [];
    const all = variants({ ...options, backends }, prefix);
    const run: RunContext = { options, base, stores, shellStore, awsConfigFile, clients, a, b, data, ceilings, signal };
    for (const compression of tools.usable) {
      if (!options.skipCeilings && compression !== 'none') {
        say(`stage ceiling: ${compression} -${options.compressionLevel} on the TAR stream ...`);
        ceilings.compress[compression] = await compressTar(a.dataDirs[0]!, compression, options.compressionLevel);
      }
      for (const variant of all) {
        signal.throwIfAborted();
        if (variant.container) {
          containers.push(variant.container);
          const check = await store?.recheck();
          if (check?.error) {
            skipped.push(`${variant.label}, ${compression}: the object store is down: ${check.error}`);
            continue;
          }
        }
        for (let attempt = 1; ; attempt++) {
          try {
            const pair = await measureVariant(run, variant, compression, `bench-${variant.store}-${compression}-${all.indexOf(variant)}${attempt > 1 ? `-${attempt}` : ''}`);
            // A shell pipeline that failed because the shared store went away is measured again.
            if (variant.container && attempt === 1 && pair.some((r) => r.shell_skipped?.startsWith('failed')) && (await store?.recheck())?.restarted) {
              say(`${variant.label}, ${compression}: the object store had stopped and was started again: measuring again`);
              continue;
            }
            rows.push(...pair);
            for (const row of pair) say(`  ${summary(row)}`);
          } catch (err) {
            if (signal.aborted) throw err;
            const message = err instanceof Error ? err.message : String(err);
            // Test runs beside this one stop a store they started: once, start it again and measure again.
            if (variant.container && attempt === 1 && (await store?.recheck())?.restarted) {
              say(`${variant.label}, ${compression} failed while the object store was down (${message}); measuring again`);
              continue;
            }
            skipped.push(`${variant.label}, ${compression}: failed: ${message}`);
            say(`${variant.label}, ${compression} failed: ${message}`);
          } finally {
            if (variant.container) await deleteContainer(variant.container, clients.swift);
          }
          break;
        }
      }
    }

    let backupList: Awaited<ReturnType<typeof backupListBench>> | undefined;
    if (!options.skipBackupList && backends.includes('swift')) backupList = await backupListBench(signal);

    const date = new Date();
    const host = os.hostname();
    const defaultRun = options.size === 2 * 1024 ** 3 && !options.quick;
    const resultsDir = path.join(repoRoot(), 'bench/results');
    const custom = options.agent !== undefined || options.nodeFlags.length > 0;
    const sizeSuffix = defaultRun ? '' : `-${formatBytes(options.size).replace(/\.0 | /g, '')}`;
    const file = options.output ?? path.join(resultsDir, `${date.toISOString().slice(0, 10)}-${host}${sizeSuffix}${custom ? '-custom-agent' : ''}.json`);
    const results: BenchResults = {
      bench: 'backup-restore',
      date: date.toISOString(),
      host,
      machine: { ...machineFacts(), load_average_start: loadStart, load_average_end: os.loadavg(), tools: clients.versions },
      options: { ...options },
      data: {
        raw_bytes: data.bytes,
        files: data.files.length,
        generate_seconds: generateSeconds,
        description:
          'simulated node (test/support/sim-node): user tables of SSTables whose Data.db is an AES-CTR keystream (incompressible, like LZ4-compressed data) with 2 KiB of repetitive text per 64 KiB page, other components keystream, plus the system keyspaces',
        compressibility,
      },
      ceilings: ceilingsJson(ceilings),
      rows,
      skipped,
      ...(backupList ? { backup_list: backupList } : {}),
      targets: [],
      seconds: 0,
    };
    results.targets = targets(results, options, backupList, custom ? [] : await earlierRuns(resultsDir, host, path.resolve(file)));
    results.seconds = (Date.now() - started) / 1000;
    await writeResults(file, results);

    process.stdout.write(
      `\n${formatBytes(data.bytes)} of simulated SSTables (${data.files.length} files; zstd -1 stores ${pct(compressibility.stored_fraction.zstd)}, gzip -1 ${pct(compressibility.stored_fraction.gzip)}), ` +
        `${results.machine.cores} cores, load ${loadStart.map((l) => l.toFixed(1)).join(' ')} → ${results.machine.load_average_end.map((l) => l.toFixed(1)).join(' ')}\n` +
        `MB/s = 10^6 bytes of raw data per second; agent MB/s over the transfer phase, 'whole cmd' over the whole command; ratio = agent / shell\n\n` +
        `${formatTable(results)}\n\nStage ceilings (MB/s, best of 2):\n${formatCeilings(results)}\n` +
        (skipped.length ? `\nSkipped:\n${skipped.map((s) => `  ${s}`).join('\n')}\n` : '') +
        `\nTargets:\n${formatTargets(results.targets)}\n\nresults: ${path.relative(process.cwd(), file)} (${(results.seconds / 60).toFixed(1)} min)\n`,
    );
    // The ratios are the point of the bench: a row without its shell baseline (not asked for with --skip-baselines) fails the run, its results kept.
    const unmatched = rows.filter((r) => r.shell_skipped !== undefined && r.shell_skipped !== '--skip-baselines');
    if (unmatched.length > 0) {
      process.stderr.write(
        `bench: ${unmatched.length} rows have no shell baseline, so their ratios are missing:\n${unmatched.map((r) => `  ${r.label}/${r.compression} ${r.direction}: ${r.shell_skipped}`).join('\n')}\n` +
          'fix the cause and run again (or pass --skip-baselines to measure the agent alone)\n',
      );
      return 1;
    }
    return 0;
  } finally {
    await stopAllSimNodes().catch((err: unknown) => say(`could not stop the simulated nodes: ${err instanceof Error ? err.message : String(err)}`));
    // The shared store may have been stopped under this run: up again, so that nothing of this run stays in it.
    if (containers.length > 0) await store?.recheck();
    for (const container of containers) await deleteContainer(container, clients.swift);
    await rm(base, { recursive: true, force: true });
    await store?.release();
  }
}

const pct = (f: number | undefined): string => (f === undefined ? '–' : `${(f * 100).toFixed(1)} %`);

function ceilingsJson(c: Ceilings): BenchResults['ceilings'] {
  const out: BenchResults['ceilings'] = { data: {}, encryption: {} };
  if (c.readHashData) out.data!['read+sha256'] = c.readHashData;
  if (c.diskWrite) out.data!['disk write+fsync'] = c.diskWrite;
  if (c.encrypt) out.encryption!['aes-256-gcm encrypt'] = c.encrypt;
  if (c.decrypt) out.encryption!['aes-256-gcm decrypt'] = c.decrypt;
  if (c.storePut) out.data!['swift PUT alone (curl)'] = c.storePut;
  if (c.storeGet) out.data!['swift GET alone (curl)'] = c.storeGet;
  for (const [k, v] of Object.entries(c.notMeasured)) out.encryption![k] = v;
  for (const [compression, ceiling] of Object.entries(c.compress)) (out[compression] ??= {})['compress'] = ceiling;
  for (const [compression, ceiling] of Object.entries(c.decompress)) (out[compression] ??= {})['decompress'] = ceiling;
  for (const [compression, ceiling] of Object.entries(c.readHashObject)) (out[compression] ??= {})['stored object read+sha256'] = ceiling;
  if (Object.keys(out.encryption!).length === 0) delete out.encryption;
  return out;
}

function targets(results: BenchResults, options: BenchOptions, list: Awaited<ReturnType<typeof backupListBench>> | undefined, earlier: BenchResults[]): Target[] {
  const list_: Target[] = [];
  for (const direction of ['backup', 'restore'] as const) {
    const rows = results.rows.filter((r) => r.direction === direction);
    const compared = rows.filter((r) => r.ratio !== undefined);
    const missed = compared.filter((r) => r.ratio! < 1);
    list_.push({
      target: `${direction} ≥ 1.0× the shell pipeline (same compression, same store)`,
      value: compared.map((r) => `${r.label}/${r.compression} ${r.ratio!.toFixed(2)}×`).join(', ') || 'no shell pipeline ran',
      met: compared.length ? missed.length === 0 : null,
      ...(missed.length ? { note: `below: ${missed.map((r) => `${r.label}/${r.compression}`).join(', ')} (see the report for the stage that holds each back)` } : {}),
    });
  }
  const defaultCompression = CONFIG_SCHEMA.backup_compression.default;
  for (const direction of ['backup', 'restore'] as const) {
    const row = results.rows.find((r) => r.store === 'local' && r.compression === defaultCompression && r.direction === direction);
    list_.push({
      target: `local ${direction}, default pipeline (${defaultCompression}) ≥ 80 % of its slowest stage's ceiling`,
      value: row?.ceiling ? `${(row.ceiling.fraction * 100).toFixed(0)} % of ${row.ceiling.mbps.toFixed(0)} MB/s (${row.ceiling.stage})` : 'not measured',
      met: row?.ceiling ? row.ceiling.fraction >= 0.8 : null,
    });
  }
  const worst = results.rows.reduce<Row | undefined>((a, r) => (!a || r.agent.peak_rss_bytes > a.agent.peak_rss_bytes ? r : a), undefined);
  const over = results.rows.filter((r) => r.agent.peak_rss_bytes > RSS_LIMIT_BYTES);
  list_.push({
    target: 'agent peak RSS ≤ 150 MiB (the agent process; its compression tool apart)',
    value: worst ? `largest ${(worst.agent.peak_rss_bytes / MiB).toFixed(0)} MiB (${worst.label} ${worst.direction}, ${worst.compression})` : 'no row',
    met: worst ? over.length === 0 : null,
    ...(over.length ? { note: `over: ${over.map((r) => `${r.label} ${r.direction}/${r.compression} ${(r.agent.peak_rss_bytes / MiB).toFixed(0)} MiB`).join(', ')}` } : {}),
  });
  list_.push(rssAcrossSizes({ ...results, options: { ...results.options, size: options.size } }, earlier));
  list_.push({
    target: `backup-list of ${LIST_COUNT} backups < ${LIST_LIMIT_SECONDS} s on the local Swift`,
    value: list?.seconds !== undefined ? `${list.seconds.toFixed(2)} s (${list.note})` : (list?.note ?? (options.skipBackupList ? 'not measured (--skip-backup-list or --quick)' : 'not measured (needs the swift backend)')),
    met: list?.seconds !== undefined ? list.seconds < LIST_LIMIT_SECONDS : null,
  });
  return list_;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
