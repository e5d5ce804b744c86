import { randomBytes } from 'node:crypto';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { expect } from 'chai';
import { execa } from 'execa';
import { ConfigError } from '../../src/errors.js';
import { AmqpLink, LinkClosedError, type AmqpLinkOptions } from '../../src/rpc/amqp-link.js';
import {
  controlExchangeOptions,
  declareTopicQueue,
  DEFAULT_QUEUE_FLAGS,
  explainDeclarationError,
  replyQueueOptions,
  topicQueueOptions,
  type QueueFlags,
} from '../../src/rpc/queue-declarations.js';

const BROKER_URL = process.env.AMQP_TEST_URL ?? 'amqp://guest:guest@127.0.0.1:5672/';
const FAST = { initial: 100, max: 1000 };
const OSLO_PYTHON = '/usr/bin/python3';

const hex = (bytes = 4): string => randomBytes(bytes).toString('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

const rabbitmqctl = (...args: string[]) => execa('rabbitmqctl', args, { timeout: 30_000 });

/**
 * Has the real oslo.messaging rabbit driver (what Trove's control plane runs)
 * declare, for each case with its options, the queues of an RPC server
 * listening on `topic` on exchange `exchange`, and a caller's reply queue;
 * prints the reply queues' names as a JSON list.
 */
const OSLO_DECLARE = `
import json, os, sys, tempfile
from oslo_config import cfg
import oslo_messaging

url, cases = sys.argv[1], json.loads(sys.argv[2])
replies = []
for case in cases:
    flags = case['flags']
    with tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False) as f:
        f.write('[DEFAULT]\\ncontrol_exchange = %s\\n[oslo_messaging_rabbit]\\n' % case['exchange'])
        f.write('amqp_durable_queues = %s\\n' % flags['durable'])
        f.write('amqp_auto_delete = %s\\n' % flags['autoDelete'])
        f.write('rabbit_ha_queues = %s\\n' % flags['haQueues'])
        f.write('rabbit_quorum_queue = %s\\n' % flags['quorumQueue'])
        f.write('rabbit_transient_queues_ttl = %d\\n' % flags['transientQueuesTtlSeconds'])
    conf = cfg.ConfigOpts()
    conf(['--config-file', f.name])
    os.unlink(f.name)
    transport = oslo_messaging.get_rpc_transport(conf, url=url)
    transport._driver.listen(oslo_messaging.Target(topic=case['topic'], server='oslo-probe'), None, None)
    replies.append(transport._driver._get_reply_q())
    transport.cleanup()
print(json.dumps(replies))
`;

describe('AMQP link and oslo.messaging broker objects (real RabbitMQ)', function () {
  this.timeout(30_000);

  /** The test's own connection, opened again after a broker restart closed it. */
  let admin: ChannelModel | undefined;
  const links: AmqpLink[] = [];
  let queues: string[] = [];
  let exchanges: string[] = [];
  let brokerStopped = false;

  /** A queue name no other test uses, deleted after the test. */
  const testQueue = (prefix = 'guestagent.test-'): string => {
    const name = `${prefix}${hex()}`;
    queues.push(name);
    return name;
  };
  /** An exchange of this test only (durable flags would clash with the shared non-durable `openstack`). */
  const testExchange = (): string => {
    const name = `test-exchange-${hex()}`;
    exchanges.push(name);
    return name;
  };

  async function open(options: Partial<AmqpLinkOptions> = {}): Promise<AmqpLink> {
    const link = await AmqpLink.open({ url: BROKER_URL, reconnectDelayMs: FAST, ...options });
    links.push(link);
    return link;
  }

  /** A fresh channel on the test's own connection: a refused declaration closes the channel it ran on. */
  async function adminChannel(): Promise<Channel> {
    if (!admin) {
      const conn = await amqp.connect(BROKER_URL);
      conn.on('error', () => undefined);
      conn.on('close', () => {
        if (admin === conn) admin = undefined;
      });
      admin = conn;
    }
    const ch = await admin.createChannel();
    ch.on('error', () => undefined);
    return ch;
  }

  async function declarationError(declare: (ch: Channel) => Promise<unknown>): Promise<Error> {
    const ch = await adminChannel();
    try {
      await declare(ch);
    } catch (err) {
      return err as Error;
    }
    await ch.close();
    expect.fail('the declaration was accepted');
  }

  before(async function () {
    try {
      await (await adminChannel()).close();
    } catch (err) {
      throw new Error(`RabbitMQ is not reachable at 127.0.0.1:5672 (${(err as Error).message}); start it with: rabbitmq-server -detached`);
    }
  });

  afterEach(async function () {
    if (brokerStopped) {
      await rabbitmqctl('start_app');
      brokerStopped = false;
    }
    await Promise.all(links.splice(0).map((link) => link.close()));
    const ch = await adminChannel();
    for (const queue of queues) await ch.deleteQueue(queue);
    for (const exchange of exchanges) await ch.deleteExchange(exchange);
    await ch.close();
    queues = [];
    exchanges = [];
  });

  after(async function () {
    if (brokerStopped) await rabbitmqctl('start_app');
    await admin?.close();
  });

  it('delivers a message published on the openstack exchange to its topic queue, properties intact', async function () {
    const link = await open();
    const queue = testQueue();
    await link.onConnect((ch) => declareTopicQueue(ch, 'openstack', queue, DEFAULT_QUEUE_FLAGS));
    const received = new Promise<ConsumeMessage>((resolve) => void link.consume(queue, resolve));
    const body = Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{"method": "rpc_ping"}' }));
    await link.publish('openstack', queue, body, {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      deliveryMode: 2,
      priority: 0,
      headers: {},
      expiration: '15000',
    });

    const message = await received;
    expect(message.content.equals(body)).to.equal(true);
    expect(message.fields.exchange).to.equal('openstack');
    expect(message.fields.routingKey).to.equal(queue);
    expect(message.properties).to.include({
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      deliveryMode: 2,
      priority: 0,
      expiration: '15000',
    });
    expect(message.properties.headers).to.deep.equal({});
    expect(link.connected).to.equal(true);
  });

  it('acks each delivery before its handler runs and survives handlers that throw', async function () {
    const logs: string[] = [];
    const link = await open({ log: (event, fields) => logs.push(JSON.stringify({ event, ...fields })) });
    const queue = testQueue();
    await link.onConnect((ch) => declareTopicQueue(ch, 'openstack', queue, DEFAULT_QUEUE_FLAGS));
    const seen: string[] = [];
    let releaseSlow!: () => void;
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    await link.consume(queue, async (message) => {
      const text = message.content.toString();
      seen.push(text);
      if (text === 'slow') await slow;
      if (text === 'boom') throw new Error('handler failed on purpose');
    });
    for (const text of ['slow', 'boom', 'after']) await link.publish('openstack', queue, Buffer.from(text), {});

    await waitFor('all three deliveries', () => seen.length === 3);
    expect(seen).to.deep.equal(['slow', 'boom', 'after']);
    await waitFor('the handler failure in the log', () => logs.some((line) => line.includes('handler failed on purpose')));
    const ch = await adminChannel();
    expect((await ch.checkQueue(queue)).messageCount, 'messages left unacked in the queue').to.equal(0);
    await ch.close();
    releaseSlow();
  });

  describe('declarations that differ from the existing queue', function () {
    it('refuses to declare a durable guest queue as non-durable, naming amqp_durable_queues', async function () {
      const queue = testQueue();
      const exchange = testExchange();
      const ch = await adminChannel();
      await ch.assertQueue(queue, { durable: true });

      const err = await declarationError((mine) => declareTopicQueue(mine, exchange, queue, DEFAULT_QUEUE_FLAGS));
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.include(`queue '${queue}'`);
      expect(err.message).to.include('already exists with durable=true');
      expect(err.message).to.include('set amqp_durable_queues = true');
    });

    it('refuses a reply queue whose x-expires differs, naming rabbit_transient_queues_ttl and the existing TTL', async function () {
      const queue = testQueue('reply_');
      const ch = await adminChannel();
      await ch.assertQueue(queue, replyQueueOptions(DEFAULT_QUEUE_FLAGS));

      const mine = { ...DEFAULT_QUEUE_FLAGS, transientQueuesTtlSeconds: 60 };
      const raw = await declarationError((other) => other.assertQueue(queue, replyQueueOptions(mine)));
      const err = explainDeclarationError(raw, `declare reply queue '${queue}'`);
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.include(`queue '${queue}'`);
      expect(err.message).to.include('x-expires=1800000');
      expect(err.message).to.include('set rabbit_transient_queues_ttl = 1800');
    });

    it('refuses a classic queue where a quorum queue exists, naming rabbit_quorum_queue', async function () {
      const queue = testQueue();
      const exchange = testExchange();
      const quorum = { ...DEFAULT_QUEUE_FLAGS, quorumQueue: true };
      const ch = await adminChannel();
      await ch.assertQueue(queue, topicQueueOptions(quorum));

      const err = await declarationError((mine) =>
        declareTopicQueue(mine, exchange, queue, { ...DEFAULT_QUEUE_FLAGS, durable: true }),
      );
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.include(`queue '${queue}'`);
      expect(err.message).to.include('set rabbit_quorum_queue = true');
    });

    it('refuses an auto-delete declaration of a queue that is not, naming amqp_auto_delete', async function () {
      const queue = testQueue();
      const exchange = testExchange();
      const ch = await adminChannel();
      await ch.assertQueue(queue, topicQueueOptions(DEFAULT_QUEUE_FLAGS));

      const err = await declarationError((mine) =>
        declareTopicQueue(mine, exchange, queue, { ...DEFAULT_QUEUE_FLAGS, autoDelete: true }),
      );
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.include('set amqp_auto_delete = false');
    });

    it('makes a mismatch in an onConnect setup fatal: the link emits fatal, closes and stops reconnecting', async function () {
      const queue = testQueue();
      const ch = await adminChannel();
      await ch.assertQueue(queue, { durable: true });
      const logs: string[] = [];
      const link = await open({ log: (event) => logs.push(event) });
      const fatal = new Promise<Error>((resolve) => link.on('fatal', resolve));

      let setupError: unknown;
      await link.onConnect((mine) => declareTopicQueue(mine, 'openstack', queue, DEFAULT_QUEUE_FLAGS)).catch((err: unknown) => {
        setupError = err;
      });
      expect(setupError).to.be.instanceOf(ConfigError);
      expect((await fatal).message).to.include('amqp_durable_queues');
      expect(link.connected).to.equal(false);
      let publishError: unknown;
      await link.publish('openstack', queue, Buffer.from('x'), {}).catch((err: unknown) => (publishError = err));
      expect(publishError).to.be.instanceOf(LinkClosedError);
      await sleep(3 * FAST.initial);
      expect(logs.filter((event) => event === 'amqp.connected')).to.have.length(1);
    });
  });

  describe('declarations equal to oslo.messaging 14 (the rabbit driver the control plane runs)', function () {
    const cases: Array<[string, QueueFlags]> = [
      ['the defaults', DEFAULT_QUEUE_FLAGS],
      ['durable, auto-delete, HA queues and a 60 s TTL', { durable: true, autoDelete: true, haQueues: true, quorumQueue: false, transientQueuesTtlSeconds: 60 }],
      ['quorum queues', { ...DEFAULT_QUEUE_FLAGS, quorumQueue: true }],
    ];

    it('options are the ones read in impl_rabbit.py (_get_queue_arguments, declare_topic/direct_consumer)', function () {
      expect(controlExchangeOptions(DEFAULT_QUEUE_FLAGS)).to.deep.equal({ durable: false, autoDelete: false, internal: false });
      expect(topicQueueOptions(DEFAULT_QUEUE_FLAGS)).to.deep.equal({ durable: false, autoDelete: false, exclusive: false, arguments: {} });
      expect(replyQueueOptions(DEFAULT_QUEUE_FLAGS)).to.deep.equal({
        durable: false,
        autoDelete: false,
        exclusive: false,
        arguments: { 'x-expires': 1_800_000 },
      });
      const quorum = { ...DEFAULT_QUEUE_FLAGS, quorumQueue: true };
      expect(controlExchangeOptions(quorum).durable, 'Connection.durable includes rabbit_quorum_queue').to.equal(true);
      expect(topicQueueOptions(quorum)).to.deep.include({ durable: true, arguments: { 'x-queue-type': 'quorum' } });
      expect(replyQueueOptions(quorum).arguments, 'reply queues are never quorum').to.deep.equal({ 'x-expires': 1_800_000 });
      const ha = { ...DEFAULT_QUEUE_FLAGS, haQueues: true };
      expect(topicQueueOptions(ha).arguments).to.deep.equal({ 'x-ha-policy': 'all' });
      expect(replyQueueOptions(ha).arguments).to.deep.equal({ 'x-ha-policy': 'all', 'x-expires': 1_800_000 });
      expect(() => topicQueueOptions({ ...ha, quorumQueue: true })).to.throw(ConfigError, /rabbit_ha_queues and rabbit_quorum_queue/);
    });

    interface Declared {
      flags: QueueFlags;
      exchange: string;
      osloQueue: string;
      osloReply: string;
      ourQueue: string;
      ourReply: string;
    }
    const declared: Declared[] = [];
    const created = { queues: [] as string[], exchanges: [] as string[] };
    let osloInstalled = true;
    let listedQueues = new Map<string, Record<string, unknown>>();
    let listedBindings: unknown[] = [];

    // One run of the Python driver and one listing for all cases: each costs about half a second.
    before(async function () {
      this.timeout(30_000);
      const probe = await execa(OSLO_PYTHON, ['-c', 'import oslo_messaging'], { reject: false });
      if (probe.exitCode !== 0) {
        osloInstalled = false; // python3-oslo.messaging is not installed: the tests below are skipped
        return;
      }
      const plan = cases.map(([, flags]) => ({
        flags,
        exchange: `test-exchange-${hex()}`,
        topic: `guestagent.test-${hex()}`,
      }));
      for (const { exchange, topic } of plan) {
        created.exchanges.push(exchange);
        created.queues.push(topic, `${topic}.oslo-probe`);
      }
      const oslo = await execa(OSLO_PYTHON, ['-c', OSLO_DECLARE, BROKER_URL.replace(/^amqp:/, 'rabbit:'), JSON.stringify(plan)], {
        timeout: 20_000,
      });
      const replies = JSON.parse(oslo.stdout.trim().split('\n').pop() ?? '[]') as string[];
      created.queues.push(...replies);

      const ch = await adminChannel();
      for (const [i, { flags, exchange, topic }] of plan.entries()) {
        const entry: Declared = {
          flags,
          exchange,
          osloQueue: topic,
          osloReply: replies[i] ?? '',
          ourQueue: `guestagent.test-${hex()}`,
          ourReply: `reply_${hex(16)}`,
        };
        created.queues.push(entry.ourQueue, entry.ourReply);
        await declareTopicQueue(ch, exchange, entry.ourQueue, flags);
        await ch.assertQueue(entry.ourReply, replyQueueOptions(flags));
        declared.push(entry);
      }
      await ch.close();
      const queuesOut = await rabbitmqctl('list_queues', '--formatter', 'json', 'name', 'durable', 'auto_delete', 'exclusive', 'arguments');
      listedQueues = new Map(
        (JSON.parse(queuesOut.stdout) as Array<Record<string, unknown>>).map(({ name, ...rest }) => [String(name), rest]),
      );
      const bindingsOut = await rabbitmqctl('list_bindings', '--formatter', 'json', 'source_name', 'destination_name', 'routing_key');
      listedBindings = JSON.parse(bindingsOut.stdout) as unknown[];
    });

    after(async function () {
      const ch = await adminChannel();
      for (const queue of created.queues) await ch.deleteQueue(queue);
      for (const exchange of created.exchanges) await ch.deleteExchange(exchange);
      await ch.close();
    });

    cases.forEach(([title], i) => {
      it(`declares what oslo.messaging declares, with ${title}`, async function () {
        if (!osloInstalled) this.skip();
        const d = declared[i];
        if (!d) expect.fail('the before hook declared nothing for this case');
        expect(d.osloReply).to.match(/^reply_[0-9a-f]{32}$/);

        // Ours on oslo's objects: RabbitMQ takes them as the same declaration (no 406).
        const ch = await adminChannel();
        await declareTopicQueue(ch, d.exchange, d.osloQueue, d.flags);
        await ch.assertQueue(d.osloReply, replyQueueOptions(d.flags));
        await ch.close();

        // Every flag and argument, x-ha-policy included (RabbitMQ 3 does not compare it).
        expect(listedQueues.get(d.osloQueue), 'oslo topic queue').to.not.equal(undefined);
        expect(listedQueues.get(d.ourQueue), 'topic queue').to.deep.equal(listedQueues.get(d.osloQueue));
        expect(listedQueues.get(d.osloReply), 'oslo reply queue').to.not.equal(undefined);
        expect(listedQueues.get(d.ourReply), 'reply queue').to.deep.equal(listedQueues.get(d.osloReply));
        expect(listedBindings).to.deep.include.members([
          { source_name: d.exchange, destination_name: d.osloQueue, routing_key: d.osloQueue },
          { source_name: d.exchange, destination_name: d.ourQueue, routing_key: d.ourQueue },
        ]);
      });
    });
  });

  it('holds publishes while the broker is down and delivers all of them, in order, once it is back', async function () {
    const link = await open();
    const queue = testQueue();
    const events: string[] = [];
    link.on('connected', () => events.push('connected'));
    link.on('disconnected', () => events.push('disconnected'));
    await link.onConnect((ch) => declareTopicQueue(ch, 'openstack', queue, DEFAULT_QUEUE_FLAGS));
    const firstSeen: number[] = [];
    await link.consume(queue, (message) => {
      const n = Number(message.content.toString());
      if (!firstSeen.includes(n)) firstSeen.push(n);
    });
    const send = (n: number) => link.publish('openstack', queue, Buffer.from(String(n)), { contentType: 'text/plain' });

    for (let n = 0; n < 10; n++) await send(n);
    await waitFor('the first ten messages', () => firstSeen.length === 10);

    brokerStopped = true;
    await rabbitmqctl('stop_app');
    await waitFor('the link to notice', () => !link.connected);
    const settled: number[] = [];
    const later = Array.from({ length: 10 }, (_, i) => send(10 + i).then(() => void settled.push(10 + i)));
    await sleep(300);
    expect(settled, 'publishes confirmed while the broker is down').to.deep.equal([]);

    await rabbitmqctl('start_app');
    brokerStopped = false;
    await Promise.all(later);
    await waitFor('all twenty messages', () => firstSeen.length === 20);
    expect(firstSeen).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
    expect(link.connected).to.equal(true);
    expect(events).to.deep.equal(['disconnected', 'connected']);

    // The consumer itself is back, not just the flush.
    await send(20);
    await waitFor('a message published after the reconnect', () => firstSeen.includes(20));
  });

  it('fails fast without the password when RabbitMQ cannot be reached and retrying is off', async function () {
    const password = `pw-${hex(8)}`;
    const logs: string[] = [];
    let error: Error | undefined;
    try {
      await open({
        url: `amqp://guest:${password}@127.0.0.1:1/`,
        retryFirstConnect: false,
        log: (event, fields) => logs.push(JSON.stringify({ event, ...fields })),
      });
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).to.equal(
      'cannot reach RabbitMQ at amqp://guest@127.0.0.1:1/: ECONNREFUSED; is it running? check transport_url',
    );
    expect(logs.join('\n')).to.not.include(password);
  });

  it('keeps retrying when asked to, logging each failure without the password, until closed', async function () {
    const password = `pw-${hex(8)}`;
    const logs: Array<{ event: string; text: string }> = [];
    const link = await open({
      url: `amqp://guest:${password}@127.0.0.1:1/`,
      retryFirstConnect: true,
      reconnectDelayMs: { initial: 20, max: 50 },
      log: (event, fields) => logs.push({ event, text: JSON.stringify({ event, ...fields }) }),
    });
    await waitFor('three logged failures', () => logs.filter((l) => l.event === 'amqp.connect-failed').length >= 3);
    expect(link.connected).to.equal(false);
    expect(logs[0]?.text).to.include('cannot reach RabbitMQ at amqp://guest@127.0.0.1:1/');
    await link.close();
    const failures = logs.filter((l) => l.event === 'amqp.connect-failed').length;
    await sleep(200);
    expect(logs.filter((l) => l.event === 'amqp.connect-failed').length, 'attempts after close').to.equal(failures);
    expect(logs.map((l) => l.text).join('\n')).to.not.include(password);
  });

  it('close() rejects publishes still waiting for the broker and stops reconnecting', async function () {
    const logs: string[] = [];
    const link = await open({
      url: 'amqp://guest:guest@127.0.0.1:1/',
      retryFirstConnect: true,
      reconnectDelayMs: { initial: 20, max: 50 },
      log: (event) => logs.push(event),
    });
    const pending = link.publish('openstack', 'guestagent.nowhere', Buffer.from('x'), {});
    let outcome: unknown = 'pending';
    pending.then(
      () => (outcome = 'confirmed'),
      (err: unknown) => (outcome = err),
    );
    await sleep(100);
    expect(outcome).to.equal('pending');
    expect(await link.drain(50), 'unconfirmed after drain').to.equal(1);

    await link.close();
    await link.close();
    await sleep(0);
    expect(outcome).to.be.instanceOf(LinkClosedError);
    expect((outcome as Error).message).to.include("closed before RabbitMQ confirmed the publish to exchange 'openstack'");
    const attempts = logs.length;
    await sleep(200);
    expect(logs.length, 'log lines after close').to.equal(attempts);
    expect(await link.drain(10)).to.equal(0);
    let late: unknown;
    await link.publish('openstack', 'x', Buffer.from('x'), {}).catch((err: unknown) => (late = err));
    expect(late).to.be.instanceOf(LinkClosedError);
  });

  it('a publish whose signal aborts rejects with the abort reason and is never sent', async function () {
    const link = await open({ url: 'amqp://guest:guest@127.0.0.1:1/', retryFirstConnect: true });
    const controller = new AbortController();
    const pending = link.publish('openstack', 'guestagent.nowhere', Buffer.from('x'), {}, controller.signal);
    controller.abort(new Error('caller gave up'));
    let error: unknown;
    await pending.catch((err: unknown) => (error = err));
    expect((error as Error).message).to.equal('caller gave up');
    expect(await link.drain(10), 'publishes left').to.equal(0);
  });

  it('stopConsuming() cancels the consumers but publishes still go and drain() waits for them', async function () {
    const link = await open();
    const queue = testQueue();
    await link.onConnect((ch) => declareTopicQueue(ch, 'openstack', queue, DEFAULT_QUEUE_FLAGS));
    let delivered = 0;
    await link.consume(queue, () => void delivered++);
    await link.stopConsuming();

    const confirmed = link.publish('openstack', queue, Buffer.from('after stop'), {});
    expect(await link.drain(5_000)).to.equal(0);
    await confirmed;
    await sleep(100);
    expect(delivered).to.equal(0);
    const ch = await adminChannel();
    expect((await ch.checkQueue(queue)).messageCount).to.equal(1);
    await ch.close();
  });
});
