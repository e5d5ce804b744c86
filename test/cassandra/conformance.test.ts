/**
 * The simulated node (test/support/sim-node) held to a live real one: the
 * same operations on both, the normalised results compared. Every nodetool
 * command the agent runs (outputs, exit codes, error texts), the directory
 * layout after snapshot, flush with incremental backups on and clearsnapshot,
 * the start-up checks the agent meets in a restore (seeds, ports, cluster
 * name), and the system.local and system_auth.roles columns it reads.
 *
 * Deliberate simplifications of the simulator, not compared here:
 * - Secondary indexes and materialized views: the simulator's tables have
 *   neither (no `.<index>` directories). The real-node suites cover both.
 * - Peers: the simulator gossips with no one, so a node that is not in its
 *   own seed list always fails to start (a real one starts if a seed answers).
 * - Timings (start-up 5-15 s, nodetool's JVM start-up of 1-3 s): the
 *   simulator is fast on purpose.
 * - Stack traces and the log lines around them: the first line of stderr and
 *   the ERROR line of system.log are compared, not the frames.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { expect } from 'chai';
import yaml from 'js-yaml';
import { createSimNode, stopAllSimNodes, type SimNode } from '../support/sim-node/index.js';
import { connect, createRealNode, withCql, type RealNode } from '../support/real-cassandra.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

interface Outcome {
  exitCode: number;
  stdout: string;
  /** stderr's first line: the error, without the stack trace. */
  stderr: string;
}

/** What both kinds of node can be asked, in their own terms. */
interface Subject {
  kind: 'real' | 'sim';
  yamlFile: string;
  dataDir: string;
  systemLog: string;
  listen: { host: string; port: number };
  nodetool(args: string[]): Promise<Outcome>;
  write(rows: number): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const normalise = (r: { exitCode: number; stdout: string; stderr: string }): Outcome => ({
  exitCode: r.exitCode,
  stdout: r.stdout.split('\n').map((l) => l.trimEnd()).join('\n').trim(),
  stderr: r.stderr.split('\n')[0]!.trim(),
});

/** The files of shop.orders below `below` (a snapshot, backups/), generations written as N. */
async function layoutOf(subject: Subject, below: string[]): Promise<string[]> {
  const shop = path.join(subject.dataDir, 'shop');
  const table = (await readdir(shop)).find((d) => d.startsWith('orders-'));
  if (!table) return [];
  const names = await readdir(path.join(shop, table, ...below)).catch(() => [] as string[]);
  return [...new Set(names.map((n) => n.replace(/^na-\d+-big-/, 'na-N-big-')))].sort();
}

async function generationsIn(subject: Subject, below: string[]): Promise<number> {
  const shop = path.join(subject.dataDir, 'shop');
  const table = (await readdir(shop)).find((d) => d.startsWith('orders-'))!;
  const names = await readdir(path.join(shop, table, ...below));
  return new Set(names.filter((n) => n.endsWith('-Data.db'))).size;
}

/** Starts with a changed cassandra.yaml and returns the ERROR line of system.log, or 'started'. */
async function startWith(subject: Subject, change: (doc: Record<string, unknown>) => void): Promise<string> {
  const original = await readFile(subject.yamlFile, 'utf8');
  const doc = yaml.load(original) as Record<string, unknown>;
  change(doc);
  await writeFile(subject.yamlFile, yaml.dump(doc));
  const logBefore = (await readFile(subject.systemLog, 'utf8')).length;
  try {
    await subject.start();
    await subject.stop();
    return 'started';
  } catch {
    const log = (await readFile(subject.systemLog, 'utf8')).slice(logBefore).split('\n');
    const at = log.findIndex((l) => l.startsWith('ERROR'));
    // "ERROR [main] <time> CassandraDaemon.java:909 - Fatal configuration error" + the exception's message
    return at === -1 ? 'failed without an ERROR line' : `${log[at]!.replace(/^ERROR \[main\] \S+ \S+ /, '')} | ${log[at + 1]!.trim()}`;
  } finally {
    await writeFile(subject.yamlFile, original);
  }
}

describe('the simulated node answers as a real Cassandra 4.0 node does', function () {
  this.timeout(15 * 60_000);
  let root: string;
  let real: RealNode;
  let sim: SimNode;
  let subjects: Subject[];

  before(async () => {
    root = await makeTempDir('conformance');
    real = await createRealNode(root, 'real', { address: '127.0.0.4', clusterName: 'Test Cluster' });
    sim = await createSimNode({ root: path.join(root, 'sim'), tables: [{ keyspace: 'shop', table: 'orders', sstables: 0 }] });
    await Promise.all([real.start(), sim.start()]);
    await withCql(real, 'cassandra', async (client) => {
      await client.execute("CREATE KEYSPACE shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
      await client.execute('CREATE TABLE shop.orders (id int PRIMARY KEY, note text)');
    });
    const simYaml = yaml.load(await readFile(sim.cassandraYaml, 'utf8')) as { storage_port: number };
    subjects = [
      {
        kind: 'real',
        yamlFile: real.cassandraYaml,
        dataDir: real.dataDirs[0]!,
        systemLog: path.join(real.dir, 'logs/system.log'),
        listen: { host: real.address, port: 7000 },
        nodetool: async (args) => normalise(await real.nodetool(args)),
        write: (rows) =>
          withCql(real, 'cassandra', async (c) => {
            for (let i = 0; i < rows; i += 1) await c.execute('INSERT INTO shop.orders (id, note) VALUES (?, ?)', [i, 'x'.repeat(100)], { prepare: true });
          }),
        start: () => real.start(),
        stop: () => real.stop(),
      },
      {
        kind: 'sim',
        yamlFile: sim.cassandraYaml,
        dataDir: sim.dataDirs[0]!,
        systemLog: sim.systemLog,
        listen: { host: '127.0.0.1', port: simYaml.storage_port },
        nodetool: async (args) => normalise(await sim.nodetool(args)),
        write: (rows) => sim.write('shop', 'orders', rows * 100),
        start: () => sim.start(),
        stop: () => sim.stop(),
      },
    ];
  });

  after(async () => {
    await real?.stop();
    await stopAllSimNodes();
    await removeDir(root);
  });

  /** The same call on both; the outcomes must be equal. */
  const same = async (label: string, op: (s: Subject) => Promise<unknown>) => {
    const [ofReal, ofSim] = [await op(subjects[0]!), await op(subjects[1]!)];
    expect(ofSim, `${label}: the simulator (actual) against the real node (expected)`).to.deep.equal(ofReal);
  };

  it('answers the nodetool commands the agent runs with the same output, exit code and error line', async () => {
    for (const args of [
      ['version'],
      ['statusbackup'],
      ['snapshot', '-t', 'conf-1', 'shop'],
      ['snapshot', '-t', 'conf-1', 'shop'],
      ['snapshot', '-t', 'conf-2', 'nosuchks'],
      ['snapshot', '-t', 'conf-2', '-kt', 'shop.nosuch'],
      ['flush', 'nosuchks'],
      ['clearsnapshot'],
      ['clearsnapshot', '-t', 'conf-1'],
      ['clearsnapshot', '-t', 'never-taken'],
      ['enablebackup'],
      ['statusbackup'],
      ['disablebackup'],
      ['nosuchcommand'],
    ]) {
      await same(`nodetool ${args.join(' ')}`, (s) => s.nodetool(args));
    }
  });

  it('lays out a snapshot, the backups/ of a flush with incremental backups on, and what clearsnapshot leaves, as the real node does', async () => {
    await same('write, then snapshot conf-3', async (s) => {
      await s.write(50);
      return (await s.nodetool(['snapshot', '-t', 'conf-3', 'shop'])).exitCode;
    });
    await same('files of snapshots/conf-3', (s) => layoutOf(s, ['snapshots', 'conf-3']));
    await same('backups/ with incremental backups off', (s) => layoutOf(s, ['backups']));
    await same('flush with incremental backups on', async (s) => {
      await s.nodetool(['enablebackup']);
      await s.write(50);
      return (await s.nodetool(['flush', 'shop'])).exitCode;
    });
    await same('files of backups/ after the flush', (s) => layoutOf(s, ['backups']));
    // cassandra-facts: a snapshot flushes first, and what it flushes is linked into backups/ as well.
    await same('a snapshot of unflushed writes with incremental backups on', async (s) => {
      await s.write(50);
      await s.nodetool(['snapshot', '-t', 'conf-4', 'shop']);
      await s.nodetool(['disablebackup']);
      return generationsIn(s, ['backups']);
    });
    await same('clearsnapshot -t conf-3', async (s) => {
      await s.nodetool(['clearsnapshot', '-t', 'conf-3']);
      await s.nodetool(['clearsnapshot', '-t', 'conf-4']);
      return layoutOf(s, ['snapshots']);
    });
  });

  it('serves the system.local and system_auth.roles columns the agent and cassandra-driver read', async () => {
    await same('columns', async (s) => {
      const client = s.kind === 'real' ? await connect(real.address, 'cassandra', 'cassandra') : await connect('127.0.0.1', 'cassandra', 'cassandra', 1, sim.nativeTransportPort);
      try {
        const local = await client.execute("SELECT * FROM system.local WHERE key = 'local'");
        const roles = await client.execute('SELECT * FROM system_auth.roles');
        return { local: local.columns.map((c) => c.name).sort(), roles: roles.columns.map((c) => c.name).sort() };
      } finally {
        await client.shutdown();
      }
    });
  });

  it('refuses to start as the real node does: not in its own seed list, its storage port taken, another cluster name', async () => {
    await Promise.all(subjects.map((s) => s.stop()));
    await same('a node that is not its own seed', (s) =>
      startWith(s, (doc) => {
        doc.seed_provider = [{ class_name: 'org.apache.cassandra.locator.SimpleSeedProvider', parameters: [{ seeds: '127.0.0.9:7000' }] }];
      }),
    );
    await same('a node whose storage port is taken', async (s) => {
      const squatter: Server = createServer();
      await new Promise<void>((resolve) => squatter.listen(s.listen.port, s.listen.host, resolve));
      try {
        return (await startWith(s, () => undefined)).replace(`/${s.listen.host}:${s.listen.port}`, '/ADDRESS:PORT').replace(`/${s.listen.host}:${s.listen.port}`, '/ADDRESS:PORT');
      } finally {
        await new Promise((resolve) => squatter.close(resolve));
      }
    });
    await same('a node configured with another cluster name', (s) =>
      startWith(s, (doc) => {
        doc.cluster_name = 'Other Cluster';
      }),
    );
  });
});
