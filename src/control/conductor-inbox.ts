/**
 * The control plane's end of the conductor queue, read on demand: a command
 * takes what waits there (basic.get until empty), applies it, and goes. A
 * report that cannot be decrypted with the keys known now is put back in the
 * queue, so a later command that has the key still gets it; anything else
 * unreadable is dropped, as Trove's conductor drops it.
 */
import amqp, { type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import { AgentError, ConfigError, errorMessage } from '../errors.js';
import { redactUrl } from '../rpc/amqp-link.js';
import { decodeConductorCast, decodeEnvelope } from '../rpc/oslo-message.js';
import { declareTopicQueue, type QueueFlags } from '../rpc/queue-declarations.js';
import { DecryptionError } from '../rpc/rpc-errors.js';
import type { RpcKey } from '../rpc/secure-serializer.js';
import { classifyReport, type ConductorReport } from './conductor-reports.js';

export interface ConductorInboxOptions {
  /** amqp:// URL (holds a password: it is never printed; see redactUrl). */
  url: string;
  exchange: string;
  /** The conductor queue: `trove-conductor` unless configured otherwise. */
  topic: string;
  flags: QueueFlags;
  keyOf(instanceId: string): RpcKey | undefined;
  connectTimeoutMs?: number;
}

export interface DrainBound {
  /** Stop reading after this long even if more waits (the rest is read next time). */
  maxMs: number;
  maxMessages: number;
}

export interface DrainResult {
  /** Reports handled, in the order they arrived. */
  handled: number;
  /** Reports put back in the queue because they cannot be decrypted with the keys known, by instance. */
  waitingForKey: Map<string, { count: number; reason: string }>;
  /** Messages dropped as unreadable, with why. */
  dropped: string[];
  /** The bound was reached: more may wait. */
  more: boolean;
}

export const DEFAULT_DRAIN_BOUND: DrainBound = Object.freeze({ maxMs: 5_000, maxMessages: 10_000 });

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE']);

/** RabbitMQ could not be reached or refused us: commands that can go on without it do, with a warning. */
export class BrokerUnavailableError extends AgentError {}

export class ConductorInbox {
  #closed = false;

  private constructor(
    private readonly conn: ChannelModel,
    private readonly channel: Channel,
    private readonly options: ConductorInboxOptions,
    /** `amqp://user@host:port/vhost`, for messages. */
    readonly broker: string,
  ) {}

  /** Connects and declares the conductor queue as oslo's conductor does, so reports sent from now on wait there. */
  static async open(options: ConductorInboxOptions): Promise<ConductorInbox> {
    const broker = redactUrl(options.url);
    const scrub = scrubber(options.url);
    let conn: ChannelModel;
    try {
      conn = await amqp.connect(options.url, {
        timeout: options.connectTimeoutMs ?? 10_000,
        clientProperties: { connection_name: 'cassandra-guest-agent dbaas' },
      });
    } catch (err) {
      throw explainConnectError(err, broker, scrub);
    }
    conn.on('error', () => undefined);
    try {
      const channel = await conn.createChannel();
      channel.on('error', () => undefined);
      await declareTopicQueue(channel, options.exchange, options.topic, options.flags);
      return new ConductorInbox(conn, channel, options, broker);
    } catch (err) {
      await conn.close().catch(() => undefined);
      if (err instanceof AgentError) throw err;
      throw new BrokerUnavailableError(`cannot use RabbitMQ at ${broker}: ${scrub(errorMessage(err))}`, { cause: err });
    }
  }

  /**
   * Reads the conductor queue until it is empty or the bound is reached.
   * Each report is acknowledged once `onReport` has returned; when it throws,
   * the report goes back to the queue and the error propagates.
   */
  async drain(onReport: (report: ConductorReport) => Promise<void>, bound: DrainBound = DEFAULT_DRAIN_BOUND): Promise<DrainResult> {
    const { channel } = this;
    const result: DrainResult = { handled: 0, waitingForKey: new Map(), dropped: [], more: false };
    const held: GetMessage[] = [];
    const deadline = Date.now() + bound.maxMs;
    let read = 0;
    try {
      for (;;) {
        if (read >= bound.maxMessages || Date.now() >= deadline) {
          result.more = true;
          break;
        }
        const message = await this.#get();
        if (!message) break;
        read += 1;
        const decoded = this.#decode(message);
        if (decoded.kind === 'held') {
          held.push(message);
          const entry = result.waitingForKey.get(decoded.instanceId) ?? { count: 0, reason: decoded.reason };
          entry.count += 1;
          result.waitingForKey.set(decoded.instanceId, entry);
          continue;
        }
        if (decoded.kind === 'dropped') {
          channel.ack(message);
          result.dropped.push(decoded.reason);
          continue;
        }
        try {
          await onReport(decoded.report);
        } catch (err) {
          channel.nack(message, false, true);
          throw err;
        }
        channel.ack(message);
        result.handled += 1;
      }
    } finally {
      for (const message of held) {
        try {
          channel.nack(message, false, true);
        } catch {
          // The channel is gone: the broker puts unacknowledged messages back by itself.
        }
      }
    }
    return result;
  }

  /** A queue's messages and consumers, or undefined when it does not exist (a passive declaration). */
  async queueStatus(queue: string): Promise<{ messages: number; consumers: number } | undefined> {
    // A passive declaration of a missing queue closes its channel: use one of its own.
    let channel: Channel;
    try {
      channel = await this.conn.createChannel();
    } catch (err) {
      throw new BrokerUnavailableError(`cannot check queue '${queue}' on ${this.broker}: ${errorMessage(err)}`, { cause: err });
    }
    channel.on('error', () => undefined);
    try {
      const info = await channel.checkQueue(queue);
      return { messages: info.messageCount, consumers: info.consumerCount };
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return undefined;
      throw new BrokerUnavailableError(`cannot check queue '${queue}' on ${this.broker}: ${errorMessage(err)}`, { cause: err });
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.conn.close().catch(() => undefined);
  }

  async #get(): Promise<GetMessage | false> {
    try {
      return await this.channel.get(this.options.topic, { noAck: false });
    } catch (err) {
      throw new BrokerUnavailableError(`lost RabbitMQ at ${this.broker} while reading queue '${this.options.topic}': ${errorMessage(err)}`, { cause: err });
    }
  }

  #decode(
    message: GetMessage,
  ): { kind: 'report'; report: ConductorReport } | { kind: 'held'; instanceId: string; reason: string } | { kind: 'dropped'; reason: string } {
    let inner;
    try {
      inner = decodeEnvelope(message.content, message.properties);
    } catch (err) {
      return { kind: 'dropped', reason: errorMessage(err) };
    }
    const sender = inner['_context_csz-instance-id'];
    if (typeof sender === 'string' && !this.options.keyOf(sender)) {
      return { kind: 'held', instanceId: sender, reason: 'no key is known for that instance' };
    }
    try {
      const report = classifyReport(decodeConductorCast(inner, this.options.keyOf), (id) => this.options.keyOf(id) !== undefined);
      if (report.kind === 'invalid') return { kind: 'dropped', reason: report.reason };
      return { kind: 'report', report };
    } catch (err) {
      if (err instanceof DecryptionError && typeof sender === 'string') {
        return { kind: 'held', instanceId: sender, reason: 'they do not decrypt with the key known for that instance (wrong key?)' };
      }
      return { kind: 'dropped', reason: errorMessage(err) };
    }
  }
}

function scrubber(url: string): (text: string) => string {
  const secrets = [url];
  try {
    const password = new URL(url).password;
    if (password) secrets.push(password, decodeURIComponent(password));
  } catch {
    // Not a URL: amqplib refuses it, and the message is scrubbed of the whole text.
  }
  secrets.sort((a, b) => b.length - a.length);
  return (text) => secrets.reduce((out, secret) => (secret ? out.split(secret).join('***') : out), text);
}

function explainConnectError(err: unknown, broker: string, scrub: (text: string) => string): AgentError {
  const message = scrub(errorMessage(err));
  const code = (err as { code?: unknown }).code;
  if ((typeof code === 'string' && NETWORK_CODES.has(code)) || /ETIMEDOUT|connect timeout/i.test(message)) {
    return new BrokerUnavailableError(`cannot reach RabbitMQ at ${broker}: ${typeof code === 'string' ? code : message}; is it running? check transport_url`, { cause: err });
  }
  if (/ACCESS.REFUSED/.test(message)) {
    return new BrokerUnavailableError(`RabbitMQ at ${broker} refused the login: check the user name and password in transport_url`, { cause: err });
  }
  if (/NOT.ALLOWED|Expected ConnectionOpenOk/.test(message)) {
    return new BrokerUnavailableError(`RabbitMQ at ${broker} refused to open the vhost (it does not exist, or the user has no permission on it): check the vhost in transport_url`, { cause: err });
  }
  if (err instanceof ConfigError) return err;
  return new BrokerUnavailableError(`cannot connect to RabbitMQ at ${broker}: ${message}; check transport_url`, { cause: err });
}
