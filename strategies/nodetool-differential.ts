import { fileCrc32 } from '../src/archive/file-crc.js';
import type { BackupRecord, ManifestFile } from '../src/catalog/backup-record.js';
import type { SnapshotFile } from '../src/cassandra/data-layout.js';
import { completeManifestPlan, fileKey } from '../src/jobs/backup-chain.js';
import type { JobContext } from '../src/jobs/job-context.js';
import { withSnapshot } from '../src/jobs/snapshot-backup.js';
import type { Strategy } from './strategy.js';

/**
 * Files Cassandra rewrites in place (cassandra-facts.md), and the snapshot's
 * own files, which differ every time: always stored again, never compared.
 */
const REWRITTEN_IN_PLACE = /(-Statistics\.db|-Summary\.db)$|^(manifest\.json|schema\.cql)$/;

/**
 * Differential backup: a fresh snapshot, of which only the files its parent
 * chain does not already hold (same name, size and CRC-32) are stored. The
 * record lists every file of the snapshot and which backup holds it, so a
 * restore reads each SSTable from the one object that has it. Needs no
 * Cassandra setting.
 */
export const strategy: Strategy = {
  name: 'NodetoolDifferential',
  description: 'incremental backup of a nodetool snapshot that stores each SSTable once (files compared by name, size and CRC-32 with the parent chain)',

  refuseParent: (parent) => (parent.files ? undefined : 'has no file manifest (taken by an older version of the agent), so nothing can be compared with it'),

  collect: (ctx, job, store) =>
    withSnapshot(ctx, job.target, async (files) => {
      if (!job.parent) return store({ files });
      const { reused, changed } = await compareWithParent(ctx, files, job.parent.record);
      return store({ files, toStore: changed, reused });
    }),

  restorePlan: completeManifestPlan,
};

/**
 * Splits the snapshot into files the parent's manifest already holds
 * (entries reused as they are, pointing at their holder) and files to store.
 * Reading every candidate to CRC it costs a pass over the data (~3 GB/s of
 * CRC, so disk-bound), far less than storing it again.
 */
async function compareWithParent(ctx: JobContext, files: SnapshotFile[], parent: BackupRecord): Promise<{ reused: ManifestFile[]; changed: SnapshotFile[] }> {
  const held = new Map((parent.files ?? []).map((f) => [fileKey(f), f]));
  const candidates = files.map((file) => ({ file, known: held.get(fileKey({ dir: file.dataDirIndex, name: file.entryName })) }));
  const toCompare = new Set(candidates.filter(({ file, known }) => known && known.size === file.size && !REWRITTEN_IN_PLACE.test(file.fileName)).map((c) => c.file));
  const reused: ManifestFile[] = [];
  const changed: SnapshotFile[] = [];
  ctx.progress.step(`comparing ${toCompare.size} of ${files.length} files with backup ${parent.id}`);
  ctx.progress.begin('compare', [...toCompare].reduce((sum, file) => sum + file.size, 0));
  try {
    for (const { file, known } of candidates) {
      if (known && toCompare.has(file)) {
        const crc32 = await fileCrc32(file.sourcePath, ctx.signal);
        ctx.progress.advance(file.size);
        if (crc32 === known.crc32) {
          reused.push(known);
          continue;
        }
      }
      changed.push(file);
    }
  } finally {
    ctx.progress.end();
  }
  return { reused, changed };
}
