/**
 * `npm run demo`: the main job on embedded defaults. A simulated Cassandra
 * node with sample keyspaces, a full backup into a local directory store, a
 * restore into a second simulated node, and proof that the restored files are
 * byte-identical to the backed-up ones. Every step is printed.
 *
 * With RabbitMQ (reachable at DEMO_RABBIT_URL, default
 * amqp://guest:guest@127.0.0.1:5672, or installed and stopped, in which case
 * the demo starts it and stops it again), the story goes through the agents:
 * `guest-agent serve` beside each node, encrypted RPC, and the control
 * plane's `dbaas backup-create`, `backup-list` and `create --backup`.
 * Without it, the same story in direct mode (`guest-agent backup`,
 * `guest-agent restore`). DEMO_RABBIT_URL pointing elsewhere (e.g. port 1)
 * shows the fallback without touching the local broker.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import yaml from 'js-yaml';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import { formatBytes } from '../../src/util/format-bytes.js';
import { readArchive } from './archive-reader.js';
import { dbaasBin } from './dbaas-runner.js';
import { createNodeUnderTest, readCatalogRecord, type AgentStores, type NodeUnderTest } from './e2e-nodes.js';
import { RabbitMqService } from './rabbitmq-service.js';
import { guestAgentBin } from './repo-paths.js';
import { ServingAgent, type LogLine } from './serving-agent.js';
import { stopAllSimNodes } from './sim-node/index.js';
import { digestTree } from './tree-digest.js';

const DEFAULT_RABBIT_URL = 'amqp://guest:guest@127.0.0.1:5672';

const say = (message: string) => process.stdout.write(`\n==> ${message}\n`);
const print = (message: string) => process.stdout.write(`${message}\n`);

/** What the demo made that outlives a step: undone by cleanUp, at the end or on Ctrl-C. */
interface Made {
  base: string;
  broker?: RabbitMqService;
  agents: { name: string; agent: ServingAgent }[];
  queues: string[];
  /** Commands running now (guest-agent backup/restore, dbaas): stopped first when interrupted. */
  running: Set<{ kill(signal: NodeJS.Signals): boolean; exited: Promise<unknown> }>;
}

/** Awaits a command, listed in `made.running` while it runs. */
async function tracked<R>(made: Made, child: { kill(signal: NodeJS.Signals): boolean } & PromiseLike<R>): Promise<R> {
  const entry = { kill: (signal: NodeJS.Signals) => child.kill(signal), exited: Promise.resolve(child).catch(() => undefined) };
  made.running.add(entry);
  try {
    return await child;
  } finally {
    made.running.delete(entry);
  }
}

async function agent(made: Made, args: string[]): Promise<void> {
  process.stdout.write(`$ guest-agent ${args.join(' ')}\n`);
  const result = await tracked(made, execa(process.execPath, [guestAgentBin(), ...args], { stdio: 'inherit', reject: false, forceKillAfterDelay: 30_000 }));
  if (result.exitCode !== 0) throw new Error(`guest-agent ${args[0]} failed with exit ${result.exitCode}`);
}

const NODE_A_TABLES = [
  { keyspace: 'shop', table: 'orders', sstables: 3, bytes: 24 * 1024 * 1024 },
  { keyspace: 'shop', table: 'customers', sstables: 2, bytes: 6 * 1024 * 1024 },
  { keyspace: 'metrics', table: 'events', sstables: 4, bytes: 32 * 1024 * 1024 },
];
const NODE_B_TABLES = [{ keyspace: 'shop', table: 'orders', sstables: 1, bytes: 64 * 1024 }];

/** The restored data directory against the backup's archive: every file outside the system keyspace must match. */
async function compare(record: BackupRecord, restoredDir: string): Promise<void> {
  say('comparing node B with the backup, file by file');
  const archive = await readArchive(new URL(record.location).pathname);
  const restored = await digestTree(restoredDir);
  let identical = 0;
  const different: string[] = [];
  for (const [name, file] of archive) {
    // Cassandra rewrites a few system tables when it starts (size estimates, local); user data must match.
    if (name.startsWith('system/')) continue;
    if (restored.get(name) === file.sha256) identical += 1;
    else different.push(name);
  }
  if (different.length > 0) throw new Error(`restored files differ from the backup: ${different.slice(0, 5).join(', ')}`);
  if (identical === 0) throw new Error('the backup holds no files outside the system keyspace to compare');
  print(`${identical} files outside the system keyspace are byte-identical to the backup (${formatBytes(record.raw_bytes)} raw, ${formatBytes(record.stored_bytes)} stored)`);
}

/** The story without RabbitMQ: guest-agent backup and restore, run directly. */
async function directStory(made: Made, stores: AgentStores): Promise<string> {
  const { base } = made;
  say(`creating simulated Cassandra node A in ${base}/node-a (keyspaces shop, metrics)`);
  const a = await createNodeUnderTest(path.join(base, 'node-a'), stores, { tables: NODE_A_TABLES, seed: 42 });
  await a.sim!.start();
  say('creating simulated Cassandra node B (same cluster name, its own data)');
  const b = await createNodeUnderTest(path.join(base, 'node-b'), stores, { tables: NODE_B_TABLES, seed: 7 });
  await b.sim!.start();

  say('full backup of node A into the local store');
  await agent(made, ['backup', '--config', a.configFile, '--backup-id', 'demo-full-1']);
  const record = await readCatalogRecord(a.configFile, 'demo-full-1');

  say('restore of backup demo-full-1 into node B');
  await agent(made, ['restore', '--config', b.configFile, '--backup-id', 'demo-full-1']);

  await compare(record, b.dataDirs[0]!);
  return record.location;
}

/** The story through the agents: guest-agent serve beside each node, dbaas as the control plane. */
async function agentStory(made: Made, broker: RabbitMqService, stores: AgentStores): Promise<string> {
  const { base } = made;
  const run = randomBytes(3).toString('hex');
  const ids = { a: `demo-a-${run}`, b: `demo-b-${run}` };
  // Our own conductor queue: other users of this broker keep theirs.
  const conductorTopic = `trove-conductor-demo-${run}`;
  const keys = { [ids.a]: randomKey(), [ids.b]: randomKey() };
  const keysFile = path.join(base, 'instance-keys.yaml');
  await writeFile(keysFile, yaml.dump(keys), { mode: 0o600 });
  const dbaasConfig = path.join(base, 'dbaas.yaml');
  await writeFile(
    dbaasConfig,
    yaml.dump({ transport_url: broker.url, conductor_topic: conductorTopic, backup_local_path: stores.storePath, dbaas_state_dir: path.join(base, 'dbaas-state'), dbaas_instance_keys_file: keysFile }),
    { mode: 0o600 },
  );
  made.queues.push(conductorTopic, `guestagent.${ids.a}`, `guestagent.${ids.b}`);
  const agentConfig = (id: string) => ({
    instance_id: id,
    transport_url: broker.url,
    conductor_topic: conductorTopic,
    instance_rpc_encr_key: keys[id],
    report_interval: 2,
    log_format: 'json',
  });

  say(`creating simulated Cassandra node A (instance ${ids.a}) in ${base}/node-a (keyspaces shop, metrics)`);
  const a = await createNodeUnderTest(path.join(base, 'node-a'), stores, { tables: NODE_A_TABLES, seed: 42 }, agentConfig(ids.a));
  await a.sim!.start();
  say(`creating simulated Cassandra node B (instance ${ids.b}; same cluster name, its own data)`);
  const b = await createNodeUnderTest(path.join(base, 'node-b'), stores, { tables: NODE_B_TABLES, seed: 7 }, agentConfig(ids.b));
  await b.sim!.start();

  say(`starting the agents (RPC encrypted with one key per instance; agent configurations and ${path.basename(keysFile)} are 0600)`);
  const agentA = await serveAgent(made, 'A', a);
  const agentB = await serveAgent(made, 'B', b);
  await Promise.all([agentA.ready(), agentB.ready()]);
  for (const { name, agent: served } of made.agents) {
    const ready = served.logs.find((l) => l.event === 'agent.ready');
    print(`agent of node ${name} ready (pid ${served.pid}), consuming ${String(ready?.queue)} on ${broker.shownUrl}`);
  }
  const dbaas = dbaasCommand(made, dbaasConfig);

  say(`full backup of instance ${ids.a} through its agent`);
  const created = await dbaas(['backup-create', ids.a, 'demo-backup', '--wait', '--timeout', '60']);
  showAgentLog('A', agentA);
  const backupId = created.split('\n')[0]!.trim();
  if (!/^[0-9a-f-]{36}$/.test(backupId)) throw new Error(`dbaas backup-create printed no backup id (stdout: ${JSON.stringify(created)})`);

  say('the backups the control plane knows');
  await dbaas(['backup-list']);

  say(`creating instance ${ids.b} from backup ${backupId}: its agent restores it`);
  await dbaas(['create', ids.b, '--backup', backupId, '--wait', '--timeout', '90']);
  showAgentLog('B', agentB);

  const record = await readCatalogRecord(a.configFile, backupId);
  await compare(record, b.dataDirs[0]!);
  return record.location;
}

function randomKey(): string {
  return randomBytes(16).toString('hex'); // Trove's keys are 32 characters
}

async function serveAgent(made: Made, name: string, node: NodeUnderTest): Promise<ServingAgent> {
  print(`$ guest-agent serve --config ${node.configFile} &`);
  // Only what the configuration says: no GUEST_AGENT_* from the caller's environment.
  const clean = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('GUEST_AGENT_')).map((k) => [k, undefined]));
  const served = new ServingAgent(node.configFile, clean);
  made.agents.push({ name, agent: served });
  return served;
}

/** Runs dbaas as a user would, its output shown as it comes; resolves with its stdout. */
function dbaasCommand(made: Made, configFile: string): (args: string[]) => Promise<string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.homedir(), DBAAS_CONFIG: configFile };
  return async (args) => {
    print(`$ dbaas ${args.join(' ')}`);
    const result = await tracked(made, execa(process.execPath, [dbaasBin(), ...args], {
      reject: false,
      extendEnv: false,
      env,
      stdin: 'ignore',
      stdout: ['pipe', 'inherit'],
      stderr: 'inherit',
      timeout: 150_000,
    }));
    if (result.exitCode !== 0) throw new Error(`dbaas ${args[0]} failed (${result.timedOut ? 'timed out' : `exit ${result.exitCode}`}); its messages are above`);
    return String(result.stdout);
  };
}

/** The agent's log lines about its job (requests, steps, outcome, warnings), in a few words each. */
function showAgentLog(name: string, served: ServingAgent): void {
  const lines = served.logs.map(describe).filter((l): l is string => l !== undefined);
  if (lines.length > 0) print(`what the agent of node ${name} logged:`);
  for (const line of lines) print(`  [agent ${name}] ${line}`);
}

function describe(line: LogLine): string | undefined {
  const field = (key: string) => (line[key] === undefined ? '' : ` ${key}=${String(line[key])}`);
  switch (line.event) {
    case 'rpc.request':
      return `request ${String(line.method)}`;
    case 'job.step':
      return String(line.step);
    case 'backup.completed':
      return `backup completed:${field('backup_id')}${field('bytes')}`;
    case 'prepare.completed':
      return `prepare completed:${field('backup_id')}`;
    default:
      return line.level === 'error' || line.level === 'warn' ? `${line.level}: ${line.event}${field('reason')}` : undefined;
  }
}

/** Undoes what `made` lists, each step whatever the others did; the problems, for the exit status. */
async function cleanUp(made: Made): Promise<string[]> {
  const problems: string[] = [];
  const attempt = async (what: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (err) {
      problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  for (const child of made.running) {
    child.kill('SIGTERM');
    await child.exited;
  }
  if (made.agents.length > 0) {
    say('stopping the agents (SIGTERM)');
    for (const { name, agent: served } of made.agents) {
      await attempt(`stopping the agent of node ${name}`, async () => {
        const code = await served.stop('SIGTERM', 30_000);
        print(`agent of node ${name} exited with status ${code}`);
        if (code !== 0) throw new Error(`exit status ${code}; it said:\n${served.stderr.split('\n').slice(-5).join('\n')}`);
      });
    }
  }
  const broker = made.broker;
  if (broker && made.queues.length > 0) {
    await attempt('deleting the demo\'s queues', async () => {
      const failed = await broker.deleteQueues(made.queues);
      print(`deleted the demo's queues ${made.queues.filter((q) => !failed.includes(q)).join(', ')}`);
      if (failed.length > 0) throw new Error(`could not delete ${failed.join(', ')}`);
    });
  }
  await attempt('stopping the simulated nodes', () => stopAllSimNodes());
  if (broker) await attempt('stopping RabbitMQ', () => broker.stopIfStartedHere());
  if (process.argv.includes('--keep')) print(`(kept ${made.base})`);
  else await attempt(`removing ${made.base}`, () => rm(made.base, { recursive: true, force: true }));
  return problems;
}

async function main(): Promise<void> {
  // Output piped into `head` and closed: go on quietly, so the clean-up still runs.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  const base = path.join(os.tmpdir(), `cassandra-guest-agent-demo-${process.pid}`);
  await mkdir(base, { recursive: true });
  const stores = { storePath: path.join(base, 'backups') };
  const made: Made = { base, agents: [], queues: [], running: new Set() };
  let cleaning: Promise<string[]> | undefined;
  const cleanUpOnce = () => (cleaning ??= cleanUp(made));
  let interrupted = false;
  // 'on', not 'once': a second Ctrl-C must not kill the demo in the middle of its clean-up.
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      process.stderr.write(`demo: ${signal} again; still cleaning up, please wait\n`);
      return;
    }
    interrupted = true;
    process.stderr.write(`\ndemo interrupted by ${signal}: cleaning up\n`);
    void cleanUpOnce().then(
      (problems) => {
        if (problems.length > 0) process.stderr.write(`demo: cleaning up failed: ${problems.join('; ')}\n`);
        process.exit(130);
      },
      () => process.exit(130),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let failure: unknown;
  let location: string | undefined;
  try {
    const url = process.env.DEMO_RABBIT_URL || DEFAULT_RABBIT_URL;
    const broker = new RabbitMqService({ url, mayStart: true, say });
    made.broker = broker;
    const state = await broker.ensure();
    if (state.available) {
      say(`RabbitMQ at ${broker.shownUrl} (${state.startedHere ? 'started by the demo, stopped at the end' : 'already running'}): the story goes through guest-agent serve and dbaas`);
      location = await agentStory(made, broker, stores);
    } else {
      made.broker = undefined;
      say(`RabbitMQ unavailable: ${state.reason}; running the direct-mode story (guest-agent backup / restore) instead`);
      location = await directStory(made, stores);
    }
  } catch (err) {
    failure = err;
  }
  const problems = await cleanUpOnce();
  if (interrupted) return; // onSignal reports and exits 130
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (failure !== undefined) {
    const more = problems.length > 0 ? `\n(cleaning up also failed: ${problems.join('; ')})` : '';
    throw new Error(`${failure instanceof Error ? failure.message : String(failure)}${more}`);
  }
  if (problems.length > 0) throw new Error(`cleaning up failed: ${problems.join('; ')}`);
  say(`done. Backup object: ${location}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
