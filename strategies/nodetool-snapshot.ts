import { withSnapshot } from '../src/jobs/snapshot-backup.js';
import type { Strategy } from './strategy.js';

/**
 * Full backup from a `nodetool snapshot` (Trove's NodetoolSnapshot): the
 * snapshot's hard links are streamed as one TAR laid out like a data
 * directory, and the snapshot is cleared in every outcome.
 */
export const strategy: Strategy = {
  name: 'NodetoolSnapshot',
  description: 'full backup of a nodetool snapshot (every SSTable component, manifest.json and schema.cql)',
  collect: (ctx, job, store) => withSnapshot(ctx, job.target, (files) => store({ files })),
};
