import { lookup } from 'node:dns/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import yaml from 'js-yaml';
import { ConfigError, errorMessage } from '../errors.js';

/** How a node is started for the identity reset, where nothing but the agent can reach it. */
export interface LocalOnlyStart {
  /** The whole cassandra.yaml of that start (a YAML round trip: it is replaced by the operator's file afterwards). */
  yamlText: string;
  /** Where the agent reaches CQL during that start: 127.0.0.1 and a port nothing else uses. */
  cqlHost: string;
  cqlPort: number;
  /** The node's own storage address, its only seed during that start. */
  seed: string;
}

const LOCAL_CQL_HOST = '127.0.0.1';

/**
 * The operator's cassandra.yaml changed for a start without authentication:
 *
 * - `cluster_name` the restored system.local saved (Cassandra refuses any other);
 * - `AllowAllAuthenticator`/`AllowAllAuthorizer`, so the agent can rewrite the superuser's hash;
 * - CQL on 127.0.0.1 and a free port chosen now (`rpc_address`, `native_transport_port`), so no
 *   remote client and no client that knows the usual port reaches a node without authentication,
 *   and another node of the same host that serves 127.0.0.1:9042 is not in the way;
 * - the node's own storage address as its only seed: a node that is not in its own seed list and
 *   reaches no peer refuses to start ("Unable to gossip with any peers"), and one that reaches its
 *   old seeds could gossip with the cluster it was restored from.
 *
 * `listen_address` and `storage_port` stay: moving them to 127.0.0.1 would take another node's
 * address on a host that runs several.
 */
export async function localOnlyStart(originalYaml: string, file: string, clusterName: string): Promise<LocalOnlyStart> {
  const doc = yaml.load(originalYaml);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ConfigError(`${file} is not a YAML mapping; fix it before restoring`);
  const settings = { ...(doc as Record<string, unknown>) };
  const storagePort = typeof settings.storage_port === 'number' ? settings.storage_port : 7000;
  const seed = `${await listenAddress(settings, file)}:${storagePort}`;
  const cqlPort = await freeLocalPort();
  for (const key of ['rpc_interface', 'rpc_interface_prefer_ipv6', 'broadcast_rpc_address']) delete settings[key];
  Object.assign(settings, {
    cluster_name: clusterName,
    authenticator: 'AllowAllAuthenticator',
    authorizer: 'AllowAllAuthorizer',
    rpc_address: LOCAL_CQL_HOST,
    native_transport_port: cqlPort,
    start_native_transport: true,
    seed_provider: [{ class_name: 'org.apache.cassandra.locator.SimpleSeedProvider', parameters: [{ seeds: seed }] }],
  });
  return { yamlText: yaml.dump(settings, { lineWidth: -1 }), cqlHost: LOCAL_CQL_HOST, cqlPort, seed };
}

/** The address Cassandra listens on for other nodes: listen_address, listen_interface's address, or the host name's. */
async function listenAddress(settings: Record<string, unknown>, file: string): Promise<string> {
  const address = settings.listen_address;
  if (typeof address === 'string' && address !== '') return address;
  const iface = settings.listen_interface;
  if (typeof iface === 'string' && iface !== '') {
    const wantV6 = settings.listen_interface_prefer_ipv6 === true;
    const found = os.networkInterfaces()[iface]?.find((a) => (a.family === 'IPv6') === wantV6);
    if (!found) throw new ConfigError(`${file}: listen_interface ${iface} has no ${wantV6 ? 'IPv6' : 'IPv4'} address on this host`);
    return found.address;
  }
  // Unset: Cassandra takes InetAddress.getLocalHost(), the host name's address.
  try {
    return (await lookup(os.hostname())).address;
  } catch (err) {
    throw new ConfigError(`${file}: listen_address is unset and the host name ${os.hostname()} does not resolve: ${errorMessage(err)}`, { cause: err });
  }
}

/** A TCP port free on 127.0.0.1 now (the kernel's choice). */
async function freeLocalPort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOCAL_CQL_HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port assigned'))));
    });
  });
}
