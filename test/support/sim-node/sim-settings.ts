import { readFile, writeFile } from 'node:fs/promises';

/** Settings of the simulator itself (not Cassandra state), kept in <root>/conf/sim-node.json. */
export interface SimSettings {
  startupDelayMs: number;
  /** Seeds host id, tokens, file contents; absent when the node should not be reproducible. */
  seed?: string;
  /** uid/gid the daemon runs as and owns its files with (when started by root). */
  owner?: { uid: number; gid: number };
}

export async function writeSimSettings(path: string, settings: SimSettings): Promise<void> {
  await writeFile(path, `${JSON.stringify(settings, null, 2)}\n`);
}

export async function readSimSettings(path: string): Promise<SimSettings> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`simulated node settings ${path}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  const value = parsed as Partial<SimSettings>;
  if (typeof value.startupDelayMs !== 'number' || value.startupDelayMs < 0) {
    throw new Error(`simulated node settings ${path}: startupDelayMs must be a non-negative number`);
  }
  const settings: SimSettings = { startupDelayMs: value.startupDelayMs };
  if (typeof value.seed === 'string') settings.seed = value.seed;
  if (value.owner && Number.isInteger(value.owner.uid) && Number.isInteger(value.owner.gid)) settings.owner = value.owner;
  return settings;
}
