import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { CONFIG_SCHEMA } from '../../src/config/config-schema.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/errors.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { repoRoot } from '../support/repo-paths.js';

describe('configuration', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('config');
  });
  afterEach(() => removeDir(dir));

  const write = async (text: string): Promise<string> => {
    const file = path.join(dir, 'agent.yaml');
    await writeFile(file, text);
    return file;
  };

  const rejection = async (promise: Promise<unknown>): Promise<ConfigError> => {
    try {
      await promise;
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return err as ConfigError;
    }
    expect.fail('expected a ConfigError');
  };

  it('documents every key with its default in config/guest-agent.yaml', async () => {
    const file = path.join(repoRoot(), 'config/guest-agent.yaml');
    const text = await readFile(file, 'utf8');
    for (const key of Object.keys(CONFIG_SCHEMA)) {
      expect(text, `config/guest-agent.yaml documents ${key}`).to.match(new RegExp(`^(# )?${key}:`, 'm'));
    }
    expect(await loadConfig(file, {})).to.deep.equal(await loadConfig(undefined, {}));
  });

  it('reads typed values and sizes with units', async () => {
    const config = await loadConfig(await write('cql_port: 9043\nbackup_segment_max_size: 64MiB\nnodetool_command: /opt/cassandra/bin/nodetool\n'), {});
    expect(config.cql_port).to.equal(9043);
    expect(config.backup_segment_max_size).to.equal(64 * 1024 * 1024);
    expect(config.nodetool_command).to.deep.equal(['/opt/cassandra/bin/nodetool']);
  });

  it('lets the environment override the file', async () => {
    const file = await write('cql_port: 9043\n');
    const config = await loadConfig(file, { GUEST_AGENT_CQL_PORT: '9999', GUEST_AGENT_NODETOOL_COMMAND: '["nodetool", "-p", "7199"]', GUEST_AGENT_SERVICE_STOP_COMMAND: 'sv stop cassandra' });
    expect(config.cql_port).to.equal(9999);
    expect(config.nodetool_command).to.deep.equal(['nodetool', '-p', '7199']);
    expect(config.service_stop_command).to.deep.equal(['sv', 'stop', 'cassandra']);
  });

  it('names the file and the key of an unknown key, with a suggestion', async () => {
    const file = await write('cql_prot: 9042\n');
    const err = await rejection(loadConfig(file, {}));
    expect(err.message).to.equal(`${file}: unknown key 'cql_prot' (did you mean 'cql_port'?)`);
    expect(err.exitCode).to.equal(2);
  });

  it('names the key and the expected type of a wrong value', async () => {
    const file = await write('cql_port: "abc"\n');
    const err = await rejection(loadConfig(file, {}));
    expect(err.message).to.equal(`${file}: key 'cql_port': expected an integer from 1 to 65535, got "abc"`);
  });

  it('refuses a missing value', async () => {
    const file = await write('cassandra_yaml:\n');
    const err = await rejection(loadConfig(file, {}));
    expect(err.message).to.equal(`${file}: key 'cassandra_yaml': expected a string, got nothing`);
  });

  it('refuses a value outside an enumeration', async () => {
    const err = await rejection(loadConfig(await write('backup_compression: rar\n'), {}));
    expect(err.message).to.match(/key 'backup_compression': expected one of gzip, none, zstd, lz4, got "rar"$/);
  });

  it('names the environment variable of a bad override', async () => {
    const err = await rejection(loadConfig(undefined, { GUEST_AGENT_CQL_PORT: 'many' }));
    expect(err.message).to.equal(`environment GUEST_AGENT_CQL_PORT (key 'cql_port'): expected an integer from 1 to 65535, got "many"`);
    const unknown = await rejection(loadConfig(undefined, { GUEST_AGENT_NO_SUCH_KEY: '1' }));
    expect(unknown.message).to.match(/^environment GUEST_AGENT_NO_SUCH_KEY: unknown key 'no_such_key'/);
  });

  it("leaves the CLI's own variables alone (GUEST_AGENT_CONFIG, GUEST_AGENT_LOG, GUEST_AGENT_DEBUG)", async () => {
    const config = await loadConfig(undefined, { GUEST_AGENT_CONFIG: '/nowhere.yaml', GUEST_AGENT_LOG: 'x', GUEST_AGENT_DEBUG: '1', GUEST_AGENT_CQL_PORT: '9043' });
    expect(config.cql_port).to.equal(9043);
  });

  it('names an unreadable file', async () => {
    const missing = path.join(dir, 'missing.yaml');
    const err = await rejection(loadConfig(missing, {}));
    expect(err.message).to.match(new RegExp(`^${missing}: cannot read the configuration file: ENOENT`));
    const directory = await rejection(loadConfig(dir, {}));
    expect(directory.message).to.match(new RegExp(`^${dir}: cannot read the configuration file: EISDIR`));
  });

  it('refuses a file holding a secret that others can read, without printing the secret', async () => {
    const file = await write('swift_key: s3cr3t-value\n');
    await chmod(file, 0o644);
    const err = await rejection(loadConfig(file, {}));
    expect(err.message).to.equal(`${file}: holds swift_key but is readable by others (mode 644); run 'chmod 600 ${file}'`);
    expect(err.message).not.to.include('s3cr3t-value');
    await chmod(file, 0o600);
    expect((await loadConfig(file, {})).swift_key).to.equal('s3cr3t-value');
  });

  it('names the line of invalid YAML and refuses a non-mapping', async () => {
    const bad = await rejection(loadConfig(await write('cql_port: [1,\n'), {}));
    expect(bad.message).to.match(/agent\.yaml: not valid YAML \(line \d+\)/);
    const list = await rejection(loadConfig(await write('- a\n- b\n'), {}));
    expect(list.message).to.match(/expected a mapping of keys to values/);
  });
});
