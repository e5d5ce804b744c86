import { join } from 'node:path';
import type { CommitLog, CommitLogRecord } from './commitlog.js';
import type { SeededRandom } from './random.js';
import { nameUuid, expandUuid } from './uuid.js';
import { compactRows, encodePayload, mergeRows, readPayload, type StoredRow } from './sstable-payload.js';
import { linkSSTable, removeSSTable, writeSSTable } from './sstable-writer.js';
import { componentFileName } from './sstable-files.js';
import { kib, type SystemLog } from './system-log.js';
import type { KeyspaceDef, Schema, TableDef } from './schema-model.js';
import {
  LOCAL_SYSTEM_KEYSPACES,
  REPLICATED_SYSTEM_KEYSPACES,
  SYSTEM_TABLE_IDS,
  isSystemKeyspace,
  livesInFirstDataDirOnly,
  localSystemKeyspaceDefs,
} from './system-keyspaces.js';
import { columnRows, keyspaceRow, localStateFrom, schemaFromRows, tableRow, type LocalState } from './system-rows.js';
import { emptyMemtable, TableStore, type LiveSSTable } from './table-store.js';

export interface EngineOptions {
  /** data_file_directories, in order. */
  dataDirs: string[];
  /** Seeds SSTable contents (with table id and generation). */
  contentSeed: string;
  rng: SeededRandom;
  log: SystemLog;
  /** Milliseconds since the epoch; fixed in seeded runs so contents repeat. */
  clock: () => number;
  backupsEnabled: boolean;
}

/** Smallest Data.db a flush writes: even one tiny mutation costs headers and a partition index. */
const MIN_DATA_BYTES = 48;

/**
 * The storage side of the simulated node: every table's SSTables and memtable, the schema read
 * from system_schema, flush, compaction and truncation. The daemon drives it; the data generator
 * drives the same code offline so generated trees look like ones a running node produced.
 */
export class StorageEngine {
  private readonly stores = new Map<string, TableStore>();
  private keyspaceDefs: KeyspaceDef[] = [];
  commitlog: CommitLog | undefined;
  backupsEnabled: boolean;
  private lastTimestamp = 0;

  private constructor(readonly options: EngineOptions) {
    this.backupsEnabled = options.backupsEnabled;
  }

  get log(): SystemLog {
    return this.options.log;
  }

  get rng(): SeededRandom {
    return this.options.rng;
  }

  now(): number {
    return this.options.clock();
  }

  /** Write timestamp in microseconds, strictly increasing within this process (later writes win merges). */
  nextTimestamp(): number {
    this.lastTimestamp = Math.max(this.lastTimestamp + 1, this.options.clock() * 1000);
    return this.lastTimestamp;
  }

  /**
   * Opens the node's tables: the local system keyspaces first (their layout is fixed in code), then
   * `afterSystemTables` (start-up checks that need system.local), then every table the schema in
   * system_schema lists.
   */
  static async open(options: EngineOptions, afterSystemTables?: (engine: StorageEngine) => Promise<void>): Promise<StorageEngine> {
    const engine = new StorageEngine(options);
    for (const keyspace of ['system', 'system_schema'] as const) {
      engine.logKeyspace(localSystemKeyspaceDefs().find((k) => k.name === keyspace) as KeyspaceDef);
      for (const [name, compactId] of SYSTEM_TABLE_IDS[keyspace] ?? []) {
        await engine.loadTable({ keyspace, name, id: expandUuid(compactId), columns: [] });
      }
    }
    await afterSystemTables?.(engine);
    const schema = await engine.readSchema();
    engine.keyspaceDefs = schema.keyspaces;
    for (const keyspace of engine.keyspaceOrder()) {
      if (LOCAL_SYSTEM_KEYSPACES.includes(keyspace as (typeof LOCAL_SYSTEM_KEYSPACES)[number])) continue;
      const def = schema.keyspaces.find((k) => k.name === keyspace);
      if (def) engine.logKeyspace(def);
      for (const table of sortTables(schema.tables.filter((t) => t.keyspace === keyspace))) await engine.loadTable(table);
    }
    return engine;
  }

  private logKeyspace(def: KeyspaceDef): void {
    const params = Object.entries(def.replication)
      .map(([k, v]) => (k === 'class' ? `class=${v}` : `${k}=${v}`))
      .join(', ');
    this.log.info('Keyspace.java:386', `Creating replication strategy ${def.name} params KeyspaceParams{durable_writes=${def.durableWrites}, replication=ReplicationParams{${params}}}`);
  }

  private async loadTable(def: TableDef): Promise<TableStore> {
    const dirs = livesInFirstDataDirOnly(def.keyspace, def.name) ? this.options.dataDirs.slice(0, 1) : this.options.dataDirs;
    this.log.info('ColumnFamilyStore.java:385', `Initializing ${def.keyspace}.${def.name}`);
    const store = await TableStore.load(def, dirs);
    store.live.forEach((s, i) => {
      this.log.info('SSTableReaderBuilder.java:351', `Opening ${join(s.dir, `na-${s.generation}-big`)} (${kib(s.dataBytes)})`, `SSTableBatchOpen:${(i % 2) + 1}`);
    });
    this.stores.set(`${def.keyspace}.${def.name}`, store);
    return store;
  }

  /** The schema as system_schema.{keyspaces,tables,columns} hold it (replicated system and user keyspaces). */
  async readSchema(): Promise<Schema> {
    const rows = async (name: string): Promise<Map<string, Record<string, unknown>>> => this.rows(this.systemTable('system_schema', name));
    return schemaFromRows(await rows('keyspaces'), await rows('tables'), await rows('columns'));
  }

  /** Keyspace.all() order: local system keyspaces, replicated system keyspaces, then user keyspaces. */
  keyspaceOrder(): string[] {
    const names = this.keyspaceDefs.map((k) => k.name);
    const replicated = REPLICATED_SYSTEM_KEYSPACES.filter((k) => names.includes(k));
    const user = names.filter((n) => !isSystemKeyspace(n));
    return [...LOCAL_SYSTEM_KEYSPACES, ...replicated, ...user];
  }

  keyspaces(): KeyspaceDef[] {
    const all = [...localSystemKeyspaceDefs(), ...this.keyspaceDefs];
    return this.keyspaceOrder().map((name) => all.find((k) => k.name === name) as KeyspaceDef);
  }

  hasKeyspace(name: string): boolean {
    return this.keyspaceOrder().includes(name);
  }

  /** Tables in ColumnFamilyStore iteration order, of one keyspace or of all. */
  tables(keyspace?: string): TableStore[] {
    const keyspaces = keyspace === undefined ? this.keyspaceOrder() : [keyspace];
    const out: TableStore[] = [];
    for (const ks of keyspaces) {
      const inKeyspace = [...this.stores.values()].filter((s) => s.keyspace === ks);
      if (isSystemKeyspace(ks)) {
        const order = (SYSTEM_TABLE_IDS[ks] ?? []).map(([name]) => name);
        inKeyspace.sort((a, b) => rank(order, a.name) - rank(order, b.name));
      } else {
        inKeyspace.sort((a, b) => (a.compactId < b.compactId ? -1 : 1));
      }
      out.push(...inKeyspace);
    }
    return out;
  }

  table(keyspace: string, name: string): TableStore | undefined {
    return this.stores.get(`${keyspace}.${name}`);
  }

  systemTable(keyspace: string, name: string): TableStore {
    const store = this.table(keyspace, name);
    if (!store) throw new Error(`system table ${keyspace}.${name} is not loaded`);
    return store;
  }

  /** Visible rows of a table: its SSTables' payloads and its memtable, merged by cell timestamp. */
  async rows(store: TableStore): Promise<Map<string, Record<string, unknown>>> {
    const sources: StoredRow[][] = [];
    for (const sstable of store.live) sources.push(await readPayload(join(sstable.dir, componentFileName(sstable.generation, 'Data.db'))));
    sources.push(store.memtable.rows);
    return mergeRows(sources);
  }

  async localState(): Promise<LocalState> {
    return localStateFrom((await this.rows(this.systemTable('system', 'local'))).get('local'));
  }

  /** Applies a mutation: commit log first (when one is attached), then the memtable. */
  async write(store: TableStore, bytes: number, rows: StoredRow[] = [], logged = true): Promise<void> {
    if (logged && this.commitlog) {
      await this.commitlog.append({ tableId: store.def.id, bytes, ...(rows.length ? { rows } : {}) });
    }
    store.memtable.bytes += bytes;
    store.memtable.ops += 1;
    store.memtable.rows.push(...rows);
  }

  /** What the commit log must still hold: one record per table with unflushed writes. */
  pendingRecords(): CommitLogRecord[] {
    return [...this.stores.values()]
      .filter((s) => s.memtable.ops > 0)
      .map((s) => ({ tableId: s.def.id, bytes: s.memtable.bytes, ...(s.memtable.rows.length ? { rows: s.memtable.rows } : {}) }));
  }

  /** Flushes the memtables of the given tables; returns the SSTables written. */
  async flush(stores: TableStore[]): Promise<LiveSSTable[]> {
    const written: LiveSSTable[] = [];
    for (const store of stores) written.push(...(await this.flushOne(store)));
    if (written.length > 0) await this.commitlog?.rewrite(this.pendingRecords());
    return written;
  }

  /** Flushes one table into a single SSTable in the given directory (the generator places SSTables itself). */
  async flushInto(store: TableStore, dir: string): Promise<LiveSSTable[]> {
    const written = await this.flushOne(store, dir);
    if (written.length > 0) await this.commitlog?.rewrite(this.pendingRecords());
    return written;
  }

  private flushTargets(store: TableStore, bytes: number, single: boolean): Array<{ dir: string; bytes: number }> {
    const dirs = store.dirs;
    if (single || dirs.length === 1 || bytes < 16 * 1024 * dirs.length) {
      return [{ dir: dirs[this.rng.int(0, dirs.length - 1)] as string, bytes }];
    }
    // One SSTable per disk, each holding the partitions of that disk's token range.
    const weights = dirs.map(() => 0.9 + this.rng.next() * 0.2);
    const total = weights.reduce((a, b) => a + b, 0);
    return dirs.map((dir, i) => ({ dir, bytes: Math.max(MIN_DATA_BYTES, Math.round((bytes * (weights[i] as number)) / total)) }));
  }

  private async flushOne(store: TableStore, intoDir?: string): Promise<LiveSSTable[]> {
    const memtable = store.memtable;
    if (memtable.ops === 0) return [];
    store.memtable = emptyMemtable();
    const payload = memtable.rows.length > 0 ? encodePayload(memtable.rows) : undefined;
    const name = store.name;
    this.log.info('ColumnFamilyStore.java:878', `Enqueuing flush of ${name}: ${kib(memtable.bytes * 2.5)} (0%) on-heap, 0.000KiB (0%) off-heap`);
    const out: LiveSSTable[] = [];
    const targets = intoDir ? [{ dir: intoDir, bytes: memtable.bytes }] : this.flushTargets(store, memtable.bytes, payload !== undefined);
    for (const [i, part] of targets.entries()) {
      const generation = store.takeGeneration();
      const thread = `PerDiskMemtableFlushWriter_${store.dirs.indexOf(part.dir)}:${(generation % 2) + 1}`;
      this.log.info('Memtable.java:469', `Writing Memtable-${name}@${1_000_000 + this.rng.int(0, 999_999_999)}(${kib(part.bytes)} serialized bytes, ${memtable.ops} ops, 0%/0% of on/off-heap limit), flushed range = (null, null]`, thread);
      const written = await writeSSTable({
        dir: part.dir,
        generation,
        dataSize: Math.max(MIN_DATA_BYTES, Math.round(part.bytes)),
        ...(i === 0 && payload ? { payload } : {}),
        seed: `${this.options.contentSeed}:${store.compactId}:${generation}`,
        txnKind: 'flush',
        txnId: this.txnId(),
      });
      store.live.push(written);
      out.push(written);
      if (this.backupsEnabled) await linkSSTable(written, join(part.dir, 'backups'));
      this.log.info('Memtable.java:498', `Completed flushing ${join(part.dir, componentFileName(generation, 'Data.db'))} (${kib(written.dataBytes)}) for commitlog position CommitLogPosition(segmentId=${this.now()}, position=${this.rng.int(1000, 60000)})`, thread);
    }
    return out;
  }

  private txnId(): string {
    return `${this.rng.nextUint32().toString(16).padStart(8, '0')}-${this.rng.int(0, 0xffff).toString(16).padStart(4, '0')}-11f1-a510-f7efc34e21c0`;
  }

  /** Major compaction: all live SSTables of the table into one per data directory; outputs are not backed up. */
  async compact(store: TableStore): Promise<void> {
    const inputs = [...store.live];
    if (inputs.length === 0) return;
    const sources: StoredRow[][] = [];
    for (const s of inputs) sources.push(await readPayload(join(s.dir, componentFileName(s.generation, 'Data.db'))));
    const rows = compactRows(sources);
    const payload = rows.length > 0 ? encodePayload(rows) : undefined;
    const taskId = this.txnId();
    this.log.info('CompactionTask.java:150', `Compacting (${taskId}) [${inputs.map((s) => `${join(s.dir, componentFileName(s.generation, 'Data.db'))}:level=0, `).join('')}]`, 'CompactionExecutor:1');
    const dirs = [...new Set(inputs.map((s) => s.dir))];
    const outputs: LiveSSTable[] = [];
    for (const [i, dir] of dirs.entries()) {
      const inDir = inputs.filter((s) => s.dir === dir);
      const generation = store.takeGeneration();
      const dataSize = Math.max(MIN_DATA_BYTES, Math.round(inDir.reduce((sum, s) => sum + s.dataBytes, 0) * 0.95));
      outputs.push(
        await writeSSTable({
          dir,
          generation,
          dataSize,
          ...(i === 0 && payload ? { payload } : {}),
          seed: `${this.options.contentSeed}:${store.compactId}:${generation}`,
          txnKind: 'compaction',
          txnId: taskId,
        }),
      );
    }
    store.live = [...store.live.filter((s) => !inputs.includes(s)), ...outputs];
    for (const s of inputs) await removeSSTable(s);
    const inBytes = inputs.reduce((sum, s) => sum + s.dataBytes, 0);
    const outBytes = outputs.reduce((sum, s) => sum + s.dataBytes, 0);
    this.log.info(
      'CompactionTask.java:245',
      `Compacted (${taskId}) ${inputs.length} sstables to [${outputs.map((s) => `${join(s.dir, `na-${s.generation}-big`)},`).join('')}] to level=0.  ${kib(inBytes)} to ${kib(outBytes)} (~${Math.round((outBytes / Math.max(1, inBytes)) * 100)}% of original)`,
      'CompactionExecutor:1',
    );
    for (const s of inputs) this.log.info('SSTable.java:111', `Deleting sstable: ${join(s.dir, `na-${s.generation}-big`)}`, 'NonPeriodicTasks:1');
    if (!(store.keyspace === 'system' && store.name === 'compaction_history')) {
      await this.write(this.systemTable('system', 'compaction_history'), 96 + this.rng.int(0, 40));
    }
  }

  /** Drops every SSTable and the memtable of a table (after the caller took the auto snapshot). */
  async dropAllData(store: TableStore): Promise<number> {
    const dropped = store.live;
    store.live = [];
    store.memtable = emptyMemtable();
    for (const s of dropped) await removeSSTable(s);
    return dropped.length;
  }

  /**
   * Creates keyspaces and tables the way DDL does: rows into system_schema, the schema tables
   * flushed at once (MigrationStage), directories for the new tables.
   */
  async applySchemaChange(keyspaces: KeyspaceDef[], tables: TableDef[]): Promise<void> {
    const ts = this.nextTimestamp();
    if (keyspaces.length > 0) {
      const rows = keyspaces.map((k) => keyspaceRow(ts, k));
      await this.write(this.systemTable('system_schema', 'keyspaces'), 90 * rows.length, rows);
    }
    if (tables.length > 0) {
      const tRows = tables.map((t) => tableRow(ts, t));
      const cRows = tables.flatMap((t) => columnRows(ts, t));
      await this.write(this.systemTable('system_schema', 'tables'), 300 * tRows.length, tRows);
      await this.write(this.systemTable('system_schema', 'columns'), 60 * cRows.length, cRows);
    }
    await this.flush(['keyspaces', 'tables', 'columns'].map((n) => this.systemTable('system_schema', n)));
    const schema = await this.readSchema();
    this.keyspaceDefs = schema.keyspaces;
    for (const keyspace of keyspaces) this.logKeyspace(keyspace);
    for (const table of sortTables(tables)) {
      if (!this.table(table.keyspace, table.name)) await this.loadTable(table);
    }
  }

  /** Total bytes of all live SSTables (StorageMetrics.load: what status, info and ring call Load). */
  liveBytes(): number {
    return [...this.stores.values()].reduce((sum, s) => sum + s.liveBytes(), 0);
  }

  /** Schema version: a name-based UUID of the schema content, as Cassandra digests its schema tables. */
  schemaVersion(): string {
    const tables = [...this.stores.values()].map((s) => `${s.qualifiedName}:${s.def.id}`).sort();
    return nameUuid(JSON.stringify({ keyspaces: this.keyspaces(), tables }));
  }
}

function rank(order: string[], name: string): number {
  const i = order.indexOf(name);
  return i === -1 ? order.length : i;
}

function sortTables(tables: TableDef[]): TableDef[] {
  return [...tables].sort((a, b) => (a.id.replace(/-/g, '') < b.id.replace(/-/g, '') ? -1 : 1));
}
