/** The schema as the simulator keeps it: what system_schema.{keyspaces,tables,columns} hold. */

export type ColumnKind = 'partition_key' | 'clustering' | 'regular';

export interface ColumnDef {
  name: string;
  /** CQL type as DESCRIBE prints it: `int`, `text`, `set<text>`, ... */
  type: string;
  kind: ColumnKind;
  /** Position inside the partition key or clustering key; -1 for regular columns. */
  position: number;
  clusteringOrder?: 'ASC' | 'DESC';
}

export interface TableDef {
  keyspace: string;
  name: string;
  /** Table id with dashes; the directory suffix is the same without dashes. */
  id: string;
  columns: ColumnDef[];
}

export interface KeyspaceDef {
  name: string;
  /** e.g. `{ class: 'org.apache.cassandra.locator.SimpleStrategy', replication_factor: '1' }` */
  replication: Record<string, string>;
  durableWrites: boolean;
}

export interface Schema {
  keyspaces: KeyspaceDef[];
  tables: TableDef[];
}

export const SIMPLE_STRATEGY = 'org.apache.cassandra.locator.SimpleStrategy';
export const LOCAL_STRATEGY = 'org.apache.cassandra.locator.LocalStrategy';

/** The (only) partition key column. */
function pk(name: string, type: string): ColumnDef {
  return { name, type, kind: 'partition_key', position: 0 };
}

/** The (only) clustering column. */
function ck(name: string, type: string, clusteringOrder: 'ASC' | 'DESC'): ColumnDef {
  return { name, type, kind: 'clustering', position: 0, clusteringOrder };
}

function col(name: string, type: string): ColumnDef {
  return { name, type, kind: 'regular', position: -1 };
}

/**
 * Column layouts for the sample tables (shop.* as in the captured node, whose schema.cql sizes they
 * reproduce byte for byte); any other table gets a generic layout.
 */
const KNOWN_LAYOUTS: Record<string, ColumnDef[]> = {
  'shop.orders': [pk('order_id', 'int'), col('amount', 'decimal'), col('created_at', 'timestamp'), col('customer_id', 'int'), col('status', 'text')],
  'shop.customers': [pk('customer_id', 'int'), col('email', 'text'), col('name', 'text')],
  'metrics.events': [pk('source', 'text'), ck('ts', 'timestamp', 'DESC'), col('kind', 'text'), col('value', 'double')],
};

export function columnsFor(keyspace: string, table: string): ColumnDef[] {
  const known = KNOWN_LAYOUTS[`${keyspace}.${table}`];
  if (known) return known.map((c) => ({ ...c }));
  return [pk('id', 'uuid'), col('payload', 'blob'), col('updated_at', 'timestamp')];
}

export function simpleReplication(factor: number): Record<string, string> {
  return { class: SIMPLE_STRATEGY, replication_factor: String(factor) };
}
