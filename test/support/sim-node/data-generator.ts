import { chown, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CassandraConfig } from './cassandra-yaml.js';
import { CommitLog } from './commitlog.js';
import { SeededRandom, unpredictableSeed } from './random.js';
import { columnsFor, simpleReplication, type KeyspaceDef, type TableDef } from './schema-model.js';
import { initializeNewNode, truncateSizeEstimates } from './startup.js';
import { StorageEngine } from './storage-engine.js';
import { DEFAULT_SUPERUSER_HASH } from './system-keyspaces.js';
import { localRow, roleRow } from './system-rows.js';
import { SILENT_LOG } from './system-log.js';
import { timeUuid } from './uuid.js';

export interface TableToGenerate {
  keyspace: string;
  table: string;
  sstables: number;
  bytes: number;
}

export interface GenerateOptions {
  config: CassandraConfig;
  tables: TableToGenerate[];
  seed?: string;
}

/** 2024-01-01: seeded trees get their timestamps from here, safely before any real write that follows. */
const SEEDED_EPOCH = 1_704_067_200_000;

/**
 * Writes the data, commit log and other directories of a node that has run and been stopped
 * cleanly: first start (system tables, host id, tokens, truncated size-estimate snapshots), the
 * user keyspaces and tables created, their data flushed into the requested number of SSTables,
 * the usual system-table activity, a drained commit log. It drives the same storage engine as the
 * daemon, so the tree has exactly the shape the running simulator produces and reads.
 */
export async function generateNodeTree(options: GenerateOptions): Promise<void> {
  const { config } = options;
  const seed = options.seed ?? unpredictableSeed();
  const rng = new SeededRandom(seed);
  let tick = 0;
  const clock = options.seed !== undefined ? () => SEEDED_EPOCH + tick++ : () => Date.now();
  for (const dir of [...config.dataFileDirectories, config.commitlogDirectory, config.savedCachesDirectory, config.hintsDirectory]) {
    await mkdir(dir, { recursive: true });
  }

  const engine = await StorageEngine.open({
    dataDirs: config.dataFileDirectories,
    contentSeed: seed,
    rng: rng.derive('engine'),
    log: SILENT_LOG,
    clock,
    backupsEnabled: config.incrementalBackups,
  });
  await truncateSizeEstimates(engine, config, SILENT_LOG);
  await initializeNewNode(engine, config, rng.derive('node'), SILENT_LOG);
  const roles = engine.systemTable('system_auth', 'roles');
  await engine.write(roles, 102, [roleRow(engine.nextTimestamp(), { role: 'cassandra', can_login: true, is_superuser: true, member_of: null, salted_hash: DEFAULT_SUPERUSER_HASH })]);
  await engine.flush([roles]);

  await createUserSchema(engine, options.tables, rng.derive('schema'), clock);
  await loadUserData(engine, options.tables, rng.derive('data'));

  // What a node accumulates while running: size estimates, read activity, prepared statements.
  const activity: Array<[string, number]> = [
    ['size_estimates', 2335],
    ['table_estimates', 4697],
    ['sstable_activity', 172],
    ['prepared_statements', 197],
  ];
  for (const [name, bytes] of activity) {
    const store = engine.systemTable('system', name);
    await engine.write(store, bytes + rng.int(0, 64));
    await engine.flush([store]);
  }
  const local = engine.systemTable('system', 'local');
  await engine.write(local, 48, [localRow(engine.nextTimestamp(), { gossip_generation: Math.floor(clock() / 1000) })]);
  await engine.flush([local]);
  if (local.live.length >= 4) await engine.compact(local);
  await engine.flush(engine.tables().filter((t) => t.memtable.ops > 0));

  // A drained, stopped node leaves one empty commit log segment behind.
  const { log } = await CommitLog.start(config.commitlogDirectory, clock());
  await log.shutdown([]);

}

async function createUserSchema(engine: StorageEngine, tables: TableToGenerate[], rng: SeededRandom, clock: () => number): Promise<void> {
  const node = rng.bytes(6);
  node[0] = (node[0] ?? 0) | 0x01;
  const clockSeq = rng.int(0, 0x3fff);
  const keyspaces: KeyspaceDef[] = [];
  const defs: TableDef[] = [];
  for (const [i, spec] of tables.entries()) {
    if (!keyspaces.some((k) => k.name === spec.keyspace)) keyspaces.push({ name: spec.keyspace, replication: simpleReplication(1), durableWrites: true });
    defs.push({ keyspace: spec.keyspace, name: spec.table, id: timeUuid(clock(), i, clockSeq, node), columns: columnsFor(spec.keyspace, spec.table) });
  }
  if (defs.length > 0) await engine.applySchemaChange(keyspaces, defs);
}

/** Splits `total` into `parts` sizes that vary by ±25% and add up exactly. */
function split(total: number, parts: number, rng: SeededRandom): number[] {
  const weights = Array.from({ length: parts }, () => 0.75 + rng.next() * 0.5);
  const sum = weights.reduce((a, b) => a + b, 0);
  const sizes = weights.map((w) => Math.floor((total * w) / sum));
  sizes[sizes.length - 1] = total - sizes.slice(0, -1).reduce((a, b) => a + b, 0);
  return sizes;
}

async function loadUserData(engine: StorageEngine, tables: TableToGenerate[], rng: SeededRandom): Promise<void> {
  for (const spec of tables) {
    const store = engine.table(spec.keyspace, spec.table);
    if (!store) throw new Error(`generated schema lacks ${spec.keyspace}.${spec.table}`);
    if (spec.sstables === 0) continue;
    const sizes = split(spec.bytes, spec.sstables, rng);
    for (const [i, size] of sizes.entries()) {
      await engine.write(store, size);
      // SSTables go round-robin over the data directories, so every directory holds some of the table.
      await engine.flushInto(store, store.dirs[i % store.dirs.length] as string);
    }
  }
}

/** chown -R, without following symbolic links. */
export async function chownTree(path: string, owner: { uid: number; gid: number }): Promise<void> {
  await chown(path, owner.uid, owner.gid);
  if (!(await lstat(path)).isDirectory()) return;
  for (const entry of await readdir(path)) await chownTree(join(path, entry), owner);
}
