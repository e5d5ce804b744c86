import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { newBackupId } from '../catalog/backup-id.js';
import { incompleteReason, type BackupRecord } from '../catalog/backup-record.js';
import { summaryOf, type BackupSummary, type IndexedCatalog } from '../catalog/catalog.js';
import { createStorageCatalog } from '../catalog/storage-catalog.js';
import { amqpUrl, queueFlags } from '../rpc/rpc-settings.js';
import type { ControlConfig, RpcConfig, StorageConfig } from '../config/config-schema.js';
import { AgentError, BackupNotFoundError, ConfigError, errorMessage } from '../errors.js';
import { AmqpLink } from '../rpc/amqp-link.js';
import type { JobProgress } from '../rpc/conductor-reporter.js';
import type { QueueFlags } from '../rpc/queue-declarations.js';
import type { RpcKey } from '../rpc/secure-serializer.js';
import { createStorage } from '../storage/create-storage.js';
import type { Storage } from '../storage/storage.js';
import { backupNodes, deletionOrder, descendantsOf, isRunning, type BackupNode } from './backup-graph.js';
import { BackupStateStore, type BackupRequest } from './backup-state.js';
import { mergeBackups, viewOf, type BackupView } from './backup-view.js';
import { castOnlyRpc } from './cast-only-rpc.js';
import { BrokerUnavailableError, ConductorInbox, type DrainBound } from './conductor-inbox.js';
import type { ConductorReport, HeartbeatReport } from './conductor-reports.js';
import { GuestClient, type BackupInfo } from './guest-client.js';
import { InstanceKeys } from './instance-keys.js';
import { planPurge, type PlannedBackup, type PurgePlan, type PurgeRules } from './purge-plan.js';

/** Everything the control plane takes from the configuration. */
export interface ControlPlaneSettings {
  /** amqp:// URL, or undefined when transport_url is not set (holds a password: never print it). */
  url: string | undefined;
  exchange: string;
  conductorTopic: string;
  flags: QueueFlags;
  stateDir: string;
  datastoreVersion: string;
  instanceKeysFile: string | undefined;
}

export function controlPlaneSettings(config: RpcConfig & ControlConfig): ControlPlaneSettings {
  return {
    url: config.transport_url ? amqpUrl(config.transport_url) : undefined,
    exchange: config.control_exchange,
    conductorTopic: config.conductor_topic,
    flags: queueFlags(config),
    stateDir: config.dbaas_state_dir,
    datastoreVersion: config.dbaas_datastore_version,
    instanceKeysFile: config.dbaas_instance_keys_file || undefined,
  };
}

export interface ControlPlaneOptions {
  /** The broker's settings, dbaas's own and (unless `storage` is given) the store's. */
  config: RpcConfig & ControlConfig & StorageConfig;
  /** 'required': fail without RabbitMQ (commands that send); 'optional': go on from storage and state, with a warning. */
  broker: 'required' | 'optional';
  /** Things the user should know that do not stop the command (never holds a secret). */
  warn?: (message: string) => void;
  /** Overrides the configured storage (tests, or a control plane with its own). */
  storage?: Storage;
}

export interface BackupRequestOptions {
  instanceId: string;
  name: string;
  description?: string | null;
  /** Incremental on the newest COMPLETED backup of the instance. */
  incremental?: boolean;
  /** Incremental on this backup. */
  parentId?: string;
  keyspaces?: string[];
  tables?: string[];
}

export interface WaitOptions {
  timeoutSeconds: number;
  signal?: AbortSignal;
  /** How often the conductor queue is read while waiting. Default 500 ms. */
  pollMs?: number;
}

/** The agent of an instance is not taking its queue: said before sending, as a warning or an error. */
export interface GuestQueueStatus {
  queue: string;
  exists: boolean;
  consumers: number;
  messages: number;
}

/** A wait ran out of time; the operation may still finish on the agent. */
export class WaitTimeoutError extends AgentError {}

/** A delete refused because it would break other backups, or because it runs. */
export class DeleteRefusedError extends AgentError {}

/** One backup a delete removed: its stored object (null when it had none), its record and its state entry. */
export interface DeletedBackup {
  id: string;
  instance_id: string;
  object_key: string | null;
}

export interface PurgeResult {
  plan: PurgePlan;
  /** Deleted (none on a dry run). */
  deleted: PlannedBackup[];
  /** Could not be deleted: left DELETE_FAILED (see `reason`), or not tried because a backup that builds on it failed. */
  failed: PlannedBackup[];
}

const FINAL_BACKUP_STATES = new Set(['COMPLETED', 'FAILED', 'DELETE_FAILED']);
const HEALTHY = new Set(['healthy', 'running']);
const FAILED_TO_SPAWN = 'failed to spawn';
const SEND_TIMEOUT_MS = 30_000;

/**
 * A control plane in the manner of Trove's taskmanager and conductor: it
 * casts create_backup and prepare to an instance's agent, is its own
 * conductor (reads the agents' reports from the conductor queue into its
 * state), and reads and deletes backups in storage itself.
 */
export class DbaasControlPlane {
  readonly settings: ControlPlaneSettings;
  readonly storage: Storage;
  readonly catalog: IndexedCatalog;
  readonly state: BackupStateStore;
  keys: InstanceKeys = InstanceKeys.empty();

  #inbox: ConductorInbox | undefined;
  #link: AmqpLink | undefined;
  readonly #warn: (message: string) => void;
  readonly #warned = new Set<string>();
  readonly #heartbeatListeners = new Set<(report: HeartbeatReport) => void>();
  readonly #backupListeners = new Set<(entry: BackupRequest) => void>();

  private constructor(settings: ControlPlaneSettings, storage: Storage, warn: (message: string) => void) {
    this.settings = settings;
    this.storage = storage;
    this.#warn = warn;
    this.catalog = createStorageCatalog(storage, { warn: (message) => this.#warnOnce(message) });
    this.state = new BackupStateStore(settings.stateDir);
  }

  /** Storage, state and keys; RabbitMQ when transport_url is set (see `broker`). Reads nothing from the queue yet: see sync(). */
  static async open(options: ControlPlaneOptions): Promise<DbaasControlPlane> {
    const settings = controlPlaneSettings(options.config);
    const plane = new DbaasControlPlane(settings, options.storage ?? createStorage(options.config), options.warn ?? (() => undefined));
    plane.keys = await InstanceKeys.load({ ...(settings.instanceKeysFile ? { keysFile: settings.instanceKeysFile } : {}) });
    if (!settings.url) {
      if (options.broker === 'required') {
        throw new ConfigError('transport_url is not set: give the RabbitMQ URL the agents use (rabbit://user:password@host:5672/) in the configuration or GUEST_AGENT_TRANSPORT_URL');
      }
      plane.#warnOnce('transport_url is not set: showing storage and dbaas state only, without the reports waiting in the conductor queue');
      return plane;
    }
    try {
      plane.#inbox = await plane.#openInbox();
    } catch (err) {
      if (options.broker === 'required' || !(err instanceof BrokerUnavailableError)) throw err;
      plane.#warnOnce(`${err.message}; showing storage and dbaas state only, without the reports waiting in the conductor queue`);
    }
    return plane;
  }

  /** Connected to RabbitMQ (reports can be read, requests sent). */
  get brokerAvailable(): boolean {
    return this.#inbox !== undefined;
  }

  /** The key of one instance, for this command (wins over dbaas_instance_keys_file). */
  useInstanceKey(instanceId: string, key: RpcKey): void {
    this.keys = this.keys.withCommandKey(instanceId, key);
  }

  /** Reads the reports waiting in the conductor queue (bounded) into the state. Without RabbitMQ it does nothing. */
  async sync(bound?: DrainBound): Promise<void> {
    const inbox = this.#inbox;
    if (!inbox) return;
    const result = await inbox.drain((report) => this.#apply(report), bound);
    for (const [instanceId, { count, reason }] of result.waitingForKey) {
      this.#warnOnce(
        `${count} report(s) from instance ${instanceId} stay in queue '${this.settings.conductorTopic}': ${reason}; give that instance's key with --instance-key-file or DBAAS_INSTANCE_KEY, or list it in dbaas_instance_keys_file`,
        `waiting-for-key ${instanceId}`,
      );
    }
    for (const reason of result.dropped) this.#warnOnce(`dropped an unreadable report from queue '${this.settings.conductorTopic}': ${reason}`);
    if (result.more) this.#warnOnce(`more reports wait in queue '${this.settings.conductorTopic}' than were read now; the next command reads on`);
  }

  /**
   * sync() for a process that runs on (a wait, the scheduler): connects to
   * the conductor queue first when not connected, and when RabbitMQ has gone
   * away, drops the connection (the next call connects anew) and throws
   * BrokerUnavailableError.
   */
  async resync(): Promise<void> {
    try {
      if (!this.#inbox) this.#inbox = await this.#openInbox();
      await this.sync();
    } catch (err) {
      if (err instanceof BrokerUnavailableError) {
        await this.#inbox?.close();
        this.#inbox = undefined;
      }
      throw err;
    }
  }

  /** The instance's queue as RabbitMQ has it: whether an agent consumes it. */
  async guestQueueStatus(instanceId: string): Promise<GuestQueueStatus> {
    const queue = `guestagent.${instanceId}`;
    const status = await this.#requireInbox().queueStatus(queue);
    return { queue, exists: status !== undefined, consumers: status?.consumers ?? 0, messages: status?.messages ?? 0 };
  }

  /**
   * Casts create_backup as Trove's taskmanager does, after checking that the
   * instance has a queue (no queue: nothing is sent, since the message would
   * be dropped). Returns the request as recorded in the state (NEW).
   */
  async requestBackup(options: BackupRequestOptions): Promise<{ request: BackupRequest; queue: GuestQueueStatus }> {
    const { instanceId } = options;
    const queue = await this.guestQueueStatus(instanceId);
    if (!queue.exists) {
      throw new AgentError(
        `instance ${instanceId} has no queue '${queue.queue}' on ${this.#requireInbox().broker}: no guest agent has connected for it since RabbitMQ started (is the instance id right? is its agent running?); nothing was sent`,
      );
    }
    if (queue.consumers === 0) {
      this.#warnOnce(`no agent is consuming '${queue.queue}' now (${queue.messages} message(s) wait there): the request waits in the queue until the agent of instance ${instanceId} starts`);
    }
    const parent = await this.#parentOf(options);
    const id = newBackupId();
    const now = new Date().toISOString();
    const request: BackupRequest = {
      id,
      instance_id: instanceId,
      name: options.name,
      description: options.description ?? null,
      type: parent ? 'incremental' : 'full',
      parent_id: parent?.id ?? null,
      keyspaces: options.keyspaces ?? [],
      tables: options.tables ?? [],
      state: 'NEW',
      reason: null,
      location: null,
      checksum: null,
      size_gb: null,
      created: now,
      updated: now,
      completed: null,
      last_report_sent: null,
      origin: 'request',
    };
    const info: BackupInfo = {
      id,
      name: options.name,
      description: options.description ?? null,
      instance_id: instanceId,
      backup_type: request.type,
      checksum: null,
      parent: parent ? { location: parent.location, checksum: parent.checksum ?? parent.sha256 } : null,
      datastore: 'cassandra',
      datastore_version: this.settings.datastoreVersion,
      swift_container: null,
      ...(request.keyspaces.length > 0 ? { keyspaces: request.keyspaces } : {}),
      ...(request.tables.length > 0 ? { tables: request.tables } : {}),
    };
    // Recorded before sending, so that a report arriving at once finds its request.
    await this.state.put(request);
    try {
      await this.#send(instanceId, (guest) => guest.createBackup(info, { request_id: `req-${randomUUID()}` }), `create_backup ${id}`);
    } catch (err) {
      await this.state.put({ ...request, state: 'FAILED', reason: `create_backup could not be sent: ${errorMessage(err)}`, updated: new Date().toISOString() });
      throw err;
    }
    return { request, queue };
  }

  /**
   * Follows the reports of one backup until COMPLETED or FAILED (returned:
   * the caller decides what FAILED means), or the timeout (WaitTimeoutError).
   * `onChange` sees each state the backup passes through.
   */
  async waitForBackup(id: string, options: WaitOptions & { onChange?: (request: BackupRequest) => void; onProgress?: (progress: JobProgress) => void }): Promise<BackupRequest> {
    let current = await this.state.get(id);
    if (!current) throw new BackupNotFoundError(`backup ${id} is not in dbaas's state (${this.settings.stateDir}): nothing to wait for`);
    options.onChange?.(current);
    const listener = (entry: BackupRequest): void => {
      if (entry.id !== id) return;
      current = entry;
      options.onChange?.(entry);
    };
    // The agent tells a running job's bytes in its heartbeats.
    const progress = (report: HeartbeatReport): void => {
      if (report.progress?.kind === 'backup' && report.progress.id === id && !FINAL_BACKUP_STATES.has(current!.state)) options.onProgress?.(report.progress);
    };
    this.#backupListeners.add(listener);
    this.#heartbeatListeners.add(progress);
    try {
      await this.#poll(options, () => FINAL_BACKUP_STATES.has(current!.state), () =>
        `backup ${id} is still ${current!.state} after ${options.timeoutSeconds} s; the agent may still finish it: follow it with 'dbaas backup-show ${id}'`,
      );
    } finally {
      this.#backupListeners.delete(listener);
      this.#heartbeatListeners.delete(progress);
    }
    return current;
  }

  /** From the catalog's index (no read per record) and dbaas's state, newest first. */
  async listBackups(filter: { instanceId?: string } = {}): Promise<BackupView[]> {
    const views = mergeBackups(await this.#summaries(), await this.state.list((reason) => this.#warnOnce(reason)));
    return filter.instanceId ? views.filter((v) => v.instance_id === filter.instanceId) : views;
  }

  /** `progress`: while the backup runs, its bytes as the agent's last heartbeat told them. */
  async showBackup(id: string): Promise<{ view: BackupView; record: BackupRecord | undefined; request: BackupRequest | undefined; progress: JobProgress | undefined }> {
    const [record, request] = await Promise.all([this.catalog.get(id), this.state.get(id)]);
    const view = viewOf(record && summaryOf(record), request);
    if (!view) throw this.#notFound(id);
    const running = request && isRunning(request.state) ? (await this.state.instance(request.instance_id))?.job_progress : undefined;
    return { view, record, request, progress: running?.kind === 'backup' && running.id === id ? running : undefined };
  }

  /** The instance a backup belongs to, from the state or the catalog; undefined when neither knows it. */
  async instanceOfBackup(id: string): Promise<string | undefined> {
    return (await this.state.get(id))?.instance_id ?? (await this.catalog.get(id))?.instance_id;
  }

  /**
   * As Trove's taskmanager deletes a backup: refused while it runs, and while
   * other backups build on it (incremental ones restore through it), unless
   * `cascade`: then those are deleted first, children before their parents,
   * newest first. Each backup goes in the same order: the stored object
   * (Storage.delete removes segments and unfinished multipart uploads), then
   * the catalog record, then the state entry. A failure on the way leaves
   * that backup DELETE_FAILED, in dbaas's state and in its record, and
   * running the delete again retries (what is already gone stays gone).
   * Returns what was deleted, in order, the backup asked for last.
   */
  async deleteBackup(id: string, options: { cascade?: boolean } = {}): Promise<{ view: BackupView; objectKey: string | null; deleted: DeletedBackup[] }> {
    const { view, request } = await this.showBackup(id);
    if (request && isRunning(request.state)) throw this.#running(id, request.state, request.instance_id);
    const nodes = backupNodes(await this.#summaries(), await this.state.list((reason) => this.#warnOnce(reason)));
    const dependents = descendantsOf(id, nodes);
    if (dependents.length > 0 && !options.cascade) {
      throw new DeleteRefusedError(
        `backup ${id} cannot be deleted: ${dependents.length} backup(s) build on it and could not be restored without it: ${describeNodes(dependents)}; ` +
          `delete those first, or run 'dbaas backup-delete ${id} --cascade' to delete them with it (newest first)`,
      );
    }
    const running = dependents.find((d) => isRunning(d.state));
    if (running) {
      throw new DeleteRefusedError(
        `backup ${id} cannot be deleted: backup ${running.id} builds on it and is ${running.state} on instance ${running.instance_id}; wait until it is COMPLETED or FAILED, then delete again`,
      );
    }
    const deleted: DeletedBackup[] = [];
    for (const backup of [...deletionOrder(dependents).map((d) => d.id), id]) {
      try {
        deleted.push(await this.#deleteOne(backup));
      } catch (err) {
        if (dependents.length === 0) throw err;
        const done = deleted.length > 0 ? ` (already deleted: ${deleted.map((d) => d.id).join(', ')})` : '';
        throw new AgentError(`${errorMessage(err)}${done}; 'dbaas backup-delete ${id} --cascade' finishes the cascade`, { cause: err });
      }
    }
    return { view, objectKey: deleted[deleted.length - 1]?.object_key ?? null, deleted };
  }

  /**
   * Plans a purge from the catalog's index and dbaas's state (see
   * purge-plan.ts); unless `dryRun`, deletes the plan's backups as
   * deleteBackup deletes one, children first. A backup whose delete fails
   * stays DELETE_FAILED, and its ancestors in the plan are not tried (they
   * are still needed); the others go on.
   */
  async purgeBackups(
    rules: PurgeRules,
    options: { dryRun: boolean; now?: Date; onPlanned?: (plan: PurgePlan) => void; onDeleted?: (backup: PlannedBackup) => void },
  ): Promise<PurgeResult> {
    const nodes = backupNodes(await this.#summaries(), await this.state.list((reason) => this.#warnOnce(reason)));
    const plan = planPurge(nodes, rules, options.now ?? new Date());
    const result: PurgeResult = { plan, deleted: [], failed: [] };
    options.onPlanned?.(plan);
    if (options.dryRun) return result;
    const blocked = new Map<string, string>();
    for (const planned of plan.delete) {
      const { backup } = planned;
      const because = blocked.get(backup.id);
      if (because) {
        result.failed.push({ backup, reason: because });
        continue;
      }
      try {
        await this.#deleteOne(backup.id);
        result.deleted.push(planned);
        options.onDeleted?.(planned);
      } catch (err) {
        result.failed.push({ backup, reason: errorMessage(err) });
        for (let parent = backup.parent_id; parent; parent = nodes.find((n) => n.id === parent)?.parent_id ?? null) {
          if (blocked.has(parent)) break;
          blocked.set(parent, `not deleted: backup ${backup.id}, which builds on it, could not be deleted`);
        }
      }
    }
    return result;
  }

  /**
   * Casts prepare with backup_info from the catalog record, as Trove's
   * taskmanager creates an instance from a backup, after checking that the
   * stored object is there with the recorded size. The instance's queue is
   * declared first, so prepare waits there until its agent starts.
   */
  async createInstance(options: { instanceId: string; backupId: string }): Promise<{ record: BackupRecord; queue: GuestQueueStatus; previousStatus: string | null }> {
    const { instanceId, backupId } = options;
    const record = await this.catalog.get(backupId);
    if (!record) throw this.#notFound(backupId);
    const incomplete = incompleteReason(record);
    if (incomplete) throw new BackupNotFoundError(`backup ${backupId} cannot be restored from: ${incomplete}`);
    const object = await this.storage.head(record.object_key);
    if (!object) {
      throw new BackupNotFoundError(`backup ${backupId}: its stored object '${record.object_key}' is missing from ${this.storage.name} storage; it cannot be restored`);
    }
    if (object.size !== record.stored_bytes) {
      throw new BackupNotFoundError(`backup ${backupId}: its stored object '${record.object_key}' has ${object.size} bytes, the catalog records ${record.stored_bytes}; it cannot be restored`);
    }
    const queue = await this.guestQueueStatus(instanceId);
    if (queue.consumers === 0) {
      this.#warnOnce(`no agent is consuming '${queue.queue}' yet: prepare waits in the queue until the agent of instance ${instanceId} starts`);
    }
    const before = await this.state.instance(instanceId);
    await this.#send(
      instanceId,
      (guest) =>
        guest.prepare(
          {
            backupInfo: { id: record.id, instance_id: record.instance_id, location: record.location, type: record.type, checksum: record.checksum ?? record.sha256 },
            dsVersion: this.settings.datastoreVersion,
          },
          { request_id: `req-${randomUUID()}` },
        ),
      `prepare of instance ${instanceId}`,
    );
    await this.state.putInstance({
      instance_id: instanceId,
      service_status: before?.service_status ?? null,
      sent: before?.sent ?? null,
      updated: new Date().toISOString(),
      restore: { backup_id: backupId, requested: new Date().toISOString() },
    });
    return { record, queue: { ...queue, exists: true }, previousStatus: before?.service_status ?? null };
  }

  /**
   * Follows an instance's heartbeats after prepare: `building`, then
   * `healthy` twice in a row (resolves) or `failed to spawn` (rejects). Twice,
   * because a periodic heartbeat whose status the agent read just before
   * prepare arrived can be sent just after `building`; the next one is
   * `building` again if the restore still runs. A `failed to spawn` left over
   * from an earlier prepare (`previousStatus`) counts only after a new
   * `building`. Costs up to one report_interval.
   */
  async waitForInstance(
    instanceId: string,
    options: WaitOptions & { previousStatus?: string | null; onStatus?: (status: string) => void; onProgress?: (progress: JobProgress) => void },
  ): Promise<void> {
    let building = false;
    let healthyInARow = 0;
    let outcome: 'healthy' | 'failed' | undefined;
    let last = options.previousStatus ?? null;
    const listener = (report: HeartbeatReport): void => {
      if (report.instanceId !== instanceId || outcome) return;
      if (report.status !== last) options.onStatus?.(report.status);
      if (report.progress?.kind === 'restore') options.onProgress?.(report.progress);
      last = report.status;
      healthyInARow = HEALTHY.has(report.status) && building ? healthyInARow + 1 : 0;
      if (report.status === 'building') building = true;
      else if (healthyInARow >= 2) outcome = 'healthy';
      else if (report.status === FAILED_TO_SPAWN && (building || options.previousStatus !== FAILED_TO_SPAWN)) outcome = 'failed';
    };
    this.#heartbeatListeners.add(listener);
    try {
      await this.#poll(options, () => outcome !== undefined, () =>
        `instance ${instanceId} reported ${last === null ? 'nothing' : `'${last}'`} and not yet healthy after ${options.timeoutSeconds} s; ${building ? 'the restore may still finish' : 'is its agent running?'}`,
      );
    } finally {
      this.#heartbeatListeners.delete(listener);
    }
    if (outcome === 'failed') {
      throw new AgentError(`instance ${instanceId}: the agent reported '${FAILED_TO_SPAWN}': the restore did not complete; its log says why (event prepare.failed)`);
    }
  }

  async close(): Promise<void> {
    await this.#inbox?.close();
    this.#inbox = undefined;
    await this.#link?.close();
    this.#link = undefined;
  }

  async #apply(report: ConductorReport): Promise<void> {
    if (report.kind === 'backup') {
      const entry = await this.state.applyBackupReport(report);
      if (entry) for (const listener of this.#backupListeners) listener(entry);
    } else if (report.kind === 'heartbeat') {
      await this.state.applyHeartbeat(report);
      for (const listener of this.#heartbeatListeners) listener(report);
    }
  }

  /** Reads the queue every pollMs until done() or the timeout; survives RabbitMQ going away meanwhile. */
  async #poll(options: WaitOptions, done: () => boolean, timeoutMessage: () => string): Promise<void> {
    const deadline = Date.now() + options.timeoutSeconds * 1000;
    const pollMs = options.pollMs ?? 500;
    for (;;) {
      try {
        await this.resync();
      } catch (err) {
        if (!(err instanceof BrokerUnavailableError)) throw err;
        this.#warnOnce(`${err.message}; still waiting, and trying again`);
      }
      if (done()) return;
      if (Date.now() >= deadline) throw new WaitTimeoutError(timeoutMessage());
      options.signal?.throwIfAborted();
      await sleep(Math.min(pollMs, Math.max(deadline - Date.now(), 0)), undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
      options.signal?.throwIfAborted();
    }
  }

  async #parentOf(options: BackupRequestOptions): Promise<BackupRecord | undefined> {
    if (options.parentId) {
      const parent = await this.catalog.get(options.parentId);
      if (!parent) throw new BackupNotFoundError(`parent backup ${options.parentId} is not in the catalog (${this.catalog.description})`);
      const incomplete = incompleteReason(parent);
      if (incomplete) throw new BackupNotFoundError(`parent backup ${options.parentId} cannot be built on: ${incomplete}`);
      if (parent.instance_id !== options.instanceId) {
        throw new AgentError(`parent backup ${options.parentId} is of instance ${parent.instance_id}, not ${options.instanceId}: an incremental backup builds on a backup of the same instance`);
      }
      return parent;
    }
    if (!options.incremental) return undefined;
    const completed = (await this.#summaries()).filter((s) => s.instance_id === options.instanceId && s.state === 'COMPLETED');
    completed.sort((a, b) => b.created.localeCompare(a.created) || a.id.localeCompare(b.id));
    // The index says COMPLETED; the record is what an incremental backup builds on.
    for (const summary of completed) {
      const record = await this.catalog.get(summary.id);
      if (record && !incompleteReason(record)) return record;
    }
    throw new BackupNotFoundError(`instance ${options.instanceId} has no COMPLETED backup in the catalog to build an incremental backup on: take a full backup first`);
  }

  async #send(instanceId: string, send: (guest: GuestClient) => Promise<void>, what: string): Promise<void> {
    const url = this.settings.url;
    if (!url) throw new ConfigError('transport_url is not set');
    this.#link ??= await AmqpLink.open({ url, retryFirstConnect: false, reconnectDelayMs: { initial: 500, max: 5_000 } });
    const link = this.#link;
    const guest = new GuestClient({ link, rpc: castOnlyRpc(link), exchange: this.settings.exchange, flags: this.settings.flags, instanceId, key: this.keys.keyOf(instanceId) });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AgentError(`RabbitMQ did not confirm ${what} within ${SEND_TIMEOUT_MS / 1000} s; it may or may not have been sent`)), SEND_TIMEOUT_MS);
    });
    try {
      await Promise.race([send(guest), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #summaries(): Promise<BackupSummary[]> {
    const summaries: BackupSummary[] = [];
    try {
      for await (const summary of this.catalog.summaries()) summaries.push(summary);
    } catch (err) {
      throw new AgentError(`cannot list the catalog in ${this.catalog.description}: ${errorMessage(err)}`, { cause: err });
    }
    return summaries;
  }

  /** One backup: its stored object, its catalog record, its state entry; what is already gone is skipped. */
  async #deleteOne(id: string): Promise<DeletedBackup> {
    const [record, request] = await Promise.all([this.catalog.get(id), this.state.get(id)]);
    if (request && isRunning(request.state)) throw this.#running(id, request.state, request.instance_id);
    const instanceId = record?.instance_id ?? request?.instance_id ?? '';
    if (record) {
      const failed = (what: string) => (err: unknown) => this.#deleteFailed(record, request, what, err);
      await this.storage.delete(record.object_key).catch(failed(`the stored object '${record.object_key}' from ${this.storage.name} storage`));
      await this.catalog.delete(id).catch(failed(`the catalog record from ${this.catalog.description}`));
    }
    await this.state.delete(id);
    return { id, instance_id: instanceId, object_key: record?.object_key ?? null };
  }

  /** Marks the backup DELETE_FAILED with why, in dbaas's state and in its record (as far as storage lets it), and says how to retry. */
  async #deleteFailed(record: BackupRecord, request: BackupRequest | undefined, what: string, err: unknown): Promise<never> {
    const now = new Date().toISOString();
    const reason = `could not delete ${what}: ${errorMessage(err)}`;
    const base: BackupRequest = request ?? {
      id: record.id,
      instance_id: record.instance_id,
      name: typeof record.name === 'string' ? record.name : null,
      description: null,
      type: record.type,
      parent_id: record.parent?.id ?? null,
      keyspaces: record.keyspaces ?? [],
      tables: record.tables ?? [],
      state: 'COMPLETED',
      reason: null,
      location: record.location,
      checksum: record.checksum ?? record.sha256,
      size_gb: null,
      created: record.created,
      updated: now,
      completed: null,
      last_report_sent: null,
      origin: 'request',
    };
    await this.state.put({ ...base, state: 'DELETE_FAILED', reason, updated: now });
    let marked = '';
    try {
      await this.catalog.put({ ...record, state: 'DELETE_FAILED', delete_failed_reason: reason, updated: now });
    } catch (markErr) {
      marked = ` (its catalog record could not be marked DELETE_FAILED either: ${errorMessage(markErr)})`;
    }
    throw new AgentError(`backup ${record.id}: ${reason}; it is now DELETE_FAILED${marked}: run 'dbaas backup-delete ${record.id}' again to retry`, { cause: err });
  }

  #running(id: string, state: string, instanceId: string): DeleteRefusedError {
    return new DeleteRefusedError(
      `backup ${id} is ${state} on instance ${instanceId}: it cannot be deleted while it runs; wait until it is COMPLETED or FAILED ('dbaas backup-show ${id}'), then delete it`,
    );
  }

  #notFound(id: string): BackupNotFoundError {
    return new BackupNotFoundError(`backup ${id} not found: it is neither in the catalog (${this.catalog.description}) nor in dbaas's state (${this.settings.stateDir}); 'dbaas backup-list' shows the known ones`);
  }

  #requireInbox(): ConductorInbox {
    if (!this.#inbox) throw new BrokerUnavailableError('not connected to RabbitMQ');
    return this.#inbox;
  }

  async #openInbox(): Promise<ConductorInbox> {
    const url = this.settings.url;
    if (!url) throw new ConfigError('transport_url is not set');
    return ConductorInbox.open({
      url,
      exchange: this.settings.exchange,
      topic: this.settings.conductorTopic,
      flags: this.settings.flags,
      keyOf: (instanceId) => this.keys.keyOf(instanceId),
    });
  }

  /** Each warning once per command, however often a wait finds its cause again. */
  #warnOnce(message: string, topic = message): void {
    if (this.#warned.has(topic)) return;
    this.#warned.add(topic);
    this.#warn(message);
  }
}

/** `<id> (incremental, COMPLETED, instance <i>, created <time>), ...`: the backups that stand in the way, for messages. */
function describeNodes(nodes: readonly BackupNode[]): string {
  return nodes.map((n) => `${n.id} (${n.type}, ${n.state}, instance ${n.instance_id}, created ${n.created})`).join(', ');
}
