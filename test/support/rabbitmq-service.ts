/**
 * A RabbitMQ for the demo: the one reachable at the URL, or the local
 * installation (`rabbitmq-server` on PATH or in /usr/sbin), started for the
 * demo when it is stopped and stopped again afterwards. A broker that was
 * running is used and left running; only one started here is stopped.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { execa } from 'execa';
import { redactUrl } from '../../src/rpc/amqp-link.js';

/** How long a started broker has to accept connections. */
const START_TIMEOUT_MS = 40_000;
const PROBE_TIMEOUT_MS = 3_000;
const CTL_TIMEOUT_MS = 60_000;

export type BrokerState = { available: true; startedHere: boolean } | { available: false; reason: string };

export interface RabbitMqServiceOptions {
  /** amqp:// (or oslo's rabbit://) URL with credentials. */
  url: string;
  /**
   * Whether a stopped local installation may be started for this URL. Even
   * when true, it is started only if the URL is local and on the port the
   * installation listens on (RABBITMQ_NODE_PORT, default 5672).
   */
  mayStart: boolean;
  /** Progress lines (starting, waiting, stopping). */
  say?: (message: string) => void;
}

export class RabbitMqService {
  readonly url: string;
  /** Printable: no password. */
  readonly shownUrl: string;
  #startedHere = false;
  #ctl: string | undefined;
  readonly #options: RabbitMqServiceOptions;

  constructor(options: RabbitMqServiceOptions) {
    this.#options = options;
    this.url = options.url.replace(/^rabbit:/, 'amqp:');
    this.shownUrl = redactUrl(this.url);
  }

  /** Reachable as it is, or started here; otherwise why not, in a few words. */
  async ensure(): Promise<BrokerState> {
    const first = await probe(this.url);
    if (first.ok) return { available: true, startedHere: false };
    const notReachable = `not reachable at ${this.shownUrl} (${first.reason})`;
    if (!first.refused) return { available: false, reason: notReachable };
    if (!this.#options.mayStart || !this.#startsWhereUrlPoints()) {
      return { available: false, reason: `${notReachable}; the demo starts the local RabbitMQ only for 127.0.0.1:${localPort()}` };
    }
    const server = await findExecutable('rabbitmq-server');
    if (!server) return { available: false, reason: `${notReachable} and not installed (no rabbitmq-server on PATH or in /usr/sbin)` };
    this.#ctl = (await findExecutable('rabbitmqctl', path.dirname(server))) ?? undefined;

    this.#options.say?.(`RabbitMQ is installed but not running: starting it ($ ${server} -detached)`);
    const started = await execa(server, ['-detached'], { reject: false, all: true, timeout: CTL_TIMEOUT_MS, stdin: 'ignore' });
    if (started.exitCode !== 0) {
      return { available: false, reason: `${notReachable}; starting it failed: ${lastLine(String(started.all ?? '')) || `exit ${started.exitCode}`}` };
    }
    this.#startedHere = true;
    const deadline = Date.now() + START_TIMEOUT_MS;
    let last: Probe = first;
    while (Date.now() < deadline) {
      await sleep(500);
      last = await probe(this.url);
      if (last.ok) return { available: true, startedHere: true };
      if (!last.refused) break; // listening, but refusing us: waiting will not help
    }
    await this.stopIfStartedHere().catch(() => undefined);
    const why = last.ok ? '' : last.reason;
    return { available: false, reason: `started RabbitMQ, but it did not accept a connection at ${this.shownUrl} within ${START_TIMEOUT_MS / 1000} s (${why})` };
  }

  /** `rabbitmqctl stop`, only for a broker this service started. */
  async stopIfStartedHere(): Promise<void> {
    if (!this.#startedHere) return;
    this.#startedHere = false;
    const ctl = this.#ctl ?? 'rabbitmqctl';
    this.#options.say?.(`stopping the RabbitMQ the demo started ($ ${ctl} stop)`);
    const stopped = await execa(ctl, ['stop'], { reject: false, all: true, timeout: CTL_TIMEOUT_MS, stdin: 'ignore' });
    if (stopped.exitCode !== 0) throw new Error(`rabbitmqctl stop failed (exit ${stopped.exitCode}): ${lastLine(String(stopped.all ?? ''))}`);
  }

  /** Deletes these queues (those that exist); the names of any that could not be deleted. */
  async deleteQueues(queues: string[]): Promise<string[]> {
    const failed: string[] = [];
    const connection = await amqp.connect(this.url, { timeout: PROBE_TIMEOUT_MS });
    try {
      for (const queue of queues) {
        // A failed delete closes the channel: one channel per queue.
        const channel = await connection.createChannel();
        channel.on('error', () => undefined);
        try {
          await channel.deleteQueue(queue);
          await channel.close();
        } catch {
          failed.push(queue);
        }
      }
    } finally {
      await connection.close().catch(() => undefined);
    }
    return failed;
  }

  #startsWhereUrlPoints(): boolean {
    const parsed = new URL(this.url);
    const local = ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname);
    return local && Number(parsed.port || 5672) === localPort();
  }
}

/** The port a local `rabbitmq-server` listens on. */
const localPort = (): number => Number(process.env.RABBITMQ_NODE_PORT || 5672);

type Probe = { ok: true } | { ok: false; refused: boolean; reason: string };

/** One connection attempt. `refused`: nothing listens there (so a broker may be started). */
async function probe(url: string): Promise<Probe> {
  try {
    const connection = await amqp.connect(url, { timeout: PROBE_TIMEOUT_MS });
    await connection.close().catch(() => undefined);
    return { ok: true };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ECONNREFUSED') return { ok: false, refused: true, reason: 'connection refused' };
    const message = err instanceof Error ? err.message : String(err);
    if (/ACCESS.REFUSED|403/.test(message)) return { ok: false, refused: false, reason: 'the broker refused the login' };
    return { ok: false, refused: false, reason: typeof code === 'string' ? code : message.split('\n')[0]! };
  }
}

async function findExecutable(name: string, preferDir?: string): Promise<string | undefined> {
  const dirs = [...(preferDir ? [preferDir] : []), ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

const lastLine = (text: string): string => text.trim().split('\n').filter(Boolean).pop() ?? '';
