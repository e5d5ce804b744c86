import type { BackupSummary } from '../catalog/catalog.js';
import type { JobProgress } from '../rpc/conductor-reporter.js';
import { formatBytes } from '../util/format-bytes.js';
import type { BackupRequest } from './backup-state.js';
import type { BackupRequestState } from './conductor-reports.js';

/** One backup as the control plane shows it: the catalog's summary where there is a record, the request and reports otherwise. */
export interface BackupView {
  id: string;
  instance_id: string;
  name: string | null;
  state: BackupRequestState;
  type: 'full' | 'incremental';
  /** Stored bytes from the catalog; null when only the agent's report (size_gb) is known. */
  size_bytes: number | null;
  size_gb: number | null;
  created: string;
  location: string | null;
  checksum: string | null;
  reason: string | null;
  /** The catalog in storage has a record (the backup can be restored from). */
  in_catalog: boolean;
  /** dbaas has a request or report of it in its state. */
  in_state: boolean;
}

/**
 * The catalog is the truth for finished backups (anyone's, even those taken
 * in direct mode); the state adds the ones building or failed, and the
 * deletes that failed half-way.
 */
export function viewOf(summary: BackupSummary | undefined, request: BackupRequest | undefined): BackupView | undefined {
  if (!summary && !request) return undefined;
  if (summary) {
    return {
      id: summary.id,
      instance_id: summary.instance_id,
      name: summary.name ?? request?.name ?? null,
      state: request?.state === 'DELETE_FAILED' ? 'DELETE_FAILED' : summary.state,
      type: summary.type,
      size_bytes: summary.stored_bytes,
      size_gb: request?.size_gb ?? null,
      created: summary.created,
      location: summary.location,
      checksum: summary.checksum,
      reason: request?.state === 'DELETE_FAILED' ? request.reason : null,
      in_catalog: true,
      in_state: request !== undefined,
    };
  }
  const r = request!;
  return {
    id: r.id,
    instance_id: r.instance_id,
    name: r.name,
    state: r.state,
    type: r.type,
    size_bytes: null,
    size_gb: r.size_gb,
    created: r.created,
    location: r.location,
    checksum: r.checksum,
    reason: r.reason,
    in_catalog: false,
    in_state: true,
  };
}

/** Every backup known to either, newest first. */
export function mergeBackups(summaries: BackupSummary[], requests: BackupRequest[]): BackupView[] {
  const byId = new Map<string, { summary?: BackupSummary; request?: BackupRequest }>();
  for (const summary of summaries) byId.set(summary.id, { summary });
  for (const request of requests) byId.set(request.id, { ...byId.get(request.id), request });
  const views = [...byId.values()].map(({ summary, request }) => viewOf(summary, request)!);
  return views.sort((a, b) => b.created.localeCompare(a.created) || a.id.localeCompare(b.id));
}

/** `upload 45 % of 1.2 GiB, about 3 min left`: a running job's progress, as its last heartbeat told it. */
export function describeProgress(progress: JobProgress): string {
  const { phase, bytes_done: done, bytes_total: total, eta_seconds: eta } = progress;
  const share = total > 0 ? `${Math.min(100, Math.floor((done / total) * 100))} % of ${formatBytes(total)}` : `${formatBytes(done)}`;
  const left = eta === null ? '' : eta < 60 ? `, about ${eta} s left` : `, about ${Math.round(eta / 60)} min left`;
  return `${phase} ${share}${left}`;
}
