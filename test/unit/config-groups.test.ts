import { expect } from 'chai';
import {
  CONFIG_GROUPS,
  CONFIG_SCHEMA,
  type AgentConfig,
  type ArchiveConfig,
  type ControlConfig,
  type JobConfig,
  type NodeConfig,
  type RpcConfig,
  type StorageConfig,
} from '../../src/config/config-schema.js';
import { loadConfig } from '../../src/config/load-config.js';
import { BACKENDS } from '../../src/storage/backends.js';

type EveryGroup = NodeConfig & StorageConfig & ArchiveConfig & RpcConfig & JobConfig & ControlConfig;

// Compiled, not run: tsc fails the build when a line here stops holding.
// The whole configuration is every group at once, and every group together is the whole.
const _wholeIsEveryGroup = (config: AgentConfig): EveryGroup => config;
const _everyGroupIsWhole = (groups: EveryGroup): AgentConfig => groups;
const _nodeSeesNoStorageKey = (config: NodeConfig): unknown =>
  // @ts-expect-error: s3_bucket is a storage key, and a part given NodeConfig sees the node's keys only
  config.s3_bucket;
const _archiveSeesNoRpcKey = (config: ArchiveConfig): unknown =>
  // @ts-expect-error: transport_url is an rpc key, and ArchiveConfig is the archive's keys only
  config.transport_url;

describe('configuration groups', () => {
  const entries = Object.entries(CONFIG_SCHEMA as Record<string, { group: unknown }>);

  it('put every key of the schema in exactly one known group', () => {
    for (const [key, spec] of entries) {
      expect(CONFIG_GROUPS as readonly unknown[], `the group of ${key}`).to.include(spec.group);
    }
  });

  it('cover the schema between them, each group with keys of its own', () => {
    const byGroup = new Map(CONFIG_GROUPS.map((group) => [group, entries.filter(([, spec]) => spec.group === group).map(([key]) => key)]));
    for (const [group, keys] of byGroup) expect(keys.length, `keys of ${group}`).to.be.above(0);
    expect([...byGroup.values()].flat().sort()).to.deep.equal(Object.keys(CONFIG_SCHEMA).sort());
  });

  it('put storage_strategy and every key a storage backend declares in the storage group', () => {
    expect(CONFIG_SCHEMA.storage_strategy.group).to.equal('storage');
    for (const backend of BACKENDS) {
      for (const key of Object.keys(backend.keys)) {
        expect((CONFIG_SCHEMA as Record<string, { group: string }>)[key]!.group, `${backend.name}: ${key}`).to.equal('storage');
      }
    }
  });

  it('leave the loaded configuration flat: one value per key, no group in it', async () => {
    const config = await loadConfig(undefined, {});
    expect(Object.keys(config).sort()).to.deep.equal(Object.keys(CONFIG_SCHEMA).sort());
    const node: NodeConfig = config;
    expect(node.cql_port).to.equal(9042);
  });
});
