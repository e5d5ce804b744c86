import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this file with a package.json. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the test files');
    dir = parent;
  }
  return dir;
}

/** Captured outputs of a real Cassandra 4.0 node (../shared beside the repository). */
export function cassandraFactsDir(): string {
  return sharedDataDir('cassandra-4.0', 'CASSANDRA_FACTS_DIR');
}

/** Trove's captured messages and crypto vectors (../shared beside the repository). */
export function troveFactsDir(): string {
  return sharedDataDir('trove', 'TROVE_FACTS_DIR');
}

function sharedDataDir(name: string, override: string): string {
  const dir = process.env[override] ?? path.resolve(repoRoot(), '../shared/data', name);
  if (!existsSync(dir)) {
    throw new Error(`captured data '${name}' not found at ${dir}: put shared/ beside the repository or set ${override}`);
  }
  return dir;
}

export function guestAgentBin(): string {
  return path.join(repoRoot(), 'dist/src/cli/guest-agent.js');
}
