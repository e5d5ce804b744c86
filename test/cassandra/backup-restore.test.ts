import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { runAgent } from '../support/agent-runner.js';
import { createFixture, readFixture, writeOrders, type FixtureRows } from '../support/cassandra-fixture.js';
import { readCatalogRecord } from '../support/e2e-nodes.js';
import { s3AgentSettings, swiftAgentSettings } from '../support/object-store-env.js';
import { agentPassword, connect, createRealNode, withCql, writeRealAgentConfig, type RealNode } from '../support/real-cassandra.js';
import { removeS3Bucket, removeSwiftContainer } from '../support/test-stores.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

const VIEWS = { enable_materialized_views: true };

/** Runs `guest-agent <args> --json` and returns what it printed under its command's name, failing with its stderr. */
async function agent(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>> {
  const run = await runAgent([...args, '--json'], env);
  expect(run.exitCode, `guest-agent ${args.join(' ')}:\n${run.stderr}`).to.equal(0);
  return run.json![args[0] === 'backup' ? 'backup' : args[0]!] as Record<string, unknown>;
}

const rowsOf = (node: RealNode, password: string): Promise<FixtureRows> => withCql(node, password, readFixture);

describe('real Cassandra 4.0: backup and restore', function () {
  this.timeout(20 * 60_000);
  const run = randomBytes(3).toString('hex');
  const container = `real-${run}`;
  const bucket = `real-${run}`;
  let root: string;
  let storePath: string;
  let source: RealNode;
  let target: RealNode;
  /** The source's superuser password: the default until the agent restores it and sets its own. */
  let sourcePassword = 'cassandra';

  before(async () => {
    root = await makeTempDir('real');
    storePath = path.join(root, 'store');
    source = await createRealNode(root, 'source', { address: '127.0.0.1', yaml: VIEWS });
    target = await createRealNode(root, 'target', { address: '127.0.0.2', yaml: VIEWS });
    await source.start();
    await target.start();
    await withCql(source, sourcePassword, createFixture);
  });

  after(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    await Promise.all([removeSwiftContainer(container), removeS3Bucket(bucket).catch(() => undefined)]);
    await removeDir(root);
  });

  it('restores a node at 127.0.0.1 into a fresh node at 127.0.0.2 while the source runs: every row, the index, the view, counters, TTLs; the node gets its own cluster name and the agent its password', async () => {
    const sourceConfig = await writeRealAgentConfig(source, storePath);
    const targetConfig = await writeRealAgentConfig(target, storePath);
    const before = await rowsOf(source, sourcePassword);
    expect(before.tables['shop.orders']).to.have.length(400);
    expect(before.ordersOfCustomer7).to.have.length(27);

    const backup = await agent(['backup', '--config', sourceConfig, '--backup-id', 'full-1']);
    expect(backup).to.include({ state: 'COMPLETED', type: 'full' });
    const record = await readCatalogRecord(sourceConfig, 'full-1');
    const names = (record.files ?? []).map((f) => f.name);
    expect(names.some((n) => /^shop\/orders-[0-9a-f]{32}\/\.orders_by_customer\/na-\d+-big-Data\.db$/.test(n)), 'index SSTables in the backup').to.equal(true);
    expect(names.some((n) => /^shop\/orders_by_total-[0-9a-f]{32}\/na-\d+-big-Data\.db$/.test(n)), 'view SSTables in the backup').to.equal(true);

    const restore = await agent(['restore', '--config', targetConfig, '--backup-id', 'full-1']);
    expect(restore).to.include({ clusterName: 'instance-target' });
    expect(await source.isRunning(), 'the source node still runs').to.equal(true);

    const password = await agentPassword(target);
    expect(await rowsOf(target, password)).to.deep.equal(before);
    const local = await withCql(target, password, (client) => client.execute("SELECT cluster_name FROM system.local WHERE key = 'local'"));
    expect(local.rows[0]!.cluster_name).to.equal('instance-target');
    expect((await target.nodetool(['describecluster'])).stdout).to.match(/Name: instance-target/);
    const refused = await connect(target.address, 'cassandra', 'cassandra', 1).then((c) => c.shutdown().then(() => 'logged in'), (err: Error) => err.message);
    expect(refused, "the source's superuser password no longer logs in").to.match(/Provided username cassandra and\/or password are incorrect/);
  });

  it('restores a node in place from an encrypted, zstd-compressed backup in Swift: rows written after the backup are gone', async () => {
    const keyFile = path.join(root, 'backup.key');
    await writeFile(keyFile, randomBytes(32), { mode: 0o600 });
    const config = await writeRealAgentConfig(source, storePath, {
      ...swiftAgentSettings(container, '1MiB'),
      backup_encryption: 'aes-256-gcm',
      backup_encryption_key_file: keyFile,
      backup_compression: 'zstd',
    });
    const before = await rowsOf(source, sourcePassword);
    const backup = await agent(['backup', '--config', config, '--backup-id', 'swift-1']);
    expect(backup).to.include({ state: 'COMPLETED' });

    await withCql(source, sourcePassword, (client) => writeOrders(client, 10_000, 50));
    expect((await source.nodetool(['flush', 'shop'])).exitCode).to.equal(0);
    expect((await rowsOf(source, sourcePassword)).tables['shop.orders']).to.have.length(450);

    await agent(['restore', '--config', config, '--backup-id', 'swift-1']);
    sourcePassword = await agentPassword(source);
    expect(await rowsOf(source, sourcePassword)).to.deep.equal(before);
  });

  it('restores a differential chain from S3 onto the second node, with a compaction between its backups; verify --chain passes', async () => {
    const settings = s3AgentSettings(bucket);
    const sourceConfig = await writeRealAgentConfig(source, storePath, settings);
    const targetConfig = await writeRealAgentConfig(target, storePath, settings);
    const full = await agent(['backup', '--config', sourceConfig, '--backup-id', 'd0']);
    expect(full).to.include({ type: 'full' });

    const write = (from: number) => withCql(source, sourcePassword, (client) => writeOrders(client, from, 100));
    await write(20_000);
    const first = await agent(['backup', '--config', sourceConfig, '--backup-id', 'd1', '--incremental']);
    expect(first).to.include({ type: 'incremental', strategy: 'NodetoolDifferential' });
    await write(30_000);
    expect((await source.nodetool(['compact', 'shop', 'orders'])).exitCode).to.equal(0);
    await agent(['backup', '--config', sourceConfig, '--backup-id', 'd2', '--incremental']);
    const [d0, d1] = await Promise.all([readCatalogRecord(sourceConfig, 'd0'), readCatalogRecord(sourceConfig, 'd1')]);
    expect(d1.stored_bytes, 'the differential stores less than the full backup').to.be.below(d0.stored_bytes);
    const expected = await rowsOf(source, sourcePassword);
    expect(expected.tables['shop.orders']).to.have.length(600);

    const verify = await agent(['verify', 'd2', '--config', sourceConfig, '--chain']);
    expect(verify).to.include({ ok: true });

    await agent(['restore', '--config', targetConfig, '--backup-id', 'd2']);
    expect(await rowsOf(target, await agentPassword(target))).to.deep.equal(expected);
  });
});
