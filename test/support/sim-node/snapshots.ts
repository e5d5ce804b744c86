import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringifyFileSize } from './file-size.js';
import { JavaHashMap } from './java-hash-map.js';
import type { SeededRandom } from './random.js';
import { renderSchemaCql } from './schema-cql.js';
import { componentFileName, componentGeneration } from './sstable-files.js';
import { linkSSTable } from './sstable-writer.js';
import type { StorageEngine } from './storage-engine.js';
import { isLocalSystemKeyspace, isSystemKeyspace } from './system-keyspaces.js';
import type { TableStore } from './table-store.js';

/** ColumnFamilyStore.snapshotExists: a `snapshots/<tag>` directory in any of the table's data directories. */
export function snapshotExists(store: TableStore, tag: string): boolean {
  return store.dirs.some((dir) => existsSync(join(dir, 'snapshots', tag)));
}

/**
 * Directories.getWriteableLocation(-1) as getSnapshotManifestFile/getSnapshotSchemaFile use it:
 * with one data directory that one; with several, a weighted random pick by free space. So with
 * several data directories manifest.json and schema.cql sit in ONE of them (not necessarily
 * one holding SSTables of the table), while each SSTable's links sit beside the SSTable.
 */
async function directoryForNewFiles(dirs: string[], rng: SeededRandom): Promise<string> {
  if (dirs.length === 1) return dirs[0] as string;
  const candidates = await Promise.all(
    dirs.map(async (dir) => {
      const fs = await statfs(dir).catch(() => undefined);
      return { dir, available: fs ? fs.bavail * fs.bsize : 0 };
    }),
  );
  const total = candidates.reduce((sum, c) => sum + c.available, 0);
  if (total === 0) return dirs[0] as string;
  const weighted = candidates.map((c) => ({ ...c, perc: c.available / total })).sort((a, b) => b.perc - a.perc);
  let r = rng.next();
  for (const c of weighted) {
    r -= c.perc;
    if (r <= 0) return c.dir;
  }
  return (weighted[0] as { dir: string }).dir;
}

/**
 * ColumnFamilyStore.snapshotWithoutFlush: hard links of every live component into
 * `<table dir>/snapshots/<tag>/`, then manifest.json (Data.db names, set order) and, outside the
 * system keyspaces, schema.cql. A table without SSTables gets a snapshot directory holding only
 * `{"files":[]}`.
 */
export async function snapshotTable(store: TableStore, tag: string, rng: SeededRandom): Promise<void> {
  for (const sstable of store.live) await linkSSTable(sstable, join(sstable.dir, 'snapshots', tag));
  const target = join(await directoryForNewFiles(store.dirs, rng), 'snapshots', tag);
  await mkdir(target, { recursive: true });
  const files = rng.shuffle(store.live.map((s) => componentFileName(s.generation, 'Data.db')));
  // json-simple's output; Data.db names hold nothing it would escape.
  await writeFile(join(target, 'manifest.json'), `${JSON.stringify({ files })}\n`);
  if (!isSystemKeyspace(store.keyspace)) await writeFile(join(target, 'schema.cql'), renderSchemaCql(store.def));
}

async function childDirectories(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
}

/**
 * StorageService.clearSnapshot: works on what is on disk, every keyspace directory of every data
 * directory (also tables no longer in the schema). With a tag it removes `snapshots/<tag>`; without
 * (--all) it removes the whole `snapshots/` directory, as Directories.clearSnapshot joins an empty tag.
 */
export async function clearSnapshots(dataDirs: string[], tag: string, keyspaces: string[]): Promise<void> {
  for (const dataDir of dataDirs) {
    for (const keyspace of await childDirectories(dataDir)) {
      if (keyspaces.length > 0 && !keyspaces.includes(keyspace)) continue;
      for (const table of await childDirectories(join(dataDir, keyspace))) {
        const target = tag === '' ? join(dataDir, keyspace, table, 'snapshots') : join(dataDir, keyspace, table, 'snapshots', tag);
        await rm(target, { recursive: true, force: true });
      }
    }
  }
}

interface FolderSizes {
  onDisk: number;
  /** Bytes of SSTable component files (what Directories.getTrueAllocatedSizeIn counts). */
  sstableBytes: number;
}

async function folderSizes(dir: string): Promise<FolderSizes> {
  const sizes: FolderSizes = { onDisk: 0, sstableBytes: 0 };
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return sizes;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const inner = await folderSizes(path);
      sizes.onDisk += inner.onDisk;
      sizes.sstableBytes += inner.sstableBytes;
    } else if (entry.isFile()) {
      const size = (await stat(path)).size;
      sizes.onDisk += size;
      if (componentGeneration(entry.name) !== undefined) sizes.sstableBytes += size;
    }
  }
  return sizes;
}

export interface SnapshotDetails {
  /** Rows of `nodetool listsnapshots`: name, keyspace, table, true size, size on disk. */
  rows: string[][];
  /** StorageService.trueSnapshotsSize: all snapshot SSTable bytes outside the local system keyspaces. */
  trueDiskSpaceUsed: number;
}

/**
 * StorageService.getSnapshotDetails as nodetool prints it. Relied on (4.0 source and the captures):
 * "True size" sums the SSTable components in the snapshot (the live-file skip list never matches
 * paths inside snapshots/, so in practice every component counts, e.g. 15.88 KiB for shop.orders
 * while its live files still exist); "Size on disk" adds manifest.json and schema.cql. Row order is
 * the iteration order of the server's HashMaps keyed by snapshot name (outer map: new HashMap(),
 * per table: Maps.newHashMapWithExpectedSize), tables in ColumnFamilyStore order within a name.
 */
export async function snapshotDetails(engine: StorageEngine): Promise<SnapshotDetails> {
  const byName = new JavaHashMap<string[][]>();
  let trueDiskSpaceUsed = 0;
  for (const store of engine.tables()) {
    const listed: Array<{ name: string; path: string }> = [];
    for (const dir of store.dirs) {
      for (const name of await childDirectories(join(dir, 'snapshots'))) listed.push({ name, path: join(dir, 'snapshots', name) });
      if (!isLocalSystemKeyspace(store.keyspace)) trueDiskSpaceUsed += (await folderSizes(join(dir, 'snapshots'))).sstableBytes;
    }
    if (listed.length === 0) continue;
    const perTable = JavaHashMap.withExpectedSize<FolderSizes>(listed.length);
    for (const snapshot of listed) {
      const sizes = await folderSizes(snapshot.path);
      const sum = perTable.get(snapshot.name);
      perTable.set(snapshot.name, sum ? { onDisk: sum.onDisk + sizes.onDisk, sstableBytes: sum.sstableBytes + sizes.sstableBytes } : sizes);
    }
    for (const [name, sizes] of perTable.entries()) {
      const rows = byName.get(name) ?? [];
      rows.push([name, store.keyspace, store.name, stringifyFileSize(sizes.sstableBytes), stringifyFileSize(sizes.onDisk)]);
      byName.set(name, rows);
    }
  }
  return { rows: byName.entries().flatMap(([, rows]) => rows), trueDiskSpaceUsed };
}
