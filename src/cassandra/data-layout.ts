import { readdir, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { INDEX_DIR, TABLE_DIR } from '../archive/tar-extract.js';
import type { PackEntry } from '../archive/tar-pack.js';


export interface SnapshotFile extends PackEntry {
  size: number;
  keyspace: string;
  tableDirectory: string;
  fileName: string;
}

export interface SnapshotContents {
  files: SnapshotFile[];
  totalBytes: number;
}

async function directoryNames(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Every regular file of every `<data_dir>/<keyspace>/<table-dir>/snapshots/<tag>/`
 * in every data directory: all SSTable components, manifest.json and
 * schema.cql, whatever their names (Cassandra 5 adds other formats), and
 * those of its secondary indexes in `.<index name>/` (a restore without them
 * answers index queries with nothing: system."IndexInfo" says they are built).
 */
export function findSnapshotFiles(dataDirectories: string[], tag: string): Promise<SnapshotContents> {
  return findTableFiles(dataDirectories, ['snapshots', tag], () => true);
}

/** Which tables a backup covers: keyspaces, or `keyspace.table` names; both empty means all. */
export interface TableSelection {
  keyspaces: string[];
  tables: string[];
}

/**
 * Every file Cassandra's incremental backups hard-linked into
 * `<table-dir>/backups/` for the selected tables (system keyspaces included
 * when every keyspace is selected, as a snapshot does).
 */
export function findIncrementalFiles(dataDirectories: string[], selection: TableSelection): Promise<SnapshotContents> {
  return findTableFiles(dataDirectories, ['backups'], (keyspace, table) => {
    if (selection.tables.length > 0) return selection.tables.includes(`${keyspace}.${table}`);
    if (selection.keyspaces.length > 0) return selection.keyspaces.includes(keyspace);
    return true;
  });
}

async function findTableFiles(dataDirectories: string[], below: string[], wanted: (keyspace: string, table: string) => boolean): Promise<SnapshotContents> {
  const files: SnapshotFile[] = [];
  for (const [dataDirIndex, dataDir] of dataDirectories.entries()) {
    for (const keyspace of await directoryNames(dataDir)) {
      for (const tableDirectory of await directoryNames(path.join(dataDir, keyspace))) {
        const table = TABLE_DIR.exec(tableDirectory);
        if (!table || !wanted(keyspace, table[1]!)) continue;
        const snapshotDir = path.join(dataDir, keyspace, tableDirectory, ...below);
        let entries;
        try {
          entries = await readdir(snapshotDir, { withFileTypes: true });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw err;
        }
        const indexDirs = entries.filter((e) => e.isDirectory() && INDEX_DIR.test(e.name)).map((e) => e.name).sort();
        for (const indexDirectory of [undefined, ...indexDirs]) {
          const dir = indexDirectory ? path.join(snapshotDir, indexDirectory) : snapshotDir;
          const inDir = indexDirectory ? await readdir(dir, { withFileTypes: true }) : entries;
          for (const entry of inDir.sort((a, b) => a.name.localeCompare(b.name))) {
            if (!entry.isFile()) continue;
            const sourcePath = path.join(dir, entry.name);
            const { size } = await stat(sourcePath);
            files.push({
              sourcePath,
              entryName: [keyspace, tableDirectory, ...(indexDirectory ? [indexDirectory] : []), entry.name].join('/'),
              dataDirIndex,
              size,
              keyspace,
              tableDirectory,
              fileName: entry.name,
            });
          }
        }
      }
    }
  }
  return { files, totalBytes: files.reduce((sum, f) => sum + f.size, 0) };
}

/**
 * Space available to an unprivileged writer on the file system holding `dir`
 * (or its nearest existing parent, for a directory not created yet), and that
 * file system's device id, so callers can count each file system once.
 */
export async function freeSpace(dir: string): Promise<{ bytes: number; device: number }> {
  let current = path.resolve(dir);
  for (;;) {
    try {
      const [fs, info] = await Promise.all([statfs(current), stat(current)]);
      return { bytes: fs.bavail * fs.bsize, device: info.dev };
    } catch (err) {
      const parent = path.dirname(current);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) throw err;
      current = parent;
    }
  }
}
