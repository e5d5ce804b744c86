import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import amqp from 'amqplib';
import { expect } from 'chai';
import { encodeEnvelope, encodeRequest, OSLO_PUBLISH_OPTIONS, type JsonObject } from '../../src/rpc/oslo-message.js';
import { RemoteError } from '../../src/rpc/rpc-errors.js';
import { RpcKey } from '../../src/rpc/secure-serializer.js';
import { findSnapshotFiles } from '../../src/cassandra/data-layout.js';
import type { BackupInfo } from '../../src/control/guest-client.js';
import { readCatalogRecord, restoreLeftovers, type NodeUnderTest } from '../support/e2e-nodes.js';
import { cqlLogin } from '../support/cql-login.js';
import { startNodeWithAgent, type ServingAgent } from '../support/serving-agent.js';
import { RABBIT_URL, TestControlPlane } from '../support/test-control-plane.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { digestTree } from '../support/tree-digest.js';

/**
 * nodetool that takes `seconds` longer over `snapshot`: a window in which a
 * backup is certainly running, without relying on how fast this machine is.
 */
const slowSnapshot = (node: NodeUnderTest, seconds: number): string[] => [
  '/bin/sh',
  '-c',
  `case " $* " in *" snapshot "*) sleep ${seconds};; esac; exec "$0" "$@"`,
  ...node.sim!.nodetoolCommand,
];

const TABLES = [
  { keyspace: 'shop', table: 'orders', sstables: 2, bytes: 400_000 },
  { keyspace: 'shop', table: 'customers', sstables: 1, bytes: 50_000 },
];

/** Publishes as any other client could, bypassing our encoder's checks, and waits for the broker's confirms. */
async function publishRaw(topic: string, messages: { content: Buffer; options: amqp.Options.Publish }[]): Promise<void> {
  const connection = await amqp.connect(RABBIT_URL);
  try {
    const channel = await connection.createConfirmChannel();
    for (const message of messages) channel.publish('openstack', topic, message.content, message.options);
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}

/** rabbitmqctl stop_app / start_app: connections drop, queues and their messages stay. */
async function restartBroker(): Promise<void> {
  await execa('rabbitmqctl', ['stop_app'], { timeout: 60_000 });
  try {
    await new Promise((resolve) => setTimeout(resolve, 2000));
  } finally {
    await execa('rabbitmqctl', ['start_app'], { timeout: 60_000 });
  }
}

/**
 * `guest-agent serve` on the real RabbitMQ, driven by the package's own
 * control-plane library exactly as Trove's taskmanager drives a guest, in
 * both plaintext and encrypted mode.
 */
for (const mode of ['plaintext', 'encrypted'] as const) {
  describe(`guest-agent serve (${mode} RPC)`, function () {
    this.timeout(120_000);
    const run = `${mode}-${process.pid}-${Date.now().toString(36)}`;
    const conductorTopic = `trove-conductor-test-${run}`;
    const keyText = randomUUID().replaceAll('-', '');
    const key = mode === 'encrypted' ? new RpcKey(keyText) : undefined;
    const keys = new Map<string, RpcKey>();
    /**
     * Behaviour that does not depend on how the wire is encoded runs in
     * encrypted mode only (Trove's default), so that the slow cases are not
     * all run twice.
     */
    const itInEncryptedMode = (title: string, test: (this: Mocha.Context) => Promise<void>): void => {
      if (mode === 'encrypted') it(title, test);
    };
    let base: string;
    let stores: { storePath: string };
    let plane: TestControlPlane;
    const agents: ServingAgent[] = [];
    const queues: string[] = [conductorTopic];

    /** A simulated node and its agent; `extra` configuration may depend on the node (e.g. its nodetool). */
    async function nodeWithAgent(
      name: string,
      options: Parameters<typeof startNodeWithAgent>[2],
      extra?: Parameters<typeof startNodeWithAgent>[4],
    ): Promise<{ node: NodeUnderTest; agent: ServingAgent; instanceId: string }> {
      const instanceId = `${name}-${run}`;
      queues.push(`guestagent.${instanceId}`);
      if (key) keys.set(instanceId, key);
      const rpc = { instanceId, transportUrl: RABBIT_URL, conductorTopic, ...(key ? { key: keyText } : {}) };
      const { node, agent } = await startNodeWithAgent(path.join(base, name), stores, options, rpc, extra);
      agents.push(agent);
      return { node, agent, instanceId };
    }

    const backupInfo = (id: string, instanceId: string): BackupInfo => ({
      id,
      name: `backup ${id}`,
      description: null,
      instance_id: instanceId,
      backup_type: 'full',
      checksum: null,
      parent: null,
      datastore: 'cassandra',
      datastore_version: '4.0',
      swift_container: null,
    });
    const context = { auth_token: 'user-token-never-logged', project_id: 'p-1', request_id: 'req-1', trove_notification: { backup_id: 'x', server_type: 'api' } };

    before(async () => {
      base = await makeTempDir(`agent-${mode}`);
      stores = { storePath: path.join(base, 'store') };
      plane = await TestControlPlane.open(conductorTopic, keys);
    });

    // Each test's agents and nodes go with it: idle agents heartbeating every second slow the next tests.
    afterEach(async () => {
      await Promise.all(agents.splice(0).map((a) => a.stop('SIGTERM')));
      await stopAllSimNodes();
    });

    after(async () => {
      await plane?.close();
      const connection = await amqp.connect(RABBIT_URL);
      const channel = await connection.createChannel();
      for (const queue of queues) await channel.deleteQueue(queue).catch(() => undefined);
      await connection.close();
      await stopAllSimNodes();
      await removeDir(base);
    });

    it('answers rpc_ping and get_filesystem_stats with the fields of Trove\'s guest', async () => {
      const { instanceId } = await nodeWithAgent('pinged', { seed: 1 });
      const guest = plane.guest(instanceId, key, context);
      expect(await guest.rpcPing()).to.equal(true);
      const stats = (await guest.getFilesystemStats()) as Record<string, number>;
      expect(stats).to.have.all.keys('block_size', 'total_blocks', 'free_blocks', 'total', 'free', 'used');
      expect(stats.free).to.equal(stats.free_blocks! * stats.block_size!);
    });

    it('answers an unknown method with oslo\'s NoSuchMethod', async () => {
      const { instanceId } = await nodeWithAgent('nosuch', { seed: 2 });
      const error = await plane.rpc.call({ exchange: 'openstack', topic: `guestagent.${instanceId}`, key }, 'list_databases', {}, { timeoutSeconds: 15 }).catch((err: unknown) => err);
      expect(error).to.be.instanceOf(RemoteError);
      expect((error as RemoteError).remoteClass).to.equal('NoSuchMethod');
      expect((error as RemoteError).message).to.contain('Endpoint does not support RPC method list_databases');
    });

    it('runs create_backup and reports BUILDING then COMPLETED with what the catalog holds', async () => {
      const { node, agent, instanceId } = await nodeWithAgent('source', { tables: TABLES, seed: 3 });
      const id = randomUUID();
      await plane.guest(instanceId, key, context).createBackup(backupInfo(id, instanceId));
      const done = await plane.waitForReport((r) => r.method === 'update_backup' && r.args.backup_id === id && r.args.state !== 'BUILDING', 60_000, `final report of ${id}`);
      const reports = plane.backupReports(id);
      expect(reports.map((r) => r.args.state)).to.deep.equal(['BUILDING', 'COMPLETED']);
      expect(done.args).to.include({ instance_id: instanceId, success: true, backup_type: 'full' });
      expect(done.encrypted).to.equal(mode === 'encrypted');
      const sent = reports.map((r) => r.args.sent as number);
      expect(sent[1]).to.be.greaterThan(sent[0]!);
      const record = await readCatalogRecord(node.configFile, id);
      expect(done.args.location).to.equal(record.location);
      expect(done.args.checksum).to.equal(record.checksum);
      expect(done.args.size).to.be.a('number').and.to.be.greaterThan(0);
      expect(done.context.request_id).to.equal('req-1');
      await plane.waitForReport((r) => r.method === 'notify_end', 10_000, 'notify_end');
      expect(agent.stderr).to.not.contain('user-token-never-logged');
      if (key) expect(agent.stderr).to.not.contain(keyText);
      expect((await findSnapshotFiles(node.dataDirs, id)).files).to.have.length(0);
    });

    itInEncryptedMode("runs create_backup with Trove's parent {location, checksum} as an incremental backup of the configured strategy", async () => {
      const { node, instanceId } = await nodeWithAgent('incremental', { tables: TABLES, seed: 6 });
      const guest = plane.guest(instanceId, key, context);
      const fullId = randomUUID();
      await guest.createBackup(backupInfo(fullId, instanceId));
      const full = await plane.waitForReport((r) => r.method === 'update_backup' && r.args.backup_id === fullId && r.args.state === 'COMPLETED', 60_000, 'full COMPLETED');
      // Sent as soon as COMPLETED is read, as a control plane would: the agent has freed its job slot before reporting.
      await node.sim!.write('shop', 'orders', 4_000);

      const id = randomUUID();
      const parent = { location: full.args.location as string, checksum: full.args.checksum as string };
      await guest.createBackup({ ...backupInfo(id, instanceId), backup_type: 'incremental', parent });
      const done = await plane.waitForReport((r) => r.method === 'update_backup' && r.args.backup_id === id && r.args.state !== 'BUILDING', 60_000, `final report of ${id}`);
      expect(plane.backupReports(id).map((r) => [r.args.state, r.args.backup_type])).to.deep.equal([['BUILDING', 'incremental'], ['COMPLETED', 'incremental']]);
      const record = await readCatalogRecord(node.configFile, id);
      expect(record).to.include({ type: 'incremental', strategy: 'NodetoolDifferential' });
      expect(record.parent).to.deep.equal({ id: fullId, ...parent });
      expect(done.args.location).to.equal(record.location);
      expect(record.stored_bytes).to.be.below((await readCatalogRecord(node.configFile, fullId)).stored_bytes / 2);
    });

    it('restores a backup into a new instance through prepare(backup_info), reporting building then healthy', async () => {
      const source = await nodeWithAgent('restore-src', { tables: TABLES, seed: 4 });
      const id = randomUUID();
      await plane.guest(source.instanceId, key, context).createBackup(backupInfo(id, source.instanceId));
      const done = await plane.waitForReport((r) => r.method === 'update_backup' && r.args.backup_id === id && r.args.state === 'COMPLETED', 60_000, 'COMPLETED');

      const target = await nodeWithAgent('restore-dst', { seed: 5 });
      const before = plane.reports.length;
      await plane.guest(target.instanceId, key, context).prepare({
        backupInfo: { id, instance_id: source.instanceId, location: done.args.location as string, type: 'full', checksum: done.args.checksum as string },
      });
      const heartbeatOf = (status: string, after: number) => (r: { method: string; args: Record<string, unknown> }) =>
        plane.reports.indexOf(r as never) >= after && r.method === 'heartbeat' && r.args.instance_id === target.instanceId && (r.args.payload as { service_status: string }).service_status === status;
      const building = await plane.waitForReport(heartbeatOf('building', before), 30_000, 'building heartbeat');
      // After 'building': the agent's start-up heartbeat may say healthy after the prepare was sent.
      await plane.waitForReport(heartbeatOf('healthy', plane.reports.indexOf(building) + 1), 90_000, 'healthy heartbeat');
      await target.agent.waitForLog((l) => l.event === 'prepare.completed', 10_000);
      const original = await digestTree(source.node.dataDirs[0]!);
      const restored = await digestTree(target.node.dataDirs[0]!);
      for (const [name, digest] of original) {
        if (!name.startsWith('shop/') || /\/(snapshots|backups)\//.test(name)) continue;
        expect(restored.get(name), name).to.equal(digest);
      }
      expect(await restoreLeftovers(target.node)).to.deep.equal([]);
    });

    itInEncryptedMode("restores through prepare with config_contents and root_password: its own cluster name, the new password, the source's refused", async () => {
      const auth = { authenticator: 'PasswordAuthenticator', authCacheValidityMs: 200 } as const;
      const source = await nodeWithAgent('auth-src', { ...auth, clusterName: 'Source Cluster', tables: TABLES, seed: 11 });
      const id = randomUUID();
      await plane.guest(source.instanceId, key, context).createBackup(backupInfo(id, source.instanceId));
      const done = await plane.waitForReport((r) => r.args.backup_id === id && r.args.state === 'COMPLETED', 60_000, 'COMPLETED');

      const target = await nodeWithAgent('auth-dst', { ...auth, seed: 12 });
      const rendered = `# rendered by the control plane\n${await readFile(target.node.sim!.cassandraYaml, 'utf8')}`;
      const rootPassword = `root-${randomUUID()}`;
      await plane.guest(target.instanceId, key, context).prepare({
        backupInfo: { id, instance_id: source.instanceId, location: done.args.location as string, type: 'full', checksum: done.args.checksum as string },
        configContents: rendered,
        rootPassword,
      });
      await target.agent.waitForLog((l) => l.event === 'prepare.completed' || l.event === 'prepare.failed', 90_000, 'end of prepare');
      expect(target.agent.logs.find((l) => l.event === 'prepare.failed')?.reason).to.equal(undefined);
      const yamlText = await readFile(target.node.sim!.cassandraYaml, 'utf8');
      expect(yamlText).to.match(/^# rendered by the control plane$/m);
      expect(yamlText).to.match(new RegExp(`^cluster_name: '${target.instanceId}'$`, 'm'));
      expect((await target.node.sim!.nodetool(['status'])).stdout).to.match(/^UN {2}127\.0\.0\.1/m);
      expect(await cqlLogin(target.node, 'cassandra', rootPassword)).to.equal(undefined);
      expect((await cqlLogin(target.node, 'cassandra', 'cassandra'))?.message).to.match(/Provided username cassandra and\/or password are incorrect/);
      expect(target.agent.stderr).to.not.contain(rootPassword);
      await plane.waitForReport((r) => r.method === 'notify_end' && r.args.serialized_notification !== undefined && plane.reports.indexOf(r) > plane.reports.indexOf(done), 10_000, 'notify_end of prepare');
    });

    it('refuses a config_contents that is not a cassandra.yaml mapping, with failed to spawn and the file untouched', async () => {
      const target = await nodeWithAgent('bad-yaml', { seed: 13 });
      const before = await readFile(target.node.sim!.cassandraYaml, 'utf8');
      await plane.guest(target.instanceId, key, context).prepare({ backupInfo: null, configContents: '- just\n- a list\n' });
      const failed = await target.agent.waitForLog((l) => l.event === 'prepare.failed', 30_000, 'prepare.failed');
      expect(failed.reason).to.match(/config_contents is not a cassandra.yaml mapping/);
      await plane.waitForReport((r) => r.method === 'heartbeat' && r.args.instance_id === target.instanceId && (r.args.payload as { service_status: string }).service_status === 'failed to spawn', 15_000, 'failed to spawn');
      expect(await readFile(target.node.sim!.cassandraYaml, 'utf8')).to.equal(before);
    });

    itInEncryptedMode('reports FAILED with the reason when the storage cannot even be set up, instead of leaving the backup NEW', async () => {
      const { instanceId } = await nodeWithAgent('bad-storage', { seed: 15 }, () => ({ storage_strategy: 'swift', swift_auth_version: 3, swift_auth_url: '' }));
      const id = randomUUID();
      await plane.guest(instanceId, key, context).createBackup(backupInfo(id, instanceId));
      const failed = await plane.waitForReport((r) => r.args.backup_id === id && r.args.state === 'FAILED', 30_000, 'FAILED');
      expect(String(failed.args.reason)).to.match(/swift_auth_url/);
    });

    itInEncryptedMode('refuses a prepare whose backup id is a path, and tells the conductor: failed to spawn', async () => {
      const target = await nodeWithAgent('bad-prepare', { seed: 14 });
      await plane.guest(target.instanceId, key, context).prepare({
        backupInfo: { id: '../../etc/passwd', instance_id: target.instanceId, location: 'file:///etc/passwd', type: 'full', checksum: 'x' },
      });
      const refused = await target.agent.waitForLog((l) => l.event === 'prepare.refused', 30_000, 'prepare.refused');
      expect(String(refused.reason)).to.match(/etc\/passwd/);
      await plane.waitForReport((r) => r.method === 'heartbeat' && r.args.instance_id === target.instanceId && (r.args.payload as { service_status: string }).service_status === 'failed to spawn', 15_000, 'failed to spawn');
    });

    itInEncryptedMode('refuses a second job while one runs, with a FAILED report saying why', async () => {
      const { instanceId } = await nodeWithAgent('busy', { tables: TABLES, seed: 6 }, (node) => ({ nodetool_command: slowSnapshot(node, 4) }));
      const first = randomUUID();
      const second = randomUUID();
      const guest = plane.guest(instanceId, key, context);
      await guest.createBackup(backupInfo(first, instanceId));
      await plane.waitForReport((r) => r.args.backup_id === first && r.args.state === 'BUILDING', 30_000, 'first BUILDING');
      await guest.createBackup(backupInfo(second, instanceId));
      const refused = await plane.waitForReport((r) => r.args.backup_id === second && r.args.state === 'FAILED', 30_000, 'second FAILED');
      expect(refused.args.reason).to.match(new RegExp(`backup ${second} refused: backup ${first} is running on this instance`));
      const firstDone = await plane.waitForReport((r) => r.args.backup_id === first && r.args.state !== 'BUILDING', 60_000, 'first final');
      expect(firstDone.args.state).to.equal('COMPLETED');
    });

    itInEncryptedMode('serves Prometheus metrics at metrics_listen: the running backup with its bytes, then its outcome', async () => {
      // max_bandwidth stretches the upload of ~450 kB to a few seconds, long enough to scrape it running.
      const { node, agent, instanceId } = await nodeWithAgent('metered', { tables: TABLES, seed: 9 }, () => ({ metrics_listen: '127.0.0.1:0', max_bandwidth: 100_000 }));
      const listening = await agent.waitForLog((l) => l.event === 'metrics.listening', 10_000, 'metrics.listening');
      const scrape = async (): Promise<string> => {
        const response = await fetch(`http://${String(listening.address)}/metrics`);
        expect(response.status).to.equal(200);
        expect(response.headers.get('content-type')).to.match(/^text\/plain/);
        return response.text();
      };
      const sample = (text: string, series: string): number | undefined => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        return line === undefined ? undefined : Number(line.slice(series.length + 1));
      };
      const id = randomUUID();
      await plane.guest(instanceId, key, context).createBackup(backupInfo(id, instanceId));
      await plane.waitForReport((r) => r.args.backup_id === id && r.args.state === 'BUILDING', 30_000, 'BUILDING');
      let during = '';
      for (let i = 0; i < 50 && !/^guest_agent_job_bytes_done\{kind="backup",phase="[^"]+"\} [1-9]/m.test(during); i++) {
        during = await scrape();
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(sample(during, 'guest_agent_job_in_progress{kind="backup"}')).to.equal(1);
      // The same bytes reach the control plane in the heartbeats (Trove's conductor reads only service_status).
      const told = await plane.waitForReport(
        (r) => r.method === 'heartbeat' && r.args.instance_id === instanceId && ((r.args.payload as JsonObject | undefined)?.job_progress as JsonObject | undefined)?.id === id,
        30_000,
        'a heartbeat with the job_progress of this backup',
      );
      const progress = (told.args.payload as JsonObject).job_progress as JsonObject;
      expect(progress).to.include({ kind: 'backup', id });
      expect(progress.bytes_total).to.be.a('number').and.to.be.greaterThan(0);
      expect(progress.bytes_done).to.be.a('number').and.to.be.at.most(progress.bytes_total as number);
      expect(during).to.match(/^guest_agent_job_bytes_total\{kind="backup",phase="[^"]+"\} [1-9]\d*$/m);
      expect(during).to.match(/^guest_agent_job_bytes_done\{kind="backup",phase="[^"]+"\} [1-9]\d*$/m);

      await plane.waitForReport((r) => r.args.backup_id === id && r.args.state === 'COMPLETED', 60_000, 'COMPLETED');
      const record = await readCatalogRecord(node.configFile, id);
      const after = await scrape();
      expect(sample(after, 'guest_agent_job_in_progress{kind="backup"}')).to.equal(0);
      expect(sample(after, 'guest_agent_rpc_requests_total{method="create_backup"}')).to.equal(1);
      expect(sample(after, 'guest_agent_job_duration_seconds_count{kind="backup",outcome="success"}')).to.equal(1);
      expect(sample(after, 'guest_agent_bytes_stored_total')).to.equal(record.stored_bytes);
      expect(sample(after, 'guest_agent_bytes_read_total{kind="backup"}')).to.equal(record.raw_bytes);
      expect(sample(after, `guest_agent_last_backup_success_stored_bytes{strategy="${record.strategy}"}`)).to.equal(record.stored_bytes);
      const finished = sample(after, `guest_agent_last_backup_success_timestamp_seconds{strategy="${record.strategy}"}`)!;
      expect(finished * 1000).to.be.within(Date.parse(record.created), Date.now());
      expect(after).to.not.contain(id);
      expect((await fetch(`http://${String(listening.address)}/other`)).status).to.equal(404);
    });

    it('ignores a redelivered request with the same _unique_id', async () => {
      const { agent, instanceId } = await nodeWithAgent('dup', { seed: 8 });
      const id = randomUUID();
      const encoded = encodeRequest({ method: 'create_backup', args: { backup_info: backupInfo(id, instanceId) as unknown as JsonObject }, context, version: '1.0' }, key);
      await publishRaw(`guestagent.${instanceId}`, [encoded, encoded]);
      await plane.waitForReport((r) => r.args.backup_id === id && r.args.state === 'COMPLETED', 60_000, 'COMPLETED');
      await agent.waitForLog((l) => l.event === 'rpc.duplicate_dropped', 10_000, 'duplicate dropped');
      expect(plane.backupReports(id).map((r) => r.args.state)).to.deep.equal(['BUILDING', 'COMPLETED']);
    });

    itInEncryptedMode('on SIGTERM aborts the running backup cleanly, reports FAILED and exits 0', async () => {
      const { node, agent, instanceId } = await nodeWithAgent('sigterm', { tables: TABLES, seed: 9 }, (node) => ({ nodetool_command: slowSnapshot(node, 4) }));
      const id = randomUUID();
      await plane.guest(instanceId, key, context).createBackup(backupInfo(id, instanceId));
      await plane.waitForReport((r) => r.args.backup_id === id && r.args.state === 'BUILDING', 30_000, 'BUILDING');
      const exitCode = await agent.stop('SIGTERM');
      expect(exitCode, agent.stderr).to.equal(0);
      const failed = await plane.waitForReport((r) => r.args.backup_id === id && r.args.state !== 'BUILDING', 30_000, 'final report');
      expect(failed.args).to.include({ state: 'FAILED', success: false });
      expect(String(failed.args.reason)).to.match(/agent is stopping/);
      expect((await findSnapshotFiles(node.dataDirs, id)).files).to.have.length(0);
      expect(await readdir(stores.storePath).catch(() => [])).to.not.include.members([`${id}.tar`]);
      const leftovers = (await readdir(stores.storePath).catch(() => [] as string[])).filter((n) => n.includes(id));
      expect(leftovers).to.deep.equal([]);
    });

    itInEncryptedMode('keeps a backup going through a broker restart and delivers its report afterwards', async () => {
      const { instanceId } = await nodeWithAgent('restart', { tables: TABLES, seed: 10 }, (node) => ({ nodetool_command: slowSnapshot(node, 4) }));
      const id = randomUUID();
      await plane.guest(instanceId, key, context).createBackup(backupInfo(id, instanceId));
      await plane.waitForReport((r) => r.args.backup_id === id && r.args.state === 'BUILDING', 30_000, 'BUILDING');
      await restartBroker();
      const done = await plane.waitForReport((r) => r.args.backup_id === id && r.args.state !== 'BUILDING', 90_000, 'final report after the restart');
      expect(done.args.state).to.equal('COMPLETED');
    });

    it('keeps running through hostile messages, and answers a broken call with a failure', async () => {
      const { agent, instanceId } = await nodeWithAgent('hostile', { seed: 7 });
      const topic = `guestagent.${instanceId}`;
      await publishRaw(topic, [
        { content: Buffer.from('{not json'), options: OSLO_PUBLISH_OPTIONS },
        { content: Buffer.from('hello'), options: { ...OSLO_PUBLISH_OPTIONS, contentType: 'text/plain' } },
        { content: encodeEnvelope({ method: 'create_backup', args: { backup_info: 'not an object' }, _context_auth_token: 'secret-token-x' }), options: OSLO_PUBLISH_OPTIONS },
        { content: Buffer.alloc(5 * 1024 * 1024, 0x7b), options: OSLO_PUBLISH_OPTIONS },
      ]);
      await agent.waitForLog((l) => l.event === 'rpc.request_rejected' && /larger than/.test(String(l.reason)), 20_000, 'oversized rejection');
      const guest = plane.guest(instanceId, key, context);
      expect(await guest.rpcPing()).to.equal(true);
      const rejected = agent.logs.filter((l) => l.event === 'rpc.request_rejected' || l.event === 'rpc.request_failed');
      expect(rejected.length).to.be.at.least(3);
      expect(agent.stderr).to.not.contain('secret-token-x');
      // A call whose argument is not what the method takes gets a failure reply, not silence.
      const error = await plane.rpc.call({ exchange: 'openstack', topic, key }, 'create_backup', { backup_info: 42 }, { timeoutSeconds: 15 }).catch((err: unknown) => err);
      expect(error).to.be.instanceOf(RemoteError);
      expect((error as RemoteError).remoteClass).to.equal('GuestError');
      expect((error as RemoteError).message).to.contain('backup_info is not an object');
    });
  });
}
