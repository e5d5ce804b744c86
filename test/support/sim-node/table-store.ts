import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { COMPONENTS, componentFileName, generationsIn } from './sstable-files.js';
import type { StoredRow } from './sstable-payload.js';
import type { WrittenSSTable } from './sstable-writer.js';
import type { TableDef } from './schema-model.js';
import { compactUuid } from './uuid.js';

/** An SSTable the table serves. */
export type LiveSSTable = WrittenSSTable;

/** Unflushed writes of one table: their size and, for system tables, the rows they carry. */
export interface Memtable {
  bytes: number;
  ops: number;
  rows: StoredRow[];
}

export function emptyMemtable(): Memtable {
  return { bytes: 0, ops: 0, rows: [] };
}

/**
 * One table of the running node (a ColumnFamilyStore): its directories, the SSTables it serves,
 * its generation counter and memtable. Like Cassandra, it only serves the SSTables it loaded at
 * start-up or wrote itself; files dropped into the directory later are not picked up.
 */
export class TableStore {
  readonly def: TableDef;
  /** The table's directory in each data directory it lives in (data_file_directories order). */
  readonly dirs: string[];
  live: LiveSSTable[];
  memtable: Memtable = emptyMemtable();
  private lastGeneration: number;

  private constructor(def: TableDef, dirs: string[], live: LiveSSTable[], lastGeneration: number) {
    this.def = def;
    this.dirs = dirs;
    this.live = live;
    this.lastGeneration = lastGeneration;
  }

  get keyspace(): string {
    return this.def.keyspace;
  }

  get name(): string {
    return this.def.name;
  }

  get qualifiedName(): string {
    return `${this.def.keyspace}.${this.def.name}`;
  }

  get compactId(): string {
    return compactUuid(this.def.id);
  }

  /** Generation for the next SSTable; never reuses one still present in the live or backups/ directories. */
  takeGeneration(): number {
    this.lastGeneration += 1;
    return this.lastGeneration;
  }

  liveBytes(): number {
    return this.live.reduce((sum, s) => sum + s.bytesOnDisk, 0);
  }

  /**
   * Opens the table the way ColumnFamilyStore.createColumnFamilyStore does: creates the
   * directories (with backups/), lists the complete SSTables and takes the highest generation seen
   * in the live and backups/ directories as the counter's start.
   */
  static async load(def: TableDef, dataDirs: string[]): Promise<TableStore> {
    const dirs = dataDirs.map((d) => join(d, def.keyspace, `${def.name}-${compactUuid(def.id)}`));
    const live: LiveSSTable[] = [];
    let lastGeneration = 0;
    for (const dir of dirs) {
      await mkdir(join(dir, 'backups'), { recursive: true });
      await rollBackUnfinishedTransactions(dir);
      for (const [generation, files] of await generationsIn(dir)) {
        lastGeneration = Math.max(lastGeneration, generation);
        if (!files.includes(componentFileName(generation, 'Data.db'))) continue;
        let bytesOnDisk = 0;
        let dataBytes = 0;
        for (const component of COMPONENTS) {
          const size = await stat(join(dir, componentFileName(generation, component))).then((s) => s.size, () => 0);
          bytesOnDisk += size;
          if (component === 'Data.db') dataBytes = size;
        }
        live.push({ dir, generation, bytesOnDisk, dataBytes });
      }
      for (const generation of (await generationsIn(join(dir, 'backups'))).keys()) {
        lastGeneration = Math.max(lastGeneration, generation);
      }
    }
    live.sort((a, b) => a.generation - b.generation);
    return new TableStore(def, dirs, live, lastGeneration);
  }
}

/**
 * LogTransaction's start-up cleanup: a `na_txn_<kind>_<id>.log` left behind by a process that died
 * mid-flush or mid-compaction names SSTables that were never finished; they are deleted with the log.
 */
async function rollBackUnfinishedTransactions(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const log of names.filter((n) => /^[a-z]{2}_txn_\w+_.+\.log$/.test(n))) {
    const text = await readFile(join(dir, log), 'utf8').catch(() => '');
    for (const match of text.matchAll(/^ADD:\[(.+)\]$/gm)) {
      const prefix = (match[1] as string).split('/').pop() as string;
      for (const name of names.filter((n) => prefix !== '' && n.startsWith(prefix))) await rm(join(dir, name), { force: true });
    }
    await rm(join(dir, log), { force: true });
  }
}
