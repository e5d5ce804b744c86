import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { isValidBackupId } from '../catalog/backup-id.js';
import { AgentError, errorMessage } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { readJsonFiles } from '../util/json-directory.js';
import type { JobProgress } from '../rpc/conductor-reporter.js';
import type { BackupReport, BackupRequestState, HeartbeatReport } from './conductor-reports.js';

/**
 * What the control plane itself knows about a backup: the request it sent and
 * the reports it received. The catalog in storage knows only finished
 * backups; this knows the ones still building, and the ones that failed.
 */
export interface BackupRequest {
  id: string;
  instance_id: string;
  /** null for a backup first heard of from a report (another control plane asked for it). */
  name: string | null;
  description: string | null;
  type: 'full' | 'incremental';
  parent_id: string | null;
  keyspaces: string[];
  tables: string[];
  state: BackupRequestState;
  /** Why it FAILED or DELETE_FAILED. */
  reason: string | null;
  location: string | null;
  checksum: string | null;
  /** GB, as reported by the agent. */
  size_gb: number | null;
  /** ISO times: asked for (or first heard of), last changed, finished. */
  created: string;
  updated: string;
  completed: string | null;
  /** `sent` of the last report applied: older or equal ones are stale, as in Trove's conductor. */
  last_report_sent: number | null;
  origin: 'request' | 'report';
}

/** The last heartbeat of an instance, and the last restore asked of it. */
export interface InstanceStatus {
  instance_id: string;
  service_status: string | null;
  /** `sent` of that heartbeat. */
  sent: number | null;
  updated: string;
  restore: { backup_id: string; requested: string } | null;
  /** The job the last heartbeat said was running, with its bytes (absent in files of earlier versions). */
  job_progress?: JobProgress | null;
}

const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/** One JSON file per backup (`backups/<id>.json`) and per instance (`instances/<id>.json`), each written atomically. */
export class BackupStateStore {
  readonly #backups: string;
  readonly #instances: string;

  constructor(readonly dir: string) {
    this.#backups = path.join(dir, 'backups');
    this.#instances = path.join(dir, 'instances');
  }

  async get(id: string): Promise<BackupRequest | undefined> {
    if (!isValidBackupId(id)) return undefined;
    return this.#read<BackupRequest>(path.join(this.#backups, `${id}.json`));
  }

  async put(entry: BackupRequest): Promise<void> {
    if (!isValidBackupId(entry.id)) throw new AgentError(`dbaas state: '${entry.id}' is not a valid backup id`);
    await this.#write(this.#backups, `${entry.id}.json`, entry);
  }

  async delete(id: string): Promise<void> {
    if (!isValidBackupId(id)) return;
    await rm(path.join(this.#backups, `${id}.json`), { force: true });
  }

  /** Every entry; one that cannot be read is passed over (told to `onSkipped`): it never hides the others. */
  async list(onSkipped: (reason: string) => void = () => undefined): Promise<BackupRequest[]> {
    return readJsonFiles(this.#backups, 'dbaas state', (file) => this.#read<BackupRequest>(file), onSkipped);
  }

  async instance(instanceId: string): Promise<InstanceStatus | undefined> {
    if (!INSTANCE_ID.test(instanceId)) return undefined;
    return this.#read<InstanceStatus>(path.join(this.#instances, `${instanceId}.json`));
  }

  async putInstance(status: InstanceStatus): Promise<void> {
    // An id that cannot be a file name is not remembered; its heartbeats are still seen while waiting.
    if (!INSTANCE_ID.test(status.instance_id)) return;
    await this.#write(this.#instances, `${status.instance_id}.json`, status);
  }

  /** Applies a backup report; returns the entry as it now is, or undefined when the report was stale. */
  async applyBackupReport(report: BackupReport, now = new Date()): Promise<BackupRequest | undefined> {
    const updated = nextBackupState(await this.get(report.backupId), report, now);
    if (updated) await this.put(updated);
    return updated;
  }

  /** Applies a heartbeat; returns the status as it now is, or undefined when the heartbeat was stale. */
  async applyHeartbeat(report: HeartbeatReport, now = new Date()): Promise<InstanceStatus | undefined> {
    const current = await this.instance(report.instanceId);
    if (isStale(current?.sent ?? null, report.sent)) return undefined;
    const status: InstanceStatus = {
      instance_id: report.instanceId,
      service_status: report.status,
      sent: report.sent ?? null,
      updated: now.toISOString(),
      restore: current?.restore ?? null,
      job_progress: report.progress ?? null,
    };
    await this.putInstance(status);
    return status;
  }

  async #read<T>(file: string): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new AgentError(`dbaas state: cannot read ${file}: ${errorMessage(err)}`, { cause: err });
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new AgentError(`dbaas state: ${file} is not valid JSON; delete it (dbaas forgets that entry) or put back a good copy`, { cause: err });
    }
  }

  async #write(dir: string, name: string, value: unknown): Promise<void> {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(path.join(dir, name), `${JSON.stringify(value, null, 2)}\n`, 0o600);
    } catch (err) {
      throw new AgentError(`dbaas state: cannot write ${path.join(dir, name)}: ${errorMessage(err)}; check dbaas_state_dir`, { cause: err });
    }
  }
}

/** A report not newer than the last applied one is dropped, as Trove's conductor drops it. */
function isStale(lastSent: number | null, sent: number | undefined): boolean {
  return lastSent !== null && sent !== undefined && sent <= lastSent;
}

/** The entry after `report`, or undefined when the report changes nothing. */
export function nextBackupState(current: BackupRequest | undefined, report: BackupReport, now: Date): BackupRequest | undefined {
  const time = now.toISOString();
  if (current) {
    if (current.instance_id !== report.instanceId) return undefined;
    if (current.state === 'DELETE_FAILED') return undefined;
    if (isStale(current.last_report_sent, report.sent)) return undefined;
  }
  const base: BackupRequest = current ?? {
    id: report.backupId,
    instance_id: report.instanceId,
    name: null,
    description: null,
    type: report.backupType ?? 'full',
    parent_id: null,
    keyspaces: [],
    tables: [],
    state: 'NEW',
    reason: null,
    location: null,
    checksum: null,
    size_gb: null,
    created: time,
    updated: time,
    completed: null,
    last_report_sent: null,
    origin: 'report',
  };
  const final = report.state === 'COMPLETED' || report.state === 'FAILED';
  return {
    ...base,
    state: report.state,
    type: report.backupType ?? base.type,
    reason: report.state === 'FAILED' ? (report.reason ?? 'the agent reported FAILED without a reason; see its log') : null,
    location: report.location ?? base.location,
    checksum: report.checksum ?? base.checksum,
    size_gb: report.sizeGb ?? base.size_gb,
    updated: time,
    completed: final ? time : base.completed,
    last_report_sent: report.sent ?? base.last_report_sent,
  };
}
