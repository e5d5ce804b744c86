import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { newBackupId } from '../catalog/backup-id.js';
import { incompleteReason, type BackupRecord } from '../catalog/backup-record.js';
import type { Catalog } from '../catalog/catalog.js';
import { createStorageCatalog } from '../catalog/storage-catalog.js';
import { amqpUrl, queueFlags } from '../agent/rpc-settings.js';
import type { AgentConfig } from '../config/config-schema.js';
import { AgentError, BackupNotFoundError, ConfigError, errorMessage } from '../errors.js';
import { AmqpLink } from '../rpc/amqp-link.js';
import type { QueueFlags } from '../rpc/queue-declarations.js';
import type { RpcKey } from '../rpc/secure-serializer.js';
import { createStorage } from '../storage/create-storage.js';
import type { Storage } from '../storage/storage.js';
import { BackupStateStore, type BackupRequest } from './backup-state.js';
import { mergeBackups, viewOf, type BackupView } from './backup-view.js';
import { castOnlyRpc } from './cast-only-rpc.js';
import { BrokerUnavailableError, ConductorInbox, type DrainBound } from './conductor-inbox.js';
import type { ConductorReport, HeartbeatReport } from './conductor-reports.js';
import { GuestClient, type BackupInfo } from './guest-client.js';
import { InstanceKeys } from './instance-keys.js';

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

export function controlPlaneSettings(config: AgentConfig): ControlPlaneSettings {
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
  config: AgentConfig;
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

const FINAL_BACKUP_STATES = new Set(['COMPLETED', 'FAILED', 'DELETE_FAILED']);
const RUNNING_BACKUP_STATES = new Set(['NEW', 'BUILDING', 'SAVING']);
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
  readonly catalog: Catalog;
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
    this.catalog = createStorageCatalog(storage);
    this.state = new BackupStateStore(settings.stateDir);
    this.#warn = warn;
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
  async waitForBackup(id: string, options: WaitOptions & { onChange?: (request: BackupRequest) => void }): Promise<BackupRequest> {
    let current = await this.state.get(id);
    if (!current) throw new BackupNotFoundError(`backup ${id} is not in dbaas's state (${this.settings.stateDir}): nothing to wait for`);
    options.onChange?.(current);
    const listener = (entry: BackupRequest): void => {
      if (entry.id !== id) return;
      current = entry;
      options.onChange?.(entry);
    };
    this.#backupListeners.add(listener);
    try {
      await this.#poll(options, () => FINAL_BACKUP_STATES.has(current!.state), () =>
        `backup ${id} is still ${current!.state} after ${options.timeoutSeconds} s; the agent may still finish it: follow it with 'dbaas backup-show ${id}'`,
      );
    } finally {
      this.#backupListeners.delete(listener);
    }
    return current;
  }

  async listBackups(filter: { instanceId?: string } = {}): Promise<BackupView[]> {
    const records: BackupRecord[] = [];
    try {
      for await (const record of this.catalog.list()) records.push(record);
    } catch (err) {
      throw new AgentError(`cannot list the catalog in ${this.catalog.description}: ${errorMessage(err)}`, { cause: err });
    }
    const views = mergeBackups(records, await this.state.list());
    return filter.instanceId ? views.filter((v) => v.instance_id === filter.instanceId) : views;
  }

  async showBackup(id: string): Promise<{ view: BackupView; record: BackupRecord | undefined; request: BackupRequest | undefined }> {
    const [record, request] = await Promise.all([this.catalog.get(id), this.state.get(id)]);
    const view = viewOf(record, request);
    if (!view) throw this.#notFound(id);
    return { view, record, request };
  }

  /** The instance a backup belongs to, from the state or the catalog; undefined when neither knows it. */
  async instanceOfBackup(id: string): Promise<string | undefined> {
    return (await this.state.get(id))?.instance_id ?? (await this.catalog.get(id))?.instance_id;
  }

  /**
   * As Trove's taskmanager deletes a backup: refused while it runs; the stored
   * object first (Storage.delete removes segments and unfinished multipart
   * uploads), then the catalog record, then the state entry. A failure on the
   * way leaves the state DELETE_FAILED, and running it again retries.
   */
  async deleteBackup(id: string): Promise<{ view: BackupView; objectKey: string | null }> {
    const { view, record, request } = await this.showBackup(id);
    if (request && RUNNING_BACKUP_STATES.has(request.state)) {
      throw new AgentError(
        `backup ${id} is ${request.state} on instance ${request.instance_id}: it cannot be deleted while it runs; wait until it is COMPLETED or FAILED ('dbaas backup-show ${id}'), then delete it`,
      );
    }
    if (record) {
      const children: string[] = [];
      for await (const other of this.catalog.list()) if (other.parent?.id === id) children.push(other.id);
      if (children.length > 0) {
        throw new AgentError(`backup ${id} is the parent of incremental backup(s) ${children.join(', ')}: delete those first`);
      }
      await this.#deleteStep(id, view, request, `the stored object '${record.object_key}' from ${this.storage.name} storage`, () => this.storage.delete(record.object_key));
      await this.#deleteStep(id, view, request, `the catalog record from ${this.catalog.description}`, () => this.catalog.delete(id));
    }
    await this.state.delete(id);
    return { view, objectKey: record?.object_key ?? null };
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
  async waitForInstance(instanceId: string, options: WaitOptions & { previousStatus?: string | null; onStatus?: (status: string) => void }): Promise<void> {
    let building = false;
    let healthyInARow = 0;
    let outcome: 'healthy' | 'failed' | undefined;
    let last = options.previousStatus ?? null;
    const listener = (report: HeartbeatReport): void => {
      if (report.instanceId !== instanceId || outcome) return;
      if (report.status !== last) options.onStatus?.(report.status);
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
        if (!this.#inbox) this.#inbox = await this.#openInbox();
        await this.sync();
      } catch (err) {
        if (!(err instanceof BrokerUnavailableError)) throw err;
        await this.#inbox?.close();
        this.#inbox = undefined;
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
    let newest: BackupRecord | undefined;
    for await (const record of this.catalog.list()) {
      if (record.instance_id !== options.instanceId || incompleteReason(record)) continue;
      if (!newest || record.created > newest.created) newest = record;
    }
    if (!newest) {
      throw new BackupNotFoundError(`instance ${options.instanceId} has no COMPLETED backup in the catalog to build an incremental backup on: take a full backup first`);
    }
    return newest;
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

  async #deleteStep(id: string, view: BackupView, request: BackupRequest | undefined, what: string, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (err) {
      const now = new Date().toISOString();
      const reason = `could not delete ${what}: ${errorMessage(err)}`;
      const base: BackupRequest = request ?? {
        id,
        instance_id: view.instance_id,
        name: view.name,
        description: null,
        type: view.type,
        parent_id: null,
        keyspaces: [],
        tables: [],
        state: 'COMPLETED',
        reason: null,
        location: view.location,
        checksum: view.checksum,
        size_gb: view.size_gb,
        created: view.created,
        updated: now,
        completed: null,
        last_report_sent: null,
        origin: 'request',
      };
      await this.state.put({ ...base, state: 'DELETE_FAILED', reason, updated: now });
      throw new AgentError(`backup ${id}: ${reason}; it is now DELETE_FAILED: run 'dbaas backup-delete ${id}' again to retry`, { cause: err });
    }
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
