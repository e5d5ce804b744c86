/**
 * Real Cassandra 4.0 nodes for `npm run test:cassandra`: one directory per
 * node (test/services/cassandra-node.sh), an agent configuration for it, and
 * CQL through cassandra-driver to write and read the rows the tests compare.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import cassandra from 'cassandra-driver';
import { execa } from 'execa';
import yaml from 'js-yaml';
import { repoRoot } from './repo-paths.js';

const nodeScript = () => path.join(repoRoot(), 'test/services/cassandra-node.sh');
let home: Promise<string> | undefined;

/** The Cassandra installation of this run (test/services/cassandra.sh install: CASSANDRA_HOME, a tarball, or ../shared/cassandra). */
export function cassandraHome(): Promise<string> {
  home ??= execa('bash', [path.join(repoRoot(), 'test/services/cassandra.sh'), 'install'], { timeout: 15 * 60_000, reject: false, all: false }).then((r) => {
    const found = /^CASSANDRA_HOME=(.+)$/m.exec(r.stdout)?.[1];
    if (r.exitCode !== 0 || !found) throw new Error(`test/services/cassandra.sh install failed (exit ${r.exitCode}):\n${r.stderr}`);
    return found;
  });
  return home;
}

export interface RealNodeOptions {
  /** 127.0.0.N; its JMX port is 7099 + 100 N (JMX always listens on 127.0.0.1). */
  address: string;
  clusterName?: string;
  dataDirs?: number;
  /** Extra cassandra.yaml keys (`incremental_backups`, ...). */
  yaml?: Record<string, unknown>;
}

export interface RealNode {
  name: string;
  dir: string;
  address: string;
  cassandraYaml: string;
  dataDirs: string[];
  serviceStartCommand: string[];
  serviceStopCommand: string[];
  serviceStatusCommand: string[];
  nodetoolCommand: string[];
  start(): Promise<void>;
  stop(): Promise<void>;
  isRunning(): Promise<boolean>;
  nodetool(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

/** Creates a node (not started) in `<root>/<name>`. */
export async function createRealNode(root: string, name: string, options: RealNodeOptions): Promise<RealNode> {
  const cassandraDir = await cassandraHome();
  const dir = path.join(root, name);
  const jmxPort = 7099 + 100 * Number(options.address.split('.')[3]);
  const sets = Object.entries(options.yaml ?? {}).flatMap(([key, value]) => ['--set', `${key}=${JSON.stringify(value)}`]);
  await script(['create', dir, '--home', cassandraDir, '--address', options.address, '--jmx-port', String(jmxPort),
    '--cluster-name', options.clusterName ?? `cluster-${name}`, '--data-dirs', String(options.dataDirs ?? 1), ...sets]);
  const cassandraYaml = path.join(dir, 'conf/cassandra.yaml');
  const conf = yaml.load(await readFile(cassandraYaml, 'utf8')) as { data_file_directories: string[] };
  const command = (verb: string) => ['bash', nodeScript(), verb, dir];
  const nodetoolCommand = [path.join(cassandraDir, 'bin/nodetool'), '-h', '127.0.0.1', '-p', String(jmxPort)];
  return {
    name,
    dir,
    address: options.address,
    cassandraYaml,
    dataDirs: conf.data_file_directories,
    serviceStartCommand: command('start'),
    serviceStopCommand: command('stop'),
    serviceStatusCommand: command('status'),
    nodetoolCommand,
    start: () => script(['start', dir]),
    stop: () => script(['stop', dir]),
    isRunning: async () => (await execa('bash', [nodeScript(), 'status', dir], { reject: false })).exitCode === 0,
    async nodetool(args) {
      const r = await execa(nodetoolCommand[0]!, [...nodetoolCommand.slice(1), ...args], { reject: false, timeout: 120_000 });
      return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

async function script(args: string[]): Promise<void> {
  const r = await execa('bash', [nodeScript(), ...args], { reject: false, timeout: 10 * 60_000, all: true });
  if (r.exitCode !== 0) throw new Error(`cassandra-node.sh ${args[0]} ${args[1]} failed (exit ${r.exitCode}):\n${r.all}`);
}

/** A session as `user`; the default superuser appears a moment after the first start, so a refused login is retried briefly. */
export async function connect(address: string, user: string, password: string, attempts = 20, port = 9042): Promise<cassandra.Client> {
  for (let attempt = 1; ; attempt += 1) {
    const client = new cassandra.Client({
      contactPoints: [`${address}:${port}`],
      localDataCenter: 'datacenter1',
      authProvider: new cassandra.auth.PlainTextAuthProvider(user, password),
      socketOptions: { connectTimeout: 5000, readTimeout: 60_000 },
    });
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.shutdown().catch(() => undefined);
      if (attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** Runs `work` in a CQL session on the node as `cassandra`/`password`, closed afterwards on every path. */
export async function withCql<T>(node: Pick<RealNode, 'address'>, password: string, work: (client: cassandra.Client) => Promise<T>): Promise<T> {
  const client = await connect(node.address, 'cassandra', password);
  try {
    return await work(client);
  } finally {
    await client.shutdown();
  }
}

/** The agent's configuration for a real node, written 0600 next to it. */
export async function writeRealAgentConfig(node: RealNode, storePath: string, extra: Record<string, unknown> = {}): Promise<string> {
  const file = path.join(node.dir, 'guest-agent.yaml');
  const config = {
    instance_id: `instance-${node.name}`,
    cassandra_yaml: node.cassandraYaml,
    cassandra_home: await cassandraHome(),
    nodetool_command: node.nodetoolCommand,
    nodetool_timeout_seconds: 300,
    service_start_command: node.serviceStartCommand,
    service_stop_command: node.serviceStopCommand,
    service_status_command: node.serviceStatusCommand,
    service_start_timeout_seconds: 300,
    service_stop_timeout_seconds: 120,
    cql_host: node.address,
    cql_port: 9042,
    backup_local_path: storePath,
    admin_credentials_file: path.join(node.dir, 'agent-admin-credentials.json'),
    ...extra,
  };
  await writeFile(file, yaml.dump(config), { mode: 0o600 });
  return file;
}

/** The superuser password the agent set on a restore (admin_credentials_file). */
export async function agentPassword(node: RealNode): Promise<string> {
  const credentials = JSON.parse(await readFile(path.join(node.dir, 'agent-admin-credentials.json'), 'utf8')) as { password: string };
  return credentials.password;
}
