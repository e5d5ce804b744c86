/**
 * The simulated node the benchmark backs up: user tables of SSTables whose
 * Data.db files are the simulator's (test/support/sim-node/sstable-payload.ts,
 * sstable-writer.ts: an AES-CTR keystream, incompressible like LZ4-compressed
 * SSTables, with 2 KiB of repetitive text at the start of every 64 KiB page),
 * plus the node's system keyspaces. How compressible that is gets measured on
 * a sample of its TAR stream, so the results say what the compressors had to
 * work with.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { SimTableSpec } from '../test/support/sim-node/index.js';

const MiB = 1024 * 1024;
/** SSTables of about this size: many of them, as a node that has compacted for a while has. */
const SSTABLE_TARGET = 128 * MiB;
const TABLES = ['orders', 'events', 'sessions', 'readings'];

/** Four tables whose Data.db files add up to `size`, in SSTables of ~128 MiB (at least two per table). */
export function benchTables(size: number): SimTableSpec[] {
  const perTable = Math.floor(size / TABLES.length);
  const sstables = Math.max(2, Math.round(perTable / SSTABLE_TARGET));
  return TABLES.map((table) => ({ keyspace: 'bench', table, sstables, bytes: perTable }));
}

export interface TreeFacts {
  files: string[];
  bytes: number;
}

/** Every regular file under the directories, in a stable order, with their total size. */
export async function listFiles(dirs: string[]): Promise<TreeFacts> {
  const files: string[] = [];
  let bytes = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        files.push(full);
        bytes += (await stat(full)).size;
      }
    }
  };
  for (const dir of dirs) await walk(dir);
  return { files, bytes };
}

export interface Compressibility {
  sample_bytes: number;
  /** Stored bytes as a fraction of raw, per `tool -1`. */
  stored_fraction: Record<string, number>;
}

/** The first `sampleBytes` of the data directory's TAR stream through zstd -1, lz4 -1 and gzip -1, where installed. */
export async function measureCompressibility(dataDir: string, sampleBytes: number): Promise<Compressibility> {
  const stored: Record<string, number> = {};
  for (const tool of ['zstd', 'lz4', 'gzip']) {
    // No pipefail: head ends tar early on purpose.
    const result = await execa('bash', ['-c', `tar -C "$1" -cf - . | head -c "$2" | ${tool} -1 -c | wc -c`, 'bash', dataDir, String(sampleBytes)], { reject: false, timeout: 600_000 });
    const bytes = Number(result.stdout.trim());
    if (result.exitCode === 0 && bytes > 0) stored[tool] = bytes / sampleBytes;
  }
  return { sample_bytes: sampleBytes, stored_fraction: stored };
}
