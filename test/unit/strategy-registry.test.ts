import { expect } from 'chai';
import { findStrategy, loadStrategies } from '../../strategies/registry.js';
import { ConfigError } from '../../src/errors.js';

describe('strategy registry', () => {
  it('finds the strategies that are files in strategies/', async () => {
    const strategies = await loadStrategies();
    expect([...strategies.keys()]).to.include('NodetoolSnapshot');
    expect((await findStrategy('backup', 'NodetoolSnapshot', 'strategies')).name).to.equal('NodetoolSnapshot');
  });

  it("accepts Trove's Cassandra namespaces", async () => {
    const strategy = await findStrategy('backup', 'NodetoolSnapshot', 'trove.guestagent.strategies.backup.experimental.cassandra_impl');
    expect(strategy.name).to.equal('NodetoolSnapshot');
  });

  it('lists the known strategies for an unknown name', async () => {
    try {
      await findStrategy('backup', 'MysqlDump', 'strategies');
      expect.fail('an unknown strategy was found');
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as Error).message).to.match(/^backup_strategy: unknown strategy 'MysqlDump' \(known: .*NodetoolSnapshot.*\)$/);
    }
  });

  it('names the namespace key for an unknown namespace', async () => {
    try {
      await findStrategy('restore', 'NodetoolSnapshot', 'com.example');
      expect.fail('an unknown namespace was accepted');
    } catch (err) {
      expect((err as Error).message).to.match(/^restore_namespace: unknown namespace 'com\.example' \(known: strategies, /);
    }
  });
});
