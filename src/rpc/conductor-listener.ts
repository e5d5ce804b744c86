import { errorMessage } from '../errors.js';
import type { Logger } from '../util/logger.js';
import type { AmqpLink } from './amqp-link.js';
import { decodeConductorCast, decodeEnvelope, type ConductorCast } from './oslo-message.js';
import { declareTopicQueue, type QueueFlags } from './queue-declarations.js';
import type { RpcKey } from './secure-serializer.js';

export interface ConductorListenerOptions {
  link: AmqpLink;
  exchange: string;
  topic: string;
  flags: QueueFlags;
  /** The key of an instance by its id (encrypted reports name their instance). */
  keyOf(instanceId: string): RpcKey | undefined;
  log: Logger;
  onReport(report: ConductorCast): void | Promise<void>;
}

/** The control plane's side of the guests' reports: what Trove's conductor consumes. */
export async function listenToConductorQueue(options: ConductorListenerOptions): Promise<void> {
  await options.link.onConnect((channel) => declareTopicQueue(channel, options.exchange, options.topic, options.flags));
  await options.link.consume(options.topic, async (message) => {
    let report: ConductorCast;
    try {
      report = decodeConductorCast(decodeEnvelope(message.content, message.properties), options.keyOf);
    } catch (err) {
      options.log.warn('conductor.report_rejected', { reason: errorMessage(err) });
      return;
    }
    await options.onReport(report);
  });
}
