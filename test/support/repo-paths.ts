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

/** Captured outputs of a real Cassandra 4.0 node (test/fixtures/cassandra-4.0; where each came from: its INDEX.md and test/fixtures/README.md). */
export function cassandraFactsDir(): string {
  return fixtureDir('cassandra-4.0', 'CASSANDRA_FACTS_DIR');
}

/** Trove's captured messages and crypto vectors (test/fixtures/trove). */
export function troveFactsDir(): string {
  return fixtureDir('trove', 'TROVE_FACTS_DIR');
}

function fixtureDir(name: string, override: string): string {
  const dir = process.env[override] ?? path.join(repoRoot(), 'test/fixtures', name);
  if (!existsSync(dir)) throw new Error(`captured data '${name}' not found at ${dir} (set ${override} to another copy)`);
  return dir;
}

export function guestAgentBin(): string {
  return path.join(repoRoot(), 'dist/src/cli/guest-agent.js');
}
