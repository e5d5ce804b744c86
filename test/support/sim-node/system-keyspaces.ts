import { LOCAL_STRATEGY, SIMPLE_STRATEGY, type KeyspaceDef, type TableDef } from './schema-model.js';

/**
 * The system tables of Cassandra 4.0 with their fixed ids (from the captured data directory,
 * 01_tree_final.txt), listed in the order the server iterates its ColumnFamilyStores (the row
 * order of `nodetool listsnapshots` for one snapshot in nt_listsnapshots.stdout).
 */
export const LOCAL_SYSTEM_KEYSPACES = ['system_schema', 'system'] as const;
export const REPLICATED_SYSTEM_KEYSPACES = ['system_auth', 'system_distributed', 'system_traces'] as const;

export const SYSTEM_TABLE_IDS: Record<string, ReadonlyArray<readonly [string, string]>> = {
  system_schema: [
    ['columns', '24101c25a2ae3af787c1b40ee1aca33f'],
    ['types', '5a8b1ca866023f77a0459273d308917a'],
    ['indexes', '0feb57ac311f382fba6d9024d305702f'],
    ['keyspaces', 'abac5682dea631c5b535b3d6cffd0fb6'],
    ['dropped_columns', '5e7583b5f3f43af19a39b7e1d6f5f11f'],
    ['aggregates', '924c55872e3a345bb10c12f37c1ba895'],
    ['triggers', '4df70b666b05325195a132b54005fd48'],
    ['tables', 'afddfb9dbc1e30688056eed6c302ba09'],
    ['views', '9786ac1cdd583201a7cdad556410c985'],
    ['functions', '96489b7980be3e14a70166a0b9159450'],
  ],
  system: [
    ['compaction_history', 'b4dbb7b4dc493fb5b3bfce6e434832ca'],
    ['IndexInfo', '9f5c6374d48532299a0a5094af9ad1e3'],
    ['repairs', 'a3d277d1cfaf36f5a2a738d5eea9ad6a'],
    ['size_estimates', '618f817b005f3678b8a453f3930b8e86'],
    ['table_estimates', '176c39cdb93d33a5a2188eb06a56f66e'],
    ['paxos', 'b7b7f0c2fd0a34108c053ef614bb7c2d'],
    ['built_views', '4b3c50a9ea873d7691016dbc9c38494a'],
    ['peer_events', '59dfeaea8db2334191ef109974d81484'],
    ['peers_v2', 'c4325fbb8e5e3bafbd070f9250ed818e'],
    ['peers', '37f71aca7dc2383ba70672528af04d4f'],
    ['peer_events_v2', '0e65065fe40138ed9507b9213fae8d11'],
    ['batches', '919a4bc57a333573b03e13fc3f68b465'],
    ['transferred_ranges', '6cad20f7d4f53af2b6e20da33c6c1f83'],
    ['transferred_ranges_v2', '1ff78f1a7df13a2aa9986f4932270af5'],
    ['view_builds_in_progress', '6c22df66c3bd3df6b74d21179c6a9fe9'],
    ['local', '7ad54392bcdd35a684174e047860b377'],
    ['sstable_activity', '5a1ff267ace03f128563cfae6103c65e'],
    ['available_ranges_v2', '4224a0882ac93d0c889dfbb5f0facda0'],
    ['available_ranges', 'c539fcabd65a31d18133d25605643ee3'],
    ['prepared_statements', '18a9c2576a0c3841ba718cd529849fef'],
  ],
  system_auth: [
    ['roles', '5bc52802de2535edaeab188eecebb090'],
    ['role_members', '0ecdaa87f8fb3e6088d174fb36fe5c0d'],
    ['resource_role_permissons_index', '5f2fbdad91f13946bd25d5da3a5c35ec'],
    ['network_permissions', 'd46780c22f1c3db9b4c1b8d9fbc0cc23'],
    ['role_permissions', '3afbe79f219431a7add7f5ab90d8ec9c'],
  ],
  system_distributed: [
    ['parent_repair_history', 'deabd734b99d3b9c92e5fd92eb5abf14'],
    ['repair_history', '759fffad624b318180eefa9a52d1f627'],
    ['view_build_status', '5582b59f8e4e35e1b9133acada51eb04'],
  ],
  system_traces: [
    ['sessions', 'c5e99f1686773914b17e960613512345'],
    ['events', '8826e8e9e16a372887533bc1fc713c25'],
  ],
};

/**
 * SystemKeyspace.TABLES_SPLIT_ACROSS_MULTIPLE_DISKS (4.0): the only local system tables whose
 * directories exist in every data directory; the others live in the first one
 * (DatabaseDescriptor.getLocalSystemKeyspacesDataFileLocations with no local_system_data_file_directory).
 */
const SPLIT_ACROSS_DISKS = new Set(['batches', 'paxos', 'compaction_history', 'prepared_statements', 'repairs']);

export function isLocalSystemKeyspace(keyspace: string): boolean {
  return (LOCAL_SYSTEM_KEYSPACES as readonly string[]).includes(keyspace);
}

export function isSystemKeyspace(keyspace: string): boolean {
  return isLocalSystemKeyspace(keyspace) || (REPLICATED_SYSTEM_KEYSPACES as readonly string[]).includes(keyspace);
}

/** Whether the table's directory exists only in the first data directory. */
export function livesInFirstDataDirOnly(keyspace: string, table: string): boolean {
  return isLocalSystemKeyspace(keyspace) && !(keyspace === 'system' && SPLIT_ACROSS_DISKS.has(table));
}

export function localSystemKeyspaceDefs(): KeyspaceDef[] {
  return LOCAL_SYSTEM_KEYSPACES.map((name) => ({ name, replication: { class: LOCAL_STRATEGY }, durableWrites: true }));
}

/** The replicated system keyspaces as Cassandra creates them on first start (describecluster shows these factors). */
export function replicatedSystemKeyspaceDefs(): KeyspaceDef[] {
  const factors: Record<string, string> = { system_auth: '1', system_distributed: '3', system_traces: '2' };
  return REPLICATED_SYSTEM_KEYSPACES.map((name) => ({
    name,
    replication: { class: SIMPLE_STRATEGY, replication_factor: factors[name] ?? '1' },
    durableWrites: true,
  }));
}

export function replicatedSystemTableDefs(): TableDef[] {
  const tables: TableDef[] = [];
  for (const keyspace of REPLICATED_SYSTEM_KEYSPACES) {
    for (const [name, compactId] of SYSTEM_TABLE_IDS[keyspace] ?? []) {
      tables.push({
        keyspace,
        name,
        id: `${compactId.slice(0, 8)}-${compactId.slice(8, 12)}-${compactId.slice(12, 16)}-${compactId.slice(16, 20)}-${compactId.slice(20)}`,
        // Their columns are never read (nothing renders their schema.cql or serves them over CQL).
        columns: [],
      });
    }
  }
  return tables;
}

/**
 * The hash Cassandra stored for the default superuser `cassandra`/`cassandra` on the captured node
 * ($2a$, jBCrypt; 05_auth_basic.txt). Real nodes salt it afresh on first start.
 */
export const DEFAULT_SUPERUSER_HASH = '$2a$10$/YNvp11zJk.1msDqa5Epx.mUmDZ8bpreuQxwNZUQD2ifRR8XZFIay';

/** A name CREATE KEYSPACE accepts (letters, digits, underscore, at most 48) that is not a system keyspace. */
export function isUserKeyspaceName(name: string): boolean {
  return /^\w{1,48}$/.test(name) && !isSystemKeyspace(name);
}
