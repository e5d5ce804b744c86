import yaml from 'js-yaml';
import { loadOrCreateAdminCredentials } from '../cassandra/admin-credentials.js';
import { readCassandraYaml } from '../cassandra/cassandra-yaml.js';
import { connectCql, type CqlEndpoint } from '../cassandra/cql-admin.js';
import { cassandraPasswordHash } from '../cassandra/password-hash.js';
import { localOnlyStart } from '../cassandra/local-only-yaml.js';
import { withScalars, writeYamlText } from '../cassandra/yaml-editor.js';
import { ServiceError, errorMessage } from '../errors.js';
import type { JobContext } from './job-context.js';
import { failpointActive } from '../util/failpoint.js';

export interface IdentityResetOptions {
  /** cassandra.yaml as it was before the restore touched it. */
  originalYaml: string;
  /** prepare's root_password; null keeps the agent's stored one (or makes one). */
  rootPassword: string | null;
}

export interface IdentityResetResult {
  clusterName: string;
  superuser: string;
  /** Cassandra starts this reset performed (each costs 10-45 s on a real node). */
  starts: number;
}

/**
 * Makes a node restored from another node's backup its own: a new
 * cluster_name (so it never joins its source's cluster) and a superuser
 * password the agent knows (the restored system_auth holds the source's).
 *
 * Both changes are made in ONE locally-only start instead of one each:
 * cassandra.yaml gets the backup's cluster name (the one saved in the
 * restored system.local, which Cassandra insists on), AllowAllAuthenticator
 * and AllowAllAuthorizer, CQL on 127.0.0.1 at a port only the agent knows
 * and the node itself as its only seed (local-only-yaml.ts); then
 * `UPDATE system.local SET cluster_name`, `UPDATE system_auth.roles SET
 * salted_hash`, a flush of both keyspaces, a stop; then the operator's own
 * cassandra.yaml with only the new cluster name changed, a start, and a login
 * with the new password. Two starts in all.
 */
export async function resetNodeIdentity(ctx: JobContext, backupClusterName: string, options: IdentityResetOptions): Promise<IdentityResetResult> {
  const { config, node } = ctx;
  const file = node.settings.file;
  const clusterName = config.restore_cluster_name || config.instance_id;
  const credentials = await loadOrCreateAdminCredentials(config.admin_credentials_file, config.cql_superuser, options.rootPassword);
  const timeoutMs = config.cql_connect_timeout_seconds * 1000;
  const endpoint = (host: string): CqlEndpoint => ({ host, port: config.cql_port, localDataCenter: config.cql_local_datacenter });

  const localOnly = await localOnlyStart(options.originalYaml, file, backupClusterName);
  ctx.progress.step(
    `starting Cassandra locally only (CQL on ${localOnly.cqlHost}:${localOnly.cqlPort}, no authentication, its own seed ${localOnly.seed}) under the backup's cluster name '${backupClusterName}'`,
  );
  await writeYamlText(file, localOnly.yamlText);
  await node.service.startAndWaitHealthy();

  ctx.progress.step(`setting cluster_name '${clusterName}' and a new password for role ${credentials.username}`);
  let hash = await cassandraPasswordHash(credentials.password);
  // The revision jBCrypt refuses: the reset "works", and only the final login can tell.
  if (failpointActive('identity:unaccepted-hash')) hash = hash.replace(/^\$2a\$/, '$2b$');
  const local = await connectCql({ ...endpoint(localOnly.cqlHost), port: localOnly.cqlPort }, timeoutMs);
  try {
    await local.setClusterName(clusterName);
    await local.setRoleHash(credentials.username, hash);
  } finally {
    await local.close().catch(() => undefined);
  }
  // Cassandra reads the saved cluster name at start from flushed SSTables only.
  await node.nodetool.run(['flush', 'system']);
  await node.nodetool.run(['flush', 'system_auth']);
  ctx.progress.step('stopping Cassandra to take its own configuration back');
  await node.service.stop();

  ctx.progress.step(`starting Cassandra with cluster_name '${clusterName}' and its own authentication and addresses`);
  const finalYaml = withScalars(options.originalYaml, { cluster_name: clusterName });
  await writeYamlText(file, finalYaml);
  await node.service.startAndWaitHealthy();

  const settings = await readCassandraYaml(file, config.cassandra_home);
  ctx.progress.step(settings.requiresLogin ? `logging in as ${credentials.username} with the new password` : 'checking Cassandra answers CQL');
  const remote = await connectCql(
    { ...endpoint(config.cql_host), ...(settings.requiresLogin ? { credentials: { username: credentials.username, password: credentials.password } } : {}) },
    timeoutMs,
  ).catch((err: unknown) => {
    throw new ServiceError(`the restored node does not accept the new credentials: ${errorMessage(err)}`, { cause: err });
  });
  try {
    await remote.releaseVersion();
  } finally {
    await remote.close().catch(() => undefined);
  }
  return { clusterName, superuser: credentials.username, starts: 2 };
}

/** Parsed once so that a broken cassandra.yaml is refused before anything is touched. */
export function checkYamlMapping(text: string, file: string): void {
  const doc = yaml.load(text);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ServiceError(`${file} is not a YAML mapping; fix it before restoring`);
}
