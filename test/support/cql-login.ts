import cassandra from 'cassandra-driver';
import type { NodeUnderTest } from './e2e-nodes.js';

/** A login and a query through the real cassandra-driver; resolves to the error when refused. */
export async function cqlLogin(node: NodeUnderTest, username: string, password: string): Promise<Error | undefined> {
  const client = new cassandra.Client({
    contactPoints: [node.sim!.cqlContactPoint],
    localDataCenter: 'datacenter1',
    authProvider: new cassandra.auth.PlainTextAuthProvider(username, password),
  });
  try {
    await client.connect();
    await client.execute("SELECT release_version FROM system.local WHERE key = 'local'");
    return undefined;
  } catch (err) {
    return err as Error;
  } finally {
    await client.shutdown();
  }
}
