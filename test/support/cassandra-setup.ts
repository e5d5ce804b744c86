/**
 * Mocha global fixture of `npm run test:cassandra`: a Cassandra 4.0 and a
 * Java runtime for it (test/services/cassandra.sh install), found or
 * unpacked once before any test, so that a missing installation fails the
 * run at once with what to install. Each test file makes and removes its
 * own nodes (test/support/real-cassandra.ts).
 */
import { cassandraHome } from './real-cassandra.js';

export async function mochaGlobalSetup(): Promise<void> {
  process.stdout.write(`real Cassandra: ${await cassandraHome()}\n`);
}
