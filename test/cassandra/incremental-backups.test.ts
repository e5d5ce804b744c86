import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { runAgent } from '../support/agent-runner.js';
import { createFixture, readFixture, writeOrders } from '../support/cassandra-fixture.js';
import { readCatalogRecord } from '../support/e2e-nodes.js';
import { agentPassword, createRealNode, withCql, writeRealAgentConfig, type RealNode } from '../support/real-cassandra.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

/** Every file in the user keyspaces' backups/ directories (index subdirectories included). */
async function backupsFiles(node: RealNode): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, inBackups: boolean): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'snapshots') await walk(full, inBackups || entry.name === 'backups');
      } else if (inBackups) {
        found.push(path.relative(node.dataDirs[0]!, full));
      }
    }
  };
  for (const keyspace of ['shop', 'metrics']) await walk(path.join(node.dataDirs[0]!, keyspace), false);
  return found.sort();
}

describe("real Cassandra 4.0: incremental backups from Cassandra's backups/ (incremental_backups: true)", function () {
  this.timeout(20 * 60_000);
  let root: string;
  let node: RealNode;
  let config: string;

  before(async () => {
    root = await makeTempDir('real-incremental');
    node = await createRealNode(root, 'incremental', { address: '127.0.0.3', yaml: { enable_materialized_views: true, incremental_backups: true } });
    await node.start();
    config = await writeRealAgentConfig(node, path.join(root, 'store'), { backup_incremental_strategy: 'NodetoolIncremental' });
    await withCql(node, 'cassandra', createFixture);
  });

  after(async () => {
    await node?.stop();
    await removeDir(root);
  });

  const write = (from: number, count: number) => withCql(node, 'cassandra', (client) => writeOrders(client, from, count));
  const backup = async (id: string, ...flags: string[]) => {
    const run = await runAgent(['backup', '--config', config, '--backup-id', id, ...flags, '--json']);
    expect(run.exitCode, run.stderr).to.equal(0);
    return readCatalogRecord(config, id);
  };

  it("stores in the first incremental only what was flushed after the full backup, not the SSTables the full backup's own snapshot flushed", async () => {
    // The fixture's rows are still in memtables: the snapshot flushes them, and Cassandra links those SSTables into backups/ too.
    const full = await backup('i0', '--full');
    expect(full).to.include({ type: 'full', strategy: 'NodetoolIncremental' });
    expect(await backupsFiles(node), "backups/ after the full backup: what it holds is in the full backup").to.deep.equal([]);

    await write(5_000, 40);
    const first = await backup('i1', '--incremental');
    expect(first).to.include({ type: 'incremental', strategy: 'NodetoolIncremental' });
    const stored = (first.files ?? []).map((f) => f.name);
    expect(stored.length, 'files of the first incremental').to.be.above(0);
    // Only the new flush of shop.orders (its index and its view): nothing of the tables nobody wrote.
    expect(stored.filter((n) => /^(shop\/(carts|page_views)|metrics\/events)-/.test(n)), 'tables with no new writes').to.deep.equal([]);
    expect(first.raw_bytes, 'the first incremental is smaller than the full backup').to.be.below(full.raw_bytes / 2);
    expect(await backupsFiles(node), 'backups/ emptied of what was stored').to.deep.equal([]);
  });

  it('restores full + incremental + incremental in place: the rows of the last backup, not those written after it', async () => {
    await write(6_000, 40);
    await backup('i2', '--incremental');
    const expected = await withCql(node, 'cassandra', async (client) => {
      const rows = await readFixture(client);
      await writeOrders(client, 7_000, 25);
      return rows;
    });
    expect(expected.tables['shop.orders']).to.have.length(480);

    const restore = await runAgent(['restore', '--config', config, '--backup-id', 'i2', '--json']);
    expect(restore.exitCode, restore.stderr).to.equal(0);
    expect(await withCql(node, await agentPassword(node), readFixture)).to.deep.equal(expected);
  });
});
