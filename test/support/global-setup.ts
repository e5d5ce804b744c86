/**
 * Mocha global fixtures: the integration tests run against a real Swift with
 * s3api, which test/services/object-store.sh installs and starts, and
 * against Trove's own Python code (test/services/trove-packages.sh), with
 * Debian's zstd, lz4 and lzop (test/services/compression-tools.sh). A store
 * that was already running is used and left running; one started here is
 * stopped at the end.
 */
import path from 'node:path';
import { execa } from 'execa';
import { repoRoot } from './repo-paths.js';

const script = () => path.join(repoRoot(), 'test/services/object-store.sh');
let startedHere = false;

export async function mochaGlobalSetup(): Promise<void> {
  // Trove's own code, for the wire-compatibility tests (installed once, from Debian).
  const trove = await execa('bash', [path.join(repoRoot(), 'test/services/trove-packages.sh')], { reject: false, all: true, timeout: 15 * 60_000 });
  if (trove.exitCode !== 0) throw new Error(`test/services/trove-packages.sh failed (exit ${trove.exitCode}):\n${trove.all}`);
  // zstd, lz4 and lzop, which the agent runs for those compressions (installed once, from Debian).
  const tools = await execa('bash', [path.join(repoRoot(), 'test/services/compression-tools.sh')], { reject: false, all: true, timeout: 15 * 60_000 });
  if (tools.exitCode !== 0) throw new Error(`test/services/compression-tools.sh failed (exit ${tools.exitCode}):\n${tools.all}`);
  const status = await execa('bash', [script(), 'status'], { reject: false });
  if (status.exitCode === 0) return;
  process.stdout.write('starting the test object store (Swift with s3api) ...\n');
  const up = await execa('bash', [script(), 'up'], { reject: false, all: true, timeout: 15 * 60_000 });
  if (up.exitCode !== 0) {
    throw new Error(`test/services/object-store.sh up failed (exit ${up.exitCode}):\n${up.all}`);
  }
  // A status check can time out on a loaded host while the store runs; `up` then starts nothing, and
  // the store is someone else's to stop (stopping it would fail every other run using it).
  startedHere = !/already up and healthy/.test(up.all ?? '');
}

export async function mochaGlobalTeardown(): Promise<void> {
  if (startedHere) await execa('bash', [script(), 'down'], { reject: false });
}
