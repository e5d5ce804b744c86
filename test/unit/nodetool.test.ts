import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { nodetoolMessage, parseRingTokens } from '../../src/cassandra/nodetool.js';
import { cassandraFactsDir } from '../support/repo-paths.js';

/** stdout and stderr of one captured nodetool call on a real Cassandra 4.0 node. */
async function captured(name: string): Promise<{ stdout: string; stderr: string }> {
  const dir = cassandraFactsDir();
  const [stdout, stderr] = await Promise.all(['stdout', 'stderr'].map((s) => readFile(path.join(dir, `nt_${name}.${s}`), 'utf8')));
  return { stdout: stdout!, stderr: stderr! };
}

describe('reading nodetool output of a real Cassandra 4.0', () => {
  it('takes the server-side error line from stderr, not the stack trace', async () => {
    const { stdout, stderr } = await captured('snapshot_bk1_again');
    expect(nodetoolMessage(stdout, stderr)).to.equal('Snapshot bk1 already exists.');
  });

  it('takes the argument error from stdout, after the Requested line', async () => {
    const { stdout, stderr } = await captured('snapshot_nosuchks');
    expect(nodetoolMessage(stdout, stderr)).to.equal('Keyspace nosuchks does not exist');
  });

  it('says the node is down when nodetool cannot connect', async () => {
    const { stdout, stderr } = await captured('down_snapshot');
    expect(nodetoolMessage(stdout, stderr)).to.equal("Failed to connect to '127.0.0.1:7199' - ConnectException: 'Connection refused'.");
  });

  it('parses the 16 tokens of nodetool ring', async () => {
    const { stdout } = await captured('ring');
    const tokens = parseRingTokens(stdout);
    expect(tokens).to.have.length(16);
    expect(tokens[0]).to.equal('-9173007297562640782');
    expect(tokens.every((t) => /^-?\d+$/.test(t))).to.equal(true);
  });
});
