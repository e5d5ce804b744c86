import { statfs } from 'node:fs/promises';
import { openCassandraNode, type CassandraNode } from '../cassandra/cassandra-node.js';
import { applyConfigContents } from '../cassandra/config-contents.js';
import type { BackupRecord } from '../catalog/backup-record.js';
import { createStorageCatalog } from '../catalog/storage-catalog.js';
import type { AgentConfig } from '../config/config-schema.js';
import { AgentError, errorMessage } from '../errors.js';
import type { JobContext } from '../jobs/job-context.js';
import type { ConductorReporter, ServiceStatus } from '../rpc/conductor-reporter.js';
import { isObject, type JsonObject, type RpcRequest } from '../rpc/oslo-message.js';
import { PythonFloat } from '../rpc/python-json.js';
import { NoSuchMethodError } from '../rpc/rpc-errors.js';
import type { StorageRequest } from '../storage/create-storage.js';
import type { Storage } from '../storage/storage.js';
import type { Logger } from '../util/logger.js';
import type { Progress } from '../util/progress.js';
import { parseBackupOrder, parsePrepareOrder, type BackupOrder, type RestoreOrder } from './rpc-arguments.js';
import { JobProgressTracker } from './job-progress.js';
import type { AgentMetrics, JobKind } from './metrics.js';
import { runBackup } from '../runner/run-backup.js';
import { runRestore } from '../runner/run-restore.js';


export interface GuestEndpointOptions {
  config: AgentConfig;
  node: CassandraNode;
  reporter: ConductorReporter;
  log: Logger;
  openStorage(request: StorageRequest): Storage;
  /** The status to report until a prepare succeeds (after a crashed restore was rolled back at start). */
  initialStatus?: ServiceStatus;
  /** Counted whether or not anything serves them (metrics_listen). */
  metrics: AgentMetrics;
}

interface RunningJob {
  kind: 'backup' | 'restore';
  id: string;
  abort: AbortController;
}

/**
 * The guest's RPC methods (the endpoint oslo dispatches to) and the rule that
 * one backup or restore runs at a time. Jobs run in the background so that
 * calls such as rpc_ping are answered while a backup streams.
 */
export class GuestEndpoint {
  #job: RunningJob | undefined;
  /** Every job not yet ended, including one that has freed the slot and is sending its final reports. */
  readonly #unfinished = new Set<Promise<void>>();
  /** A status that overrides the node's own while prepare runs or after it failed. */
  #prepareStatus: ServiceStatus | undefined;
  #heartbeats: Promise<void> = Promise.resolve();
  /** Re-read when prepare replaces cassandra.yaml. */
  #node: CassandraNode;
  /** The running job's bytes, told in every heartbeat. */
  readonly #progress = new JobProgressTracker();

  constructor(private readonly options: GuestEndpointOptions) {
    this.#node = options.node;
    this.#prepareStatus = options.initialStatus;
    options.metrics.observeRunningJob(() => this.#progress.snapshot());
  }

  get runningJob(): { kind: string; id: string } | undefined {
    return this.#job && { kind: this.#job.kind, id: this.#job.id };
  }

  async handle(request: RpcRequest): Promise<unknown> {
    this.options.metrics.rpcReceived(request.method);
    switch (request.method) {
      case 'rpc_ping':
        return true;
      case 'get_filesystem_stats':
        return this.#filesystemStats();
      case 'create_backup':
      case 'backup-create':
        return this.#startBackup(request);
      case 'prepare':
        return this.#startPrepare(request);
      case 'restore':
        return this.#startPrepare({ ...request, args: { backup_info: request.args.backup_info ?? null } });
      default:
        throw new NoSuchMethodError(request.method);
    }
  }

  /** The heartbeat's service_status: prepare's own while it runs or after it failed, else the node's. */
  async serviceStatus(): Promise<ServiceStatus> {
    if (this.#prepareStatus) return this.#prepareStatus;
    try {
      return (await this.#node.service.isRunning()) ? 'healthy' : 'shutdown';
    } catch {
      return 'unknown';
    }
  }

  /** SIGTERM: abort the running job (it cleans up and reports) and wait for it, and for final reports still on their way. */
  async shutdown(reason: string): Promise<void> {
    const job = this.#job;
    if (job) {
      this.options.log.warn('job.aborting', { kind: job.kind, id: job.id, reason });
      job.abort.abort(new AgentError(reason));
    }
    await Promise.all(this.#unfinished);
  }

  /** The same fields as Trove's guest (trove.guestagent.dbaas.get_filesystem_volume_stats), for the data directory. */
  async #filesystemStats(): Promise<JsonObject> {
    const dir = this.#node.settings.dataFileDirectories[0]!;
    const stats = await statfs(dir).catch((err: unknown) => {
      throw new AgentError(`Filesystem not found (${dir}): ${errorMessage(err)}`);
    });
    const total = stats.blocks * stats.bsize;
    const free = stats.bfree * stats.bsize;
    return {
      block_size: stats.bsize,
      total_blocks: stats.blocks,
      free_blocks: stats.bfree,
      total: new PythonFloat(toGb(total)),
      free,
      used: new PythonFloat(toGb(total - free)),
    };
  }

  #startBackup(request: RpcRequest): void {
    const { reporter, log, config } = this.options;
    let order: BackupOrder;
    try {
      order = parseBackupOrder(request.args, request.method);
    } catch (err) {
      const id = backupIdIn(request.args);
      if (id) void this.#reportBackupFailed(id, 'full', request.context, errorMessage(err));
      throw err;
    }
    if (order.instanceId !== config.instance_id) {
      void this.#reportBackupFailed(order.id, order.type, request.context, `backup ${order.id} was sent to instance ${config.instance_id} but is for instance ${order.instanceId}`);
      return;
    }
    if (this.#refuseWhileBusy(`backup ${order.id}`)) {
      void this.#reportBackupFailed(order.id, order.type, request.context, this.#busyReason(`backup ${order.id}`));
      return;
    }
    this.#run('backup', order.id, async (signal, release) => {
      const measured = this.options.metrics.jobStarted('backup');
      let record: BackupRecord;
      // Everything from the first line, storage set-up included, fails the backup with its reason: Trove's record never stays NEW.
      try {
        const ctx = this.#jobContext('backup', order.id, { swiftContainer: order.swiftContainer }, request.context, signal, log.with({ backup_id: order.id }));
        await reporter.updateBackup(order.id, { state: 'BUILDING', backup_type: order.type }, request.context);
        const onWarning = (warning: string): void => log.warn('backup.priority', { backup_id: order.id, warning });
        const { id, name, keyspaces, tables, parent } = order;
        record = await runBackup({ id, name, keyspaces, tables, ...(parent ? { parent } : {}) }, ctx, { onWarning });
      } catch (err) {
        // An abort surfaces as a bare AbortError from deep in a stream: report why it was aborted.
        const cause: unknown = signal.aborted ? signal.reason : err;
        measured.failed(cause);
        release();
        await this.#reportBackupFailed(order.id, order.type, request.context, errorMessage(cause));
        return;
      }
      measured.succeeded();
      this.options.metrics.backupCompleted(record.strategy, record.raw_bytes, record.stored_bytes);
      release();
      if (record.full_reason) log.warn('backup.full_instead_of_incremental', { backup_id: order.id, reason: record.full_reason });
      await reporter.updateBackup(
        order.id,
        {
          state: 'COMPLETED',
          backup_type: record.type,
          size: toGb(record.stored_bytes),
          checksum: record.checksum ?? record.sha256,
          location: record.location,
          success: true,
        },
        request.context,
      );
      await this.#notifyEnd(request.context);
      log.info('backup.completed', { backup_id: order.id, bytes: record.stored_bytes, location: record.location });
    });
  }

  #startPrepare(request: RpcRequest): void {
    const { log } = this.options;
    let order: ReturnType<typeof parsePrepareOrder>;
    try {
      order = parsePrepareOrder(request.args, request.method);
    } catch (err) {
      // Refused requests show in Trove as a failed instance, not only in this log.
      log.error('prepare.refused', { reason: errorMessage(err) });
      this.#prepareStatus = 'failed to spawn';
      void this.#heartbeatNow();
      void this.#notifyFailure(request.context, errorMessage(err));
      throw err;
    }
    const label = order.backup ? `restore of backup ${order.backup.id}` : 'prepare';
    if (this.#refuseWhileBusy(label)) {
      log.error('prepare.refused', { reason: this.#busyReason(label) });
      this.#prepareStatus = 'failed to spawn';
      void this.#heartbeatNow();
      return;
    }
    this.#prepareStatus = 'building';
    void this.#heartbeatNow();
    const backup = order.backup;
    this.#run('restore', backup?.id ?? 'prepare', async (signal, release) => {
      // A prepare without a backup only starts the node: not a restore to measure.
      const measured = backup ? this.options.metrics.jobStarted('restore') : undefined;
      try {
        if (order.configContents !== null) {
          await applyConfigContents(this.options.config.cassandra_yaml, order.configContents);
          this.#node = await openCassandraNode(this.options.config);
          log.info('prepare.config_written', { file: this.options.config.cassandra_yaml });
        }
        if (backup) {
          await this.#restore(backup, request.context, signal, order.rootPassword);
        } else if (!(await this.#node.service.isRunning())) {
          await this.#node.service.startAndWaitHealthy();
        } else if (order.configContents !== null) {
          await this.#node.service.stop();
          await this.#node.service.startAndWaitHealthy();
        }
        this.#prepareStatus = undefined;
        measured?.succeeded();
        release();
        log.info('prepare.completed', { backup_id: backup?.id });
        await this.#heartbeatNow();
        await this.#notifyEnd(request.context);
      } catch (err) {
        const cause: unknown = signal.aborted ? signal.reason : err;
        const reason = errorMessage(cause);
        measured?.failed(cause);
        this.#prepareStatus = 'failed to spawn';
        release();
        log.error('prepare.failed', { backup_id: backup?.id, reason });
        await this.#heartbeatNow();
        await this.#notifyFailure(request.context, reason);
      }
    });
  }

  async #restore(order: RestoreOrder, context: JsonObject, signal: AbortSignal, rootPassword: string | null): Promise<void> {
    const log = this.options.log.with({ backup_id: order.id });
    const result = await runRestore(
      // Trove names a Cassandra cluster after its instance: the source's id is the name its system.local saved.
      { backupId: order.id, checksum: order.checksum, location: order.location, sourceClusterName: order.instanceId, rootPassword },
      (swiftContainer) => this.#jobContext('restore', order.id, { swiftContainer }, context, signal, log),
    );
    this.options.metrics.restoreCompleted(result.storedBytes);
  }

  #jobContext(kind: JobKind, id: string, request: { swiftContainer: string | null }, context: JsonObject, signal: AbortSignal, log: Logger): JobContext {
    const storage = this.options.openStorage({
      onTokenIgnored: (why) => log.info('storage.token_ignored', { why }),
      swiftContainer: request.swiftContainer,
      authToken: typeof context.auth_token === 'string' ? context.auth_token : null,
      projectId: typeof context.project_id === 'string' ? context.project_id : null,
    });
    return { config: this.options.config, node: this.#node, storage, catalog: createStorageCatalog(storage, { warn: (message) => log.warn('catalog.record_skipped', { message }) }), progress: this.#progress.wrap(kind, id, loggedProgress(log)), signal };
  }

  #refuseWhileBusy(what: string): boolean {
    if (!this.#job) return false;
    this.options.log.warn('job.refused', { requested: what, running_kind: this.#job.kind, running_id: this.#job.id });
    return true;
  }

  #busyReason(what: string): string {
    const job = this.#job!;
    return `${what} refused: ${job.kind} ${job.id} is running on this instance and jobs never run side by side; try again when it has finished`;
  }

  /**
   * Runs a job in the slot. `work` calls `release` once the node is free and
   * only its final reports remain: the control plane may send the next
   * request as soon as it reads COMPLETED or FAILED, and must not find the
   * agent still busy with a job that has ended in all but its reports.
   */
  #run(kind: RunningJob['kind'], id: string, work: (signal: AbortSignal, release: () => void) => Promise<void>): void {
    const abort = new AbortController();
    const job: RunningJob = { kind, id, abort };
    const release = (): void => {
      this.#progress.clear(id);
      if (this.#job === job) this.#job = undefined;
    };
    this.#job = job;
    const done = work(abort.signal, release)
      .catch((err: unknown) => this.options.log.error('job.crashed', { kind, id, reason: errorMessage(err) }))
      .finally(() => {
        release();
        this.#unfinished.delete(done);
      });
    this.#unfinished.add(done);
  }

  async #reportBackupFailed(id: string, type: 'full' | 'incremental', context: JsonObject, reason: string): Promise<void> {
    const { reporter, log } = this.options;
    log.error('backup.failed', { backup_id: id, reason });
    try {
      // Trove's update_backup has no field for the reason; its guest sends it with notify_exc_info. We send both ways.
      await reporter.updateBackup(id, { state: 'FAILED', backup_type: type, success: false, reason }, context);
    } catch (err) {
      this.options.metrics.reportFailed('update_backup');
      log.error('report.failed', { backup_id: id, reason: errorMessage(err) });
    }
    await this.#notifyFailure(context, reason);
  }

  /**
   * Trove's guest ends a request with the notification the control plane put
   * in its context (`trove_notification`); without one there is nothing to
   * end (Trove's conductor cannot rebuild an empty notification).
   */
  async #notifyEnd(context: JsonObject): Promise<void> {
    if (!isObject(context.trove_notification)) return;
    await this.#notify('notify_end', { serialized_notification: context.trove_notification, notification_args: {} }, context);
  }

  async #notifyFailure(context: JsonObject, reason: string): Promise<void> {
    if (!isObject(context.trove_notification)) return;
    const serialized = { ...context.trove_notification, instance_id: this.options.config.instance_id };
    await this.#notify('notify_exc_info', { serialized_notification: serialized, message: reason, exception: [`${reason}\n`] }, context);
  }

  async #notify(method: 'notify_end' | 'notify_exc_info', args: JsonObject, context: JsonObject): Promise<void> {
    try {
      await this.options.reporter.notify(method, args, context);
    } catch (err) {
      this.options.metrics.reportFailed(method);
      this.options.log.error('report.failed', { method, reason: errorMessage(err) });
    }
  }

  /**
   * Heartbeats leave one at a time, each with the status read just before it
   * is sent: a periodic one started before prepare set `building` cannot
   * overtake prepare's own and say `healthy` after it.
   */
  heartbeat(): Promise<void> {
    return this.#sendHeartbeat(() => this.serviceStatus());
  }

  /**
   * A heartbeat for a change of prepare's status, with the status as it is
   * now: a prepare that fails at once still reports `building` before
   * `failed to spawn`, so the control plane sees every step it went through.
   */
  #heartbeatNow(): Promise<void> {
    const status = this.#prepareStatus;
    return this.#sendHeartbeat(status ? async () => status : () => this.serviceStatus());
  }

  #sendHeartbeat(status: () => Promise<ServiceStatus>): Promise<void> {
    this.#heartbeats = this.#heartbeats.then(async () => {
      try {
        await this.options.reporter.heartbeat(await status(), this.#progress.snapshot());
      } catch (err) {
        this.options.metrics.reportFailed('heartbeat');
        this.options.log.warn('heartbeat.failed', { reason: errorMessage(err) });
      }
    });
    return this.#heartbeats;
  }
}

/** trove.common.utils.to_gb: GB with two decimals, never 0.0 for a non-empty size. */
export function toGb(bytes: number): number {
  if (bytes === 0) return 0;
  return Math.max(Math.round((bytes / 1024 ** 3) * 100) / 100, 0.01);
}

function backupIdIn(args: JsonObject): string | undefined {
  const info = args.backup_info;
  return isObject(info) && typeof info.id === 'string' ? info.id : undefined;
}

/** A job's steps as log lines, and its byte progress every 10 %. */
function loggedProgress(log: Logger): Progress {
  let phase = '';
  let total = 0;
  let done = 0;
  let nextReport = 0;
  return {
    step: (message) => log.info('job.step', { step: message }),
    begin(name, totalBytes) {
      phase = name;
      total = totalBytes;
      done = 0;
      nextReport = totalBytes / 10;
    },
    advance(bytes) {
      done += bytes;
      if (total > 0 && done >= nextReport) {
        log.info('job.progress', { phase, bytes: done, total_bytes: total, percent: Math.min(100, Math.floor((done / total) * 100)) });
        nextReport += total / 10;
      }
    },
    end: () => undefined,
  };
}
