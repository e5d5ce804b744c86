import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { writeBinScripts } from './bin-scripts.js';
import { defaultConfig, readCassandraConfig, renderCassandraYaml, type CassandraConfig } from './cassandra-yaml.js';
import { chownTree, generateNodeTree } from './data-generator.js';
import { callNode, NodeUnreachableError, RemoteJavaError } from './jmx-protocol.js';
import { pickFreePort } from './free-port.js';
import { dataDirFor, nodeLayout, type NodeLayout } from './layout.js';
import { isAlive, runningDaemonPid, waitForExit } from './process-control.js';
import { readSimSettings, writeSimSettings, type SimSettings } from './sim-settings.js';
import { isUserKeyspaceName } from './system-keyspaces.js';

/**
 * A simulated Apache Cassandra 4.0 node for tests: a data directory tree, cassandra.yaml, and the
 * executables an agent drives (bin/nodetool, bin/cassandra-service) backed by a daemon process.
 * Each module says what it reproduces and from where: the captured outputs of a real node
 * (/work/shared/data/cassandra-4.0) or, where nothing was captured, the Cassandra 4.0 source.
 */
export interface SimTableSpec {
  keyspace: string;
  table: string;
  /** Number of SSTables to generate (0: an empty table). Default 3. */
  sstables?: number;
  /** Total Data.db bytes for the table, spread over its SSTables. Default: tens of KiB. */
  bytes?: number;
}

export interface SimNodeOptions {
  /** Created if missing; everything of the node lives below it ($CASSANDRA_HOME). */
  root: string;
  /** Default 'Test Cluster'. */
  clusterName?: string;
  /** Default 1; with more, data_file_directories lists several and user tables spread over them. */
  dataDirCount?: number;
  /** User tables; default shop.orders, shop.customers, metrics.events. */
  tables?: SimTableSpec[];
  /** cassandra.yaml incremental_backups. */
  incrementalBackups?: boolean;
  /** Simulated start-up time; default 150 ms (real nodes take 5-45 s). */
  startupDelayMs?: number;
  /** Deterministic host id, tokens, table ids and file contents when given. */
  seed?: number | string;
  /** uid/gid owning the whole tree; when the tests run as root the daemon also runs as this user. */
  owner?: { uid: number; gid: number };
  /**
   * cassandra.yaml native_transport_port, where the node serves CQL. Default: a free port picked
   * now (not 9042: several nodes share the host, and a node whose port is taken fails to start).
   */
  nativeTransportPort?: number;
  /** cassandra.yaml authenticator; PasswordAuthenticator comes with CassandraAuthorizer. Default AllowAllAuthenticator. */
  authenticator?: 'AllowAllAuthenticator' | 'PasswordAuthenticator';
  /** roles_/credentials_/permissions_validity_in_ms (default 2000): how long a changed password takes to apply. */
  authCacheValidityMs?: number;
}

export interface NodetoolResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface SimNode {
  root: string;
  /** <root>/conf/cassandra.yaml */
  cassandraYaml: string;
  /** Absolute, in data_file_directories order. */
  dataDirs: string[];
  commitlogDir: string;
  /** <root>/logs/system.log */
  systemLog: string;
  /** native_transport_port as cassandra.yaml said when this handle was made. */
  nativeTransportPort: number;
  /** `rpc_address:native_transport_port`, a contact point for cassandra-driver. */
  cqlContactPoint: string;
  nodetoolCommand: string[];
  serviceStartCommand: string[];
  serviceStopCommand: string[];
  serviceStatusCommand: string[];
  start(): Promise<void>;
  stop(): Promise<void>;
  isRunning(): Promise<boolean>;
  /** SIGKILL, as a crash: no flush, unflushed writes stay in the commit log for the next start to replay. */
  kill(): Promise<void>;
  /** A pending write (memtable + commit log); it becomes an SSTable on flush, snapshot, drain or stop. */
  write(keyspace: string, table: string, bytes: number): Promise<void>;
  /**
   * `UPDATE system.local SET cluster_name = ?`, the same write CQL makes (memtable and commit log;
   * the start-up check sees it once flushed).
   */
  updateSavedClusterName(clusterName: string): Promise<void>;
  nodetool(args: string[]): Promise<NodetoolResult>;
}

const DEFAULT_TABLES: SimTableSpec[] = [
  { keyspace: 'shop', table: 'orders', sstables: 3, bytes: 48 * 1024 },
  { keyspace: 'shop', table: 'customers', sstables: 2, bytes: 20 * 1024 },
  { keyspace: 'metrics', table: 'events', sstables: 3, bytes: 64 * 1024 },
];

const COMMAND_TIMEOUT_MS = 180_000;

/** Roots of every node created or opened by this process, for stopAllSimNodes(). */
const knownRoots = new Set<string>();

function invalid(root: string, field: string, expected: string): Error {
  return new Error(`simulated node ${root}: option ${field} must be ${expected}`);
}

function validateTables(root: string, tables: SimTableSpec[]): Array<Required<SimTableSpec>> {
  const seen = new Set<string>();
  return tables.map((t, i) => {
    if (!isUserKeyspaceName(t.keyspace)) throw invalid(root, `tables[${i}].keyspace`, 'a non-system keyspace name (letters, digits, _)');
    if (!/^\w{1,48}$/.test(t.table)) throw invalid(root, `tables[${i}].table`, 'a table name (letters, digits, _)');
    const key = `${t.keyspace}.${t.table}`;
    if (seen.has(key)) throw invalid(root, `tables[${i}]`, `unique (${key} is listed twice)`);
    seen.add(key);
    const sstables = t.sstables ?? 3;
    if (!Number.isInteger(sstables) || sstables < 0) throw invalid(root, `tables[${i}].sstables`, 'a non-negative integer');
    const bytes = t.bytes ?? 16 * 1024 * Math.max(1, sstables);
    if (!Number.isFinite(bytes) || bytes < 0) throw invalid(root, `tables[${i}].bytes`, 'a non-negative number');
    return { keyspace: t.keyspace, table: t.table, sstables, bytes: Math.max(Math.round(bytes), sstables * 48) };
  });
}

export async function createSimNode(options: SimNodeOptions): Promise<SimNode> {
  const layout = nodeLayout(options.root);
  const root = layout.root;
  if (existsSync(layout.cassandraYaml)) throw new Error(`simulated node ${root}: already holds a node; use openSimNode()`);
  const dataDirCount = options.dataDirCount ?? 1;
  if (!Number.isInteger(dataDirCount) || dataDirCount < 1) throw invalid(root, 'dataDirCount', 'a positive integer');
  const startupDelayMs = options.startupDelayMs ?? 150;
  if (!Number.isFinite(startupDelayMs) || startupDelayMs < 0) throw invalid(root, 'startupDelayMs', 'a non-negative number');
  const tables = validateTables(root, options.tables ?? DEFAULT_TABLES);
  const port = options.nativeTransportPort ?? (await pickFreePort());
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw invalid(root, 'nativeTransportPort', 'a TCP port (1-65535)');
  const validity = options.authCacheValidityMs ?? 2000;
  if (!Number.isInteger(validity) || validity < 0) throw invalid(root, 'authCacheValidityMs', 'a non-negative integer');
  const password = options.authenticator === 'PasswordAuthenticator';
  await mkdir(root, { recursive: true });
  const leftovers = (await readdir(root)).filter((n) => ['data', 'conf', 'bin'].includes(n));
  if (leftovers.length > 0) throw new Error(`simulated node ${root}: root already has ${leftovers.join(', ')}; give an empty or new directory`);

  const config = defaultConfig(layout, {
    clusterName: options.clusterName ?? 'Test Cluster',
    dataFileDirectories: Array.from({ length: dataDirCount }, (_, i) => dataDirFor(root, i)),
    incrementalBackups: options.incrementalBackups ?? false,
    nativeTransportPort: port,
    // Bound for peers as on a real node: each simulated node needs its own.
    storagePort: await pickFreePort(),
    authenticator: password ? 'PasswordAuthenticator' : 'AllowAllAuthenticator',
    authorizer: password ? 'CassandraAuthorizer' : 'AllowAllAuthorizer',
    rolesValidityMs: validity,
    credentialsValidityMs: validity,
    permissionsValidityMs: validity,
  });
  const settings: SimSettings = { startupDelayMs };
  if (options.seed !== undefined) settings.seed = String(options.seed);
  if (options.owner) settings.owner = options.owner;

  for (const dir of [layout.confDir, layout.logDir, layout.runDir]) await mkdir(dir, { recursive: true });
  await writeFile(layout.cassandraYaml, renderCassandraYaml(config));
  await writeSimSettings(layout.settingsFile, settings);
  await writeBinScripts(layout);
  await generateNodeTree({ config, tables, ...(settings.seed !== undefined ? { seed: settings.seed } : {}) });
  if (options.owner) await chownTree(root, options.owner);
  knownRoots.add(root);
  return handle(layout, config);
}

/** A node created earlier (possibly by another process), from its root. */
export async function openSimNode(rootPath: string): Promise<SimNode> {
  const layout = nodeLayout(rootPath);
  if (!existsSync(layout.settingsFile)) throw new Error(`simulated node ${layout.root}: no ${layout.settingsFile}; was it made by createSimNode()?`);
  await readSimSettings(layout.settingsFile);
  const config = await readCassandraConfig(layout);
  knownRoots.add(layout.root);
  return handle(layout, config);
}

/** Stops every node this process created or opened (for an `after` hook); waits for each daemon to end. */
export async function stopAllSimNodes(): Promise<void> {
  const failures: string[] = [];
  for (const root of knownRoots) {
    const layout = nodeLayout(root);
    if (!existsSync(layout.serviceBin)) continue;
    const result = await execa(layout.serviceBin, ['stop'], { reject: false, timeout: COMMAND_TIMEOUT_MS });
    if (result.exitCode !== 0) failures.push(`${root}: ${result.stderr || `exit ${result.exitCode}`}`);
  }
  if (failures.length > 0) throw new Error(`could not stop simulated nodes: ${failures.join('; ')}`);
}

async function runService(layout: NodeLayout, action: 'start' | 'stop' | 'status'): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const result = await execa(layout.serviceBin, [action], { reject: false, timeout: COMMAND_TIMEOUT_MS });
  return { exitCode: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
}

async function management(layout: NodeLayout, what: string, op: string, args: Record<string, unknown>): Promise<void> {
  try {
    await callNode(layout.root, { op, args });
  } catch (err) {
    if (err instanceof NodeUnreachableError) throw new Error(`simulated node ${layout.root}: cannot ${what}: the node is not running`, { cause: err });
    if (err instanceof RemoteJavaError) throw new Error(`simulated node ${layout.root}: cannot ${what}: ${err.message}`, { cause: err });
    throw err;
  }
}

function handle(layout: NodeLayout, config: CassandraConfig): SimNode {
  return {
    root: layout.root,
    cassandraYaml: layout.cassandraYaml,
    dataDirs: [...config.dataFileDirectories],
    commitlogDir: config.commitlogDirectory,
    systemLog: layout.systemLog,
    nativeTransportPort: config.nativeTransportPort,
    cqlContactPoint: `${config.rpcAddress}:${config.nativeTransportPort}`,
    nodetoolCommand: [layout.nodetoolBin],
    serviceStartCommand: [layout.serviceBin, 'start'],
    serviceStopCommand: [layout.serviceBin, 'stop'],
    serviceStatusCommand: [layout.serviceBin, 'status'],
    async start() {
      const result = await runService(layout, 'start');
      if (result.exitCode !== 0) throw new Error(`simulated node ${layout.root}: start failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
    },
    async stop() {
      const result = await runService(layout, 'stop');
      if (result.exitCode !== 0) throw new Error(`simulated node ${layout.root}: stop failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
    },
    async isRunning() {
      return (await runService(layout, 'status')).exitCode === 0;
    },
    async kill() {
      const pid = await runningDaemonPid(layout);
      if (pid === undefined || !isAlive(pid)) return;
      process.kill(pid, 'SIGKILL');
      await waitForExit(pid, 10_000);
    },
    async write(keyspace, table, bytes) {
      await management(layout, `write ${bytes} bytes to ${keyspace}.${table}`, 'write', { keyspace, table, bytes });
    },
    async updateSavedClusterName(clusterName) {
      await management(layout, 'update system.local', 'updateSavedClusterName', { clusterName });
    },
    async nodetool(args) {
      const result = await execa(layout.nodetoolBin, args, { reject: false, stripFinalNewline: false, timeout: COMMAND_TIMEOUT_MS });
      return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? 1 };
    },
  };
}
