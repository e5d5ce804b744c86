/**
 * One AMQP connection to RabbitMQ that outlives broker restarts: it
 * reconnects with backoff, runs the caller's declarations again, restarts the
 * consumers and re-sends every publish the broker has not confirmed, in the
 * order they were asked for. It knows AMQP, nothing about message bodies.
 */
import amqp, { type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Options } from 'amqplib';
import { AgentError, ConfigError, errorMessage } from '../errors.js';
import { explainDeclarationError } from './queue-declarations.js';

export interface AmqpLinkOptions {
  /** `amqp://user:pass@host:port/vhost` (`amqps://`, or oslo's `rabbit://`). Logged and reported only through redactUrl. */
  url: string;
  /** AMQP heartbeat; oslo's heartbeat_timeout_threshold defaults to 60. 0 disables it. */
  heartbeatSeconds?: number;
  /** Wait before reconnecting: doubles from `initial` up to `max`, with ±20 % jitter. Default 1000..30000. */
  reconnectDelayMs?: { initial: number; max: number };
  /** Keep trying when the first connection fails (serve); otherwise open() rejects at once (CLI). Default false. */
  retryFirstConnect?: boolean;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export type LinkSetup = (channel: ConfirmChannel) => Promise<void>;
export type DeliveryHandler = (message: ConsumeMessage) => void | Promise<void>;

/** The link was closed (by close(), or by a fatal error) before the operation could finish. */
export class LinkClosedError extends AgentError {}

/** Deliveries in flight per consumer; they are acked on arrival, so this only bounds the burst. */
const PREFETCH = 64;
/** A connection attempt that has not finished its AMQP handshake by then is abandoned. */
const CONNECT_TIMEOUT_MS = 10_000;
/** A publish the broker nacked is sent again after this long. */
const NACK_RETRY_MS = 1_000;
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE']);

/** The URL without its password or query: `amqp://guest@127.0.0.1:5672/`. Never echoes an unparseable URL. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '<transport_url that is not a URL>';
  }
  const port = parsed.port || (parsed.protocol === 'amqps:' ? '5671' : '5672');
  const user = parsed.username ? `${parsed.username}@` : '';
  return `${parsed.protocol}//${user}${parsed.hostname}:${port}${parsed.pathname || '/'}`;
}

/** The URL amqplib connects to: amqp(s) scheme, heartbeat set; a ConfigError names what is wrong without echoing it. */
function connectUrl(url: string, heartbeatSeconds: number): string {
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*,/i.test(url)) {
    throw new ConfigError('transport_url lists several brokers; this agent connects to one: keep a single host in transport_url');
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('transport_url is not a URL; expected amqp://user:password@host:5672/vhost');
  }
  if (parsed.protocol === 'rabbit:') parsed.protocol = 'amqp:';
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
    throw new ConfigError(`transport_url has the scheme '${parsed.protocol}'; expected amqp://, amqps:// or rabbit://`);
  }
  if (!parsed.hostname) throw new ConfigError(`transport_url ${redactUrl(url)} names no host`);
  if (!Number.isInteger(heartbeatSeconds) || heartbeatSeconds < 0) {
    throw new ConfigError(`AMQP heartbeat is ${heartbeatSeconds}; expected a whole number of seconds (0 disables it)`);
  }
  parsed.searchParams.set('heartbeat', String(heartbeatSeconds));
  return parsed.toString();
}

interface Session {
  conn: ChannelModel;
  channel?: ConfirmChannel;
  generation: number;
  /** Declarations ran and consumers started: publishes may go. */
  ready: boolean;
  lost: boolean;
  /** The last error the connection or channel reported, the reason it closed. */
  lastError?: Error;
  since: number;
}

interface PendingPublish {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: Options.Publish;
  /** Generation of the session it was last sent on; undefined while waiting to be sent. */
  sentOn?: number;
  /** In the queue of publishes to send. */
  queued: boolean;
  settled: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
  detach?: () => void;
}

interface Consumer {
  queue: string;
  handler: DeliveryHandler;
  tag?: string;
  generation?: number;
}

type LinkEvent = 'connected' | 'disconnected' | 'fatal';
type Listener = (err: Error) => void;

export class AmqpLink {
  readonly #url: string;
  readonly #broker: string;
  readonly #vhost: string;
  readonly #secrets: string[];
  readonly #delays: { initial: number; max: number };
  readonly #logSink: AmqpLinkOptions['log'];
  readonly #listeners = new Map<LinkEvent, Set<Listener>>();

  #session: Session | undefined;
  #generation = 0;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #establishing: Promise<void> | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  readonly #setups: LinkSetup[] = [];
  #consumers: Consumer[] = [];
  /** Every publish not yet confirmed, in the order it was asked for. */
  readonly #outbox = new Set<PendingPublish>();
  /** Publishes to send on the current session, in order. */
  #unsent: PendingPublish[] = [];
  /** Generation of the session whose channel asked us to wait for 'drain'. */
  #blockedOn: number | undefined;
  readonly #drainWaiters = new Set<() => void>();

  private constructor(options: AmqpLinkOptions) {
    this.#url = connectUrl(options.url, options.heartbeatSeconds ?? 60);
    this.#broker = redactUrl(options.url);
    this.#vhost = vhostOf(this.#url);
    this.#secrets = secretsOf(options.url);
    const delays = options.reconnectDelayMs ?? { initial: 1000, max: 30_000 };
    if (!(delays.initial > 0) || !(delays.max >= delays.initial)) {
      throw new ConfigError(
        `reconnect delay ${delays.initial}..${delays.max} ms is not valid; expected 0 < initial <= max`,
      );
    }
    this.#delays = delays;
    this.#logSink = options.log;
  }

  /**
   * Connects once. When that fails, rejects (and leaves nothing running) unless
   * retryFirstConnect is set: then it logs the failure, resolves with a link
   * that keeps trying in the background, and everything asked of it meanwhile
   * (setups, consumers, publishes) happens once it is connected.
   */
  static async open(options: AmqpLinkOptions): Promise<AmqpLink> {
    const link = new AmqpLink(options);
    try {
      await link.#connect();
    } catch (err) {
      const explained = link.#explainConnectError(err);
      if (!options.retryFirstConnect || err instanceof ConfigError) {
        await link.close();
        throw explained;
      }
      link.#retryLater(explained);
    }
    return link;
  }

  get connected(): boolean {
    const session = this.#session;
    return session !== undefined && session.ready && !session.lost;
  }

  on(event: 'connected', listener: () => void): this;
  on(event: 'disconnected' | 'fatal', listener: (err: Error) => void): this;
  on(event: LinkEvent, listener: Listener): this {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }

  off(event: LinkEvent, listener: Listener): this {
    this.#listeners.get(event)?.delete(listener);
    return this;
  }

  /**
   * Runs now (if connected) and after every reconnect, on the confirm channel,
   * before consumers restart and queued publishes flush. A declaration
   * mismatch (any ConfigError) is fatal: 'fatal' is emitted and the link
   * closes, since reconnecting cannot change the broker's mind. Rejects when
   * running it now fails; it stays registered for the next connection.
   */
  async onConnect(setup: LinkSetup): Promise<void> {
    if (this.#closed) throw new LinkClosedError(`the AMQP link to ${this.#broker} is closed`);
    this.#setups.push(setup);
    const session = this.#session;
    if (!session?.ready || !session.channel) return;
    try {
      await setup(session.channel);
    } catch (err) {
      const explained = explainDeclarationError(err, 'set up the AMQP channel');
      if (explained instanceof ConfigError) this.#fail(explained);
      throw explained;
    }
  }

  /**
   * Publishes with publisher confirms and resolves once the broker confirmed.
   * While disconnected it waits; publishes leave in the order they were asked
   * for, across reconnects. One sent but not confirmed when the connection
   * drops is sent again (at least once: receivers drop duplicates by
   * _unique_id). One the broker nacks is sent again a second later, behind
   * those already sent. Rejects only when the link closes, the signal aborts,
   * amqplib refuses the message itself (e.g. headers over 64 KiB), or the
   * exchange does not exist (RabbitMQ closes the channel for it, and would
   * again for every retry).
   */
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
    signal?: AbortSignal,
  ): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new LinkClosedError(`cannot publish to ${describeTarget(exchange, routingKey)}: the AMQP link is closed`));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const item: PendingPublish = { exchange, routingKey, content, options, queued: true, settled: false, resolve, reject };
      if (signal) {
        const onAbort = (): void => {
          this.#settle(item);
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        item.detach = () => signal.removeEventListener('abort', onAbort);
      }
      this.#outbox.add(item);
      this.#unsent.push(item);
      this.#pump();
    });
  }

  /**
   * Consumes `queue` now (if connected) and again after every reconnect. Each
   * delivery is acked before the handler runs, as oslo does (never requeued);
   * handlers run concurrently, and their errors are logged, never thrown.
   * Rejects when the queue cannot be consumed now (e.g. it does not exist:
   * declare it in onConnect first); the consumer is then forgotten.
   */
  async consume(queue: string, handler: DeliveryHandler): Promise<void> {
    if (this.#closed) throw new LinkClosedError(`cannot consume from queue '${queue}': the AMQP link to ${this.#broker} is closed`);
    const consumer: Consumer = { queue, handler };
    this.#consumers.push(consumer);
    const session = this.#session;
    if (!session?.ready) return;
    try {
      await this.#startConsumer(session, consumer);
    } catch (err) {
      this.#consumers = this.#consumers.filter((c) => c !== consumer);
      throw new AgentError(`cannot consume from queue '${queue}' on ${this.#broker}: ${this.#scrub(errorMessage(err))}`, {
        cause: err,
      });
    }
  }

  /** Cancels every consumer, for good, without closing: publishes already asked for still go. */
  async stopConsuming(): Promise<void> {
    const consumers = this.#consumers;
    this.#consumers = [];
    const session = this.#session;
    if (!session?.ready) return;
    await Promise.all(consumers.map((c) => this.#cancelConsumer(session, c)));
  }

  /** Waits until every publish is confirmed or `timeoutMs` passed; returns how many are still unconfirmed. */
  async drain(timeoutMs: number): Promise<number> {
    if (this.#outbox.size === 0) return 0;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#drainWaiters.delete(check);
        resolve();
      };
      const check = (): void => {
        if (this.#outbox.size === 0) done();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      this.#drainWaiters.add(check);
    });
    return this.#outbox.size;
  }

  /** Closes the connection and stops reconnecting; unconfirmed publishes reject with LinkClosedError. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(cause?: Error): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const item of [...this.#outbox]) {
      this.#settle(item);
      item.reject(
        new LinkClosedError(
          `the AMQP link to ${this.#broker} closed before RabbitMQ confirmed the publish to ${describeTarget(item.exchange, item.routingKey)}`,
          { cause },
        ),
      );
    }
    this.#unsent = [];
    const session = this.#session;
    this.#session = undefined;
    if (session) {
      session.lost = true;
      await closeQuietly(session.conn);
    }
    await this.#establishing?.catch(() => undefined);
    this.#log('amqp.closed', { broker: this.#broker });
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.#log('amqp.fatal', { broker: this.#broker, error: this.#scrub(err.message) });
    this.#closing ??= this.#shutdown(err);
    this.#emit('fatal', err);
  }

  /** One connection attempt: connect, channel, setups, consumers; then publishes flow. */
  #connect(): Promise<void> {
    const attempt = this.#establish().finally(() => {
      if (this.#establishing === attempt) this.#establishing = undefined;
    });
    this.#establishing = attempt;
    return attempt;
  }

  async #establish(): Promise<void> {
    const closedError = (): LinkClosedError => new LinkClosedError(`the AMQP link to ${this.#broker} was closed while connecting`);
    if (this.#closed) throw closedError();
    const conn = await amqp.connect(this.#url, {
      timeout: CONNECT_TIMEOUT_MS,
      clientProperties: { connection_name: 'cassandra-guest-agent' },
    });
    const session: Session = { conn, generation: ++this.#generation, ready: false, lost: false, since: Date.now() };
    conn.on('error', (err: Error) => {
      session.lastError = err;
    });
    conn.on('close', (err?: Error) => this.#lose(session, err ?? session.lastError));
    conn.on('blocked', (reason: string) => this.#log('amqp.blocked', { broker: this.#broker, reason }));
    conn.on('unblocked', () => this.#log('amqp.unblocked', { broker: this.#broker }));
    try {
      if (this.#closed) throw closedError();
      const channel = await conn.createConfirmChannel();
      session.channel = channel;
      channel.on('error', (err: Error) => {
        session.lastError = err;
      });
      channel.on('close', () => this.#lose(session, session.lastError));
      await channel.prefetch(PREFETCH);

      // Setups and consumers added while this runs are picked up too.
      let setupsRun = 0;
      const started: Consumer[] = [];
      for (;;) {
        if (this.#closed) throw closedError();
        const setup = this.#setups[setupsRun];
        if (setup) {
          setupsRun += 1;
          try {
            await setup(channel);
          } catch (err) {
            throw explainDeclarationError(err, 'set up the AMQP channel');
          }
          continue;
        }
        const consumer = this.#consumers.find((c) => c.generation !== session.generation);
        if (consumer) {
          try {
            await this.#startConsumer(session, consumer);
          } catch (err) {
            throw new AgentError(`cannot consume from queue '${consumer.queue}': ${this.#scrub(errorMessage(err))}`, { cause: err });
          }
          started.push(consumer);
          continue;
        }
        // stopConsuming() ran meanwhile and could not cancel these yet.
        const stopped = started.filter((c) => !this.#consumers.includes(c));
        if (stopped.length === 0) break;
        for (const c of stopped) {
          started.splice(started.indexOf(c), 1);
          await this.#cancelConsumer(session, c);
        }
      }
      if (this.#closed) throw closedError();
      if (session.lost) throw session.lastError ?? new Error('the connection closed while it was being set up');

      session.ready = true;
      this.#session = session;
      this.#unsent = [...this.#outbox];
      for (const item of this.#unsent) {
        item.sentOn = undefined;
        item.queued = true;
      }
      this.#log('amqp.connected', { broker: this.#broker, pendingPublishes: this.#unsent.length });
      this.#emit('connected');
      this.#pump();
    } catch (err) {
      session.lost = true;
      await closeQuietly(conn);
      throw err;
    }
  }

  async #startConsumer(session: Session, consumer: Consumer): Promise<void> {
    const channel = session.channel;
    if (!channel) throw new Error('no channel');
    const { consumerTag } = await channel.consume(consumer.queue, (message) => this.#deliver(session, consumer, message), {
      noAck: false,
    });
    consumer.tag = consumerTag;
    consumer.generation = session.generation;
  }

  async #cancelConsumer(session: Session, consumer: Consumer): Promise<void> {
    const tag = consumer.tag;
    consumer.tag = undefined;
    if (tag === undefined || consumer.generation !== session.generation || !session.channel) return;
    try {
      await session.channel.cancel(tag);
    } catch (err) {
      // The channel is gone, and the consumer with it.
      this.#log('amqp.cancel-failed', { broker: this.#broker, queue: consumer.queue, error: this.#scrub(errorMessage(err)) });
    }
  }

  #deliver(session: Session, consumer: Consumer, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (its queue was deleted); the next connection starts it again.
      consumer.tag = undefined;
      this.#log('amqp.consumer-cancelled', { broker: this.#broker, queue: consumer.queue });
      return;
    }
    try {
      session.channel?.ack(message);
    } catch {
      // The channel closed under the delivery: the broker delivers it again, so it is not handled now.
      return;
    }
    Promise.resolve()
      .then(() => consumer.handler(message))
      .catch((err: unknown) => {
        this.#log('amqp.handler-failed', {
          broker: this.#broker,
          queue: consumer.queue,
          error: this.#scrub(errorMessage(err)),
        });
      });
  }

  /** Sends what waits to be sent, in order, while the channel takes it. */
  #pump(): void {
    const session = this.#session;
    if (!session?.ready || session.lost || !session.channel || this.#blockedOn === session.generation) return;
    const channel = session.channel;
    while (this.#unsent.length > 0) {
      const item = this.#unsent[0];
      if (!item) break;
      if (item.settled || !item.queued) {
        this.#unsent.shift();
        continue;
      }
      let flowing: boolean;
      try {
        flowing = channel.publish(item.exchange, item.routingKey, item.content, item.options, (err: unknown) =>
          this.#confirmed(item, session.generation, err),
        );
      } catch (err) {
        if (err instanceof Error && err.name === 'IllegalOperationError') return; // channel closed: #lose requeues
        this.#unsent.shift();
        this.#settle(item);
        item.reject(
          new AgentError(`cannot publish to ${describeTarget(item.exchange, item.routingKey)}: ${errorMessage(err)}`, { cause: err }),
        );
        continue;
      }
      this.#unsent.shift();
      item.queued = false;
      item.sentOn = session.generation;
      if (!flowing) {
        this.#blockedOn = session.generation;
        channel.once('drain', () => {
          if (this.#blockedOn === session.generation) this.#blockedOn = undefined;
          this.#pump();
        });
        return;
      }
    }
  }

  #confirmed(item: PendingPublish, generation: number, err: unknown): void {
    if (item.settled || item.sentOn !== generation) return;
    if (!err) {
      this.#settle(item);
      item.resolve();
      return;
    }
    // Nacked, or the channel closed (then #lose has queued it again before this timer fires).
    item.sentOn = undefined;
    const retry = setTimeout(() => {
      if (item.settled || item.queued || item.sentOn !== undefined) return;
      item.queued = true;
      this.#unsent.push(item);
      this.#pump();
    }, NACK_RETRY_MS);
    retry.unref();
  }

  #settle(item: PendingPublish): void {
    item.settled = true;
    item.queued = false;
    item.detach?.();
    this.#outbox.delete(item);
    if (this.#outbox.size === 0) for (const check of [...this.#drainWaiters]) check();
  }

  /** The connection or channel of `session` closed. */
  #lose(session: Session, err: Error | undefined): void {
    const wasCurrent = this.#session === session;
    session.lost = true;
    if (!wasCurrent) return;
    this.#session = undefined;
    void closeQuietly(session.conn);
    for (const consumer of this.#consumers) consumer.tag = undefined;
    for (const item of this.#outbox) {
      item.sentOn = undefined;
      item.queued = true;
    }
    if (this.#closed) return;
    const error = err ?? new Error('the connection closed');
    // A publish to an exchange that does not exist closes the channel; sending it again would only do that again.
    const missing = /NOT_FOUND - no exchange '(.*)' in vhost/.exec(error.message)?.[1];
    if (missing !== undefined) {
      for (const item of [...this.#outbox]) {
        if (item.exchange !== missing) continue;
        this.#settle(item);
        item.reject(
          new AgentError(
            `cannot publish to ${describeTarget(item.exchange, item.routingKey)}: RabbitMQ has no exchange '${missing}'; declare it (onConnect) before publishing to it`,
            { cause: error },
          ),
        );
      }
    }
    this.#unsent = [...this.#outbox];
    // A connection that held for a while starts the backoff again.
    if (Date.now() - session.since >= this.#delays.max) this.#attempt = 0;
    this.#log('amqp.disconnected', { broker: this.#broker, error: this.#scrub(error.message) });
    this.#emit('disconnected', error);
    this.#retryLater();
  }

  #retryLater(failure?: Error): void {
    if (this.#closed) return;
    const base = Math.min(this.#delays.max, this.#delays.initial * 2 ** Math.min(this.#attempt, 30));
    const delay = Math.round(Math.min(this.#delays.max, base * (0.8 + 0.4 * Math.random())));
    this.#attempt += 1;
    if (failure) this.#log('amqp.connect-failed', { broker: this.#broker, error: failure.message, retryInMs: delay });
    // Not unref'd: while the link is open and waiting, it keeps the process alive.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connect().catch((err: unknown) => {
        if (this.#closed) return;
        if (err instanceof ConfigError) this.#fail(err);
        else this.#retryLater(this.#explainConnectError(err));
      });
    }, delay);
  }

  #explainConnectError(err: unknown): Error {
    if (err instanceof AgentError) return err;
    const message = this.#scrub(errorMessage(err));
    const code = (err as { code?: unknown }).code;
    if ((typeof code === 'string' && NETWORK_CODES.has(code)) || /ETIMEDOUT/.test(message)) {
      const reason = typeof code === 'string' ? code : message;
      return new AgentError(`cannot reach RabbitMQ at ${this.#broker}: ${reason}; is it running? check transport_url`, { cause: err });
    }
    if (/ACCESS.REFUSED/.test(message)) {
      return new AgentError(
        `RabbitMQ at ${this.#broker} refused the login: check the user name and password in transport_url`,
        { cause: err },
      );
    }
    if (/NOT.ALLOWED|Expected ConnectionOpenOk; got <ConnectionClose/.test(message)) {
      return new AgentError(
        `RabbitMQ at ${this.#broker} refused to open vhost '${this.#vhost}' (it does not exist, or the user has no permission on it); check the vhost in transport_url`,
        { cause: err },
      );
    }
    return new AgentError(`cannot connect to RabbitMQ at ${this.#broker}: ${message}; check transport_url`, { cause: err });
  }

  /** Removes the URL's password from text that came from elsewhere (a last line of defence). */
  #scrub(text: string): string {
    let out = text;
    for (const secret of this.#secrets) out = out.split(secret).join('***');
    return out;
  }

  #log(event: string, fields: Record<string, unknown>): void {
    try {
      this.#logSink?.(event, fields);
    } catch {
      // A failing log sink must not break the link.
    }
  }

  #emit(event: LinkEvent, err?: Error): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (listener as (err?: Error) => void)(err);
      } catch (listenerError) {
        this.#log('amqp.listener-failed', { event, error: this.#scrub(errorMessage(listenerError)) });
      }
    }
  }
}

/** The password of `url` as written and decoded, and the whole URL, for scrubbing. */
function secretsOf(url: string): string[] {
  const secrets = [url];
  try {
    const password = new URL(url).password;
    if (password) {
      secrets.push(password);
      const decoded = decodeURIComponent(password);
      if (decoded !== password) secrets.push(decoded);
    }
  } catch {
    // Not a URL: connectUrl has refused it already.
  }
  return secrets.sort((a, b) => b.length - a.length);
}

/** The vhost amqplib opens for `url`: the path without its slash, unescaped; '/' when empty. */
function vhostOf(url: string): string {
  const path = new URL(url).pathname.slice(1);
  try {
    return decodeURIComponent(path) || '/';
  } catch {
    return path;
  }
}

function describeTarget(exchange: string, routingKey: string): string {
  return exchange === '' ? `queue '${routingKey}' (default exchange)` : `exchange '${exchange}' with routing key '${routingKey}'`;
}

async function closeQuietly(conn: ChannelModel): Promise<void> {
  try {
    await conn.close();
  } catch {
    // Already closed, or closing: either way it is gone.
  }
}
