import cassandra from 'cassandra-driver';
import { ServiceError, errorMessage } from '../errors.js';

export interface CqlEndpoint {
  host: string;
  port: number;
  localDataCenter: string;
  /** Absent: connect anonymously (AllowAllAuthenticator). */
  credentials?: { username: string; password: string };
}

export interface CqlAdmin {
  setClusterName(name: string): Promise<void>;
  setRoleHash(role: string, saltedHash: string): Promise<void>;
  /** The release version: a query that needs a working node and, with auth, a login. */
  releaseVersion(): Promise<string>;
  close(): Promise<void>;
}

/**
 * The few CQL statements the agent needs, through cassandra-driver with its
 * default options. Connecting is retried until `timeoutMs`: a node that has
 * just started may not listen yet, its default superuser appears a moment
 * after start-up, and a changed password is refused while Cassandra's
 * credentials cache still holds the old one.
 */
export async function connectCql(endpoint: CqlEndpoint, timeoutMs: number): Promise<CqlAdmin> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let firstRefusal: number | undefined;
  for (let attempt = 1; ; attempt += 1) {
    const client = new cassandra.Client({
      contactPoints: [`${endpoint.host}:${endpoint.port}`],
      localDataCenter: endpoint.localDataCenter,
      ...(endpoint.credentials ? { authProvider: new cassandra.auth.PlainTextAuthProvider(endpoint.credentials.username, endpoint.credentials.password) } : {}),
      socketOptions: { connectTimeout: 5000, readTimeout: 30_000 },
    });
    try {
      await client.connect();
      return adminOf(client);
    } catch (err) {
      lastError = err;
      await client.shutdown().catch(() => undefined);
    }
    // A refused login is worth retrying only across Cassandra's credentials
    // cache (a few seconds), not for the whole start-up allowance.
    if (isLoginRefused(lastError)) firstRefusal ??= Date.now();
    if (firstRefusal !== undefined && Date.now() - firstRefusal > LOGIN_REFUSAL_RETRY_MS) break;
    if (Date.now() + 1000 > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 200 * attempt)));
  }
  const who = endpoint.credentials ? ` as ${endpoint.credentials.username}` : '';
  throw new ServiceError(`cannot connect to Cassandra over CQL at ${endpoint.host}:${endpoint.port}${who} within ${Math.round(timeoutMs / 1000)} s: ${errorMessage(lastError)}`, { cause: lastError });
}

/** Longer than Cassandra's default credentials and roles caches (2 s each, refreshed in the background). */
const LOGIN_REFUSAL_RETRY_MS = 10_000;

function isLoginRefused(err: unknown): boolean {
  return /AuthenticationError|password are incorrect|is not permitted to log in/.test(errorMessage(err));
}

function adminOf(client: cassandra.Client): CqlAdmin {
  const run = async (what: string, query: string, params: unknown[]): Promise<cassandra.types.ResultSet> => {
    try {
      return await client.execute(query, params, { prepare: true });
    } catch (err) {
      throw new ServiceError(`CQL: cannot ${what}: ${errorMessage(err)}`, { cause: err });
    }
  };
  return {
    async setClusterName(name) {
      await run('set the cluster name in system.local', "UPDATE system.local SET cluster_name = ? WHERE key = 'local'", [name]);
    },
    async setRoleHash(role, saltedHash) {
      await run(`set the password of role ${role}`, 'UPDATE system_auth.roles SET salted_hash = ? WHERE role = ?', [saltedHash, role]);
    },
    async releaseVersion() {
      const result = await run('read the release version', "SELECT release_version FROM system.local WHERE key = 'local'", []);
      return String(result.first()?.get('release_version') ?? '');
    },
    close: () => client.shutdown(),
  };
}
