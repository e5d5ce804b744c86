import type { AmqpLink } from './amqp-link.js';
import { encodeConductorCast, type JsonObject } from './oslo-message.js';
import { PythonFloat } from './python-json.js';
import type { RpcKey } from './secure-serializer.js';

/** Service states Trove's conductor accepts in a heartbeat (trove.common.instance.ServiceStatuses). */
export type ServiceStatus =
  | 'new'
  | 'building'
  | 'running'
  | 'healthy'
  | 'instance ready'
  | 'shutdown'
  | 'crashed'
  | 'failed to spawn'
  | 'restart required'
  | 'restarting'
  | 'unknown';

export type BackupState = 'NEW' | 'BUILDING' | 'SAVING' | 'COMPLETED' | 'FAILED' | 'DELETE_FAILED';

export interface BackupUpdate {
  state: BackupState;
  backup_type?: 'full' | 'incremental';
  /** GB, as Trove's guest reports it. */
  size?: number;
  checksum?: string;
  location?: string;
  success?: boolean;
  /** Not a Trove field (its conductor ignores it; Trove's guest sends the reason with notify_exc_info): for our control plane. */
  reason?: string;
}

/**
 * The running job's progress, sent in every heartbeat while it runs
 * (`payload.job_progress`): Trove's conductor reads only
 * `payload.service_status` and passes over the rest; our control plane
 * shows it. In heartbeats rather than extra update_backup casts, because
 * Trove's conductor saves the backup's row on every update_backup.
 */
export interface JobProgress {
  kind: 'backup' | 'restore';
  /** The backup being taken or restored. */
  id: string;
  /** What the bytes count: `upload`, `restore`, `compare`, ... */
  phase: string;
  bytes_done: number;
  bytes_total: number;
  /** At the phase's rate so far; null until a byte is done. */
  eta_seconds: number | null;
}

export interface ConductorReporterOptions {
  link: AmqpLink;
  exchange: string;
  topic: string;
  instanceId: string;
  key: RpcKey | undefined;
}

/**
 * The guest's reports to trove-conductor. The conductor drops a message whose
 * `sent` is not newer than the last one of the same method from the same
 * instance, so `sent` strictly increases here even when the clock does not.
 * Reports leave in order and survive reconnects (the link queues them).
 */
export class ConductorReporter {
  readonly #lastSent = new Map<string, number>();

  constructor(private readonly options: ConductorReporterOptions) {}

  updateBackup(backupId: string, update: BackupUpdate, context: JsonObject): Promise<void> {
    const fields: JsonObject = { ...update };
    if (update.size !== undefined) fields.size = new PythonFloat(update.size);
    return this.#send('update_backup', { instance_id: this.options.instanceId, backup_id: backupId, ...fields }, context);
  }

  /** `notify_end` / `notify_exc_info`: the conductor turns them into the user's notifications. */
  notify(method: 'notify_end' | 'notify_exc_info', args: JsonObject, context: JsonObject): Promise<void> {
    return this.#send(method, args, context, false);
  }

  heartbeat(status: ServiceStatus, progress?: JobProgress): Promise<void> {
    const payload: JsonObject = { service_status: status, ...(progress ? { job_progress: { ...progress } } : {}) };
    return this.#send('heartbeat', { instance_id: this.options.instanceId, payload }, {});
  }

  #send(method: string, args: JsonObject, context: JsonObject, withSent = true): Promise<void> {
    const { link, exchange, topic, instanceId, key } = this.options;
    const encoded = encodeConductorCast(
      { method, args: withSent ? { ...args, sent: new PythonFloat(this.#nextSent(method)) } : args, context },
      key ? { key, instanceId } : undefined,
    );
    return link.publish(exchange, topic, encoded.content, encoded.options);
  }

  #nextSent(method: string): number {
    const last = this.#lastSent.get(method) ?? 0;
    const now = Date.now() / 1000;
    // One microsecond: the finest step Python's float of epoch seconds keeps.
    const sent = now > last ? now : last + 1e-6;
    this.#lastSent.set(method, sent);
    return sent;
  }
}
