import { createStorageCatalog } from '../catalog/storage-catalog.js';
import { openCassandraNode } from '../cassandra/cassandra-node.js';
import { loadConfig } from '../config/load-config.js';
import { RestoreJournal } from '../jobs/restore-journal.js';
import type { JobContext } from '../jobs/job-context.js';
import { createStorage } from '../storage/create-storage.js';
import type { Progress } from '../util/progress.js';

/** Config validated once, then the node, storage and catalog it names. */
export async function setUpJob(configFile: string | undefined, progress: Progress, signal: AbortSignal): Promise<JobContext> {
  const config = await loadConfig(configFile);
  const node = await openCassandraNode(config);
  // A restore a crash interrupted is finished or rolled back before anything else touches the node.
  await RestoreJournal.recover(node, progress);
  const storage = createStorage(config);
  return {
    config,
    node,
    storage,
    catalog: createStorageCatalog(storage, { warn: (message) => process.stderr.write(`guest-agent: warning: ${message}\n`) }),
    progress,
    signal,
  };
}
