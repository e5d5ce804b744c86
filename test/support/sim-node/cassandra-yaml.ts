import { readFile } from 'node:fs/promises';
import yaml from 'js-yaml';
import type { NodeLayout } from './layout.js';

/** The cassandra.yaml settings the simulated node acts on (keys as in 01_yaml_keys.txt). */
export interface CassandraConfig {
  clusterName: string;
  numTokens: number;
  dataFileDirectories: string[];
  commitlogDirectory: string;
  savedCachesDirectory: string;
  hintsDirectory: string;
  incrementalBackups: boolean;
  autoSnapshot: boolean;
  authenticator: string;
  authorizer: string;
  roleManager: string;
  /** roles_validity_in_ms, credentials_validity_in_ms, permissions_validity_in_ms (auth caches). */
  rolesValidityMs: number;
  credentialsValidityMs: number;
  permissionsValidityMs: number;
  partitioner: string;
  listenAddress: string;
  rpcAddress: string;
  nativeTransportPort: number;
  storagePort: number;
  /** seed_provider's seeds as `host:port` (a seed without a port takes this node's storage_port, as SimpleSeedProvider does). */
  seeds: string[];
  endpointSnitch: string;
}

function quoted(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A cassandra.yaml in the shape of the 4.0 default file (same keys, order and comments where it matters). */
export function renderCassandraYaml(config: CassandraConfig): string {
  return `# Cassandra storage config YAML (simulated node)

# The name of the cluster. This is mainly used to prevent machines in
# one logical cluster from joining another.
cluster_name: ${quoted(config.clusterName)}

# This defines the number of tokens randomly assigned to this node on the ring
num_tokens: ${config.numTokens}

allocate_tokens_for_local_replication_factor: 3

hinted_handoff_enabled: true
max_hint_window_in_ms: 10800000 # 3 hours

# Directory where Cassandra should store hints.
hints_directory: ${config.hintsDirectory}

# Authentication backend, implementing IAuthenticator; used to identify users
authenticator: ${config.authenticator}

# Authorization backend, implementing IAuthorizer; used to limit access/provide permissions
authorizer: ${config.authorizer}

role_manager: ${config.roleManager}

network_authorizer: AllowAllNetworkAuthorizer

roles_validity_in_ms: ${config.rolesValidityMs}

permissions_validity_in_ms: ${config.permissionsValidityMs}

credentials_validity_in_ms: ${config.credentialsValidityMs}

partitioner: ${config.partitioner}

# Directories where Cassandra should store data on disk.
data_file_directories:
${config.dataFileDirectories.map((d) => `    - ${d}`).join('\n')}

# commit log.
commitlog_directory: ${config.commitlogDirectory}

cdc_enabled: false

disk_failure_policy: stop

commit_failure_policy: stop

prepared_statements_cache_size_mb:

key_cache_size_in_mb:
key_cache_save_period: 14400

row_cache_size_in_mb: 0
row_cache_save_period: 0

counter_cache_size_in_mb:
counter_cache_save_period: 7200

# saved caches
saved_caches_directory: ${config.savedCachesDirectory}

commitlog_sync: periodic
commitlog_sync_period_in_ms: 10000

commitlog_segment_size_in_mb: 32

seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "${config.listenAddress}:${config.storagePort}"

concurrent_reads: 32
concurrent_writes: 32
concurrent_counter_writes: 32
concurrent_materialized_view_writes: 32

memtable_allocation_type: heap_buffers

storage_port: ${config.storagePort}

ssl_storage_port: 7001

listen_address: ${config.listenAddress}

start_native_transport: true
native_transport_port: ${config.nativeTransportPort}

rpc_address: ${config.rpcAddress}

rpc_keepalive: true

# Set to true to have Cassandra create a hard link to each sstable
# flushed or streamed locally in a backups/ subdirectory of the
# keyspace data.  Removing these links is the operator's
# responsibility.
incremental_backups: ${config.incrementalBackups}

snapshot_before_compaction: false

# Whether or not a snapshot is taken of the data before keyspace truncation
# or dropping of column families.
auto_snapshot: ${config.autoSnapshot}

column_index_size_in_kb: 64

compaction_throughput_mb_per_sec: 64

read_request_timeout_in_ms: 5000
write_request_timeout_in_ms: 2000

endpoint_snitch: ${config.endpointSnitch}

dynamic_snitch_update_interval_in_ms: 100
dynamic_snitch_reset_interval_in_ms: 600000
dynamic_snitch_badness_threshold: 1.0

enable_materialized_views: false
enable_sasi_indexes: false
`;
}

export function defaultConfig(layout: NodeLayout, overrides: Partial<CassandraConfig> = {}): CassandraConfig {
  return {
    clusterName: 'Test Cluster',
    numTokens: 16,
    dataFileDirectories: [layout.defaultDataDir],
    commitlogDirectory: layout.defaultCommitlogDir,
    savedCachesDirectory: layout.defaultSavedCachesDir,
    hintsDirectory: layout.defaultHintsDir,
    incrementalBackups: false,
    autoSnapshot: true,
    authenticator: 'AllowAllAuthenticator',
    authorizer: 'AllowAllAuthorizer',
    roleManager: 'CassandraRoleManager',
    rolesValidityMs: 2000,
    credentialsValidityMs: 2000,
    permissionsValidityMs: 2000,
    partitioner: 'org.apache.cassandra.dht.Murmur3Partitioner',
    listenAddress: '127.0.0.1',
    rpcAddress: '127.0.0.1',
    nativeTransportPort: 9042,
    storagePort: 7000,
    seeds: [],
    endpointSnitch: 'SimpleSnitch',
    ...overrides,
  };
}

export class ConfigurationError extends Error {}

function str(doc: Record<string, unknown>, key: string, fallback: string): string {
  const value = doc[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' && typeof value !== 'number') throw new ConfigurationError(`Invalid yaml: ${key} must be a string`);
  return String(value);
}

function int(doc: Record<string, unknown>, key: string, fallback: number): number {
  const value = doc[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new ConfigurationError(`Invalid yaml: ${key} must be an integer`);
  return value;
}

function bool(doc: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const value = doc[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new ConfigurationError(`Invalid yaml: ${key} must be true or false`);
  return value;
}

/** Reads cassandra.yaml the way the daemon needs it; unset directories fall back to $CASSANDRA_HOME/data/... */
export async function readCassandraConfig(layout: NodeLayout): Promise<CassandraConfig> {
  let doc: unknown;
  try {
    doc = yaml.load(await readFile(layout.cassandraYaml, 'utf8'));
  } catch (err) {
    throw new ConfigurationError(`Invalid yaml: ${layout.cassandraYaml}: ${(err as Error).message}`, { cause: err });
  }
  if (!doc || typeof doc !== 'object') throw new ConfigurationError(`Invalid yaml: ${layout.cassandraYaml} is not a mapping`);
  const d = doc as Record<string, unknown>;
  const defaults = defaultConfig(layout);
  const dataDirs = d['data_file_directories'];
  if (dataDirs !== undefined && dataDirs !== null && (!Array.isArray(dataDirs) || dataDirs.some((x) => typeof x !== 'string'))) {
    throw new ConfigurationError('Invalid yaml: data_file_directories must be a list of paths');
  }
  const clusterName = str(d, 'cluster_name', defaults.clusterName);
  const storagePort = Number(str(d, 'storage_port', String(defaults.storagePort)));
  return {
    clusterName,
    numTokens: Number(str(d, 'num_tokens', String(defaults.numTokens))),
    dataFileDirectories: Array.isArray(dataDirs) && dataDirs.length > 0 ? (dataDirs as string[]) : defaults.dataFileDirectories,
    commitlogDirectory: str(d, 'commitlog_directory', defaults.commitlogDirectory),
    savedCachesDirectory: str(d, 'saved_caches_directory', defaults.savedCachesDirectory),
    hintsDirectory: str(d, 'hints_directory', defaults.hintsDirectory),
    incrementalBackups: bool(d, 'incremental_backups', false),
    autoSnapshot: bool(d, 'auto_snapshot', true),
    authenticator: str(d, 'authenticator', defaults.authenticator),
    authorizer: str(d, 'authorizer', defaults.authorizer),
    roleManager: str(d, 'role_manager', defaults.roleManager),
    rolesValidityMs: int(d, 'roles_validity_in_ms', defaults.rolesValidityMs),
    credentialsValidityMs: int(d, 'credentials_validity_in_ms', defaults.credentialsValidityMs),
    permissionsValidityMs: int(d, 'permissions_validity_in_ms', defaults.permissionsValidityMs),
    partitioner: str(d, 'partitioner', defaults.partitioner),
    listenAddress: str(d, 'listen_address', defaults.listenAddress),
    rpcAddress: str(d, 'rpc_address', defaults.rpcAddress),
    nativeTransportPort: Number(str(d, 'native_transport_port', String(defaults.nativeTransportPort))),
    storagePort,
    seeds: seedsOf(d, storagePort),
    endpointSnitch: str(d, 'endpoint_snitch', defaults.endpointSnitch),
  };
}

/** seed_provider: [{class_name, parameters: [{seeds: "a:7000,b"}]}] */
function seedsOf(doc: Record<string, unknown>, storagePort: number): string[] {
  const provider = doc['seed_provider'];
  const first = Array.isArray(provider) ? (provider[0] as { parameters?: Array<{ seeds?: unknown }> } | undefined) : undefined;
  const seeds = first?.parameters?.[0]?.seeds;
  if (typeof seeds !== 'string') throw new ConfigurationError('Invalid yaml: seed_provider must name its seeds (parameters: [{seeds: "host:port,..."}])');
  return seeds.split(',').map((s) => s.trim()).filter(Boolean).map((s) => (/:\d+$/.test(s) ? s : `${s}:${storagePort}`));
}
