import bcrypt from 'bcryptjs';

/**
 * A `salted_hash` Cassandra's PasswordAuthenticator accepts: jBCrypt reads
 * only the `$2a$` revision (it rejects `$2b$`/`$2y$`, which bcryptjs 3 makes
 * by default), 10 rounds as Cassandra's own default.
 */
export async function cassandraPasswordHash(password: string): Promise<string> {
  // Same algorithm for passwords under 72 bytes; only the revision letter differs.
  const salt = (await bcrypt.genSalt(10)).replace(/^\$2[by]\$/, '$2a$');
  const hash = await bcrypt.hash(password, salt);
  if (!hash.startsWith('$2a$10$')) throw new Error(`bcrypt produced a ${hash.slice(0, 4)} hash; Cassandra accepts only $2a$`);
  return hash;
}
