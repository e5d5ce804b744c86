import type { ConsumeMessage } from 'amqplib';
import { errorMessage } from '../errors.js';
import type { Logger } from '../util/logger.js';
import type { AmqpLink } from './amqp-link.js';
import { decodeEnvelope, decodeRequest, encodeReply, type JsonObject, type RemoteFailure, type RpcRequest } from './oslo-message.js';
import { declareTopicQueue, type QueueFlags } from './queue-declarations.js';
import { MalformedMessageError, NoSuchMethodError } from './rpc-errors.js';
import type { RpcKey } from './secure-serializer.js';

export interface RpcServerOptions {
  link: AmqpLink;
  exchange: string;
  /** The queue and routing key, `guestagent.<id>`. */
  topic: string;
  flags: QueueFlags;
  key: RpcKey | undefined;
  log: Logger;
  /** Runs the method; its result is the call's reply. A throw becomes a failure reply. */
  handle(request: RpcRequest): Promise<unknown>;
}

export interface RpcServer {
  /** No more requests are taken; replies still go out. */
  stop(): Promise<void>;
}

/** How many recent `_unique_id`s are remembered to drop redelivered duplicates (oslo keeps a similar window). */
const REMEMBERED_IDS = 4096;

/**
 * The guest's RPC endpoint as oslo.messaging runs it: a request is acked
 * before its method runs, duplicates are dropped, a call gets exactly one
 * reply, and nothing a sender does can stop the server.
 */
export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  const { link, log } = options;
  const seen = new Set<string>();

  await link.onConnect((channel) => declareTopicQueue(channel, options.exchange, options.topic, options.flags));
  await link.consume(options.topic, (message) => receive(message));

  async function receive(message: ConsumeMessage): Promise<void> {
    let inner: JsonObject;
    try {
      inner = decodeEnvelope(message.content, message.properties);
    } catch (err) {
      log.warn('rpc.request_rejected', { reason: errorMessage(err), bytes: message.content.length });
      return;
    }
    let request: RpcRequest;
    try {
      request = decodeRequest(inner, options.key);
    } catch (err) {
      log.warn('rpc.request_rejected', { method: stringField(inner.method), reason: errorMessage(err) });
      await replyToBrokenCall(inner, err);
      return;
    }
    if (request.uniqueId !== undefined) {
      if (seen.has(request.uniqueId)) {
        log.info('rpc.duplicate_dropped', { method: request.method, unique_id: request.uniqueId });
        return;
      }
      remember(request.uniqueId);
    }
    log.info('rpc.request', { method: request.method, call: request.call !== undefined, request_id: stringField(request.context.request_id) });
    let result: unknown;
    let failure: RemoteFailure | undefined;
    try {
      result = await options.handle(request);
    } catch (err) {
      failure = toFailure(err);
      log.warn('rpc.request_failed', { method: request.method, reason: errorMessage(err) });
    }
    if (request.call) {
      const reply = encodeReply({ msgId: request.call.msgId, result, ...(failure ? { failure } : {}) }, request.encrypted ? options.key : undefined);
      await sendReply(request.call.replyQueue, reply.content, reply.options);
    }
  }

  /** A call whose arguments could not be read still deserves an answer, so the caller does not wait for its timeout. */
  async function replyToBrokenCall(inner: JsonObject, err: unknown): Promise<void> {
    const msgId = inner._msg_id;
    const replyQueue = inner._reply_q;
    if (typeof msgId !== 'string' || typeof replyQueue !== 'string' || replyQueue === '') return;
    const reply = encodeReply({ msgId, failure: toFailure(err) }, undefined);
    await sendReply(replyQueue, reply.content, reply.options);
  }

  async function sendReply(replyQueue: string, content: Buffer, options: Parameters<AmqpLink['publish']>[3]): Promise<void> {
    try {
      await link.publish('', replyQueue, content, options);
    } catch (err) {
      log.warn('rpc.reply_failed', { reply_queue: replyQueue, reason: errorMessage(err) });
    }
  }

  function remember(id: string): void {
    seen.add(id);
    if (seen.size > REMEMBERED_IDS) {
      const oldest = seen.values().next().value;
      if (oldest !== undefined) seen.delete(oldest);
    }
  }

  return {
    stop: () => link.stopConsuming(),
  };
}

/**
 * oslo's failure format. Our own errors travel as Trove's GuestError, which
 * the control plane rebuilds as that class; the message is ours, written to
 * be safe to show, and the traceback carries no stack (no paths, no values).
 */
export function toFailure(err: unknown): RemoteFailure {
  if (err instanceof NoSuchMethodError) {
    return {
      className: 'NoSuchMethod',
      module: 'oslo_messaging.rpc.dispatcher',
      message: err.message,
      traceback: [`oslo_messaging.rpc.dispatcher.NoSuchMethod: ${err.message}\n`],
      args: [err.method],
      kwargs: {},
    };
  }
  const reason = err instanceof MalformedMessageError ? `malformed request: ${err.message}` : errorMessage(err);
  const message = `An error occurred communicating with the guest: ${reason}.`;
  return {
    className: 'GuestError',
    module: 'trove.common.exception',
    message,
    traceback: [`trove.common.exception.GuestError: ${message}\n`],
    args: [],
    kwargs: {},
  };
}

const stringField = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
