import type { StoredRow } from './sstable-payload.js';
import type { ColumnDef, KeyspaceDef, Schema, TableDef } from './schema-model.js';

/**
 * Typed views of the rows the simulator keeps in system tables, and the rows that express a
 * schema change (what CREATE KEYSPACE / CREATE TABLE write to system_schema).
 */

/** system.local, the row with key 'local'. */
export interface LocalState {
  clusterName?: string;
  hostId?: string;
  tokens?: string[];
}

export function localStateFrom(cols: Record<string, unknown> | undefined): LocalState {
  if (!cols) return {};
  const state: LocalState = {};
  if (typeof cols['cluster_name'] === 'string') state.clusterName = cols['cluster_name'];
  if (typeof cols['host_id'] === 'string') state.hostId = cols['host_id'];
  if (Array.isArray(cols['tokens'])) state.tokens = (cols['tokens'] as unknown[]).map(String);
  return state;
}

export function localRow(ts: number, cols: Record<string, unknown>): StoredRow {
  return { key: 'local', ts, cols };
}

export function keyspaceRow(ts: number, keyspace: KeyspaceDef): StoredRow {
  return {
    key: keyspace.name,
    ts,
    cols: { keyspace_name: keyspace.name, durable_writes: keyspace.durableWrites, replication: keyspace.replication },
  };
}

export function tableRow(ts: number, table: TableDef): StoredRow {
  return { key: `${table.keyspace}.${table.name}`, ts, cols: { keyspace_name: table.keyspace, table_name: table.name, id: table.id } };
}

export function columnRows(ts: number, table: TableDef): StoredRow[] {
  return table.columns.map((c) => ({
    key: `${table.keyspace}.${table.name}.${c.name}`,
    ts,
    cols: {
      keyspace_name: table.keyspace,
      table_name: table.name,
      column_name: c.name,
      kind: c.kind,
      position: c.position,
      type: c.type,
      clustering_order: (c.clusteringOrder ?? 'none').toLowerCase(),
    },
  }));
}

/** Rebuilds the schema from the merged rows of system_schema.keyspaces, .tables and .columns. */
export function schemaFromRows(
  keyspaces: Map<string, Record<string, unknown>>,
  tables: Map<string, Record<string, unknown>>,
  columns: Map<string, Record<string, unknown>>,
): Schema {
  const schema: Schema = { keyspaces: [], tables: [] };
  for (const cols of keyspaces.values()) {
    if (typeof cols['keyspace_name'] !== 'string') continue;
    schema.keyspaces.push({
      name: cols['keyspace_name'],
      durableWrites: cols['durable_writes'] !== false,
      replication: (cols['replication'] as Record<string, string> | undefined) ?? {},
    });
  }
  const known = new Set(schema.keyspaces.map((k) => k.name));
  const columnsByTable = new Map<string, ColumnDef[]>();
  for (const cols of columns.values()) {
    const key = `${String(cols['keyspace_name'])}.${String(cols['table_name'])}`;
    const order = String(cols['clustering_order'] ?? 'none').toUpperCase();
    const column: ColumnDef = {
      name: String(cols['column_name']),
      type: String(cols['type']),
      kind: cols['kind'] as ColumnDef['kind'],
      position: Number(cols['position'] ?? -1),
    };
    if (order === 'ASC' || order === 'DESC') column.clusteringOrder = order;
    const list = columnsByTable.get(key) ?? [];
    list.push(column);
    columnsByTable.set(key, list);
  }
  for (const cols of tables.values()) {
    const keyspace = cols['keyspace_name'];
    const name = cols['table_name'];
    const id = cols['id'];
    if (typeof keyspace !== 'string' || typeof name !== 'string' || typeof id !== 'string' || !known.has(keyspace)) continue;
    schema.tables.push({ keyspace, name, id, columns: columnsByTable.get(`${keyspace}.${name}`) ?? [] });
  }
  return schema;
}

/** system_auth.roles */
export interface RoleRow {
  role: string;
  can_login: boolean;
  is_superuser: boolean;
  member_of: string[] | null;
  salted_hash: string;
}

export function roleRow(ts: number, role: RoleRow): StoredRow {
  return { key: role.role, ts, cols: { ...role } };
}
