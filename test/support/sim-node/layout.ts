import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where everything of one simulated node lives below its root ($CASSANDRA_HOME), and where the
 * compiled entry points of the simulator are.
 */
export interface NodeLayout {
  root: string;
  confDir: string;
  cassandraYaml: string;
  /** Simulator settings that are not Cassandra state (start-up delay, seed, owner). */
  settingsFile: string;
  binDir: string;
  nodetoolBin: string;
  serviceBin: string;
  logDir: string;
  systemLog: string;
  runDir: string;
  pidFile: string;
  /** Cassandra's defaults when cassandra.yaml leaves the directories unset. */
  defaultDataDir: string;
  defaultCommitlogDir: string;
  defaultSavedCachesDir: string;
  defaultHintsDir: string;
}

export function nodeLayout(rootPath: string): NodeLayout {
  const root = resolve(rootPath);
  const confDir = join(root, 'conf');
  const binDir = join(root, 'bin');
  const logDir = join(root, 'logs');
  const runDir = join(root, 'run');
  return {
    root,
    confDir,
    cassandraYaml: join(confDir, 'cassandra.yaml'),
    settingsFile: join(confDir, 'sim-node.json'),
    binDir,
    nodetoolBin: join(binDir, 'nodetool'),
    serviceBin: join(binDir, 'cassandra-service'),
    logDir,
    systemLog: join(logDir, 'system.log'),
    runDir,
    pidFile: join(runDir, 'cassandra.pid'),
    defaultDataDir: join(root, 'data', 'data'),
    defaultCommitlogDir: join(root, 'data', 'commitlog'),
    defaultSavedCachesDir: join(root, 'data', 'saved_caches'),
    defaultHintsDir: join(root, 'data', 'hints'),
  };
}

/** `<root>/data/data`, `<root>/data/data2`, ... */
export function dataDirFor(root: string, index: number): string {
  return join(resolve(root), 'data', index === 0 ? 'data' : `data${index + 1}`);
}

function compiled(name: string): string {
  return fileURLToPath(new URL(`./${name}`, import.meta.url));
}

export const ENTRY_POINTS = {
  nodetool: compiled('nodetool-cli.js'),
  service: compiled('service-cli.js'),
  daemon: compiled('daemon.js'),
};

/** Environment variable the bin/ wrappers use to tell the entry points which node they serve. */
export const ROOT_ENV = 'SIM_CASSANDRA_HOME';

/**
 * The management endpoint standing in for JMX on 127.0.0.1:7199. Several simulated nodes run on one
 * host, so each gets its own socket; on Linux an abstract socket (no file to go stale, no path
 * length limit), elsewhere a socket file in the temp directory.
 */
export function jmxEndpoint(root: string): string {
  const id = createHash('sha1').update(resolve(root)).digest('hex').slice(0, 20);
  return process.platform === 'linux' ? `\0cassandra-sim-jmx-${id}` : join(tmpdir(), `cassandra-sim-jmx-${id}.sock`);
}
