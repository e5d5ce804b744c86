import os from 'node:os';
import { BACKEND_KEYS, BACKEND_NAMES, DEFAULT_BACKEND } from '../storage/backends.js';

/**
 * Every configuration key, its type and its default. The YAML file and the
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

const command = { kind: 'argv' } as const;
const path = { kind: 'string' } as const;
const seconds = (max: number) => ({ kind: 'int', min: 1, max }) as const;

export const CONFIG_SCHEMA = {
  instance_id: { type: { kind: 'string' }, default: os.hostname() },
  backup_strategy: { type: { kind: 'string' }, default: 'NodetoolSnapshot' },
  backup_incremental_strategy: { type: { kind: 'string' }, default: 'NodetoolDifferential' },
  backup_namespace: { type: { kind: 'string' }, default: 'strategies' },
  restore_namespace: { type: { kind: 'string' }, default: 'strategies' },
  storage_strategy: { type: { kind: 'enum', values: BACKEND_NAMES }, default: DEFAULT_BACKEND },
  ...BACKEND_KEYS,
  max_bandwidth: { type: { kind: 'size', min: 0 }, default: 0 },
  backup_nice: { type: { kind: 'int', min: 0, max: 19 }, default: 10 },
  backup_ionice_class: { type: { kind: 'enum', values: ['idle', 'best-effort', 'none'] }, default: 'best-effort' },
  backup_ionice_level: { type: { kind: 'int', min: 0, max: 7 }, default: 7 },
  backup_chunk_size: { type: { kind: 'size', min: 4096 }, default: 65536 },
  backup_compression: { type: { kind: 'enum', values: ['gzip', 'none', 'zstd', 'lz4'] }, default: 'none' },
  backup_compression_level: { type: { kind: 'int', min: 1, max: 9 }, default: 1 },
  backup_encryption: { type: { kind: 'enum', values: ['none', 'aes-256-gcm'] }, default: 'none' },
  backup_encryption_key_file: { type: { kind: 'string', allowEmpty: true }, default: '' },
  backup_encryption_key: { type: { kind: 'string', allowEmpty: true }, default: '', secret: true },
  backup_encryption_old_key_files: { type: { kind: 'string', allowEmpty: true }, default: '' },
  trove_backup_aes_cbc_key: { type: { kind: 'string', allowEmpty: true }, default: '', secret: true },
  trove_backup_kdf: { type: { kind: 'enum', values: ['auto', 'md5', 'sha256', 'pbkdf2-sha512'] }, default: 'auto' },
  mount_point: { type: path, default: '/var/lib/cassandra' },
  cassandra_yaml: { type: path, default: '/etc/cassandra/cassandra.yaml' },
  cassandra_home: { type: path, default: '/usr/share/cassandra' },
  nodetool_command: { type: command, default: ['nodetool'] },
  nodetool_timeout_seconds: { type: seconds(86400), default: 3600 },
  service_start_command: { type: command, default: ['systemctl', 'start', 'cassandra'] },
  service_stop_command: { type: command, default: ['systemctl', 'stop', 'cassandra'] },
  service_status_command: { type: command, default: ['systemctl', 'is-active', '--quiet', 'cassandra'] },
  service_start_timeout_seconds: { type: seconds(86400), default: 600 },
  service_stop_timeout_seconds: { type: seconds(86400), default: 600 },
  cql_host: { type: { kind: 'string' }, default: '127.0.0.1' },
  cql_port: { type: { kind: 'int', min: 1, max: 65535 }, default: 9042 },
  data_owner: { type: { kind: 'string', allowEmpty: true }, default: '' },
  cql_local_datacenter: { type: { kind: 'string' }, default: 'datacenter1' },
  cql_superuser: { type: { kind: 'string' }, default: 'cassandra' },
  cql_connect_timeout_seconds: { type: seconds(3600), default: 120 },
  admin_credentials_file: { type: path, default: '/var/lib/cassandra-guest-agent/admin-credentials.json' },
  restore_cluster_name: { type: { kind: 'string', allowEmpty: true }, default: '' },
  restore_create_data_directories: { type: { kind: 'bool' }, default: false },
  transport_url: { type: { kind: 'string', allowEmpty: true }, default: '', secret: true },
  instance_rpc_encr_key: { type: { kind: 'string', allowEmpty: true }, default: '', secret: true },
  trove_guest_info_file: { type: { kind: 'string', allowEmpty: true }, default: '' },
  trove_guestagent_conf_file: { type: { kind: 'string', allowEmpty: true }, default: '' },
  control_exchange: { type: { kind: 'string' }, default: 'openstack' },
  conductor_topic: { type: { kind: 'string' }, default: 'trove-conductor' },
  report_interval: { type: seconds(3600), default: 30 },
  amqp_durable_queues: { type: { kind: 'bool' }, default: false },
  amqp_auto_delete: { type: { kind: 'bool' }, default: false },
  rabbit_ha_queues: { type: { kind: 'bool' }, default: false },
  rabbit_quorum_queue: { type: { kind: 'bool' }, default: false },
  rabbit_transient_queues_ttl: { type: seconds(86400 * 7), default: 1800 },
  log_format: { type: { kind: 'enum', values: ['auto', 'json', 'text'] }, default: 'auto' },
  dbaas_state_dir: { type: path, default: `${os.homedir()}/.local/state/cassandra-guest-agent-dbaas` },
  dbaas_instance_keys_file: { type: { kind: 'string', allowEmpty: true }, default: '' },
  dbaas_datastore_version: { type: { kind: 'string' }, default: '4.0' },
} as const satisfies Record<string, KeySpec>;

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

/** The validated configuration: one typed field per key. */
export type AgentConfig = SettingsOf<typeof CONFIG_SCHEMA>;

export const ENV_PREFIX = 'GUEST_AGENT_';

/** `cql_port` → `GUEST_AGENT_CQL_PORT`. */
export function envName(key: string): string {
  return ENV_PREFIX + key.toUpperCase();
}
