import { readdir } from 'node:fs/promises';

/** The eight components of a `na` (BIG format) SSTable, as the captured node writes them. */
export const COMPONENTS = [
  'CompressionInfo.db',
  'Data.db',
  'Digest.crc32',
  'Filter.db',
  'Index.db',
  'Statistics.db',
  'Summary.db',
  'TOC.txt',
] as const;

export type Component = (typeof COMPONENTS)[number];

export const SSTABLE_VERSION = 'na';

export function componentFileName(generation: number, component: string): string {
  return `${SSTABLE_VERSION}-${generation}-big-${component}`;
}

/**
 * The generation of an SSTable component file, as Descriptor.fromFilename reads the current (4.0)
 * naming `<version>-<generation>-<format>-<component>`; undefined for any other file. Other
 * versions and formats are recognised too, not assumed.
 */
export function componentGeneration(fileName: string): number | undefined {
  const match = /^[a-z]{2}-(\d+)-[a-z]+-.+$/.exec(fileName);
  return match ? Number(match[1]) : undefined;
}

/** Generations present in a directory (any component), ignoring everything that is not an SSTable file. */
export async function generationsIn(dir: string): Promise<Map<number, string[]>> {
  const found = new Map<number, string[]>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return found;
    throw err;
  }
  for (const name of names) {
    const generation = componentGeneration(name);
    if (generation === undefined) continue;
    const list = found.get(generation) ?? [];
    list.push(name);
    found.set(generation, list);
  }
  return found;
}
