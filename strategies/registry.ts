import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError } from '../src/errors.js';
import type { Strategy } from './strategy.js';

/** Namespaces that mean "the strategies in this folder": ours, and Trove's Cassandra ones. */
const KNOWN_NAMESPACES = new Set([
  'strategies',
  'trove.guestagent.strategies.backup.experimental.cassandra_impl',
  'trove.guestagent.strategies.restore.experimental.cassandra_impl',
]);

const NOT_STRATEGIES = new Set(['registry.js', 'strategy.js']);

/** Every strategy module in this folder, by name. A new strategy is a new file here. */
export async function loadStrategies(): Promise<Map<string, Strategy>> {
  const folder = path.dirname(fileURLToPath(import.meta.url));
  const strategies = new Map<string, Strategy>();
  for (const file of (await readdir(folder)).sort()) {
    if (!file.endsWith('.js') || NOT_STRATEGIES.has(file)) continue;
    const module = (await import(pathToFileURL(path.join(folder, file)).href)) as { strategy?: Strategy };
    if (module.strategy) strategies.set(module.strategy.name, module.strategy);
  }
  return strategies;
}

/**
 * The strategy `name` in `namespace` for a backup (backup_strategy,
 * backup_namespace) or a restore (the record's strategy, restore_namespace),
 * or a ConfigError listing the known ones.
 */
export async function findStrategy(role: 'backup' | 'restore', name: string, namespace: string): Promise<Strategy> {
  if (!KNOWN_NAMESPACES.has(namespace)) {
    throw new ConfigError(`${role}_namespace: unknown namespace '${namespace}' (known: ${[...KNOWN_NAMESPACES].join(', ')})`);
  }
  const strategies = await loadStrategies();
  const strategy = strategies.get(name);
  if (!strategy) {
    const what = role === 'backup' ? 'backup_strategy' : "the backup's strategy";
    throw new ConfigError(`${what}: unknown strategy '${name}' (known: ${[...strategies.keys()].sort().join(', ')})`);
  }
  return strategy;
}
