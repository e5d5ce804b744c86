import { open } from 'node:fs/promises';

/**
 * How the simulator keeps the rows of system tables (system.local, system_schema.*,
 * system_auth.roles) inside their Data.db files, so that this state travels with a copy of the
 * data directory exactly as it does on a real node. Encoding (the simulator's own): the line
 * `SIMSSTABLE1 <json length>\n`, the JSON `{"rows":[...]}`, then filler bytes.
 *
 * Rows merge across SSTables like Cassandra cells: per column, the value with the highest write
 * timestamp wins. Nothing deletes whole rows, so there are no row tombstones.
 */
const MAGIC = 'SIMSSTABLE1';

export interface StoredRow {
  key: string;
  /** Write time in microseconds (the cell timestamp). */
  ts: number;
  cols: Record<string, unknown>;
}

export function encodePayload(rows: StoredRow[]): Buffer {
  const json = Buffer.from(JSON.stringify({ rows }));
  return Buffer.concat([Buffer.from(`${MAGIC} ${json.length}\n`), json]);
}

/** The rows stored in a Data.db, or [] for files without a simulator payload (user tables, filler-only tables). */
export async function readPayload(dataFile: string): Promise<StoredRow[]> {
  const handle = await open(dataFile, 'r');
  try {
    const head = Buffer.alloc(32);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const match = new RegExp(`^${MAGIC} (\\d+)\\n`).exec(head.subarray(0, bytesRead).toString('latin1'));
    if (!match) return [];
    const length = Number(match[1]);
    const json = Buffer.alloc(length);
    await handle.read(json, 0, length, (match[0] as string).length);
    const parsed = JSON.parse(json.toString('utf8')) as { rows?: StoredRow[] };
    return parsed.rows ?? [];
  } finally {
    await handle.close();
  }
}

interface Cell {
  value: unknown;
  ts: number;
}

/** The newest cell of every column of every key across SSTables (last write wins by timestamp). */
function newestCells(sources: StoredRow[][]): Map<string, Map<string, Cell>> {
  const cells = new Map<string, Map<string, Cell>>();
  for (const rows of sources) {
    for (const row of rows) {
      const rowCells = cells.get(row.key) ?? new Map<string, Cell>();
      for (const [name, value] of Object.entries(row.cols)) {
        const current = rowCells.get(name);
        if (!current || row.ts >= current.ts) rowCells.set(name, { value, ts: row.ts });
      }
      cells.set(row.key, rowCells);
    }
  }
  return cells;
}

/** Merge rows from several SSTables (and memtables) into the visible rows, keyed by partition key. */
export function mergeRows(sources: StoredRow[][]): Map<string, Record<string, unknown>> {
  const merged = new Map<string, Record<string, unknown>>();
  for (const [key, rowCells] of newestCells(sources)) {
    const visible: Record<string, unknown> = {};
    for (const [name, cell] of rowCells) visible[name] = cell.value;
    if (Object.keys(visible).length > 0) merged.set(key, visible);
  }
  return merged;
}

/**
 * What a compaction writes for merged system-table SSTables: the visible cells with their original
 * timestamps (one row per key and timestamp), shadowed cells purged.
 */
export function compactRows(sources: StoredRow[][]): StoredRow[] {
  const out: StoredRow[] = [];
  for (const [key, rowCells] of newestCells(sources)) {
    const byTs = new Map<number, Record<string, unknown>>();
    for (const [name, cell] of rowCells) {
      const cols = byTs.get(cell.ts) ?? {};
      cols[name] = cell.value;
      byTs.set(cell.ts, cols);
    }
    for (const [ts, cols] of byTs) out.push({ key, ts, cols });
  }
  return out;
}
