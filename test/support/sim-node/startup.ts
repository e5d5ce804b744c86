import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigurationError, readCassandraConfig, type CassandraConfig } from './cassandra-yaml.js';
import { checkOwnSeed, listenForPeers } from './peer-listener.js';
import { CommitLog, deleteSegments, readSegment } from './commitlog.js';
import type { NodeLayout } from './layout.js';
import { authSettingsFrom } from './native-transport.js';
import { NodeRuntime, RELEASE_VERSION } from './node-runtime.js';
import { SeededRandom, unpredictableSeed } from './random.js';
import type { SimSettings } from './sim-settings.js';
import { snapshotTable } from './snapshots.js';
import { ERR_WRONG_CONFIG, ERR_WRONG_DISK_STATE, StartupFailure, checkDataDirs, isWritableDirectory } from './startup-checks.js';
import { StorageEngine } from './storage-engine.js';
import { replicatedSystemKeyspaceDefs, replicatedSystemTableDefs } from './system-keyspaces.js';
import { localRow } from './system-rows.js';
import type { SystemLog } from './system-log.js';
import { randomUuid } from './uuid.js';

/**
 * The start-up sequence of CassandraDaemon.setup as the captured logs show it (04_*.log): config,
 * commit log, start-up checks, system keyspace and cluster-name check, schema, commit log replay,
 * truncation of the size estimates, tokens and gossip. Failures exit with the captured codes.
 */
export interface StartOptions {
  layout: NodeLayout;
  settings: SimSettings;
  log: SystemLog;
}

function configLine(config: CassandraConfig): string {
  // A shortened Config.toString(): same shape and alphabetical order as the captured line.
  return (
    `Node configuration:[allocate_tokens_for_keyspace=null; allocate_tokens_for_local_replication_factor=3; ` +
    `authenticator=${config.authenticator}; authorizer=${config.authorizer}; auto_bootstrap=true; auto_snapshot=${config.autoSnapshot}; ` +
    `cluster_name=${config.clusterName}; commit_failure_policy=stop; commitlog_directory=${config.commitlogDirectory}; ` +
    `commitlog_segment_size_in_mb=32; commitlog_sync=periodic; commitlog_sync_period_in_ms=10000; ` +
    `data_file_directories=[Ljava.lang.String;@2fc0cc3; disk_failure_policy=stop; endpoint_snitch=${config.endpointSnitch}; ` +
    `hints_directory=${config.hintsDirectory}; incremental_backups=${config.incrementalBackups}; listen_address=${config.listenAddress}; ` +
    `native_transport_port=${config.nativeTransportPort}; num_tokens=${config.numTokens}; partitioner=${config.partitioner}; ` +
    `role_manager=${config.roleManager}; rpc_address=${config.rpcAddress}; saved_caches_directory=${config.savedCachesDirectory}; ` +
    `seed_provider=org.apache.cassandra.locator.SimpleSeedProvider{seeds=${config.listenAddress}:${config.storagePort}}; ` +
    `snapshot_before_compaction=false; start_native_transport=true; storage_port=${config.storagePort}]`
  );
}

const CLUSTER_NAME_FRAMES = [
  'org.apache.cassandra.db.SystemKeyspace.checkHealth(SystemKeyspace.java:987)',
  'org.apache.cassandra.service.StartupChecks$10.execute(StartupChecks.java:442)',
  'org.apache.cassandra.service.StartupChecks.verify(StartupChecks.java:132)',
  'org.apache.cassandra.service.CassandraDaemon.runStartupChecks(CassandraDaemon.java:487)',
  'org.apache.cassandra.service.CassandraDaemon.setup(CassandraDaemon.java:262)',
  'org.apache.cassandra.service.CassandraDaemon.activate(CassandraDaemon.java:763)',
  'org.apache.cassandra.service.CassandraDaemon.main(CassandraDaemon.java:887)',
];

/**
 * Not captured: with an unwritable commit log directory the node exits 100 about 2 s in, before the
 * start-up checks. In 4.0 CommitLog.start() runs before runStartupChecks(); the segment allocator's
 * failure goes to JVMStabilityInspector.inspectCommitLogError, which logs this and kills the JVM (100).
 */
function commitLogFailure(log: SystemLog, segmentPath: string): StartupFailure {
  log.error('JVMStabilityInspector.java:177', 'Exiting due to error while processing commit log during initialization.', [
    `org.apache.cassandra.io.FSWriteError: java.nio.file.AccessDeniedException: ${segmentPath}`,
    '\tat org.apache.cassandra.db.commitlog.CommitLogSegment.<init>(CommitLogSegment.java:183)',
    '\tat org.apache.cassandra.db.commitlog.MemoryMappedSegment.<init>(MemoryMappedSegment.java:47)',
    '\tat org.apache.cassandra.db.commitlog.CommitLogSegment.createSegment(CommitLogSegment.java:126)',
    '\tat org.apache.cassandra.db.commitlog.CommitLogSegmentManagerStandard.createSegment(CommitLogSegmentManagerStandard.java:84)',
    '\tat org.apache.cassandra.db.commitlog.AbstractCommitLogSegmentManager$1.runMayThrow(AbstractCommitLogSegmentManager.java:140)',
    '\tat org.apache.cassandra.utils.WrappedRunnable.run(WrappedRunnable.java:28)',
    '\tat java.base/java.lang.Thread.run(Thread.java:840)',
    `Caused by: java.nio.file.AccessDeniedException: ${segmentPath}`,
    '\tat java.base/sun.nio.fs.UnixException.translateToIOException(UnixException.java:90)',
    '\t... 7 common frames omitted',
  ], 'COMMIT-LOG-ALLOCATOR');
  return new StartupFailure(ERR_WRONG_CONFIG, `Exiting due to error while processing commit log during initialization. AccessDeniedException: ${segmentPath}`);
}

export async function startNode({ layout, settings, log }: StartOptions): Promise<NodeRuntime> {
  const pause = (fraction: number): Promise<void> => sleep(Math.round(settings.startupDelayMs * fraction));
  const rng = new SeededRandom(settings.seed ?? unpredictableSeed()).derive(`start:${Date.now()}`);
  const startedAtMs = Date.now();

  log.info('YamlConfigurationLoader.java:93', `Configuration location: file:${layout.cassandraYaml}`);
  let config: CassandraConfig;
  try {
    config = await readCassandraConfig(layout);
    authSettingsFrom(config);
  } catch (err) {
    if (!(err instanceof ConfigurationError)) throw err;
    log.error('CassandraDaemon.java:803', `Exception encountered during startup: ${err.message}`);
    throw new StartupFailure(ERR_WRONG_DISK_STATE, err.message);
  }
  log.info('Config.java:687', configLine(config));
  log.info('DatabaseDescriptor.java:416', "DiskAccessMode 'auto' determined to be mmap, indexAccessMode is mmap");
  log.info('DatabaseDescriptor.java:477', 'Global memtable on-heap threshold is enabled at 128MB');
  log.info('DatabaseDescriptor.java:481', 'Global memtable off-heap threshold is enabled at 128MB');
  log.info('JMXServerUtils.java:271', 'Configured JMX server at: service:jmx:rmi://127.0.0.1/jndi/rmi://127.0.0.1:7199/jmxrmi');
  log.info('CassandraDaemon.java:623', `Hostname: localhost:${config.storagePort}:7001`);
  log.info('CassandraDaemon.java:630', `JVM vendor/version: OpenJDK 64-Bit Server VM/17.0.15`);
  log.info('CassandraDaemon.java:631', 'Heap size: 512.000MiB/512.000MiB');
  await pause(0.15);

  // CommitLog.instance.start() comes before the start-up checks in 4.0.
  await mkdir(config.commitlogDirectory, { recursive: true }).catch(() => undefined);
  const firstSegment = `${config.commitlogDirectory}/CommitLog-7-${Date.now()}.log`;
  if (!(await isWritableDirectory(config.commitlogDirectory))) throw commitLogFailure(log, firstSegment);
  let started: Awaited<ReturnType<typeof CommitLog.start>>;
  try {
    started = await CommitLog.start(config.commitlogDirectory, Date.now());
  } catch {
    throw commitLogFailure(log, firstSegment);
  }
  const commitlog = started.log;

  log.warn('StartupChecks.java:143', 'jemalloc shared library could not be preloaded to speed up memory allocations');
  log.warn('StartupChecks.java:187', 'JMX is not enabled to receive remote connections. Please see cassandra-env.sh for more info.');
  await checkDataDirs([...config.dataFileDirectories, config.commitlogDirectory, config.savedCachesDirectory, config.hintsDirectory], log);
  await pause(0.15);

  const engine = await StorageEngine.open(
    { dataDirs: config.dataFileDirectories, contentSeed: settings.seed ?? unpredictableSeed(), rng, log, clock: Date.now, backupsEnabled: config.incrementalBackups },
    async (systemOnly) => {
      const saved = (await systemOnly.localState()).clusterName;
      if (saved !== undefined && saved !== config.clusterName) {
        const message = `Saved cluster name ${saved} != configured name ${config.clusterName}`;
        log.error('CassandraDaemon.java:909', 'Fatal exception during initialization', [
          `org.apache.cassandra.exceptions.ConfigurationException: ${message}`,
          ...CLUSTER_NAME_FRAMES.map((f) => `\tat ${f}`),
        ]);
        throw new StartupFailure(ERR_WRONG_CONFIG, message);
      }
    },
  );
  engine.commitlog = commitlog;
  await pause(0.3);

  await replayCommitLog(engine, started.existing, log);
  await truncateSizeEstimates(engine, config, log);

  log.info('StorageService.java:734', `Cassandra version: ${RELEASE_VERSION}`);
  log.info('StorageService.java:735', 'CQL version: 3.4.5');
  log.info('StorageService.java:736', 'Native protocol supported versions: 3/v3, 4/v4, 5/v5, 6/v6-beta (default: 5/v5)');
  log.info('StorageService.java:753', 'Loading persisted ring state');
  // Logged before the bind, as the real node does (a taken port fails right after this line).
  log.info('InboundConnectionInitiator.java:127', `Listening on address: (/${config.listenAddress}:${config.storagePort}), nic: lo, encryption: unencrypted`);
  await listenForPeers(config, log);
  checkOwnSeed(config, log);

  const saved = await engine.localState();
  const localTable = engine.systemTable('system', 'local');
  let hostId = saved.hostId;
  let tokens = saved.tokens;
  if (!hostId || !tokens || tokens.length === 0) {
    ({ hostId, tokens } = await initializeNewNode(engine, config, rng, log));
  } else {
    log.info('StorageService.java:651', 'Unable to gossip with any peers but continuing anyway since node is in its own seed list');
    log.info('StorageService.java:1066', `Using saved tokens [${[...tokens].sort().join(', ')}]`);
  }
  // StorageService.setUpDistributedSystemKeyspaces: system_auth & co. are recreated when missing.
  const missing = replicatedSystemKeyspaceDefs().filter((k) => !engine.hasKeyspace(k.name));
  if (missing.length > 0) {
    await engine.applySchemaChange(missing, replicatedSystemTableDefs().filter((t) => missing.some((k) => k.name === t.keyspace)));
  }
  const gossipGeneration = Math.floor(Date.now() / 1000);
  log.info('StorageService.java:957', 'Starting up server gossip');
  await engine.write(localTable, 48, [localRow(engine.nextTimestamp(), { gossip_generation: gossipGeneration })]);
  await engine.flush([localTable]);
  log.info('StorageService.java:1615', 'JOINING: Finish joining ring');
  log.info('StorageService.java:2728', `Node /${config.listenAddress}:${config.storagePort} state jump to NORMAL`);
  // Compaction of system.local kicks in once four SSTables pile up (min_threshold).
  if (localTable.live.length >= 4) await engine.compact(localTable);

  // Periodic tasks that write right after start: SizeEstimatesRecorder and SSTable read activity.
  await engine.write(engine.systemTable('system', 'size_estimates'), 2200 + rng.int(0, 300));
  await engine.write(engine.systemTable('system', 'table_estimates'), 4500 + rng.int(0, 400));
  await engine.write(engine.systemTable('system', 'sstable_activity'), 60 + rng.int(0, 120));
  await pause(0.4);

  return new NodeRuntime({ layout, config, engine, commitlog, log, rng, hostId, tokens, clusterName: config.clusterName, startedAtMs, gossipGeneration });
}

async function replayCommitLog(engine: StorageEngine, segments: Array<{ id: number; path: string }>, log: SystemLog): Promise<void> {
  if (segments.length === 0) {
    log.info('CommitLog.java:169', 'No commitlog files found; skipping replay');
    return;
  }
  log.info('CommitLog.java:174', `Replaying ${segments.map((s) => s.path).join(', ')}`);
  const byId = new Map(engine.tables().map((t) => [t.def.id, t]));
  let replayed = 0;
  for (const segment of segments) {
    const records = await readSegment(segment.path);
    if (records.length === 0) {
      log.info('CommitLogReader.java:102', `Skipping playback of empty log: ${segment.path.split('/').pop() ?? segment.path}`);
      continue;
    }
    for (const record of records) {
      // Mutations for tables the schema does not know are skipped, as Cassandra does for dropped tables.
      const store = byId.get(record.tableId);
      if (!store) continue;
      await engine.write(store, record.bytes, record.rows ?? [], false);
      replayed += 1;
    }
    log.info('CommitLogReader.java:256', `Finished reading ${segment.path}`);
  }
  await engine.flush(engine.tables().filter((t) => t.memtable.ops > 0));
  await deleteSegments(segments.map((s) => s.path));
  log.info('CommitLog.java:176', `Log replay complete, ${replayed} replayed mutations`);
}

/**
 * Every start truncates system.size_estimates and system.table_estimates; with auto_snapshot each
 * leaves a `truncated-<ms>-<table>` snapshot, and each truncation is recorded (and flushed) in system.local.
 */
export async function truncateSizeEstimates(engine: StorageEngine, config: CassandraConfig, log: SystemLog): Promise<void> {
  const local = engine.systemTable('system', 'local');
  let previous = 0;
  for (const name of ['size_estimates', 'table_estimates']) {
    const store = engine.systemTable('system', name);
    log.info('ColumnFamilyStore.java:2242', `Truncating system.${name}`);
    while (engine.now() <= previous) await sleep(1);
    const truncatedAt = engine.now();
    previous = truncatedAt;
    log.info('ColumnFamilyStore.java:2277', `Truncating system.${name} with truncatedAt=${truncatedAt}`);
    if (config.autoSnapshot) {
      await engine.flush([store]);
      await snapshotTable(store, `truncated-${truncatedAt}-${name}`, engine.rng);
    }
    const dropped = await engine.dropAllData(store);
    if (dropped > 0) log.info('ColumnFamilyStore.java:2726', `Truncation is dropping ${dropped} sstables and keeping 0 due to sstable.maxDataAge > truncatedAt`);
    await engine.write(local, 90, [localRow(engine.nextTimestamp(), { [`truncated_at:${store.def.id}`]: truncatedAt })]);
    await engine.flush([local]);
    log.info('ColumnFamilyStore.java:2301', `Truncate of system.${name} is complete`);
  }
}

/** First start over an empty data directory: host id, tokens, the replicated system keyspaces, system.local. */
export async function initializeNewNode(
  engine: StorageEngine,
  config: CassandraConfig,
  rng: SeededRandom,
  log: SystemLog,
): Promise<{ hostId: string; tokens: string[] }> {
  const hostId = randomUuid(rng.derive('host-id'));
  log.warn('SystemKeyspace.java:1118', `No host ID found, created ${hostId} (Note: This should happen exactly once per node).`);
  log.info('StorageService.java:651', 'Unable to gossip with any peers but continuing anyway since node is in its own seed list');
  log.info('StorageService.java:1044', 'This node will not auto bootstrap because it is configured to be a seed node.');
  const tokenRng = rng.derive('tokens');
  const tokens = Array.from({ length: config.numTokens }, () => tokenRng.int64().toString());
  log.info('TokenAllocation.java:106', `Selected tokens [${tokens.join(', ')}]`);
  await createSystemSchema(engine);
  const local = engine.systemTable('system', 'local');
  await engine.write(local, 600, [
    localRow(engine.nextTimestamp(), {
      cluster_name: config.clusterName,
      host_id: hostId,
      tokens,
      bootstrapped: 'COMPLETED',
      release_version: RELEASE_VERSION,
      cql_version: '3.4.5',
      native_protocol_version: '5',
      data_center: 'datacenter1',
      rack: 'rack1',
      partitioner: config.partitioner,
      listen_address: config.listenAddress,
      rpc_address: config.rpcAddress,
      broadcast_address: config.listenAddress,
    }),
  ]);
  await engine.flush([local]);
  return { hostId, tokens };
}

/** What the first start writes to system_schema: the replicated system keyspaces, and every schema table flushed once. */
export async function createSystemSchema(engine: StorageEngine): Promise<void> {
  const typical: Record<string, number> = { dropped_columns: 98, aggregates: 51, functions: 51, indexes: 51, triggers: 51, types: 51, views: 51 };
  for (const [name, bytes] of Object.entries(typical)) await engine.write(engine.systemTable('system_schema', name), bytes);
  await engine.flush(Object.keys(typical).map((n) => engine.systemTable('system_schema', n)));
  await engine.applySchemaChange(replicatedSystemKeyspaceDefs(), replicatedSystemTableDefs());
}
