import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { expect } from 'chai';
import yaml from 'js-yaml';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import type { BackupRequest } from '../../src/control/backup-state.js';
import type { BackupView } from '../../src/control/backup-view.js';
import { encodeConductorCast } from '../../src/rpc/oslo-message.js';
import { PythonFloat } from '../../src/rpc/python-json.js';
import { DbaasRunner, said } from '../support/dbaas-runner.js';
import { localRecordFile, readCatalogRecord, restoreLeftovers, type NodeUnderTest } from '../support/e2e-nodes.js';
import { startNodeWithAgent, type ServingAgent } from '../support/serving-agent.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { RABBIT_URL } from '../support/test-control-plane.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { digestTree } from '../support/tree-digest.js';

const TABLES = [
  { keyspace: 'shop', table: 'orders', sstables: 2, bytes: 300_000 },
  { keyspace: 'shop', table: 'customers', sstables: 1, bytes: 40_000 },
];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A password dbaas must never print, for the broker-refused case. */
const WRONG_PASSWORD = 'wrong-pw-7Qx2';

/**
 * `dbaas` as a person or a script runs it, against `guest-agent serve` on the
 * real RabbitMQ and simulated Cassandra nodes sharing a local store.
 */
describe('dbaas (the control plane commands)', function () {
  this.timeout(120_000);
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const conductorTopic = `trove-conductor-dbaas-${run}`;
  const keyText = randomUUID().replaceAll('-', '');
  const ids = { source: `src-${run}`, encrypted: `enc-${run}`, target: `dst-${run}`, idle: `idle-${run}`, ghost: `ghost-${run}` };
  const queues = [conductorTopic, ...Object.values(ids).map((id) => `guestagent.${id}`)];
  const agents: ServingAgent[] = [];
  let base: string;
  let storePath: string;
  let stateDir: string;
  let dbaas: DbaasRunner;
  let source: NodeUnderTest;
  let target: NodeUnderTest;
  let keyFile: string;
  /** Made by the first test, restored and listed by the later ones. */
  let completedId: string;

  async function nodeWithAgent(instanceId: string, tables: typeof TABLES | undefined, seed: number, key?: string): Promise<NodeUnderTest> {
    const rpc = { instanceId, transportUrl: RABBIT_URL, conductorTopic, reportIntervalSeconds: 2, ...(key ? { key } : {}) };
    const { node, agent } = await startNodeWithAgent(path.join(base, instanceId), { storePath }, { ...(tables ? { tables } : {}), seed }, rpc);
    agents.push(agent);
    return node;
  }

  const stateEntry = async (id: string): Promise<BackupRequest | undefined> => {
    const file = path.join(stateDir, 'backups', `${id}.json`);
    return existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as BackupRequest) : undefined;
  };
  const listJson = async (...args: string[]): Promise<BackupView[]> => {
    const result = await dbaas.run(['backup-list', '--json', ...args]);
    expect(result.exitCode, said(result)).to.equal(0);
    return JSON.parse(result.stdout) as BackupView[];
  };
  const record = (id: string): Promise<BackupRecord> => readCatalogRecord(source.configFile, id);

  before(async () => {
    base = await makeTempDir('dbaas');
    storePath = path.join(base, 'store');
    stateDir = path.join(base, 'dbaas-state');
    const configFile = path.join(base, 'dbaas.yaml');
    await writeFile(configFile, yaml.dump({ transport_url: RABBIT_URL, conductor_topic: conductorTopic, backup_local_path: storePath, dbaas_state_dir: stateDir }), { mode: 0o600 });
    dbaas = new DbaasRunner({ DBAAS_CONFIG: configFile });
    keyFile = path.join(base, 'enc.key');
    await writeFile(keyFile, `${keyText}\n`, { mode: 0o644 });
    await chmod(keyFile, 0o644);
    // The conductor queue exists before any agent reports, as it does where a conductor runs.
    expect((await dbaas.run(['backup-list'])).exitCode).to.equal(0);
    [source, , target] = await Promise.all([
      nodeWithAgent(ids.source, TABLES, 11),
      nodeWithAgent(ids.encrypted, TABLES, 12, keyText),
      nodeWithAgent(ids.target, undefined, 13),
    ]);
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop('SIGKILL')));
    const connection = await amqp.connect(RABBIT_URL);
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue).catch(() => undefined);
    await connection.close();
    await stopAllSimNodes();
    await removeDir(base);
  });

  it('answers --help for itself and every command', async () => {
    const main = await dbaas.run(['--help']);
    expect(main.exitCode).to.equal(0);
    for (const command of ['backup-create', 'backup-list', 'backup-show', 'backup-delete', 'backup-purge', 'backup-verify', 'create']) {
      expect(main.stdout).to.contain(command);
      const help = await dbaas.run([command, '--help']);
      expect(help.exitCode, said(help)).to.equal(0);
      expect(help.stdout).to.match(new RegExp(`^Usage: dbaas ${command} `));
      expect(help.stdout).to.contain('--config FILE');
    }
    expect((await dbaas.run([])).exitCode).to.equal(2);
    const unknown = await dbaas.run(['backup-frobnicate']);
    expect(unknown.exitCode).to.equal(2);
    expect(unknown.stderr).to.contain("unknown command 'backup-frobnicate'");
  });

  it('backup-create --wait follows the agent to COMPLETED and prints the location, size and checksum', async () => {
    const result = await dbaas.run(['backup-create', ids.source, 'nightly', '--description', 'first one', '--wait', '--timeout', '60']);
    expect(result.exitCode, said(result)).to.equal(0);
    const [id, ...rest] = result.stdout.trim().split('\n');
    expect(id).to.match(UUID);
    completedId = id!;
    const rec = await record(completedId);
    expect(rest.join('\n')).to.contain('state     COMPLETED').and.contain(`location  ${rec.location}`).and.contain(`checksum  ${rec.checksum}`);
    expect(result.stderr).to.match(/BUILDING/).and.to.match(/COMPLETED/);
    const entry = await stateEntry(completedId);
    expect(entry).to.include({ state: 'COMPLETED', instance_id: ids.source, name: 'nightly', description: 'first one', location: rec.location });
  });

  it('backup-list shows it in a table and as JSON, and backup-show gives every field', async () => {
    const rec = await record(completedId);
    const table = await dbaas.run(['backup-list']);
    expect(table.exitCode, said(table)).to.equal(0);
    expect(table.stdout.split('\n')[0]).to.match(/^ID\s+INSTANCE\s+NAME\s+STATE\s+TYPE\s+SIZE\s+CREATED$/);
    const row = table.stdout.split('\n').find((line) => line.startsWith(completedId));
    expect(row, table.stdout).to.match(new RegExp(`${ids.source}\\s+nightly\\s+COMPLETED\\s+full\\s`));

    const views = await listJson('--instance', ids.source);
    const view = views.find((v) => v.id === completedId);
    expect(view).to.include({ state: 'COMPLETED', instance_id: ids.source, size_bytes: rec.stored_bytes, location: rec.location, in_catalog: true, in_state: true });
    expect(views.every((v) => v.instance_id === ids.source)).to.equal(true);

    const show = await dbaas.run(['backup-show', completedId]);
    expect(show.exitCode, said(show)).to.equal(0);
    for (const field of ['sha256', 'object_key', 'archived_tables', 'cassandra_version', 'cluster_name', 'last_report_sent']) expect(show.stdout).to.contain(field);
    expect(show.stdout).to.contain(rec.sha256);
    const shown = JSON.parse((await dbaas.run(['backup-show', completedId, '--json'])).stdout) as { catalog: BackupRecord; request: BackupRequest };
    expect(shown.catalog).to.deep.equal(rec);
    expect(shown.request.state).to.equal('COMPLETED');
  });

  it('backup-verify checks the stored backup without any agent: exit 0, then exit 1 naming a flipped byte', async () => {
    const rec = await record(completedId);
    const good = await dbaas.run(['backup-verify', completedId, '--json']);
    expect(good.exitCode, said(good)).to.equal(0);
    const report = (JSON.parse(good.stdout) as { verify: { ok: boolean; files: { status: string }[] } }).verify;
    expect(report.ok).to.equal(true);
    expect(report.files).to.have.length(rec.files!.length);
    expect(report.files.every((f) => f.status === 'ok')).to.equal(true);

    const object = new URL(rec.location).pathname;
    const original = await readFile(object);
    const flipped = Buffer.from(original);
    const middle = Math.floor(flipped.length / 2);
    flipped[middle] = flipped[middle]! ^ 0x01;
    await writeFile(object, flipped);
    try {
      const bad = await dbaas.run(['backup-verify', completedId]);
      expect(bad.exitCode).to.equal(1);
      expect(bad.stderr).to.match(new RegExp(`backup ${completedId}: the SHA-256 of its \\d+ stored bytes is [0-9a-f]{64}, the catalog says ${rec.sha256}`));
    } finally {
      await writeFile(object, original);
    }
  });

  it('backup-create --wait exits 1 with the agent\'s reason when the backup FAILS, and backup-list shows it FAILED', async () => {
    const result = await dbaas.run(['backup-create', ids.source, 'doomed', '--tables', 'nosuch.table', '--wait', '--timeout', '60']);
    expect(result.exitCode, said(result)).to.equal(1);
    const id = result.stdout.trim().split('\n')[0]!;
    expect(id).to.match(UUID);
    const entry = await stateEntry(id);
    expect(entry).to.include({ state: 'FAILED' });
    expect(entry!.reason).to.be.a('string').and.not.equal('');
    expect(result.stderr).to.contain(`backup ${id} FAILED on instance ${ids.source}: ${entry!.reason}`);
    expect((await listJson()).find((v) => v.id === id)).to.include({ state: 'FAILED', in_catalog: false, reason: entry!.reason });
    // Nothing in storage to delete: its state entry goes.
    const deleted = await dbaas.run(['backup-delete', id, '--yes']);
    expect(deleted.exitCode, said(deleted)).to.equal(0);
    expect(await stateEntry(id)).to.equal(undefined);
  });

  it('backup-show of an unknown backup says it is not found (exit 1)', async () => {
    const result = await dbaas.run(['backup-show', 'no-such-backup']);
    expect(result.exitCode).to.equal(1);
    expect(result.stderr).to.contain('backup no-such-backup not found');
  });

  it('refuses a backup of an instance without an agent and sends nothing', async () => {
    const result = await dbaas.run(['backup-create', ids.ghost, 'lost', '--wait']);
    expect(result.exitCode, said(result)).to.equal(1);
    expect(result.stderr).to.contain(`instance ${ids.ghost} has no queue 'guestagent.${ids.ghost}'`).and.contain('nothing was sent');
    expect(result.stdout).to.equal('');
    expect((await listJson()).some((v) => v.instance_id === ids.ghost)).to.equal(false);
  });

  it('queues a backup for an instance whose agent is not running, saying so', async () => {
    const connection = await amqp.connect(RABBIT_URL);
    try {
      const channel = await connection.createChannel();
      await channel.assertExchange('openstack', 'topic', { durable: false, autoDelete: false });
      await channel.assertQueue(`guestagent.${ids.idle}`, { durable: false, autoDelete: false });
      await channel.bindQueue(`guestagent.${ids.idle}`, 'openstack', `guestagent.${ids.idle}`);
      const result = await dbaas.run(['backup-create', ids.idle, 'later']);
      expect(result.exitCode, said(result)).to.equal(0);
      expect(result.stderr).to.contain(`no agent is consuming 'guestagent.${ids.idle}'`);
      expect((await channel.checkQueue(`guestagent.${ids.idle}`)).messageCount).to.equal(1);
      const id = result.stdout.trim();
      expect((await stateEntry(id))?.state).to.equal('NEW');
      const refused = await dbaas.run(['backup-delete', id, '--yes']);
      expect(refused.exitCode, said(refused)).to.equal(1);
      expect(refused.stderr).to.contain(`backup ${id} is NEW`);
    } finally {
      await connection.close();
    }
  });

  let queuedId: string;
  it('backup-create without --wait returns at once; backup-list later shows it COMPLETED from the queued reports', async () => {
    const result = await dbaas.run(['backup-create', ids.source, 'unattended', '--keyspaces', 'shop']);
    expect(result.exitCode, said(result)).to.equal(0);
    queuedId = result.stdout.trim();
    expect(queuedId).to.match(UUID);
    expect((await stateEntry(queuedId))?.state).to.equal('NEW');
    // Only the agent's reports, read from the conductor queue by a later command, can make it COMPLETED.
    const deadline = Date.now() + 60_000;
    let view: BackupView | undefined;
    while (Date.now() < deadline) {
      view = (await listJson()).find((v) => v.id === queuedId);
      if (view?.state === 'COMPLETED' && view.in_state && (await stateEntry(queuedId))?.state === 'COMPLETED') break;
      await sleep(1000);
    }
    const entry = await stateEntry(queuedId);
    expect(entry, JSON.stringify(view)).to.include({ state: 'COMPLETED', name: 'unattended' });
    expect(entry!.keyspaces).to.deep.equal(['shop']);
    expect(entry!.location).to.equal((await record(queuedId)).location);
    expect(view).to.include({ state: 'COMPLETED', in_catalog: true });
  });

  it('encrypted RPC: takes the key from --instance-key-file, and refuses a key file others can read (exit 2)', async () => {
    const loose = await dbaas.run(['backup-create', ids.encrypted, 'secret-data', '--instance-key-file', keyFile]);
    expect(loose.exitCode, said(loose)).to.equal(2);
    expect(loose.stderr).to.contain('readable by others').and.contain(`chmod 600 ${keyFile}`);
    await chmod(keyFile, 0o600);
    const result = await dbaas.run(['backup-create', ids.encrypted, 'secret-data', '--instance-key-file', keyFile, '--wait', '--timeout', '60', '--json']);
    expect(result.exitCode, said(result)).to.equal(0);
    const summary = JSON.parse(result.stdout) as { ok: boolean; backup: BackupRequest; catalog: BackupRecord };
    expect(summary.ok).to.equal(true);
    expect(summary.backup).to.include({ state: 'COMPLETED', instance_id: ids.encrypted });
    expect(summary.catalog.location).to.equal(summary.backup.location);
    // The same key through the environment, for a command about that instance.
    const listed = await dbaas.run(['backup-list', '--json', '--instance', ids.encrypted], { env: { DBAAS_INSTANCE_KEY: keyText } });
    expect(listed.exitCode, said(listed)).to.equal(0);
    expect((JSON.parse(listed.stdout) as BackupView[]).map((v) => v.id)).to.include(summary.backup.id);
  });

  it('create --backup --wait restores the backup into a second instance', async () => {
    const result = await dbaas.run(['create', ids.target, '--backup', completedId, '--wait', '--timeout', '90']);
    expect(result.exitCode, said(result)).to.equal(0);
    expect(result.stdout).to.contain(`instance ${ids.target} is healthy: backup ${completedId} restored`);
    expect(result.stderr).to.contain('building').and.contain('healthy');
    const original = await digestTree(source.dataDirs[0]!);
    const restored = await digestTree(target.dataDirs[0]!);
    let compared = 0;
    for (const [name, digest] of original) {
      if (!name.startsWith('shop/') || /\/(snapshots|backups)\//.test(name)) continue;
      expect(restored.get(name), name).to.equal(digest);
      compared += 1;
    }
    expect(compared).to.be.greaterThan(0);
    expect(await restoreLeftovers(target)).to.deep.equal([]);
  });

  it('backup-delete refuses a backup that is BUILDING', async () => {
    const id = randomUUID();
    const connection = await amqp.connect(RABBIT_URL);
    try {
      const channel = await connection.createConfirmChannel();
      // What an agent sends when it starts a backup.
      const report = encodeConductorCast(
        { method: 'update_backup', args: { instance_id: ids.source, backup_id: id, sent: new PythonFloat(Date.now() / 1000), state: 'BUILDING', backup_type: 'full' }, context: {} },
        undefined,
      );
      channel.publish('openstack', conductorTopic, report.content, report.options);
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
    const result = await dbaas.run(['backup-delete', id, '--yes']);
    expect(result.exitCode, said(result)).to.equal(1);
    expect(result.stderr).to.contain(`backup ${id} is BUILDING on instance ${ids.source}`).and.contain('cannot be deleted while it runs');
    expect((await stateEntry(id))?.state).to.equal('BUILDING');
  });

  it('backup-delete removes the stored object, then the catalog record, then its state', async () => {
    const rec = await record(queuedId);
    const objectFile = path.join(storePath, rec.object_key);
    expect(existsSync(objectFile)).to.equal(true);
    const result = await dbaas.run(['backup-delete', queuedId, '--yes']);
    expect(result.exitCode, said(result)).to.equal(0);
    expect(result.stdout).to.contain(`backup ${queuedId} deleted`);
    expect(existsSync(objectFile)).to.equal(false);
    expect(existsSync(localRecordFile({ storePath }, queuedId))).to.equal(false);
    expect(await stateEntry(queuedId)).to.equal(undefined);
    const listed = (await listJson()).map((v) => v.id);
    expect(listed).to.not.include(queuedId);
    expect(listed).to.include(completedId);
    expect((await dbaas.run(['backup-show', queuedId])).exitCode).to.equal(1);
  });

  it('lists from storage and state with a warning when RabbitMQ refuses the login', async () => {
    const url = new URL(RABBIT_URL);
    url.password = WRONG_PASSWORD;
    const result = await dbaas.run(['backup-list'], { env: { GUEST_AGENT_TRANSPORT_URL: url.href } });
    expect(result.exitCode, said(result)).to.equal(0);
    expect(result.stderr).to.contain('warning: RabbitMQ at').and.contain('refused the login');
    expect(result.stdout).to.contain(completedId);
    const refused = await dbaas.run(['backup-create', ids.source, 'x'], { env: { GUEST_AGENT_TRANSPORT_URL: url.href } });
    expect(refused.exitCode).to.equal(1);
    expect(refused.stderr).to.contain('refused the login');
  });

  it('backup-purge of real backups: the dry run lists the older full backup, the purge deletes it and keeps the newest', async () => {
    const taken = await dbaas.run(['backup-create', ids.source, 'second', '--wait', '--timeout', '60']);
    expect(taken.exitCode, said(taken)).to.equal(0);
    const secondId = taken.stdout.trim().split('\n')[0]!;
    const old = await record(completedId);
    const oldObject = path.join(storePath, old.object_key);
    const rules = ['backup-purge', '--instance', ids.source, '--keep-last', '1', '--grace', '0m'];

    const dry = await dbaas.run([...rules, '--dry-run', '--json']);
    expect(dry.exitCode, said(dry)).to.equal(0);
    const plan = JSON.parse(dry.stdout) as { would_delete: (BackupView & { reason: string })[]; kept: (BackupView & { reason: string })[] };
    expect(plan.would_delete.map((b) => b.id)).to.deep.equal([completedId]);
    expect(plan.would_delete[0]!.reason).to.equal(`not among the newest 1 COMPLETED backup(s) of instance ${ids.source}`);
    // The BUILDING report of an earlier test: a candidate (not COMPLETED), kept while it runs.
    expect(plan.kept.map((b) => [b.state, b.reason])).to.deep.equal([['BUILDING', 'in progress (BUILDING): never deleted while it runs']]);
    expect(existsSync(oldObject)).to.equal(true);

    const purge = await dbaas.run(rules);
    expect(purge.exitCode, said(purge)).to.equal(0);
    expect(purge.stdout).to.match(new RegExp(`^deleted 1 backup\\(s\\):\n  ${completedId}\\s`));
    expect(existsSync(oldObject)).to.equal(false);
    expect(existsSync(localRecordFile({ storePath }, completedId))).to.equal(false);
    expect(await stateEntry(completedId)).to.equal(undefined);
    const listed = (await listJson('--instance', ids.source)).map((v) => v.id);
    expect(listed).to.include(secondId).and.not.include(completedId);
  });

  it('never prints an instance key or a RabbitMQ password', () => {
    const everything = dbaas.outputs.join('\n');
    expect(everything).to.not.contain(keyText);
    expect(everything).to.not.contain(WRONG_PASSWORD);
    expect(everything).to.not.contain(new URL(RABBIT_URL).password ? `:${new URL(RABBIT_URL).password}@` : '\0');
  });
});
