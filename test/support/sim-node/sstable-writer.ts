import { link, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { planComponentSizes } from './component-sizes.js';
import { writeGeneratedFile } from './data-stream.js';
import { SeededRandom } from './random.js';
import { COMPONENTS, SSTABLE_VERSION, componentFileName, type Component } from './sstable-files.js';

export interface SSTableRef {
  /** The table directory (inside one data directory) holding the live components. */
  dir: string;
  generation: number;
}

export interface WrittenSSTable extends SSTableRef {
  /** Bytes of all eight components. */
  bytesOnDisk: number;
  dataBytes: number;
}

export interface SSTableSpec {
  dir: string;
  generation: number;
  /** Size of Data.db; raised to fit the payload when that is larger. */
  dataSize: number;
  /** Row payload at the start of Data.db (system tables). */
  payload?: Buffer;
  /** Seeds the content; the same seed gives the same bytes. */
  seed: string;
  /** Which transaction log Cassandra would keep while writing (na_txn_<kind>_<uuid>.log). */
  txnKind?: 'flush' | 'compaction';
  txnId?: string;
}

/**
 * Writes one SSTable: Data.db first, TOC.txt last (its presence marks a complete SSTable), with the transaction
 * log Cassandra keeps in the table directory while a flush or compaction is in flight.
 */
export async function writeSSTable(spec: SSTableSpec): Promise<WrittenSSTable> {
  const rng = new SeededRandom(`${spec.seed}:layout`);
  const dataSize = Math.max(spec.dataSize, spec.payload?.length ?? 0);
  await mkdir(spec.dir, { recursive: true });
  const txnLog = join(spec.dir, `${SSTABLE_VERSION}_txn_${spec.txnKind ?? 'flush'}_${spec.txnId ?? `${spec.generation}-${Date.now()}`}.log`);
  await writeFile(txnLog, `ADD:[${join(spec.dir, componentFileName(spec.generation, ''))}]\n`);
  const path = (component: Component): string => join(spec.dir, componentFileName(spec.generation, component));
  try {
    const crc = await writeGeneratedFile(path('Data.db'), dataSize, `${spec.seed}:Data.db`, {
      ...(spec.payload ? { prefix: spec.payload } : {}),
      compressibleRuns: true,
    });
    const sizes = planComponentSizes(dataSize, rng);
    const digest = String(crc);
    await Promise.all([
      ...Object.entries(sizes).map(([component, size]) => writeGeneratedFile(path(component as Component), size, `${spec.seed}:${component}`)),
      writeFile(path('Digest.crc32'), digest, { flag: 'wx' }),
    ]);
    // TOC.txt lists the components in whatever order the writer's HashSet yields; it varies.
    await writeFile(path('TOC.txt'), rng.shuffle(COMPONENTS).map((c) => `${c}\n`).join(''), { flag: 'wx' });
    const toc = COMPONENTS.join('\n').length + 1;
    const bytesOnDisk = dataSize + Object.values(sizes).reduce((a, b) => a + b, 0) + digest.length + toc;
    await rm(txnLog, { force: true });
    return { dir: spec.dir, generation: spec.generation, bytesOnDisk, dataBytes: dataSize };
  } catch (err) {
    // Roll back like LogTransaction does: no half-written SSTable may look live afterwards.
    await removeSSTable({ dir: spec.dir, generation: spec.generation });
    await rm(txnLog, { force: true });
    throw new Error(`cannot write SSTable ${path('Data.db')}: ${(err as Error).message}`, { cause: err });
  }
}

/** Hard-links every component of an SSTable into another directory (snapshots/<tag>, backups/). */
export async function linkSSTable(ref: SSTableRef, targetDir: string): Promise<void> {
  await mkdir(targetDir, { recursive: true });
  for (const component of COMPONENTS) {
    const name = componentFileName(ref.generation, component);
    // Cassandra links the components it finds: an SSTable restored without
    // its TOC.txt or Digest.crc32 (Trove 13 archived only *.db) is still one.
    await link(join(ref.dir, name), join(targetDir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT' || component === 'Data.db') throw err;
    });
  }
}

export async function removeSSTable(ref: SSTableRef): Promise<void> {
  // Cassandra deletes the TOC first (it marks the SSTable obsolete), the data last.
  const order: Component[] = ['TOC.txt', 'Summary.db', 'Statistics.db', 'Index.db', 'Filter.db', 'Digest.crc32', 'CompressionInfo.db', 'Data.db'];
  for (const component of order) await rm(join(ref.dir, componentFileName(ref.generation, component)), { force: true });
}
