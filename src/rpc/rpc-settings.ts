import type { JobConfig, RpcConfig } from '../config/config-schema.js';
import { ConfigError } from '../errors.js';
import type { QueueFlags } from './queue-declarations.js';
import { RpcKey } from './secure-serializer.js';

/** Everything the RPC layer needs, derived once from the configuration. */
export interface RpcSettings {
  /** amqp:// URL for amqplib (holds a password: never print it). */
  url: string;
  instanceId: string;
  key: RpcKey | undefined;
  exchange: string;
  /** `guestagent.<instance id>`: queue and routing key. */
  guestTopic: string;
  conductorTopic: string;
  flags: QueueFlags;
  reportIntervalSeconds: number;
}

export function rpcSettings(config: RpcConfig & Pick<JobConfig, 'instance_id'>): RpcSettings {
  if (!config.transport_url) {
    throw new ConfigError('transport_url is not set: give the RabbitMQ URL (rabbit://user:password@host:5672/) or point trove_guestagent_conf_file at the injected trove-guestagent.conf');
  }
  return {
    url: amqpUrl(config.transport_url),
    instanceId: config.instance_id,
    key: config.instance_rpc_encr_key ? new RpcKey(config.instance_rpc_encr_key) : undefined,
    exchange: config.control_exchange,
    guestTopic: `guestagent.${config.instance_id}`,
    conductorTopic: config.conductor_topic,
    flags: queueFlags(config),
    reportIntervalSeconds: config.report_interval,
  };
}

export function queueFlags(config: RpcConfig): QueueFlags {
  return {
    durable: config.amqp_durable_queues,
    autoDelete: config.amqp_auto_delete,
    haQueues: config.rabbit_ha_queues,
    quorumQueue: config.rabbit_quorum_queue,
    transientQueuesTtlSeconds: config.rabbit_transient_queues_ttl,
  };
}

/**
 * oslo's `rabbit://user:pass@host1:5672,user:pass@host2:5672/vhost` as the one
 * amqp:// URL amqplib takes: the first host (amqplib connects to one), and an
 * empty path meaning the default vhost as it does for oslo.
 */
export function amqpUrl(transportUrl: string): string {
  const match = /^(rabbit|amqp|amqps):\/\/([^/]*)(\/.*)?$/.exec(transportUrl.trim());
  if (!match) throw new ConfigError("transport_url must look like rabbit://user:password@host:5672/ (or amqp://...); it is not printed here because it may hold a password");
  const scheme = match[1] === 'amqps' ? 'amqps' : 'amqp';
  const firstHost = match[2]!.split(',')[0]!;
  const vhost = match[3] && match[3] !== '/' ? match[3] : '';
  return `${scheme}://${firstHost}${vhost}`;
}
