import type { AmqpLink } from '../rpc/amqp-link.js';
import type { JsonObject } from '../rpc/oslo-message.js';
import { declareTopicQueue, type QueueFlags } from '../rpc/queue-declarations.js';
import type { RpcClient } from '../rpc/rpc-client.js';
import type { RpcKey } from '../rpc/secure-serializer.js';

/** Trove's backup_info for create_backup, as its taskmanager builds it (plus our keyspaces/tables). */
export interface BackupInfo {
  id: string;
  name: string;
  description: string | null;
  instance_id: string;
  backup_type: 'full' | 'incremental';
  checksum: null;
  parent: { location: string; checksum: string } | null;
  datastore: string;
  datastore_version: string;
  swift_container: string | null;
  keyspaces?: string[];
  tables?: string[];
}

/** prepare's backup_info: what to restore (instance_id is the SOURCE instance). */
export interface RestoreInfo {
  id: string;
  instance_id: string;
  location: string;
  type: 'full' | 'incremental';
  checksum: string;
}

export interface PrepareArgs {
  backupInfo: RestoreInfo | null;
  configContents?: string | null;
  rootPassword?: string | null;
  mountPoint?: string;
  memoryMb?: number;
  dsVersion?: string;
}

/** What GuestClient needs of an RPC client: RpcClient, or castOnlyRpc() for a control plane that never calls. */
export type GuestRpc = Pick<RpcClient, 'cast' | 'call'>;

export interface GuestClientOptions {
  link: AmqpLink;
  rpc: GuestRpc;
  exchange: string;
  flags: QueueFlags;
  instanceId: string;
  /** The instance's RPC key; undefined for plaintext. */
  key: RpcKey | undefined;
  /** The request context (Trove sends the user's auth_token, project_id, trove_notification...). */
  context?: JsonObject;
}

/** Trove's `trove.guestagent.api.API` for one instance: the same methods, versions and arguments. */
export class GuestClient {
  constructor(private readonly options: GuestClientOptions) {}

  get #target() {
    return { exchange: this.options.exchange, topic: `guestagent.${this.options.instanceId}`, key: this.options.key };
  }

  rpcPing(timeoutSeconds = 15): Promise<unknown> {
    return this.options.rpc.call(this.#target, 'rpc_ping', {}, { context: this.#context(), timeoutSeconds });
  }

  getFilesystemStats(timeoutSeconds = 15): Promise<unknown> {
    return this.options.rpc.call(this.#target, 'get_filesystem_stats', { fs_path: null }, { context: this.#context(), timeoutSeconds });
  }

  createBackup(backupInfo: BackupInfo, context?: JsonObject): Promise<void> {
    return this.options.rpc.cast(this.#target, 'create_backup', { backup_info: backupInfo as unknown as JsonObject }, { context: this.#context(context), version: '1.0' });
  }

  /** As Trove does, the guest's queue is declared first so that prepare waits there if the guest is not up yet. */
  async prepare(args: PrepareArgs, context?: JsonObject): Promise<void> {
    const { link, exchange, flags, instanceId } = this.options;
    await link.onConnect((channel) => declareTopicQueue(channel, exchange, `guestagent.${instanceId}`, flags));
    await this.options.rpc.cast(
      this.#target,
      'prepare',
      {
        packages: [],
        databases: [],
        memory_mb: args.memoryMb ?? 0,
        users: [],
        device_path: null,
        mount_point: args.mountPoint ?? '/var/lib/cassandra',
        backup_info: (args.backupInfo as unknown as JsonObject) ?? null,
        config_contents: args.configContents ?? null,
        root_password: args.rootPassword ?? null,
        overrides: {},
        cluster_config: null,
        snapshot: null,
        modules: [],
        ds_version: args.dsVersion ?? null,
      },
      { context: this.#context(context), version: '1.1' },
    );
  }

  #context(extra?: JsonObject): JsonObject {
    return { ...(this.options.context ?? {}), ...(extra ?? {}) };
  }
}
