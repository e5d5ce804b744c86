import type { ColumnDef, TableDef } from './schema-model.js';

/**
 * The `schema.cql` a Cassandra 4.0 snapshot writes next to the SSTables:
 * ColumnFamilyStore.writeSnapshotSchema → SchemaCQLHelper.reCreateStatementsForSchemaCql →
 * TableMetadata.toCqlString(includeDroppedColumns, internals = true, ifNotExists = true), one
 * statement per println. Relied on: apache/cassandra TableMetadata.appendCqlTo / appendTableOptions
 * (CqlBuilder, 4-space indent), 4.0's TableParams.appendCqlTo option list and defaults. Checked
 * against the capture: for shop.orders this renders exactly the 936 bytes of the captured file.
 */
const DEFAULT_TABLE_OPTIONS = [
  "additional_write_policy = '99p'",
  'bloom_filter_fp_chance = 0.01',
  "caching = {'keys': 'ALL', 'rows_per_partition': 'NONE'}",
  'cdc = false',
  "comment = ''",
  "compaction = {'class': 'org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy', 'max_threshold': '32', 'min_threshold': '4'}",
  "compression = {'chunk_length_in_kb': '16', 'class': 'org.apache.cassandra.io.compress.LZ4Compressor'}",
  'crc_check_chance = 1.0',
  'default_time_to_live = 0',
  'extensions = {}',
  'gc_grace_seconds = 864000',
  'max_index_interval = 2048',
  'memtable_flush_period_in_ms = 0',
  'min_index_interval = 128',
  "read_repair = 'BLOCKING'",
  "speculative_retry = '99p'",
];

/** ColumnIdentifier.maybeQuote: lower-case unreserved identifiers stay bare. */
function quoteIdentifier(name: string): string {
  return /^[a-z][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

function byPosition(a: ColumnDef, b: ColumnDef): number {
  return a.position - b.position;
}

function byName(a: ColumnDef, b: ColumnDef): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function renderSchemaCql(table: TableDef): string {
  const partitionKey = table.columns.filter((c) => c.kind === 'partition_key').sort(byPosition);
  const clustering = table.columns.filter((c) => c.kind === 'clustering').sort(byPosition);
  const regulars = table.columns.filter((c) => c.kind === 'regular').sort(byName);
  const createOrder = [...partitionKey, ...clustering, ...regulars];
  const singleColumnKey = partitionKey.length === 1 && clustering.length === 0;

  const lines: string[] = [];
  createOrder.forEach((column, index) => {
    let line = `    ${quoteIdentifier(column.name)} ${column.type}`;
    if (singleColumnKey && column.kind === 'partition_key') line += ' PRIMARY KEY';
    if (!singleColumnKey || index < createOrder.length - 1) line += ',';
    lines.push(line);
  });
  if (!singleColumnKey) {
    const names = (cols: ColumnDef[]): string => cols.map((c) => quoteIdentifier(c.name)).join(', ');
    const partition = partitionKey.length > 1 ? `(${names(partitionKey)})` : names(partitionKey);
    const rest = clustering.length > 0 ? `, ${names(clustering)}` : '';
    lines.push(`    PRIMARY KEY (${partition}${rest})`);
  }

  const options = [`ID = ${table.id}`];
  if (clustering.length > 0) {
    const order = clustering.map((c) => `${quoteIdentifier(c.name)} ${c.clusteringOrder ?? 'ASC'}`).join(', ');
    options.push(`CLUSTERING ORDER BY (${order})`);
  }
  options.push(...DEFAULT_TABLE_OPTIONS);

  const name = `${quoteIdentifier(table.keyspace)}.${quoteIdentifier(table.name)}`;
  return (
    `CREATE TABLE IF NOT EXISTS ${name} (\n` +
    `${lines.join('\n')}\n` +
    `) WITH ${options.join('\n    AND ')};\n`
  );
}
