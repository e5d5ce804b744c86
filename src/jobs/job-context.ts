import type { Catalog } from '../catalog/catalog.js';
import type { CassandraNode } from '../cassandra/cassandra-node.js';
import type { AgentConfig } from '../config/config-schema.js';
import type { Storage } from '../storage/storage.js';
import type { Progress } from '../util/progress.js';

/** Everything a backup or restore works with, handed down by the CLI or the agent. */
export interface JobContext {
  config: AgentConfig;
  node: CassandraNode;
  storage: Storage;
  catalog: Catalog;
  progress: Progress;
  signal: AbortSignal;
}
