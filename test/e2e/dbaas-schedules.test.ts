import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import amqp from 'amqplib';
import { expect } from 'chai';
import yaml from 'js-yaml';
import type { BackupView } from '../../src/control/backup-view.js';
import type { Schedule } from '../../src/control/schedule-plan.js';
import type { SchedulerEvent } from '../../src/control/scheduler.js';
import { execa } from 'execa';
import { DbaasRunner, dbaasBin, said } from '../support/dbaas-runner.js';
import { readCatalogRecord } from '../support/e2e-nodes.js';
import { startNodeWithAgent, type ServingAgent } from '../support/serving-agent.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { RABBIT_URL } from '../support/test-control-plane.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * `dbaas schedule-create` and `dbaas scheduler --once` against `guest-agent
 * serve` on the real RabbitMQ and a simulated node with a local store. A
 * cron time is at least a minute away, so each run is made due by moving the
 * schedule's stored next run into the past, as a scheduler that was down
 * would find it.
 */
describe('dbaas schedules (scheduled backups with retention)', function () {
  this.timeout(120_000);
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const conductorTopic = `trove-conductor-sched-${run}`;
  const instanceId = `sched-${run}`;
  let base: string;
  let storePath: string;
  let stateDir: string;
  let configFile: string;
  let dbaas: DbaasRunner;
  let agent: ServingAgent | undefined;
  let agentConfig: string;
  let scheduleId: string;

  const scheduleFile = (): string => path.join(stateDir, 'schedules', `${scheduleId}.json`);
  const readSchedule = async (): Promise<Schedule> => JSON.parse(await readFile(scheduleFile(), 'utf8')) as Schedule;
  /** The schedule as a scheduler finds it after being down: its next run a minute ago. */
  const setNextRun = async (at: Date): Promise<void> => {
    const schedule = await readSchedule();
    await writeFile(scheduleFile(), JSON.stringify({ ...schedule, next_run: at.toISOString() }));
  };
  const makeDue = (): Promise<void> => setNextRun(new Date(Date.now() - 60_000));
  const schedulerOnce = async (): Promise<SchedulerEvent[]> => {
    const result = await dbaas.run(['scheduler', '--once', '--json'], { timeoutMs: 60_000 });
    expect(result.exitCode, said(result)).to.equal(0);
    return result.stdout.trim().split('\n').map((line) => JSON.parse(line) as SchedulerEvent);
  };
  const listJson = async (): Promise<BackupView[]> => {
    const result = await dbaas.run(['backup-list', '--json', '--instance', instanceId]);
    expect(result.exitCode, said(result)).to.equal(0);
    return JSON.parse(result.stdout) as BackupView[];
  };

  before(async () => {
    base = await makeTempDir('schedules');
    storePath = path.join(base, 'store');
    stateDir = path.join(base, 'dbaas-state');
    configFile = path.join(base, 'dbaas.yaml');
    await writeFile(configFile, yaml.dump({ transport_url: RABBIT_URL, conductor_topic: conductorTopic, backup_local_path: storePath, dbaas_state_dir: stateDir }), { mode: 0o600 });
    dbaas = new DbaasRunner({ DBAAS_CONFIG: configFile });
    // The conductor queue exists before the agent reports, as it does where a conductor runs.
    expect((await dbaas.run(['backup-list'])).exitCode).to.equal(0);
    const rpc = { instanceId, transportUrl: RABBIT_URL, conductorTopic, reportIntervalSeconds: 2 };
    let node;
    ({ agent, node } = await startNodeWithAgent(path.join(base, instanceId), { storePath }, { tables: [{ keyspace: 'shop', table: 'orders', sstables: 2, bytes: 100_000 }], seed: 5 }, rpc));
    agentConfig = node.configFile;
  });

  after(async () => {
    await agent?.stop('SIGKILL');
    const connection = await amqp.connect(RABBIT_URL);
    const channel = await connection.createChannel();
    for (const queue of [conductorTopic, `guestagent.${instanceId}`]) await channel.deleteQueue(queue).catch(() => undefined);
    await connection.close();
    await stopAllSimNodes();
    await removeDir(base);
  });

  it('answers --help for each schedule command and refuses a bad cron expression with exit 2', async () => {
    for (const command of ['schedule-create', 'schedule-list', 'schedule-delete', 'scheduler']) {
      const help = await dbaas.run([command, '--help']);
      expect(help.exitCode, said(help)).to.equal(0);
      expect(help.stdout).to.match(new RegExp(`^Usage: dbaas ${command} `));
      expect(help.stdout).to.contain('--config FILE');
      if (command !== 'schedule-delete') expect(help.stdout).to.contain('UTC');
    }
    const bad = await dbaas.run(['schedule-create', instanceId, '--cron', '0 2 * *']);
    expect(bad.exitCode, said(bad)).to.equal(2);
    expect(bad.stderr).to.contain("--cron '0 2 * *': expected 5 fields");
  });

  it('schedule-create stores a schedule that schedule-list shows with its next run', async () => {
    const created = await dbaas.run(['schedule-create', instanceId, '--cron', '* * * * *', '--keep-last', '2']);
    expect(created.exitCode, said(created)).to.equal(0);
    scheduleId = created.stdout.trim();
    expect(scheduleId).to.match(UUID);
    const table = await dbaas.run(['schedule-list']);
    expect(table.exitCode, said(table)).to.equal(0);
    expect(table.stdout.split('\n')[0]).to.match(/^ID\s+INSTANCE\s+CRON \(UTC\)\s+INCREMENTAL\s+RETENTION\s+NEXT RUN\s+LAST RUN$/);
    expect(table.stdout).to.match(new RegExp(`${scheduleId}\\s+${instanceId}\\s+\\* \\* \\* \\* \\*\\s+-\\s+last 2\\s+\\S+Z full\\s+never`));
    const [listed] = JSON.parse((await dbaas.run(['schedule-list', '--json'])).stdout) as Schedule[];
    expect(listed).to.include({ id: scheduleId, instance_id: instanceId, cron: '* * * * *', keep_last: 2, keep_days: null, last_run: null });
    expect(Date.parse(listed!.next_run) - Date.now()).to.be.within(0, 60_000);
  });

  it('scheduler --once with nothing due asks for nothing', async () => {
    const events = await schedulerOnce();
    expect(events.map((e) => e.event)).to.deep.equal(['started', 'stopped']);
    expect(await listJson()).to.deep.equal([]);
  });

  it('runs due schedules as backup-create does, and after the third run retention keeps the newest two', async () => {
    const made: string[] = [];
    for (let n = 1; n <= 3; n += 1) {
      await makeDue();
      const events = await schedulerOnce();
      const kinds = events.map((e) => e.event);
      expect(kinds, JSON.stringify(events)).to.include.members(['missed', 'run', 'completed']);
      const started = events.find((e) => e.event === 'run')!;
      expect(started).to.include({ schedule_id: scheduleId, instance_id: instanceId, kind: 'full' });
      made.push(started.backup_id!);
      const purge = events.find((e) => e.event === 'purged')!;
      expect(purge.message, JSON.stringify(events)).to.match(n < 3 ? /deleted 0 backup/ : new RegExp(`deleted 1 backup\\(s\\) \\(${made[0]}\\)`));
    }
    // What the user sees: two COMPLETED scheduled backups, the first gone from the list and the store.
    const views = await listJson();
    expect(views.map((v) => v.id).sort()).to.deep.equal([made[1], made[2]].sort());
    expect(views.every((v) => v.state === 'COMPLETED' && v.type === 'full' && v.in_catalog && /^scheduled full /.test(v.name ?? ''))).to.equal(true);
    const table = await dbaas.run(['backup-list', '--instance', instanceId]);
    expect(table.stdout).to.not.contain(made[0]);
    expect(await readCatalogRecord(agentConfig, made[2]!)).to.include({ id: made[2], instance_id: instanceId, state: 'COMPLETED' });
    await readCatalogRecord(agentConfig, made[0]!).then(
      () => expect.fail(`backup ${made[0]} is still in the catalog`),
      () => undefined,
    );
    const schedule = await readSchedule();
    expect(schedule.last_run).to.include({ outcome: 'completed', backup_id: made[2], kind: 'full' });
    expect(schedule.last_run?.message).to.contain(`deleted 1 backup(s) (${made[0]})`);
    expect(Date.parse(schedule.next_run)).to.be.greaterThan(Date.now() - 1000);
  });

  it('skips a due run while a backup of the instance is still BUILDING, and says so on the schedule', async () => {
    const stateFile = path.join(stateDir, 'backups', `${(await readSchedule()).last_run!.backup_id}.json`);
    const entry = JSON.parse(await readFile(stateFile, 'utf8')) as { state: string };
    await writeFile(stateFile, JSON.stringify({ ...entry, state: 'BUILDING' }));
    try {
      await makeDue();
      const events = await schedulerOnce();
      const skipped = events.find((e) => e.event === 'skipped');
      expect(skipped?.message, JSON.stringify(events)).to.match(/skipped the full run due at .*: backup \S+ is BUILDING on instance/);
      expect(events.some((e) => e.event === 'run')).to.equal(false);
      const listed = await dbaas.run(['schedule-list']);
      expect(listed.stdout).to.match(new RegExp(`${scheduleId}.*skipped full .*is BUILDING on instance ${instanceId}`));
    } finally {
      await writeFile(stateFile, JSON.stringify(entry));
    }
  });

  it('runs as a service until SIGTERM, stops cleanly with exit 0, and keeps a second scheduler out meanwhile', async () => {
    // Nothing due while it runs: this test is about starting and stopping.
    await setNextRun(new Date(Date.now() + 3_600_000));
    const service = execa(process.execPath, [dbaasBin(), 'scheduler'], {
      reject: false,
      extendEnv: false,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', DBAAS_CONFIG: configFile },
      stdin: 'ignore',
      timeout: 60_000,
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      service.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (/ started: /.test(out)) resolve();
      });
      service.once('exit', () => reject(new Error(`the scheduler exited before it started: ${out}`)));
    });
    const second = await dbaas.run(['scheduler', '--once']);
    expect(second.exitCode, said(second)).to.equal(1);
    expect(second.stderr).to.match(/dbaas scheduler is running \(pid \d+, since .*\); wait for it to end \(lock .*scheduler\.lock\)/);
    service.kill('SIGTERM');
    const ended = await service;
    expect(ended.exitCode, `${ended.stdout}\n${ended.stderr}`).to.equal(0);
    expect(String(ended.stdout)).to.match(/ stopped: stopping \(interrupted by SIGTERM\)/);
  });

  it('schedule-delete removes the schedule and leaves its backups', async () => {
    const deleted = await dbaas.run(['schedule-delete', scheduleId]);
    expect(deleted.exitCode, said(deleted)).to.equal(0);
    expect(deleted.stdout).to.contain(`schedule ${scheduleId} deleted`);
    expect((await dbaas.run(['schedule-list'])).stdout.trim()).to.equal('no schedules');
    const again = await dbaas.run(['schedule-delete', scheduleId]);
    expect(again.exitCode).to.equal(1);
    expect(again.stderr).to.contain(`schedule ${scheduleId} not found`);
    expect(await listJson()).to.have.length(2);
  });
});
