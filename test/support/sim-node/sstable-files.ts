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

export interface ParsedComponentName {
  version: string;
  generation: number;
  format: string;
  component: string;
}

/**
 * Descriptor.fromFilename for the current (4.0) naming: `<version>-<generation>-<format>-<component>`.
 * Other versions and formats are parsed too so foreign files are recognised, not assumed.
 */
export function parseComponentFileName(fileName: string): ParsedComponentName | undefined {
  const match = /^([a-z]{2})-(\d+)-([a-z]+)-(.+)$/.exec(fileName);
  if (!match) return undefined;
  return { version: match[1] as string, generation: Number(match[2]), format: match[3] as string, component: match[4] as string };
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
    const parsed = parseComponentFileName(name);
    if (!parsed) continue;
    const list = found.get(parsed.generation) ?? [];
    list.push(name);
    found.set(parsed.generation, list);
  }
  return found;
}
