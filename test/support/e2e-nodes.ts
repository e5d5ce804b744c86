import { createStorageCatalog } from '../../src/catalog/storage-catalog.js';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import { createStorage } from '../../src/storage/create-storage.js';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import { loadConfig } from '../../src/config/load-config.js';
import { createSimNode, type SimNode, type SimNodeOptions } from './sim-node/index.js';

/** A node the end-to-end tests drive through the agent's configuration only. */
export interface NodeUnderTest {
  configFile: string;
  dataDirs: string[];
  sim?: SimNode;
}

export interface AgentStores {
  /** backup_local_path: the objects, and the catalog under `catalog/`. */
  storePath: string;
}

/** A record's file in a local store's catalog. */
export const localRecordFile = (stores: AgentStores, id: string): string => path.join(stores.storePath, 'catalog', `${id}.json`);

/** A backup's catalog record, read the way the agent reads it, from whatever store the configuration names. */
export async function readCatalogRecord(configFile: string, id: string): Promise<BackupRecord> {
  const record = await createStorageCatalog(createStorage(await loadConfig(configFile))).get(id);
  if (!record) throw new Error(`backup ${id} has no catalog record in the store of ${configFile}`);
  return record;
}

/** A simulated node with an agent configuration file pointing at it and at the shared stores. */
export async function createNodeUnderTest(
  root: string,
  stores: AgentStores,
  options: Omit<SimNodeOptions, 'root'> = {},
  extraConfig: Record<string, unknown> = {},
): Promise<NodeUnderTest> {
  const sim = await createSimNode({ root, ...options });
  const configFile = path.join(root, 'guest-agent.yaml');
  await writeAgentConfig(configFile, sim, stores, extraConfig);
  return { configFile, dataDirs: sim.dataDirs, sim };
}

export async function writeAgentConfig(file: string, sim: SimNode, stores: AgentStores, extra: Record<string, unknown> = {}): Promise<void> {
  const config = {
    instance_id: path.basename(sim.root),
    cassandra_yaml: sim.cassandraYaml,
    cassandra_home: sim.root,
    nodetool_command: sim.nodetoolCommand,
    nodetool_timeout_seconds: 60,
    service_start_command: sim.serviceStartCommand,
    service_stop_command: sim.serviceStopCommand,
    service_status_command: sim.serviceStatusCommand,
    service_start_timeout_seconds: 60,
    service_stop_timeout_seconds: 60,
    cql_host: sim.cqlContactPoint.split(':')[0],
    cql_port: sim.nativeTransportPort,
    backup_local_path: stores.storePath,
    admin_credentials_file: path.join(sim.root, 'agent-admin-credentials.json'),
    ...extra,
  };
  await writeFile(file, yaml.dump(config), { mode: 0o600 });
}

/** What a restore leaves beside the data directories if it did not clean up: `*.restore-*`, `*.pre-restore-*`. */
export async function restoreLeftovers(node: NodeUnderTest): Promise<string[]> {
  const names: string[] = [];
  for (const dir of node.dataDirs) {
    names.push(...(await readdir(path.dirname(dir))).filter((n) => n.includes('.restore-') || n.includes('.pre-restore-')));
  }
  return names;
}
