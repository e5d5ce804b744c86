import type { CassandraConfig } from './cassandra-yaml.js';
import type { CommitLog } from './commitlog.js';
import { JavaException, illegalArgument } from './java-exception.js';
import { operationOf, serverFrames, type ServerFailure } from './java-traces.js';
import type { NodeInfo } from './jmx-protocol.js';
import type { NodeLayout } from './layout.js';
import type { SeededRandom } from './random.js';
import { clearSnapshots, snapshotDetails, snapshotExists, snapshotTable, type SnapshotDetails } from './snapshots.js';
import type { StorageEngine } from './storage-engine.js';
import { localRow } from './system-rows.js';
import type { SystemLog } from './system-log.js';
import type { TableStore } from './table-store.js';

export const RELEASE_VERSION = '4.0-rc1-SNAPSHOT';

export interface RuntimeState {
  layout: NodeLayout;
  config: CassandraConfig;
  engine: StorageEngine;
  commitlog: CommitLog;
  log: SystemLog;
  rng: SeededRandom;
  hostId: string;
  tokens: string[];
  /** The cluster name read at start-up; what describecluster shows until the next restart. */
  clusterName: string;
  startedAtMs: number;
  gossipGeneration: number;
}

/** The CQL server of the node (NativeTransportService); drain and shutdown stop it. */
export interface NativeTransport {
  close(): Promise<void>;
}

const REJECTED = 'java.util.concurrent.RejectedExecutionException';
const SHUT_DOWN = 'ThreadPoolExecutor has shut down';

/**
 * The running node behind the management endpoint: what StorageService exposes over JMX, plus the
 * writes a CQL client would make. Operations run one at a time.
 */
export class NodeRuntime {
  private drained = false;
  private nativeTransport: NativeTransport | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  /** JMX operations served, in total and per MBean operation (attribute reads are not counted). */
  private invokeCalls = 0;
  private readonly operationCalls = new Map<string, number>();

  constructor(private readonly state: RuntimeState) {}

  get engine(): StorageEngine {
    return this.state.engine;
  }

  /** cassandra.yaml as read at start-up (changes need a restart, as on a real node). */
  get config(): CassandraConfig {
    return this.state.config;
  }

  get hostId(): string {
    return this.state.hostId;
  }

  get tokens(): string[] {
    return this.state.tokens;
  }

  attachNativeTransport(transport: NativeTransport): void {
    this.nativeTransport = transport;
  }

  /** Server.stop: "Stop listening for CQL clients"; connected clients are cut off. */
  private async stopNativeTransport(thread: string): Promise<void> {
    this.state.log.info('Server.java:171', 'Stop listening for CQL clients', thread);
    const transport = this.nativeTransport;
    this.nativeTransport = undefined;
    await transport?.close();
  }

  /** Counts a JMX operation; the JVM's reflection warms up with them, which shows in stack traces. */
  noteJmxOperation(operation: string): void {
    this.invokeCalls += 1;
    this.operationCalls.set(operation, (this.operationCalls.get(operation) ?? 0) + 1);
  }

  private frames(failure: ServerFailure): string[] {
    return serverFrames(failure, this.operationCalls.get(operationOf(failure)) ?? 0, this.invokeCalls);
  }

  /** Runs operations strictly one after another, as the tests and the agent expect a consistent disk. */
  serialize<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.chain.then(operation, operation);
    this.chain = result.catch(() => undefined);
    return result;
  }

  info(): NodeInfo {
    const uptimeSeconds = Math.floor((Date.now() - this.state.startedAtMs) / 1000);
    const sstables = this.engine.tables().reduce((sum, t) => sum + t.live.length, 0);
    return {
      hostId: this.state.hostId,
      tokens: this.state.tokens,
      loadBytes: this.engine.liveBytes(),
      clusterName: this.state.clusterName,
      partitioner: this.state.config.partitioner,
      snitch: `org.apache.cassandra.locator.${this.state.config.endpointSnitch}`,
      listenAddress: this.state.config.listenAddress,
      storagePort: this.state.config.storagePort,
      gossipActive: !this.drained,
      nativeTransportActive: !this.drained,
      generation: this.drained ? 0 : this.state.gossipGeneration,
      uptimeSeconds,
      heapUsedMb: 96 + ((uptimeSeconds * 37 + sstables * 11) % 380) + (sstables % 100) / 100,
      heapMaxMb: 512,
      dataCenter: 'datacenter1',
      rack: 'rack1',
      schemaVersion: this.engine.schemaVersion(),
      releaseVersion: RELEASE_VERSION,
      keyspaces: this.engine.keyspaces().map((k) => ({ name: k.name, replication: k.replication })),
      incrementalBackups: this.engine.backupsEnabled,
      keyCacheEntries: 14 + sstables,
      keyCacheHits: 68 + sstables * 3,
      keyCacheRequests: 86 + sstables * 4,
    };
  }

  private validKeyspace(name: string): string {
    if (!this.engine.hasKeyspace(name)) throw illegalArgument(`Keyspace ${name} does not exist`);
    return name;
  }

  private async flushBeforeSnapshot(store: TableStore, frames: readonly string[]): Promise<void> {
    if (this.drained) throw new JavaException(REJECTED, SHUT_DOWN, frames);
    await this.engine.flush([store]);
  }

  /** StorageService.takeSnapshot(tag, options, keyspaces...): all tables of the keyspaces (all keyspaces when none). */
  async takeSnapshot(tag: string, keyspaceNames: string[], skipFlush: boolean): Promise<void> {
    if (tag === '') throw new JavaException('java.io.IOException', 'You must supply a snapshot name.', this.frames('snapshotWithoutName'));
    const keyspaces = keyspaceNames.length === 0 ? this.engine.keyspaceOrder() : [...new Set(keyspaceNames)].map((k) => this.validKeyspace(k));
    const stores = keyspaces.flatMap((k) => this.engine.tables(k));
    if (stores.some((s) => snapshotExists(s, tag))) {
      throw new JavaException('java.io.IOException', `Snapshot ${tag} already exists.`, this.frames('snapshotExists'));
    }
    for (const store of stores) {
      if (!skipFlush) await this.flushBeforeSnapshot(store, this.frames('snapshotAfterDrain'));
      await snapshotTable(store, tag, this.state.rng);
    }
  }

  /** StorageService.takeMultipleTableSnapshot: `ks.table` entities, all validated before any snapshot. */
  async takeTableSnapshot(tag: string, entities: string[], skipFlush: boolean): Promise<void> {
    const stores: TableStore[] = [];
    for (const entity of entities) {
      const parts = entity.split('.').filter((p) => p !== '');
      if (parts.length !== 2) {
        throw illegalArgument('Cannot take a snapshot on secondary index or invalid column family name. You must supply a column family name in the form of keyspace.columnfamily');
      }
      const [keyspace, table] = parts as [string, string];
      if (tag === '') throw new JavaException('java.io.IOException', 'You must supply a snapshot name.', this.frames('snapshotWithoutName'));
      this.validKeyspace(keyspace);
      const store = this.engine.table(keyspace, table);
      if (!store) throw illegalArgument(`Unknown keyspace/cf pair (${keyspace}.${table})`);
      if (snapshotExists(store, tag)) throw new JavaException('java.io.IOException', `Snapshot ${tag} already exists.`, this.frames('tableSnapshotExists'));
      if (!stores.includes(store)) stores.push(store);
    }
    for (const store of stores) {
      if (!skipFlush) await this.flushBeforeSnapshot(store, this.frames('tableSnapshotAfterDrain'));
      await snapshotTable(store, tag, this.state.rng);
    }
  }

  async clearSnapshot(tag: string, keyspaces: string[]): Promise<void> {
    await clearSnapshots(this.state.config.dataFileDirectories, tag, keyspaces);
  }

  async snapshotDetails(): Promise<SnapshotDetails> {
    return snapshotDetails(this.engine);
  }

  /** NodeTool.parseOptionalKeyspace + getValidColumnFamilies: the tables a flush/compact addresses. */
  private selectTables(keyspace: string | undefined, tables: string[], unknownTableFrames: readonly string[]): TableStore[][] {
    if (keyspace === undefined) return this.engine.keyspaceOrder().map((k) => this.engine.tables(k));
    if (!this.engine.hasKeyspace(keyspace)) throw illegalArgument(`Keyspace [${keyspace}] does not exist.`);
    if (tables.length === 0) return [this.engine.tables(keyspace)];
    return [
      tables.map((t) => {
        const store = this.engine.table(keyspace, t);
        if (!store) throw new JavaException('java.lang.IllegalArgumentException', `Unknown keyspace/cf pair (${keyspace}.${t})`, unknownTableFrames);
        return store;
      }),
    ];
  }

  async flush(keyspace: string | undefined, tables: string[]): Promise<void> {
    const groups = this.selectTables(keyspace, tables, this.frames('flushUnknownTable'));
    if (this.drained) throw new JavaException(REJECTED, SHUT_DOWN, this.frames('flushAfterDrain'));
    for (const group of groups) await this.engine.flush(group);
  }

  async compact(keyspace: string | undefined, tables: string[]): Promise<void> {
    const groups = this.selectTables(keyspace, tables, this.frames('compactUnknownTable'));
    if (this.drained) throw new JavaException(REJECTED, SHUT_DOWN, this.frames('compactAfterDrain'));
    for (const store of groups.flat()) await this.engine.compact(store);
  }

  setIncrementalBackups(enabled: boolean): void {
    this.engine.backupsEnabled = enabled;
  }

  /** StorageService.drain: flush everything, stop gossip, native transport and compactions, close the commit log. */
  async drain(): Promise<void> {
    if (this.drained) return;
    const log = this.state.log;
    log.info('StorageService.java:1747', 'DRAINING: starting drain process', 'RMI TCP Connection(2)-127.0.0.1');
    log.info('HintsService.java:220', 'Paused hints dispatch', 'RMI TCP Connection(2)-127.0.0.1');
    await this.stopNativeTransport('RMI TCP Connection(2)-127.0.0.1');
    log.info('Gossiper.java:1967', 'Announcing shutdown', 'RMI TCP Connection(2)-127.0.0.1');
    log.info('StorageService.java:2728', `Node /${this.state.config.listenAddress}:${this.state.config.storagePort} state jump to shutdown`, 'RMI TCP Connection(2)-127.0.0.1');
    await this.flushEverything();
    this.drained = true;
    log.info('StorageService.java:1747', 'DRAINED', 'RMI TCP Connection(2)-127.0.0.1');
  }

  private async flushEverything(): Promise<void> {
    // User keyspaces first, system last, as StorageService.drain orders its flushes.
    const stores = this.engine.tables();
    const user = stores.filter((s) => !s.keyspace.startsWith('system'));
    await this.engine.flush([...user, ...stores.filter((s) => !user.includes(s))]);
    await this.state.commitlog.shutdown(this.engine.pendingRecords());
  }

  /** A write through the native protocol (the tests' stand-in for a CQL INSERT). */
  async write(keyspace: string, table: string, bytes: number): Promise<void> {
    if (this.drained) throw new JavaException('org.apache.cassandra.transport.ProtocolException', 'native transport is not running (the node was drained)', []);
    const store = this.engine.table(keyspace, table);
    if (!store) {
      throw new JavaException('org.apache.cassandra.exceptions.InvalidRequestException', this.engine.hasKeyspace(keyspace) ? `unconfigured table ${table}` : `Keyspace ${keyspace} does not exist`, []);
    }
    await this.engine.write(store, bytes);
  }

  /** `UPDATE system.local SET cluster_name = ?` (memtable only until flushed; the running name stays). */
  async updateSavedClusterName(name: string): Promise<void> {
    await this.engine.write(this.engine.systemTable('system', 'local'), 64, [localRow(this.engine.nextTimestamp(), { cluster_name: name })]);
  }

  /** An upsert of system_auth.roles cells (null deletes a cell), through the commit log like any write. */
  async writeRole(role: string, cols: Record<string, unknown>): Promise<void> {
    await this.engine.write(this.engine.systemTable('system_auth', 'roles'), 96, [{ key: role, ts: this.engine.nextTimestamp(), cols: { role, ...cols } }]);
  }

  /** The visible rows of system_auth.roles (SSTables and memtable merged). */
  async roleRows(): Promise<Array<Record<string, unknown>>> {
    return [...(await this.engine.rows(this.engine.systemTable('system_auth', 'roles'))).values()];
  }

  /** The merged row of system.local, as stored (cluster_name as last written, tokens, truncation records...). */
  async storedLocalRow(): Promise<Record<string, unknown>> {
    return (await this.engine.rows(this.engine.systemTable('system', 'local'))).get('local') ?? {};
  }

  /** SIGTERM: the shutdown hook flushes what the node still holds (nothing after a drain). */
  async shutdown(): Promise<void> {
    const log = this.state.log;
    const thread = 'StorageServiceShutdownHook';
    if (!this.drained) {
      log.info('HintsService.java:220', 'Paused hints dispatch', thread);
      await this.stopNativeTransport(thread);
      log.info('Gossiper.java:1967', 'Announcing shutdown', thread);
      log.info('StorageService.java:2728', `Node /${this.state.config.listenAddress}:${this.state.config.storagePort} state jump to shutdown`, thread);
      await this.flushEverything();
      this.drained = true;
    }
    log.info('HintsService.java:220', 'Paused hints dispatch', thread);
  }
}
