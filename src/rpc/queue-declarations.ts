/**
 * The broker objects oslo.messaging's rabbit driver declares, declared the
 * same way. RabbitMQ refuses a second declaration whose flags or arguments
 * differ from the first (406 PRECONDITION_FAILED, and the channel is closed),
 * and the control plane creates `guestagent.<id>` before the guest starts, so
 * ours must equal oslo's to the last argument.
 *
 * What this relies on, read in python3-oslo.messaging 14.0.3
 * (`_drivers/impl_rabbit.py`, `_drivers/amqpdriver.py`, `_drivers/amqp.py`)
 * and kombu 5.2.4 (`kombu/entity.py`), and checked against RabbitMQ 3.10 by
 * test/integration/amqp-link.test.ts, which has the real driver declare first:
 * - Option defaults: amqp_durable_queues=False, amqp_auto_delete=False,
 *   rabbit_ha_queues=False, rabbit_quorum_queue=False,
 *   rabbit_transient_queues_ttl=1800 (min 1).
 * - `Connection.durable` is `amqp_durable_queues or rabbit_quorum_queue`: a
 *   quorum queue is always durable, and so is its exchange.
 * - `declare_topic_consumer` (queues `<topic>` and `<topic>.<server>`):
 *   exchange = control_exchange, type topic, durable = Connection.durable,
 *   auto_delete = amqp_auto_delete; queue durable = Connection.durable,
 *   auto_delete = amqp_auto_delete, arguments =
 *   `_get_queue_arguments(rabbit_ha_queues, 0, rabbit_quorum_queue, ...)`
 *   (no x-expires); bound to the exchange with the queue name as routing key.
 * - `declare_direct_consumer` (the caller's `reply_<uuid4 hex>` queue, on the
 *   default exchange, so no exchange declaration and no binding):
 *   durable=False, auto_delete=False, arguments =
 *   `_get_queue_arguments(rabbit_ha_queues, rabbit_transient_queues_ttl, False)`.
 * - `_get_queue_arguments`: `x-ha-policy: 'all'` when rabbit_ha_queues;
 *   `x-queue-type: 'quorum'` when rabbit_quorum_queue (plus x-delivery-limit,
 *   x-max-in-memory-length, x-max-in-memory-bytes only when their options are
 *   non-zero; they default to 0 and are not configurable here); `x-expires:
 *   ttl * 1000` when ttl > 0; both HA and quorum is a configuration error.
 * - kombu declares queues with exclusive=False and exchanges with no
 *   arguments and internal=False.
 */
import type { Channel, Options } from 'amqplib';
import { AgentError, ConfigError, errorMessage } from '../errors.js';

export interface QueueFlags {
  /** `amqp_durable_queues`. */
  durable: boolean;
  /** `amqp_auto_delete`. */
  autoDelete: boolean;
  /** `rabbit_ha_queues`: `x-ha-policy: all` (ignored by RabbitMQ 3 itself, but part of the declaration). */
  haQueues: boolean;
  /** `rabbit_quorum_queue`: `x-queue-type: quorum`, and durable whatever `durable` says. */
  quorumQueue: boolean;
  /** `rabbit_transient_queues_ttl`: x-expires of reply queues, in seconds. */
  transientQueuesTtlSeconds: number;
}

export const DEFAULT_QUEUE_FLAGS: QueueFlags = Object.freeze({
  durable: false,
  autoDelete: false,
  haQueues: false,
  quorumQueue: false,
  transientQueuesTtlSeconds: 1800,
});

/** oslo's `Connection.durable`: quorum queues are durable whatever amqp_durable_queues says. */
const durable = (flags: QueueFlags): boolean => flags.durable || flags.quorumQueue;

/** The control exchange (`openstack`), type topic, as `declare_topic_consumer` and `topic_send` declare it. */
export function controlExchangeOptions(flags: QueueFlags): Options.AssertExchange {
  return { durable: durable(flags), autoDelete: flags.autoDelete, internal: false };
}

/** A topic queue (`guestagent.<id>`, `trove-conductor`), as `declare_topic_consumer` declares it. */
export function topicQueueOptions(flags: QueueFlags): Options.AssertQueue {
  if (flags.haQueues && flags.quorumQueue) {
    throw new ConfigError(
      'rabbit_ha_queues and rabbit_quorum_queue are both true; a queue is either mirrored or quorum: set one of them to false',
    );
  }
  const args: Record<string, unknown> = {};
  if (flags.haQueues) args['x-ha-policy'] = 'all';
  if (flags.quorumQueue) args['x-queue-type'] = 'quorum';
  return { durable: durable(flags), autoDelete: flags.autoDelete, exclusive: false, arguments: args };
}

/** A caller's reply queue (`reply_<uuidhex>`, default exchange), as `declare_direct_consumer` declares it. */
export function replyQueueOptions(flags: QueueFlags): Options.AssertQueue {
  const ttl = flags.transientQueuesTtlSeconds;
  if (!Number.isInteger(ttl) || ttl < 1) {
    throw new ConfigError(`rabbit_transient_queues_ttl is ${ttl}; expected a whole number of seconds of at least 1`);
  }
  const args: Record<string, unknown> = {};
  if (flags.haQueues) args['x-ha-policy'] = 'all';
  args['x-expires'] = ttl * 1000;
  return { durable: false, autoDelete: false, exclusive: false, arguments: args };
}

/** Declares `exchange` (topic), the queue `queueName` and binds them with the queue name as routing key. */
export async function declareTopicQueue(
  ch: Channel,
  exchange: string,
  queueName: string,
  flags: QueueFlags,
): Promise<void> {
  const queueOptions = topicQueueOptions(flags);
  try {
    await ch.assertExchange(exchange, 'topic', controlExchangeOptions(flags));
  } catch (err) {
    throw explainDeclarationError(err, `declare exchange '${exchange}'`);
  }
  try {
    await ch.assertQueue(queueName, queueOptions);
  } catch (err) {
    throw explainDeclarationError(err, `declare queue '${queueName}'`);
  }
  try {
    await ch.bindQueue(queueName, exchange, queueName);
  } catch (err) {
    throw explainDeclarationError(err, `bind queue '${queueName}' to exchange '${exchange}'`);
  }
}

/**
 * Which option makes the agent declare an argument the way the existing object
 * has it: the option and its value, or undefined when no setting can (a topic
 * queue never has x-expires, a reply queue is never quorum).
 */
type Advice = (current: string | undefined, received: string | undefined, name: string) => string | undefined;
const bool = (value: string | undefined): string | undefined => (value === 'true' || value === 'false' ? value : undefined);
const OPTION_FOR_ARG: Record<string, { option: string; valueFor: Advice }> = {
  durable: { option: 'amqp_durable_queues', valueFor: bool },
  auto_delete: { option: 'amqp_auto_delete', valueFor: bool },
  'x-ha-policy': {
    option: 'rabbit_ha_queues',
    valueFor: (current) => (current === 'all' ? 'true' : current === undefined ? 'false' : undefined),
  },
  'x-queue-type': {
    option: 'rabbit_quorum_queue',
    valueFor: (current, _received, name) => {
      if (name.startsWith('reply_')) return undefined;
      return current === 'quorum' ? 'true' : current === undefined || current === 'classic' ? 'false' : undefined;
    },
  },
  'x-expires': {
    option: 'rabbit_transient_queues_ttl',
    valueFor: (current, received) => {
      const ms = Number(current);
      return current !== undefined && received !== undefined && Number.isInteger(ms / 1000) && ms > 0 ? String(ms / 1000) : undefined;
    },
  },
};

const MISMATCH =
  /inequivalent arg '([^']+)' for (queue|exchange) '(.*)' in vhost '(.*)': received (none|'.*?'|the value '.*?' of type '.*?') but current is (none|'.*?'|the value '.*?' of type '.*?')"?\s*$/;

/** `'true'` → `true`; `the value '1800000' of type 'signedint'` → `1800000`; `none` → undefined. */
function parseValue(text: string): string | undefined {
  if (text === 'none') return undefined;
  const m = /^(?:the value )?'(.*?)'/.exec(text);
  return m?.[1];
}

const describe = (arg: string, value: string | undefined): string =>
  value === undefined ? `no ${arg}` : `${arg}=${value}`;

/**
 * Turns RabbitMQ's `406 PRECONDITION_FAILED - inequivalent arg ...` into a
 * ConfigError naming the object, what it already has and the option that makes
 * the agent declare it the same way. Any other error comes back wrapped with
 * `what` (e.g. "declare queue 'guestagent.x'"); an AgentError comes back as is.
 */
export function explainDeclarationError(err: unknown, what: string): Error {
  const message = errorMessage(err);
  const m = MISMATCH.exec(message);
  if (!m) {
    if (err instanceof AgentError) return err;
    return new AgentError(`cannot ${what}: ${message}`, { cause: err });
  }
  const [, arg = '', kind = '', name = '', vhost = '', receivedText = '', currentText = ''] = m;
  const current = parseValue(currentText);
  const received = parseValue(receivedText);
  const where = `${kind} '${name}' (vhost '${vhost}')`;
  const mapping = OPTION_FOR_ARG[arg];
  const value = mapping?.valueFor(current, received, name);
  const redeclare = `delete the ${kind} so it is declared again${kind === 'queue' ? ' (the messages in it are lost)' : ''}`;
  let fix: string;
  if (mapping && value !== undefined) {
    const quorumToo =
      arg !== 'durable'
        ? ''
        : value === 'true'
          ? ' (or rabbit_quorum_queue = true if it is a quorum queue)'
          : ' and rabbit_quorum_queue = false (quorum queues are durable)';
    fix = `set ${mapping.option} = ${value}${quorumToo} to declare it the way it exists, or ${redeclare}`;
  } else {
    fix = `this agent cannot be configured to declare it with ${describe(arg, current)}: ${redeclare}`;
  }
  return new ConfigError(
    `cannot ${what}: ${where} already exists with ${describe(arg, current)}, but this agent declares it with ${describe(arg, received)}; ${fix}`,
    { cause: err },
  );
}
