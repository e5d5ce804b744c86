import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { expect } from 'chai';
import { execa, type ResultPromise } from 'execa';
import { createNodeUnderTest, readCatalogRecord, type AgentStores, type NodeUnderTest } from '../support/e2e-nodes.js';
import { repoRoot } from '../support/repo-paths.js';
import { startNodeWithAgent, type ServingAgent } from '../support/serving-agent.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { RABBIT_URL } from '../support/test-control-plane.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { digestTree } from '../support/tree-digest.js';

/**
 * Wire compatibility with the real thing: Debian's python3-trove 18 and
 * python3-oslo.messaging 14 drive `guest-agent serve` through
 * trove.guestagent.api.API (what trove-taskmanager uses), and the agent's
 * reports land in trove.conductor.manager.Manager behind trove-conductor's own
 * RPC server and serializer. test/interop/trove_control_plane.py runs both;
 * only Trove's database is in memory there.
 */

/** Debian's interpreter, where python3-trove is installed (not the python on PATH). */
const PYTHON = '/usr/bin/python3';
const TROVE_MODULES = 'import trove.guestagent.api, trove.conductor.manager, trove.common.rpc.conductor_host_serializer, oslo_messaging';
/** Python puts the working directory first on sys.path; trove/ holds a `dns` package that shadows dnspython. */
const PYTHON_CWD = os.tmpdir();

const script = (): string => path.join(repoRoot(), 'test/interop/trove_control_plane.py');

/** oslo's spelling of the test broker. */
const transportUrl = (): string => {
  const url = new URL(RABBIT_URL);
  return `rabbit://${url.username}:${url.password}@${url.host}/`;
};

/** One report as trove.conductor.manager.Manager handled it (test/interop/recording_conductor.py). */
interface ConductorCall {
  event: 'call';
  method: string;
  args: Record<string, unknown>;
  context: { request_id: string | null; project_id: string | null; instance_id: string | null; has_auth_token: boolean; notification?: string };
  outcome: 'processed' | 'discarded' | 'rejected' | 'error';
  error?: string;
  logs: { logger: string; level: string; message: string }[];
  notifications: { event_type: string; payload: Record<string, unknown> }[];
  saved: (Record<string, unknown> & { model: string })[];
}

/** ConductorHostSerializer fetching an instance's key (DBInstance.key), which it does only for a report naming csz-instance-id. */
interface KeyLookup {
  event: 'key_lookup';
  instance_id: string;
  found: boolean;
  has_key: boolean;
}

type ConductorEvent =
  | ConductorCall
  | KeyLookup
  | { event: 'ready'; queues: string[] }
  | { event: 'stopped'; reason: string }
  | { event: 'log' | 'notification'; [field: string]: unknown };

interface GuestStepResult {
  op: string;
  ok: boolean;
  result?: unknown;
  error?: { class: string; module: string; message: string; exc_type?: string; value?: string };
}

async function writeSecretJson(file: string, value: unknown): Promise<string> {
  await writeFile(file, JSON.stringify(value), { mode: 0o600 });
  return file;
}

function jsonLines(text: string): unknown[] {
  return text.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as unknown);
}

/** The real Trove conductor, consuming the conductor topic until stopped. */
class TroveConductor {
  readonly events: ConductorEvent[] = [];
  stderr = '';
  readonly #child: ResultPromise<{ cwd: string; timeout: number; reject: false; buffer: false }>;
  #waiters: (() => void)[] = [];
  #exited = false;

  constructor(configFile: string, maxSeconds: number) {
    this.#child = execa(PYTHON, [script(), 'conductor', configFile], { cwd: PYTHON_CWD, timeout: (maxSeconds + 30) * 1000, reject: false, buffer: false });
    let partial = '';
    this.#child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.startsWith('{')) this.events.push(JSON.parse(line) as ConductorEvent);
      this.#wake();
    });
    this.#child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    void this.#child.then(() => {
      this.#exited = true;
      this.#wake();
    });
  }

  get calls(): ConductorCall[] {
    return this.events.filter((e): e is ConductorCall => e.event === 'call');
  }

  /** The first event matching, waiting for it. */
  async waitFor<T extends ConductorEvent>(match: (event: ConductorEvent) => event is T, timeoutMs: number, what: string): Promise<T>;
  async waitFor(match: (event: ConductorEvent) => boolean, timeoutMs: number, what: string): Promise<ConductorEvent>;
  async waitFor(match: (event: ConductorEvent) => boolean, timeoutMs: number, what: string): Promise<ConductorEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (this.#exited || left <= 0) {
        throw new Error(`${this.#exited ? `the Trove conductor exited before ${what}` : `no ${what} within ${timeoutMs} ms`}; it handled: ${this.#summary()}${this.stderr ? `\nits stderr:\n${this.stderr.slice(-4000)}` : ''}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    if (!this.#exited) this.#child.kill('SIGTERM');
    await this.#child;
  }

  /** `heartbeat processed healthy ×12, update_backup processed BUILDING ×1, ...` */
  #summary(): string {
    const counts = new Map<string, number>();
    for (const c of this.calls) {
      const detail = c.args.state ?? statusOf(c) ?? '';
      const key = `${c.method} ${c.outcome} ${String(detail)}`.trim();
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].map(([key, n]) => `${key} ×${n}`).join(', ') || 'nothing';
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** Runs trove.guestagent.api.API steps against one instance; one result per step. */
async function runTroveGuestApi(configFile: string): Promise<Map<string, GuestStepResult>> {
  const result = await execa(PYTHON, [script(), 'guest', configFile], { cwd: PYTHON_CWD, timeout: 90_000, reject: false });
  if (result.exitCode !== 0) {
    throw new Error(`trove_control_plane.py guest failed (${result.exitCode ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  }
  return new Map((jsonLines(result.stdout) as GuestStepResult[]).map((step) => [step.op, step]));
}

function stepResult(results: Map<string, GuestStepResult>, op: string): unknown {
  const step = results.get(op);
  if (!step) throw new Error(`step ${op} printed nothing`);
  if (!step.ok) throw new Error(`step ${op} raised ${step.error?.module}.${step.error?.class}: ${step.error?.message}`);
  return step.result;
}

const isCall = (method: string, instanceId: string) => (event: ConductorEvent): event is ConductorCall =>
  event.event === 'call' && event.method === method && (event as ConductorCall).args.instance_id === instanceId;

const statusOf = (call: ConductorCall): string | undefined => (call.args.payload as { service_status?: string } | undefined)?.service_status;

const savedRow = (call: ConductorCall, model: string): Record<string, unknown> | undefined => call.saved.filter((row) => row.model === model).at(-1);

describe('Trove 18 control plane and conductor (python3-trove) against guest-agent serve', function () {
  this.timeout(90_000);

  before(async function () {
    const probe = await execa(PYTHON, ['-c', TROVE_MODULES], { cwd: PYTHON_CWD, reject: false, timeout: 60_000 });
    if (probe.exitCode !== 0) {
      throw new Error(
        `${PYTHON} cannot import Trove's control-plane code (${probe.exitCode ?? probe.code}: ${String(probe.stderr).trim().split('\n').at(-1)}): ` +
          'install python3-trove and python3-oslo.messaging (apt-get install -y --no-install-recommends python3-trove python3-oslo.messaging; the test setup, test/services/trove-packages.sh, does this)',
      );
    }
  });

  for (const mode of ['plaintext', 'encrypted'] as const) {
    describe(`${mode} RPC`, function () {
      const run = `interop-${mode}-${process.pid}-${Date.now().toString(36)}`;
      const conductorTopic = `trove-conductor-${run}`;
      const sourceId = `source-${run}`;
      const targetId = `target-${run}`;
      const keyOf = (): string | null => (mode === 'encrypted' ? randomBytes(16).toString('hex') : null);
      const keys = { [sourceId]: keyOf(), [targetId]: keyOf() };
      const backupId = randomUUID();
      const context = { auth_token: `user-token-${run}`, project_id: 'p-interop', request_id: `req-${run}` };
      const queues = new Set([conductorTopic, `guestagent.${sourceId}`, `guestagent.${targetId}`, `guestagent.${targetId}.${targetId}`]);
      let base: string;
      let conductor: TroveConductor;
      const agents: ServingAgent[] = [];
      let source: NodeUnderTest;
      let target: NodeUnderTest;
      let sourceSteps: Map<string, GuestStepResult>;

      async function nodeWithAgent(instanceId: string, stores: AgentStores, options: Parameters<typeof createNodeUnderTest>[2]): Promise<NodeUnderTest> {
        const key = keys[instanceId];
        const rpc = { instanceId, transportUrl: transportUrl(), conductorTopic, ...(key ? { key } : {}) };
        // The target's restore reads at 150 kB/s, so that heartbeats carry its progress to the real conductor.
        const extra = () => (instanceId === targetId ? { max_bandwidth: 150_000 } : {});
        const { node, agent } = await startNodeWithAgent(path.join(base, instanceId), stores, options, rpc, extra);
        agents.push(agent);
        return node;
      }

      const guestConfig = (instanceId: string, name: string, steps: unknown[]): Promise<string> =>
        writeSecretJson(path.join(base, `${name}.json`), { transport_url: transportUrl(), instance_id: instanceId, key: keys[instanceId], context, max_seconds: 75, steps });

      before(async function () {
        base = await makeTempDir(run);
        const stores = { storePath: path.join(base, 'store') };
        const conductorFile = await writeSecretJson(path.join(base, 'conductor.json'), {
          transport_url: transportUrl(),
          conductor_topic: conductorTopic,
          max_seconds: 120,
          instances: [sourceId, targetId].map((id) => ({ id, key: keys[id], tenant_id: context.project_id })),
          // The row trove-api creates (state NEW) before it asks for the backup.
          backups: [{ id: backupId, instance_id: sourceId, tenant_id: context.project_id, name: `interop ${backupId}` }],
        });
        conductor = new TroveConductor(conductorFile, 120);
        const ready = conductor.waitFor((e) => e.event === 'ready', 60_000, 'conductor ready') as Promise<{ event: 'ready'; queues: string[] }>;
        [source, target] = await Promise.all([
          nodeWithAgent(sourceId, stores, { tables: [{ keyspace: 'shop', table: 'orders', sstables: 2, bytes: 200_000 }], seed: 11 }),
          nodeWithAgent(targetId, stores, { seed: 12 }),
        ]);
        for (const queue of (await ready).queues) queues.add(queue);

        sourceSteps = await runTroveGuestApi(
          await guestConfig(sourceId, 'source-steps', [
            { op: 'rpc_ping' },
            { op: 'get_filesystem_stats' },
            { op: 'call_unknown', method: 'list_databases' },
            {
              op: 'create_backup',
              // What trove.backup.models.Backup.create hands the taskmanager.
              backup_info: {
                id: backupId,
                name: `interop ${backupId}`,
                description: null,
                instance_id: sourceId,
                backup_type: 'full',
                checksum: null,
                parent: null,
                datastore: 'cassandra',
                datastore_version: '4.0',
                swift_container: null,
              },
            },
          ]),
        );
      });

      after(async function () {
        await Promise.all([conductor?.stop(), ...agents.map((a) => a.stop('SIGKILL'))]);
        const connection = await amqp.connect(RABBIT_URL);
        const channel = await connection.createChannel();
        // oslo's fanout queues carry a uuid; their names hold the run's ids. Reply queues expire in 60 s (rabbit_transient_queues_ttl).
        const listed = await execa('rabbitmqctl', ['list_queues', 'name', '--quiet', '--no-table-headers'], { reject: false, timeout: 30_000 });
        if (listed.exitCode === 0) for (const name of String(listed.stdout).split('\n')) if (name.includes(run)) queues.add(name.trim());
        for (const queue of queues) await channel.deleteQueue(queue).catch(() => undefined);
        await connection.close();
        await stopAllSimNodes();
        await removeDir(base);
      });

      it('answers rpc_ping from trove.guestagent.api.API with True', function () {
        expect(stepResult(sourceSteps, 'rpc_ping')).to.equal(true);
      });

      it('answers get_filesystem_stats with the fields Trove reads', function () {
        const stats = stepResult(sourceSteps, 'get_filesystem_stats') as Record<string, unknown>;
        expect(stats).to.have.all.keys('block_size', 'total_blocks', 'free_blocks', 'total', 'free', 'used');
        for (const value of Object.values(stats)) expect(value).to.be.a('number');
        expect(stats.free).to.equal((stats.free_blocks as number) * (stats.block_size as number));
      });

      it("answers a method it lacks with oslo's NoSuchMethod, which Trove's client raises as RemoteError", function () {
        const step = sourceSteps.get('call_unknown');
        expect(step?.ok, JSON.stringify(step)).to.equal(false);
        expect(step!.error).to.include({ class: 'RemoteError', module: 'oslo_messaging.rpc.client', exc_type: 'NoSuchMethod' });
        expect(step!.error!.value).to.contain('Endpoint does not support RPC method list_databases');
      });

      it('reports create_backup to the real conductor: BUILDING then COMPLETED with the catalog location and checksum', async function () {
        expect(stepResult(sourceSteps, 'create_backup')).to.equal(null);
        const ofBackup = (e: ConductorEvent): e is ConductorCall => isCall('update_backup', sourceId)(e) && e.args.backup_id === backupId;
        const final = await conductor.waitFor((e): e is ConductorCall => ofBackup(e) && e.args.state !== 'BUILDING', 60_000, `final update_backup of ${backupId}`);
        const reports = conductor.calls.filter(ofBackup);
        expect(reports.map((c) => [c.args.state, c.outcome])).to.deep.equal([
          ['BUILDING', 'processed'],
          ['COMPLETED', 'processed'],
        ]);
        const record = await readCatalogRecord(source.configFile, backupId);
        const row = savedRow(final, 'DBBackup');
        expect(row, 'the DBBackup row the Manager saved').to.include({ id: backupId, state: 'COMPLETED', location: record.location, checksum: record.checksum ?? record.sha256, backup_type: 'full' });
        expect(row!.size).to.be.a('number').and.greaterThan(0);
        expect(final.context).to.include({ request_id: context.request_id, project_id: context.project_id, has_auth_token: true });

        const end = await conductor.waitFor((e): e is ConductorCall => e.event === 'call' && e.method === 'notify_end' && e.context.request_id === context.request_id, 20_000, 'notify_end of the backup');
        expect(end.outcome, JSON.stringify(end)).to.equal('processed');
        expect(end.notifications.map((n) => n.event_type)).to.deep.equal(['dbaas.backup_create.end']);
        expect(end.notifications[0]!.payload).to.include({ backup_id: backupId, server_type: 'guest' });
      });

      it('sends heartbeats the real conductor applies to the instance status', async function () {
        const beat = await conductor.waitFor((e): e is ConductorCall => isCall('heartbeat', sourceId)(e) && statusOf(e as ConductorCall) === 'healthy', 20_000, 'healthy heartbeat of the source');
        expect(beat.outcome).to.equal('processed');
        expect(savedRow(beat, 'InstanceServiceStatus')).to.include({ instance_id: sourceId, status_description: 'healthy' });
        const sent = conductor.calls.filter(isCall('heartbeat', sourceId)).map((c) => c.args.sent);
        for (const value of sent) expect(value).to.be.a('number');
      });

      if (mode === 'encrypted') {
        it("has its reports decrypted by ConductorHostSerializer with the key it looks up from csz-instance-id", function () {
          const lookups = conductor.events.filter((e): e is KeyLookup => e.event === 'key_lookup');
          expect(lookups.find((l) => l.instance_id === sourceId)).to.include({ found: true, has_key: true });
          expect(lookups.every((l) => l.instance_id === sourceId || l.instance_id === targetId), JSON.stringify(lookups)).to.equal(true);
        });
      } else {
        it('has its reports read as plaintext by ConductorHostSerializer, with no key lookup', function () {
          expect(conductor.events.filter((e) => e.event === 'key_lookup')).to.deep.equal([]);
        });
      }

      it('restores through Trove prepare(backup_info) on a second instance, reporting building then healthy', async function () {
        const completed = conductor.calls.find((c) => c.method === 'update_backup' && c.args.backup_id === backupId && c.args.state === 'COMPLETED');
        if (!completed) throw new Error(`backup ${backupId} never reached COMPLETED at the conductor: nothing to restore`);
        // The DBBackup row as the conductor left it is what the taskmanager restores from.
        const row = savedRow(completed, 'DBBackup')!;
        const from = conductor.events.length;
        const steps = await runTroveGuestApi(
          await guestConfig(targetId, 'target-steps', [{ op: 'prepare', backup: { id: backupId, instance_id: sourceId, location: row.location, backup_type: row.backup_type, checksum: row.checksum } }]),
        );
        expect(stepResult(steps, 'prepare')).to.equal(null);
        const after = (e: ConductorEvent): boolean => conductor.events.indexOf(e) >= from;
        const building = await conductor.waitFor((e): e is ConductorCall => after(e) && isCall('heartbeat', targetId)(e) && statusOf(e as ConductorCall) === 'building', 30_000, 'building heartbeat');
        const healthy = await conductor.waitFor(
          (e): e is ConductorCall => conductor.events.indexOf(e) > conductor.events.indexOf(building) && isCall('heartbeat', targetId)(e) && statusOf(e as ConductorCall) === 'healthy',
          60_000,
          'healthy heartbeat after building',
        );
        for (const call of [building, healthy]) expect(call.outcome, JSON.stringify(call)).to.equal('processed');
        // Our job_progress rides in the payload; Trove's conductor applies the status and passes over the rest.
        const withProgress = conductor.calls.filter((c) => after(c) && isCall('heartbeat', targetId)(c) && (c.args.payload as { job_progress?: unknown }).job_progress !== undefined);
        expect(withProgress.length, 'heartbeats of the target that carried job_progress').to.be.greaterThan(0);
        for (const call of withProgress) {
          expect(call.outcome, JSON.stringify(call)).to.equal('processed');
          expect((call.args.payload as { job_progress: Record<string, unknown> }).job_progress).to.include({ kind: 'restore', id: backupId });
        }
        expect(savedRow(building, 'InstanceServiceStatus')).to.include({ status_description: 'building' });
        expect(savedRow(healthy, 'InstanceServiceStatus')).to.include({ status_description: 'healthy' });
        const original = await digestTree(source.dataDirs[0]!);
        const restored = await digestTree(target.dataDirs[0]!);
        const tables = [...original].filter(([name]) => name.startsWith('shop/') && !/\/(snapshots|backups)\//.test(name));
        expect(tables.length).to.be.greaterThan(0);
        for (const [name, digest] of tables) expect(restored.get(name), name).to.equal(digest);
      });

      it("ends prepare with notify_end, as Trove's guest does, so the conductor emits dbaas.instance_create.end", async function () {
        const end = await conductor.waitFor(
          (e): e is ConductorCall => e.event === 'call' && (e.method === 'notify_end' || e.method === 'notify_exc_info') && (e as ConductorCall).context.notification === 'DBaaSInstanceCreate',
          5_000,
          'notify_end of prepare (trove.guestagent.datastore.manager.Manager.prepare runs inside EndNotification(context, instance_id=guest_id))',
        );
        expect(end.method).to.equal('notify_end');
        expect(end.outcome).to.equal('processed');
        expect(end.notifications.map((n) => n.event_type)).to.deep.equal(['dbaas.instance_create.end']);
        expect(end.notifications[0]!.payload).to.include({ instance_id: targetId, server_type: 'guest' });
      });

      it('had nothing discarded or refused by the conductor over the whole run', function () {
        const troubled = conductor.calls.filter((c) => c.outcome !== 'processed');
        expect(troubled.map((c) => ({ method: c.method, outcome: c.outcome, error: c.error, logs: c.logs })), 'reports the Manager discarded, refused or failed on').to.deep.equal([]);
        const warnings = conductor.events.filter((e) => e.event === 'log');
        expect(warnings, 'warnings and errors logged by oslo.messaging or Trove outside the Manager').to.deep.equal([]);
        for (const agent of agents) expect(agent.stderr).to.not.contain(context.auth_token);
      });
    });
  }
});
