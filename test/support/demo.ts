/**
 * `npm run demo`: the main job on embedded defaults. A simulated Cassandra
 * node with sample keyspaces, a full backup into a local directory store, a
 * restore into a second simulated node, and proof that the restored files are
 * byte-identical to the backed-up ones. Every step is printed.
 */
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { formatBytes } from '../../src/util/format-bytes.js';
import { readArchive } from './archive-reader.js';
import { createNodeUnderTest, readCatalogRecord } from './e2e-nodes.js';
import { guestAgentBin } from './repo-paths.js';
import { stopAllSimNodes } from './sim-node/index.js';
import { digestTree } from './tree-digest.js';

const say = (message: string) => process.stdout.write(`\n==> ${message}\n`);

async function agent(args: string[]): Promise<void> {
  process.stdout.write(`$ guest-agent ${args.join(' ')}\n`);
  const result = await execa(process.execPath, [guestAgentBin(), ...args], { stdio: 'inherit', reject: false });
  if (result.exitCode !== 0) throw new Error(`guest-agent ${args[0]} failed with exit ${result.exitCode}`);
}

async function main(): Promise<void> {
  const base = path.join(os.tmpdir(), `cassandra-guest-agent-demo-${process.pid}`);
  await mkdir(base, { recursive: true });
  const stores = { storePath: path.join(base, 'backups') };
  try {
    say(`creating simulated Cassandra node A in ${base}/node-a (keyspaces shop, metrics)`);
    const a = await createNodeUnderTest(path.join(base, 'node-a'), stores, {
      tables: [
        { keyspace: 'shop', table: 'orders', sstables: 3, bytes: 24 * 1024 * 1024 },
        { keyspace: 'shop', table: 'customers', sstables: 2, bytes: 6 * 1024 * 1024 },
        { keyspace: 'metrics', table: 'events', sstables: 4, bytes: 32 * 1024 * 1024 },
      ],
      seed: 42,
    });
    await a.sim!.start();
    say('creating simulated Cassandra node B (same cluster name, its own data)');
    const b = await createNodeUnderTest(path.join(base, 'node-b'), stores, { tables: [{ keyspace: 'shop', table: 'orders', sstables: 1, bytes: 64 * 1024 }], seed: 7 });
    await b.sim!.start();

    say('full backup of node A into the local store');
    await agent(['backup', '--config', a.configFile, '--backup-id', 'demo-full-1']);
    const record = await readCatalogRecord(a.configFile, 'demo-full-1');
    const archive = await readArchive(new URL(record.location).pathname);

    say('restore of backup demo-full-1 into node B');
    await agent(['restore', '--config', b.configFile, '--backup-id', 'demo-full-1']);

    say('comparing node B with the backup, file by file');
    const restored = await digestTree(b.dataDirs[0]!);
    let identical = 0;
    const different: string[] = [];
    for (const [name, file] of archive) {
      // Cassandra rewrites a few system tables when it starts (size estimates, local); user data must match.
      if (name.startsWith('system/')) continue;
      if (restored.get(name) === file.sha256) identical += 1;
      else different.push(name);
    }
    if (different.length > 0) throw new Error(`restored files differ from the backup: ${different.slice(0, 5).join(', ')}`);
    process.stdout.write(`${identical} files outside the system keyspace are byte-identical to the backup (${formatBytes(record.raw_bytes)} raw, ${formatBytes(record.stored_bytes)} stored)\n`);
    say(`done. Backup object: ${record.location}`);
  } finally {
    await stopAllSimNodes();
    if (process.argv.includes('--keep')) process.stdout.write(`(kept ${base})\n`);
    else await rm(base, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
