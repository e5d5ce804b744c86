import { createServer, type Server } from 'node:net';
import type { CassandraConfig } from './cassandra-yaml.js';
import { StartupFailure } from './startup-checks.js';
import type { SystemLog } from './system-log.js';

/** CassandraDaemon.activate's exit code for an exception during start-up (a real node: 3). */
const ERR_STARTUP = 3;
/** Its exit code for a ConfigurationException raised while binding (a real node: 1). */
const ERR_FATAL_CONFIG = 1;

/**
 * InboundConnectionInitiator.bind: listen_address:storage_port is taken for
 * inter-node messaging; a second node on the same address and port is a
 * fatal configuration error, as on a real node (its message, verbatim).
 */
export async function listenForPeers(config: CassandraConfig, log: SystemLog): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: config.listenAddress, port: config.storagePort, exclusive: true }, resolve);
    });
  } catch (err) {
    const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
    const message = inUse
      ? `/${config.listenAddress}:${config.storagePort} is in use by another process.  Change listen_address:storage_port in cassandra.yaml to values that do not conflict with other services`
      : `Failed to bind to /${config.listenAddress}:${config.storagePort}: ${(err as Error).message}`;
    log.error('CassandraDaemon.java:909', 'Fatal configuration error', [`org.apache.cassandra.exceptions.ConfigurationException: ${message}`]);
    throw new StartupFailure(ERR_FATAL_CONFIG, message);
  }
  server.unref();
  return server;
}

/**
 * Gossiper.doShadowRound: a node reaches its seeds before joining. The
 * simulator has no peers, so a node that is not in its own seed list never
 * hears from anyone and refuses to start, as a real lone node does (exit 3).
 */
export function checkOwnSeed(config: CassandraConfig, log: SystemLog): void {
  const self = `${config.listenAddress}:${config.storagePort}`;
  if (config.seeds.includes(self)) return;
  log.error('CassandraDaemon.java:909', 'Exception encountered during startup', [
    'java.lang.RuntimeException: Unable to gossip with any peers',
    '\tat org.apache.cassandra.gms.Gossiper.doShadowRound(Gossiper.java:1773)',
    '\tat org.apache.cassandra.service.StorageService.checkForEndpointCollision(StorageService.java:648)',
    '\tat org.apache.cassandra.service.StorageService.prepareToJoin(StorageService.java:933)',
  ]);
  throw new StartupFailure(ERR_STARTUP, 'Unable to gossip with any peers');
}
