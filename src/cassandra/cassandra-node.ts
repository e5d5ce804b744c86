import type { NodeConfig } from '../config/config-schema.js';
import { readCassandraYaml, type CassandraSettings } from './cassandra-yaml.js';
import { createNodetool, type Nodetool } from './nodetool.js';
import { createServiceControl, type ServiceControl } from './service.js';

/**
 * The Cassandra node the agent manages: the one place that knows where its
 * files are and how to command it. A real installation and the simulated node
 * fill it from the same configuration keys.
 */
export interface CassandraNode {
  settings: CassandraSettings;
  nodetool: Nodetool;
  service: ServiceControl;
}

export async function openCassandraNode(config: NodeConfig): Promise<CassandraNode> {
  const settings = await readCassandraYaml(config.cassandra_yaml, config.cassandra_home);
  const nodetool = createNodetool(config.nodetool_command, config.nodetool_timeout_seconds);
  const service = createServiceControl(
    {
      start: config.service_start_command,
      stop: config.service_stop_command,
      status: config.service_status_command,
      startTimeoutSeconds: config.service_start_timeout_seconds,
      stopTimeoutSeconds: config.service_stop_timeout_seconds,
    },
    nodetool,
  );
  return { settings, nodetool, service };
}
