import { describeBackupIdRule, isValidBackupId } from '../catalog/backup-id.js';
import type { JobProgress } from '../rpc/conductor-reporter.js';
import type { ConductorCast } from '../rpc/oslo-message.js';

/** Backup states as Trove's conductor records them. */
export type BackupRequestState = 'NEW' | 'BUILDING' | 'SAVING' | 'COMPLETED' | 'FAILED' | 'DELETE_FAILED';
const BACKUP_STATES: readonly string[] = ['NEW', 'BUILDING', 'SAVING', 'COMPLETED', 'FAILED', 'DELETE_FAILED'];

/** `update_backup(instance_id, backup_id, sent, **fields)`, typed. */
export interface BackupReport {
  kind: 'backup';
  instanceId: string;
  backupId: string;
  /** Epoch seconds; a report not newer than the last one applied is stale. */
  sent: number | undefined;
  state: BackupRequestState;
  backupType: 'full' | 'incremental' | undefined;
  /** GB, as Trove's guest reports it. */
  sizeGb: number | undefined;
  checksum: string | undefined;
  location: string | undefined;
  /** Why it failed (our agent's extension; Trove's guest sends it with notify_exc_info). */
  reason: string | undefined;
}

/** `heartbeat(instance_id, payload: {service_status, job_progress?}, sent)`. */
export interface HeartbeatReport {
  kind: 'heartbeat';
  instanceId: string;
  sent: number | undefined;
  status: string;
  /** Our agent's running job (Trove's guest sends none); undefined when idle or not well formed. */
  progress: JobProgress | undefined;
}

/** Anything else (notify_end, notify_exc_info, ...): recognised, not acted on. */
export interface OtherReport {
  kind: 'other';
  method: string;
  instanceId: string | undefined;
}

export type ConductorReport = BackupReport | HeartbeatReport | OtherReport;

/**
 * What a guest's cast to the conductor says, or a reason it cannot be used.
 * `hasKey` tells which instances have an RPC key: anyone on the broker can
 * send plaintext, so a report about such an instance counts only encrypted
 * with its key, as Trove's conductor requires.
 */
export function classifyReport(cast: ConductorCast, hasKey: (instanceId: string) => boolean = () => false): ConductorReport | { kind: 'invalid'; reason: string } {
  const report = parseReport(cast);
  if (report.kind !== 'invalid' && !cast.encrypted && report.instanceId !== undefined && hasKey(report.instanceId)) {
    return { kind: 'invalid', reason: `a plaintext ${cast.method} about instance ${report.instanceId}, which has an RPC key: only reports encrypted with its key are accepted (a forgery, or an agent without instance_rpc_encr_key?)` };
  }
  return report;
}

function parseReport(cast: ConductorCast): ConductorReport | { kind: 'invalid'; reason: string } {
  const args = cast.args;
  const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
  const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
  const instanceId = str(args.instance_id) ?? cast.instanceId;
  // An encrypted report names its instance twice; they must agree, or a guest could write another's backups.
  if (cast.instanceId !== undefined && instanceId !== cast.instanceId) {
    return { kind: 'invalid', reason: `${cast.method} from instance ${cast.instanceId} is about instance ${String(args.instance_id)}` };
  }
  switch (cast.method) {
    case 'update_backup': {
      const backupId = str(args.backup_id);
      if (!instanceId || !backupId) return { kind: 'invalid', reason: 'update_backup without instance_id or backup_id' };
      // Refused here, where it arrives: kept, it would be a state entry no listing can show.
      if (!isValidBackupId(backupId)) return { kind: 'invalid', reason: `update_backup of ${JSON.stringify(backupId)}: not a backup id (${describeBackupIdRule()})` };
      const state = str(args.state);
      if (!state || !BACKUP_STATES.includes(state)) return { kind: 'invalid', reason: `update_backup of ${backupId}: unknown state ${JSON.stringify(args.state ?? null)}` };
      const backupType = args.backup_type === 'full' || args.backup_type === 'incremental' ? args.backup_type : undefined;
      return {
        kind: 'backup',
        instanceId,
        backupId,
        sent: num(args.sent),
        state: state as BackupRequestState,
        backupType,
        sizeGb: num(args.size),
        checksum: str(args.checksum),
        location: str(args.location),
        reason: str(args.reason),
      };
    }
    case 'heartbeat': {
      const payload = args.payload;
      const status = typeof payload === 'object' && payload !== null ? str((payload as Record<string, unknown>).service_status) : undefined;
      if (!instanceId || !status) return { kind: 'invalid', reason: 'heartbeat without instance_id or payload.service_status' };
      return { kind: 'heartbeat', instanceId, sent: num(args.sent), status, progress: jobProgressIn((payload as Record<string, unknown>).job_progress) };
    }
    default:
      return { kind: 'other', method: cast.method, instanceId };
  }
}

const PHASE = /^[a-z][a-z0-9_-]{0,39}$/;

/** A heartbeat's job_progress, when every field is what the agent sends; a malformed one is no progress, not a refused heartbeat. */
function jobProgressIn(value: unknown): JobProgress | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const p = value as Record<string, unknown>;
  const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (p.kind !== 'backup' && p.kind !== 'restore') return undefined;
  if (typeof p.id !== 'string' || !isValidBackupId(p.id) || typeof p.phase !== 'string' || !PHASE.test(p.phase)) return undefined;
  if (!count(p.bytes_done) || !count(p.bytes_total) || !(p.eta_seconds === null || count(p.eta_seconds))) return undefined;
  return { kind: p.kind, id: p.id, phase: p.phase, bytes_done: p.bytes_done, bytes_total: p.bytes_total, eta_seconds: p.eta_seconds };
}
