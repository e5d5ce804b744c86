import { AgentError } from '../errors.js';
import type { AmqpLink } from '../rpc/amqp-link.js';
import { encodeRequest } from '../rpc/oslo-message.js';
import type { GuestRpc } from './guest-client.js';

/**
 * Casts without a reply queue. RpcClient declares a `reply_<uuid>` queue that
 * outlives the process by rabbit_transient_queues_ttl; a short-lived command
 * that only casts (create_backup, prepare) has no use for one.
 */
export function castOnlyRpc(link: AmqpLink): GuestRpc {
  return {
    async cast(target, method, args, options = {}) {
      const encoded = encodeRequest({ method, args, context: options.context ?? {}, version: options.version ?? '1.0' }, target.key);
      await link.publish(target.exchange, target.topic, encoded.content, encoded.options);
    },
    call(target, method) {
      return Promise.reject(new AgentError(`${method} to ${target.topic} is a call, and this client only casts: open an RpcClient for calls`));
    },
  };
}
