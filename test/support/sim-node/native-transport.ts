import type { AuthSettings, AuthenticatorName, AuthorizerName } from '../cql-server/auth.js';
import type { CqlBackend, RoleColumns, RoleRow } from '../cql-server/backend.js';
import { startCqlServer, type CqlServer } from '../cql-server/server.js';
import { ConfigurationError, type CassandraConfig } from './cassandra-yaml.js';
import { RELEASE_VERSION, type NodeRuntime } from './node-runtime.js';
import type { SystemLog } from './system-log.js';

/**
 * The node's native transport: the CQL server of ../cql-server, listening on
 * rpc_address:native_transport_port, serving the node's own state. system.local and
 * system_auth.roles are read from and written to the storage engine (memtable + commit log, then
 * SSTables), so a CQL update is what the next start-up check reads once flushed, what a copy of
 * the data directory carries, and what the commit log replays after kill -9.
 */

/** AuthConfig.applyAuth: `Foo` means `org.apache.cassandra.auth.Foo`; unknown classes and bad pairs are fatal. */
export function authSettingsFrom(config: CassandraConfig): AuthSettings {
  const short = (name: string): string => name.replace(/^org\.apache\.cassandra\.auth\./, '');
  const qualified = (name: string): string => (name.includes('.') ? name : `org.apache.cassandra.auth.${name}`);
  const authenticator = short(config.authenticator);
  const authorizer = short(config.authorizer);
  if (!['AllowAllAuthenticator', 'PasswordAuthenticator'].includes(authenticator)) {
    throw new ConfigurationError(`Unable to find authenticator class '${qualified(config.authenticator)}'`);
  }
  if (!['AllowAllAuthorizer', 'CassandraAuthorizer'].includes(authorizer)) {
    throw new ConfigurationError(`Unable to find authorizer class '${qualified(config.authorizer)}'`);
  }
  if (short(config.roleManager) !== 'CassandraRoleManager') {
    throw new ConfigurationError(`Unable to find role manager class '${qualified(config.roleManager)}'`);
  }
  if (authenticator === 'AllowAllAuthenticator' && authorizer !== 'AllowAllAuthorizer') {
    throw new ConfigurationError(`${config.authenticator} can't be used with ${config.authorizer}`);
  }
  return {
    authenticator: authenticator as AuthenticatorName,
    authorizer: authorizer as AuthorizerName,
    credentialsValidityMs: config.credentialsValidityMs,
    rolesValidityMs: config.rolesValidityMs,
  };
}

/**
 * SystemKeyspace.truncationAsMapEntry: CommitLogPosition (segment id, position) then the
 * truncation time. The simulator does not keep the segment id, so the record uses the time.
 */
function truncationRecord(truncatedAt: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeBigInt64BE(BigInt(truncatedAt), 0);
  b.writeInt32BE(28, 8);
  b.writeBigInt64BE(BigInt(truncatedAt), 12);
  return b;
}

function roleRowFrom(cols: Record<string, unknown>): RoleRow | undefined {
  if (typeof cols['role'] !== 'string') return undefined;
  const row: RoleRow = { role: cols['role'] };
  const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);
  row.can_login = bool(cols['can_login']);
  row.is_superuser = bool(cols['is_superuser']);
  row.member_of = Array.isArray(cols['member_of']) && cols['member_of'].length > 0 ? (cols['member_of'] as string[]) : null;
  row.salted_hash = typeof cols['salted_hash'] === 'string' ? cols['salted_hash'] : null;
  return row;
}

export function nodeBackend(runtime: NodeRuntime, log: SystemLog): CqlBackend {
  const serial = <T>(op: () => Promise<T>): Promise<T> => runtime.serialize(op);
  return {
    keyspaces: () =>
      serial(async () =>
        runtime.engine.keyspaces().map((k) => ({
          name: k.name,
          durableWrites: k.durableWrites,
          replication: k.replication,
          tables: runtime.engine.tables(k.name).map((t) => t.name),
        })),
      ),
    localRow: () =>
      serial(async () => {
        const stored = await runtime.storedLocalRow();
        const config = runtime.config;
        const truncated = Object.entries(stored)
          .filter(([k, v]) => k.startsWith('truncated_at:') && typeof v === 'number')
          .map(([k, v]) => [k.slice('truncated_at:'.length), truncationRecord(v as number)] as const)
          .sort(([a], [b]) => (a < b ? -1 : 1));
        return {
          key: 'local',
          bootstrapped: stored['bootstrapped'] ?? 'COMPLETED',
          broadcast_address: config.listenAddress,
          broadcast_port: config.storagePort,
          cluster_name: stored['cluster_name'] ?? null,
          cql_version: '3.4.5',
          data_center: 'datacenter1',
          gossip_generation: stored['gossip_generation'] ?? null,
          host_id: runtime.hostId,
          listen_address: config.listenAddress,
          listen_port: config.storagePort,
          native_protocol_version: '5',
          partitioner: config.partitioner,
          rack: 'rack1',
          release_version: RELEASE_VERSION,
          rpc_address: config.rpcAddress,
          rpc_port: config.nativeTransportPort,
          schema_version: runtime.engine.schemaVersion(),
          // A set<text> comes back sorted by its UTF-8 bytes.
          tokens: [...runtime.tokens].sort(),
          truncated_at: new Map(truncated),
        };
      }),
    saveClusterName: (name) => serial(() => runtime.updateSavedClusterName(name)),
    roles: () => serial(async () => (await runtime.roleRows()).map(roleRowFrom).filter((r): r is RoleRow => r !== undefined)),
    writeRole: (role, columns: RoleColumns) => serial(() => runtime.writeRole(role, { ...columns })),
    log: {
      warn: (source, message, detail, thread) => log.write('WARN', thread, source, message, detail),
      error: (source, message, detail, thread) => log.write('ERROR', thread, source, message, detail),
    },
  };
}

/** NativeTransportService.start: binds rpc_address:native_transport_port (a taken port is fatal). */
export async function startNativeTransport(runtime: NodeRuntime, log: SystemLog): Promise<CqlServer> {
  const config = runtime.config;
  return startCqlServer({
    host: config.rpcAddress,
    port: config.nativeTransportPort,
    auth: authSettingsFrom(config),
    backend: nodeBackend(runtime, log),
  });
}
