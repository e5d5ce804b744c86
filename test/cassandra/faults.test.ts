import { execFile } from 'node:child_process';
import { chown, mkdir, readFile, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { runAgent } from '../support/agent-runner.js';
import { createFixture, readFixture, writeOrders, type FixtureRows } from '../support/cassandra-fixture.js';
import { localRecordFile, readCatalogRecord } from '../support/e2e-nodes.js';
import { agentPassword, createRealNode, withCql, writeRealAgentConfig, type RealNode } from '../support/real-cassandra.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

const run = promisify(execFile);
const NOBODY = 65534;

/**
 * One real node with two data directories on a small tmpfs of its own (for
 * the full-disk case), both owned by another user than the one Cassandra
 * runs as: what a restore must keep, and what must stop it before the node
 * is touched.
 */
describe('real Cassandra 4.0: several data directories, ownership, crashes and refusals', function () {
  this.timeout(20 * 60_000);
  let root: string;
  let volume: string;
  let node: RealNode;
  let config: string;
  let storePath: string;
  let password = 'cassandra';

  const rows = (): Promise<FixtureRows> => withCql(node, password, readFixture);
  const writeMore = async (from: number) => {
    await withCql(node, password, (client) => writeOrders(client, from, 30));
    expect((await node.nodetool(['flush', 'shop'])).exitCode).to.equal(0);
  };

  before(async function () {
    if (process.getuid?.() !== 0) this.skip(); // mounting the tmpfs and giving files away need root, as CI has
    root = await makeTempDir('real-faults');
    volume = path.join(root, 'volume');
    await mkdir(volume);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=192m', 'tmpfs', volume]);
    const dataDirs = [path.join(volume, 'data1'), path.join(volume, 'data2')];
    for (const dir of dataDirs) {
      await mkdir(dir);
      await chown(dir, NOBODY, NOBODY);
    }
    node = await createRealNode(root, 'faults', { address: '127.0.0.1', yaml: { enable_materialized_views: true, data_file_directories: dataDirs } });
    await node.start();
    storePath = path.join(root, 'store');
    config = await writeRealAgentConfig(node, storePath);
    await withCql(node, password, createFixture);
  });

  after(async () => {
    await node?.stop();
    if (volume) await run('umount', [volume]).catch(() => undefined);
    await removeDir(root);
  });

  it('restores a node with two data directories: each file back in the directory it came from, owned as that directory is', async () => {
    const backup = await runAgent(['backup', '--config', config, '--backup-id', 'multi-1', '--json']);
    expect(backup.exitCode, backup.stderr).to.equal(0);
    const record = await readCatalogRecord(config, 'multi-1');
    const dataFiles = (record.files ?? []).filter((f) => /^shop\/orders-.*-Data\.db$/.test(f.name));
    expect(new Set(dataFiles.map((f) => f.dir)), 'shop.orders has SSTables in both data directories').to.deep.equal(new Set([0, 1]));
    const expected = await rows();
    await writeMore(40_000);

    const restore = await runAgent(['restore', '--config', config, '--backup-id', 'multi-1', '--json']);
    expect(restore.exitCode, restore.stderr).to.equal(0);
    password = await agentPassword(node);
    expect(await rows()).to.deep.equal(expected);
    for (const file of dataFiles) {
      const info = await stat(path.join(node.dataDirs[file.dir]!, file.name));
      expect({ name: file.name, uid: info.uid }).to.deep.equal({ name: file.name, uid: NOBODY });
    }
  });

  it('a restore killed after the swap is rolled back by `guest-agent recover`: old rows, old cassandra.yaml, old password', async () => {
    const expected = await (async () => {
      await writeMore(50_000);
      return rows();
    })();
    const yamlBefore = await readFile(node.cassandraYaml, 'utf8');
    const killed = await runAgent(['restore', '--config', config, '--backup-id', 'multi-1'], { CASSANDRA_GUEST_AGENT_FAILPOINT: 'restore:resetting' });
    expect(killed.exitCode, `the agent is killed at 'resetting':\n${killed.stderr}`).to.equal(-1);

    const recover = await runAgent(['recover', '--config', config, '--json']);
    expect(recover.exitCode, recover.stderr).to.equal(0);
    expect(recover.json?.recovered).to.deep.equal({ backupId: 'multi-1', outcome: 'rolled back' });
    expect(await node.isRunning()).to.equal(true);
    expect(await readFile(node.cassandraYaml, 'utf8')).to.equal(yamlBefore);
    expect(await rows(), 'rows as before the restore, with the old password').to.deep.equal(expected);
    const leftovers = (await readdir(volume)).filter((n) => n.includes('.restore-') || n.includes('.pre-restore-'));
    expect(leftovers).to.deep.equal([]);
  });

  it('refuses a backup taken on another Cassandra major version before touching the node', async () => {
    const file = localRecordFile({ storePath }, 'multi-1');
    const original = await readFile(file, 'utf8');
    await writeFile(file, JSON.stringify({ ...JSON.parse(original), cassandra_version: '3.11.10' }));
    try {
      const before = await rows();
      const refused = await runAgent(['restore', '--config', config, '--backup-id', 'multi-1', '--json']);
      expect(refused.exitCode).to.equal(1);
      expect(String((refused.json!.error as { message: string }).message)).to.match(/taken on Cassandra 3\.11\.10 and this node runs 4\.0/);
      expect(refused.stderr, 'refused before the node was stopped').not.to.match(/stopping Cassandra/);
      expect(await rows()).to.deep.equal(before);
    } finally {
      await writeFile(file, original);
    }
  });

  it('refuses a restore without room for the fresh data directories before the node is stopped', async () => {
    const record = await readCatalogRecord(config, 'multi-1');
    const free = await statfs(volume);
    const filler = path.join(volume, 'filler');
    // Leave half of what the restore needs.
    await writeFile(filler, Buffer.alloc(Math.max(0, free.bavail * free.bsize - Math.floor(record.raw_bytes / 2))));
    try {
      const refused = await runAgent(['restore', '--config', config, '--backup-id', 'multi-1', '--json']);
      expect(refused.exitCode).to.equal(1);
      expect(String((refused.json!.error as { message: string }).message)).to.match(/free|space/i);
      expect(refused.stderr).not.to.match(/stopping Cassandra/);
      expect(await node.isRunning()).to.equal(true);
    } finally {
      await rm(filler, { force: true });
    }
  });

  it('refuses a backup while the node is down, with what to do, and writes no record', async () => {
    await node.stop();
    try {
      const refused = await runAgent(['backup', '--config', config, '--backup-id', 'down-1', '--json']);
      expect(refused.exitCode).to.equal(1);
      expect(String((refused.json!.error as { message: string }).message)).to.match(/Failed to connect to '127\.0\.0\.1:7199'/);
      await readCatalogRecord(config, 'down-1').then(
        () => expect.fail('a record was written for a failed backup'),
        (err: Error) => expect(err.message).to.match(/has no catalog record/),
      );
    } finally {
      await node.start();
    }
  });
});
