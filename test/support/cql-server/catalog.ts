import type { CqlBackend } from './backend.js';
import { parseType, type CqlType } from './cql-types.js';
import { notSimulated } from './errors.js';
import { byToken } from './murmur3.js';

/**
 * The tables whose rows the test server serves, with Cassandra 4.0's column layouts (as the
 * captured conversations 06_proxy_*.log and 05_auth_basic.txt show them). `SELECT *` lists the
 * partition key, then clustering columns, then the regular columns in alphabetical order.
 */
export interface ColumnDef {
  name: string;
  type: CqlType;
  kind: 'partition_key' | 'regular';
}

export interface ServedTable {
  keyspace: string;
  name: string;
  columns: ColumnDef[];
  /** The single partition-key column the WHERE clauses and writes address. */
  partitionKey: string;
  rows(backend: CqlBackend): Promise<Array<Record<string, unknown>>>;
  /** Regular columns a write may set; absent: the table is read-only here. */
  writable?: readonly string[];
  write?(backend: CqlBackend, key: string, values: Record<string, unknown>): Promise<void>;
}

const columns = (spec: ReadonlyArray<readonly [string, string, ColumnDef['kind']?]>): ColumnDef[] =>
  spec.map(([name, type, kind]) => ({ name, type: parseType(type), kind: kind ?? 'regular' }));

/** Keyspaces without storage, listed by system_virtual_schema.keyspaces. */
export const VIRTUAL_KEYSPACES = ['system_views', 'system_virtual_schema'];

const LOCAL: ServedTable = {
  keyspace: 'system',
  name: 'local',
  partitionKey: 'key',
  columns: columns([
    ['key', 'text', 'partition_key'],
    ['bootstrapped', 'text'],
    ['broadcast_address', 'inet'],
    ['broadcast_port', 'int'],
    ['cluster_name', 'text'],
    ['cql_version', 'text'],
    ['data_center', 'text'],
    ['gossip_generation', 'int'],
    ['host_id', 'uuid'],
    ['listen_address', 'inet'],
    ['listen_port', 'int'],
    ['native_protocol_version', 'text'],
    ['partitioner', 'text'],
    ['rack', 'text'],
    ['release_version', 'text'],
    ['rpc_address', 'inet'],
    ['rpc_port', 'int'],
    ['schema_version', 'uuid'],
    ['tokens', 'set<text>'],
    ['truncated_at', 'map<uuid, blob>'],
  ]),
  rows: async (backend) => [await backend.localRow()],
  writable: ['cluster_name'],
  async write(backend, key, values) {
    if (key !== 'local') throw notSimulated(`writes to system.local rows other than key = 'local'`);
    if (typeof values['cluster_name'] !== 'string') throw notSimulated('setting system.local.cluster_name to null');
    await backend.saveClusterName(values['cluster_name']);
  },
};

/** A single node has no peers; the tables exist and are empty. */
const PEERS: ServedTable = {
  keyspace: 'system',
  name: 'peers',
  partitionKey: 'peer',
  columns: columns([
    ['peer', 'inet', 'partition_key'],
    ['data_center', 'text'],
    ['host_id', 'uuid'],
    ['preferred_ip', 'inet'],
    ['rack', 'text'],
    ['release_version', 'text'],
    ['rpc_address', 'inet'],
    ['schema_version', 'uuid'],
    ['tokens', 'set<text>'],
  ]),
  rows: async () => [],
};

const SCHEMA_KEYSPACES: ServedTable = {
  keyspace: 'system_schema',
  name: 'keyspaces',
  partitionKey: 'keyspace_name',
  columns: columns([
    ['keyspace_name', 'text', 'partition_key'],
    ['durable_writes', 'boolean'],
    ['replication', 'frozen<map<text, text>>'],
  ]),
  async rows(backend) {
    const rows = (await backend.keyspaces()).map((k) => ({
      keyspace_name: k.name,
      durable_writes: k.durableWrites,
      // A map's entries are stored sorted by key.
      replication: new Map(Object.entries(k.replication).sort(([a], [b]) => (a < b ? -1 : 1))),
    }));
    return byToken(rows, (r) => r.keyspace_name);
  },
};

const VIRTUAL_SCHEMA_KEYSPACES: ServedTable = {
  keyspace: 'system_virtual_schema',
  name: 'keyspaces',
  partitionKey: 'keyspace_name',
  columns: columns([['keyspace_name', 'text', 'partition_key']]),
  rows: async () => VIRTUAL_KEYSPACES.map((keyspace_name) => ({ keyspace_name })),
};

const ROLES: ServedTable = {
  keyspace: 'system_auth',
  name: 'roles',
  partitionKey: 'role',
  columns: columns([
    ['role', 'text', 'partition_key'],
    ['can_login', 'boolean'],
    ['is_superuser', 'boolean'],
    ['member_of', 'set<text>'],
    ['salted_hash', 'text'],
  ]),
  async rows(backend) {
    return byToken((await backend.roles()).map((r) => ({ ...r })), (r) => r.role);
  },
  // The password reset's UPDATE; CREATE and ALTER ROLE write the other columns.
  writable: ['salted_hash'],
  async write(backend, key, values) {
    await backend.writeRole(key, { salted_hash: (values['salted_hash'] as string | null | undefined) ?? null });
  },
};

const SERVED = [LOCAL, PEERS, SCHEMA_KEYSPACES, VIRTUAL_SCHEMA_KEYSPACES, ROLES];

export function servedTable(keyspace: string, table: string): ServedTable | undefined {
  return SERVED.find((t) => t.keyspace === keyspace && t.name === table);
}

/**
 * ClientState.READABLE_SYSTEM_RESOURCES, as far as this server serves them: tables every logged-in
 * user may read whatever the authorizer says (system.local, system.peers, the schema tables, the
 * virtual schema tables).
 */
export function isReadableSystemTable(keyspace: string, table: string): boolean {
  if (keyspace === 'system') return ['local', 'peers'].includes(table);
  return keyspace === 'system_schema' || keyspace === 'system_virtual_schema';
}
