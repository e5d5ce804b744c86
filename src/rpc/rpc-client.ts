import type { ConsumeMessage } from 'amqplib';
import { errorMessage } from '../errors.js';
import type { Logger } from '../util/logger.js';
import type { AmqpLink } from './amqp-link.js';
import { decodeEnvelope, decodeReply, encodeRequest, newMessageId, type JsonObject } from './oslo-message.js';
import { replyQueueOptions, type QueueFlags } from './queue-declarations.js';
import { RemoteError, RpcTimeoutError } from './rpc-errors.js';
import type { RpcKey } from './secure-serializer.js';

export interface RpcTarget {
  exchange: string;
  /** Routing key, `guestagent.<instance id>`. */
  topic: string;
  /** The instance's key; undefined for plaintext RPC. */
  key: RpcKey | undefined;
}

export interface SendOptions {
  context?: JsonObject;
  version?: string;
}

interface PendingCall {
  key: RpcKey | undefined;
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * The caller's side of oslo.messaging: casts, and calls answered on a private
 * `reply_<uuid>` queue, as Trove's control plane sends them.
 */
export class RpcClient {
  readonly #pending = new Map<string, PendingCall>();
  readonly #replyQueue = `reply_${newMessageId()}`;

  private constructor(
    private readonly link: AmqpLink,
    private readonly log: Logger,
  ) {}

  static async open(link: AmqpLink, flags: QueueFlags, log: Logger): Promise<RpcClient> {
    const client = new RpcClient(link, log);
    await link.onConnect(async (channel) => {
      await channel.assertQueue(client.#replyQueue, replyQueueOptions(flags));
    });
    await link.consume(client.#replyQueue, (message) => client.#onReply(message));
    return client;
  }

  async cast(target: RpcTarget, method: string, args: JsonObject, options: SendOptions = {}): Promise<void> {
    const encoded = encodeRequest({ method, args, context: options.context ?? {}, version: options.version ?? '1.0' }, target.key);
    await this.link.publish(target.exchange, target.topic, encoded.content, encoded.options);
  }

  async call(target: RpcTarget, method: string, args: JsonObject, options: SendOptions & { timeoutSeconds: number }): Promise<unknown> {
    const msgId = newMessageId();
    const encoded = encodeRequest(
      {
        method,
        args,
        context: options.context ?? {},
        version: options.version ?? '1.0',
        call: { msgId, replyQueue: this.#replyQueue, timeoutSeconds: options.timeoutSeconds },
      },
      target.key,
    );
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(msgId);
        reject(new RpcTimeoutError(`no answer to ${method} from ${target.topic} within ${options.timeoutSeconds} s: is its guest agent running and connected to this RabbitMQ?`));
      }, options.timeoutSeconds * 1000);
      this.#pending.set(msgId, { key: target.key, resolve, reject, timer });
    });
    try {
      await this.link.publish(target.exchange, target.topic, encoded.content, encoded.options);
    } catch (err) {
      const pending = this.#pending.get(msgId);
      if (pending) {
        clearTimeout(pending.timer);
        this.#pending.delete(msgId);
      }
      throw err;
    }
    return answer;
  }

  /** Pending calls fail at once instead of waiting for their timeouts. */
  close(): void {
    for (const [msgId, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new RpcTimeoutError('the RPC client was closed before the answer arrived'));
      this.#pending.delete(msgId);
    }
  }

  #onReply(message: ConsumeMessage): void {
    let msgId: unknown;
    try {
      const inner = decodeEnvelope(message.content, message.properties);
      msgId = inner._msg_id;
      const pending = typeof msgId === 'string' ? this.#pending.get(msgId) : undefined;
      if (!pending || typeof msgId !== 'string') {
        this.log.debug('rpc.reply_unexpected', { msg_id: msgId });
        return;
      }
      this.#pending.delete(msgId);
      clearTimeout(pending.timer);
      try {
        const reply = decodeReply(inner, pending.key);
        if (reply.failure) pending.reject(new RemoteError(reply.failure.className, reply.failure.module, reply.failure.message));
        else pending.resolve(reply.result);
      } catch (err) {
        pending.reject(err as Error);
      }
    } catch (err) {
      this.log.warn('rpc.reply_rejected', { reason: errorMessage(err) });
    }
  }
}
