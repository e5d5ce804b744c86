import os from 'node:os';
import { BACKEND_KEYS, BACKEND_NAMES, DEFAULT_BACKEND } from '../storage/backends.js';

/**
 * Every configuration key, its group, its type and its default. The YAML file and the
 * environment are parsed against this table once, at start; nothing else reads
 * raw configuration. Each storage backend declares its own keys (src/storage/
 * backends.ts lists the backends); they are part of this table like any other.
 */
export type KeyType =
  | { kind: 'string'; allowEmpty?: boolean }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'size'; min: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'bool' }
  | { kind: 'argv' };

export interface KeySpec {
  type: KeyType;
  default: unknown;
  /** Never printed; a file that sets it must not be readable by others. */
  secret?: boolean;
}

/**
 * The concerns the configuration serves. The file is flat; in the code each
 * part of the agent is handed the group it reads (ConfigGroup), so that the
 * types show which part depends on which key.
 */
export const CONFIG_GROUPS = ['node', 'storage', 'archive', 'rpc', 'jobs', 'control'] as const;
export type GroupName = (typeof CONFIG_GROUPS)[number];

/** A key of the schema: its spec and the one group it belongs to (storage backends' keys get 'storage' in backends.ts). */
export interface SchemaKeySpec extends KeySpec {
  group: GroupName;
}

const command = { kind: 'argv' } as const;
const path = { kind: 'string' } as const;
const seconds = (max: number) => ({ kind: 'int', min: 1, max }) as const;

export const CONFIG_SCHEMA = {
  instance_id: { group: 'jobs', type: { kind: 'string' }, default: os.hostname() },
  backup_strategy: { group: 'jobs', type: { kind: 'string' }, default: 'NodetoolSnapshot' },
  backup_incremental_strategy: { group: 'jobs', type: { kind: 'string' }, default: 'NodetoolDifferential' },
  backup_namespace: { group: 'jobs', type: { kind: 'string' }, default: 'strategies' },
  restore_namespace: { group: 'jobs', type: { kind: 'string' }, default: 'strategies' },
  storage_strategy: { group: 'storage', type: { kind: 'enum', values: BACKEND_NAMES }, default: DEFAULT_BACKEND },
  ...BACKEND_KEYS,
  max_bandwidth: { group: 'archive', type: { kind: 'size', min: 0 }, default: 0 },
  backup_nice: { group: 'jobs', type: { kind: 'int', min: 0, max: 19 }, default: 10 },
  backup_ionice_class: { group: 'jobs', type: { kind: 'enum', values: ['idle', 'best-effort', 'none'] }, default: 'best-effort' },
  backup_ionice_level: { group: 'jobs', type: { kind: 'int', min: 0, max: 7 }, default: 7 },
  backup_chunk_size: { group: 'archive', type: { kind: 'size', min: 4096 }, default: 65536 },
  backup_compression: { group: 'archive', type: { kind: 'enum', values: ['gzip', 'none', 'zstd', 'lz4'] }, default: 'none' },
  backup_compression_level: { group: 'archive', type: { kind: 'int', min: 1, max: 9 }, default: 1 },
  backup_encryption: { group: 'archive', type: { kind: 'enum', values: ['none', 'aes-256-gcm'] }, default: 'none' },
  backup_encryption_key_file: { group: 'archive', type: { kind: 'string', allowEmpty: true }, default: '' },
  backup_encryption_key: { group: 'archive', type: { kind: 'string', allowEmpty: true }, default: '', secret: true },
  backup_encryption_old_key_files: { group: 'archive', type: { kind: 'string', allowEmpty: true }, default: '' },
  trove_backup_aes_cbc_key: { group: 'archive', type: { kind: 'string', allowEmpty: true }, default: '', secret: true },
  trove_backup_kdf: { group: 'archive', type: { kind: 'enum', values: ['auto', 'md5', 'sha256', 'pbkdf2-sha512'] }, default: 'auto' },
  mount_point: { group: 'node', type: path, default: '/var/lib/cassandra' },
  cassandra_yaml: { group: 'node', type: path, default: '/etc/cassandra/cassandra.yaml' },
  cassandra_home: { group: 'node', type: path, default: '/usr/share/cassandra' },
  nodetool_command: { group: 'node', type: command, default: ['nodetool'] },
  nodetool_timeout_seconds: { group: 'node', type: seconds(86400), default: 3600 },
  service_start_command: { group: 'node', type: command, default: ['systemctl', 'start', 'cassandra'] },
  service_stop_command: { group: 'node', type: command, default: ['systemctl', 'stop', 'cassandra'] },
  service_status_command: { group: 'node', type: command, default: ['systemctl', 'is-active', '--quiet', 'cassandra'] },
  service_start_timeout_seconds: { group: 'node', type: seconds(86400), default: 600 },
  service_stop_timeout_seconds: { group: 'node', type: seconds(86400), default: 600 },
  cql_host: { group: 'node', type: { kind: 'string' }, default: '127.0.0.1' },
  cql_port: { group: 'node', type: { kind: 'int', min: 1, max: 65535 }, default: 9042 },
  data_owner: { group: 'node', type: { kind: 'string', allowEmpty: true }, default: '' },
  cql_local_datacenter: { group: 'node', type: { kind: 'string' }, default: 'datacenter1' },
  cql_superuser: { group: 'node', type: { kind: 'string' }, default: 'cassandra' },
  cql_connect_timeout_seconds: { group: 'node', type: seconds(3600), default: 120 },
  admin_credentials_file: { group: 'node', type: path, default: '/var/lib/cassandra-guest-agent/admin-credentials.json' },
  restore_cluster_name: { group: 'node', type: { kind: 'string', allowEmpty: true }, default: '' },
  restore_create_data_directories: { group: 'node', type: { kind: 'bool' }, default: false },
  transport_url: { group: 'rpc', type: { kind: 'string', allowEmpty: true }, default: '', secret: true },
  instance_rpc_encr_key: { group: 'rpc', type: { kind: 'string', allowEmpty: true }, default: '', secret: true },
  trove_guest_info_file: { group: 'rpc', type: { kind: 'string', allowEmpty: true }, default: '' },
  trove_guestagent_conf_file: { group: 'rpc', type: { kind: 'string', allowEmpty: true }, default: '' },
  control_exchange: { group: 'rpc', type: { kind: 'string' }, default: 'openstack' },
  conductor_topic: { group: 'rpc', type: { kind: 'string' }, default: 'trove-conductor' },
  report_interval: { group: 'rpc', type: seconds(3600), default: 30 },
  amqp_durable_queues: { group: 'rpc', type: { kind: 'bool' }, default: false },
  amqp_auto_delete: { group: 'rpc', type: { kind: 'bool' }, default: false },
  rabbit_ha_queues: { group: 'rpc', type: { kind: 'bool' }, default: false },
  rabbit_quorum_queue: { group: 'rpc', type: { kind: 'bool' }, default: false },
  rabbit_transient_queues_ttl: { group: 'rpc', type: seconds(86400 * 7), default: 1800 },
  log_format: { group: 'jobs', type: { kind: 'enum', values: ['auto', 'json', 'text'] }, default: 'auto' },
  // Off by default: a port opened on a database host is the operator's decision.
  metrics_listen: { group: 'jobs', type: { kind: 'string', allowEmpty: true }, default: '' },
  dbaas_state_dir: { group: 'control', type: path, default: `${os.homedir()}/.local/state/cassandra-guest-agent-dbaas` },
  dbaas_instance_keys_file: { group: 'control', type: { kind: 'string', allowEmpty: true }, default: '' },
  dbaas_datastore_version: { group: 'control', type: { kind: 'string' }, default: '4.0' },
} as const satisfies Record<string, SchemaKeySpec>;

export type ConfigKey = keyof typeof CONFIG_SCHEMA;

type ValueOf<T extends KeyType> = T extends { kind: 'int' } | { kind: 'size' }
  ? number
  : T extends { kind: 'bool' }
    ? boolean
  : T extends { kind: 'argv' }
    ? string[]
    : T extends { kind: 'enum'; values: readonly (infer V)[] }
      ? V
      : string;

/** The validated values of a table of keys: one typed field per key. */
export type SettingsOf<T extends Record<string, KeySpec>> = {
  readonly [K in keyof T]: ValueOf<T[K]['type']>;
};

/** The validated configuration: one typed field per key, every group; for the entry points and the job context. */
export type AgentConfig = SettingsOf<typeof CONFIG_SCHEMA>;

type GroupKeys<G extends GroupName> = { [K in ConfigKey]: (typeof CONFIG_SCHEMA)[K]['group'] extends G ? K : never }[ConfigKey];

/** The keys of one group. A flat AgentConfig satisfies every group, so callers pass the whole configuration. */
export type ConfigGroup<G extends GroupName> = Pick<AgentConfig, GroupKeys<G>>;

/** Cassandra itself: its files, nodetool, the service, CQL, the data directories and their owner. */
export type NodeConfig = ConfigGroup<'node'>;
/** storage_strategy and every backend's keys. */
export type StorageConfig = ConfigGroup<'storage'>;
/** What an archive is made of and read with: chunks, compression, encryption keys, Trove's legacy decryption, bandwidth. */
export type ArchiveConfig = ConfigGroup<'archive'>;
/** RabbitMQ and Trove's RPC: the broker, the key, Trove's injected files, exchange, topics, queue flags, heartbeats. */
export type RpcConfig = ConfigGroup<'rpc'>;
/** Which instance a job runs on and with which strategies, at which priority; the log. */
export type JobConfig = ConfigGroup<'jobs'>;
/** dbaas, the control plane: its state directory, instance keys and datastore version. */
export type ControlConfig = ConfigGroup<'control'>;

export const ENV_PREFIX = 'GUEST_AGENT_';

/** `cql_port` → `GUEST_AGENT_CQL_PORT`. */
export function envName(key: string): string {
  return ENV_PREFIX + key.toUpperCase();
}
