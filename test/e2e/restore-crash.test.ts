import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { RESTORE_STEPS } from '../../src/jobs/restore-journal.js';
import { runAgent } from '../support/agent-runner.js';
import { createNodeUnderTest, restoreLeftovers, type AgentStores, type NodeUnderTest } from '../support/e2e-nodes.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { digestTree } from '../support/tree-digest.js';

/** Files of the user keyspaces (Cassandra rewrites some system tables at every start by itself). */
async function userFiles(node: NodeUnderTest): Promise<Record<string, string>> {
  const trees = await Promise.all(node.dataDirs.map((d) => digestTree(d, ['snapshots'])));
  return Object.fromEntries(trees.flatMap((m) => [...m]).filter(([name]) => !name.startsWith('system')));
}

const journalOf = (node: NodeUnderTest): string => path.join(path.dirname(node.dataDirs[0]!), `.${path.basename(node.dataDirs[0]!)}.restore-journal.json`);
const exists = (file: string): Promise<boolean> => access(file).then(() => true, () => false);

/**
 * The agent SIGKILLed at each step of a restore (a failpoint kills it the
 * moment the journal records the step), then started again: the node is
 * entirely old or entirely new, running, with nothing left beside it.
 */
describe('a restore interrupted by SIGKILL', function () {
  this.timeout(180_000);
  let base: string;
  let stores: AgentStores;
  let source: NodeUnderTest;

  before(async function () {
    base = await makeTempDir('restore-crash');
    stores = { storePath: path.join(base, 'store') };
    source = await createNodeUnderTest(path.join(base, 'source'), stores, { clusterName: 'Source Cluster', tables: [{ keyspace: 'shop', table: 'orders', sstables: 2, bytes: 300_000 }], seed: 51 });
    await source.sim!.start();
    const backup = await runAgent(['backup', '--config', source.configFile, '--backup-id', 'crash-1']);
    expect(backup.exitCode, backup.stderr).to.equal(0);
  });

  after(async () => {
    await stopAllSimNodes();
    if (base) await removeDir(base);
  });

  for (const step of RESTORE_STEPS) {
    const completes = step === 'committing';
    it(`at '${step}': the next start ${completes ? 'finishes it: the node is entirely new' : 'rolls it back: the node is entirely old'}`, async () => {
      const target = await createNodeUnderTest(path.join(base, `target-${step}`), stores, { tables: [{ keyspace: 'shop', table: 'orders', sstables: 1, bytes: 50_000 }], seed: 52 });
      await target.sim!.start();
      const yamlBefore = await readFile(target.sim!.cassandraYaml, 'utf8');
      const filesBefore = await userFiles(target);

      const killed = await runAgent(['restore', '--config', target.configFile, '--backup-id', 'crash-1'], { CASSANDRA_GUEST_AGENT_FAILPOINT: `restore:${step}` });
      expect(killed.exitCode, `killed at ${step}:\n${killed.stderr}`).to.equal(-1);
      expect(await exists(journalOf(target)), 'journal left by the killed agent').to.equal(true);

      const recover = await runAgent(['recover', '--config', target.configFile, '--json']);
      expect(recover.exitCode, recover.stderr).to.equal(0);
      expect(recover.json?.recovered).to.deep.equal({ backupId: 'crash-1', outcome: completes ? 'completed' : 'rolled back' });

      expect(await target.sim!.isRunning()).to.equal(true);
      expect(await exists(journalOf(target))).to.equal(false);
      expect(await restoreLeftovers(target)).to.deep.equal([]);
      const yamlAfter = await readFile(target.sim!.cassandraYaml, 'utf8');
      if (completes) {
        // The snapshot's own manifest.json and schema.cql come along with the SSTables.
        const sstables = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).filter(([name]) => !/\/(manifest\.json|schema\.cql)$/.test(name)));
        expect(sstables(await userFiles(target))).to.deep.equal(sstables(await userFiles(source)));
        expect(yamlAfter).to.match(/^cluster_name: 'target-committing'$/m);
      } else {
        expect(await userFiles(target)).to.deep.equal(filesBefore);
        expect(yamlAfter).to.equal(yamlBefore);
      }
      await target.sim!.stop();
    });
  }
});
