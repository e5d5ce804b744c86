import { GuestClient } from '../../src/control/guest-client.js';
import { createLogger } from '../../src/util/logger.js';
import { AmqpLink } from '../../src/rpc/amqp-link.js';
import { listenToConductorQueue } from '../../src/rpc/conductor-listener.js';
import type { ConductorCast } from '../../src/rpc/oslo-message.js';
import { DEFAULT_QUEUE_FLAGS } from '../../src/rpc/queue-declarations.js';
import { RpcClient } from '../../src/rpc/rpc-client.js';
import type { RpcKey } from '../../src/rpc/secure-serializer.js';

export const RABBIT_URL = process.env.TEST_RABBIT_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** A control plane made of the package's own client library, recording every conductor report. */
export class TestControlPlane {
  readonly reports: ConductorCast[] = [];
  #waiters: (() => void)[] = [];

  private constructor(
    readonly link: AmqpLink,
    readonly rpc: RpcClient,
    readonly conductorTopic: string,
  ) {}

  static async open(conductorTopic: string, keys: Map<string, RpcKey>): Promise<TestControlPlane> {
    const log = createLogger({ format: 'json', stream: { write: () => true } as unknown as NodeJS.WritableStream });
    const link = await AmqpLink.open({ url: RABBIT_URL, retryFirstConnect: false, reconnectDelayMs: { initial: 100, max: 1000 } });
    const rpc = await RpcClient.open(link, DEFAULT_QUEUE_FLAGS, log);
    const plane = new TestControlPlane(link, rpc, conductorTopic);
    await listenToConductorQueue({
      link,
      exchange: 'openstack',
      topic: conductorTopic,
      flags: DEFAULT_QUEUE_FLAGS,
      keyOf: (id) => keys.get(id),
      log,
      onReport: (report) => {
        plane.reports.push(report);
        for (const wake of plane.#waiters.splice(0)) wake();
      },
    });
    return plane;
  }

  guest(instanceId: string, key: RpcKey | undefined, context: Record<string, unknown> = {}): GuestClient {
    return new GuestClient({ link: this.link, rpc: this.rpc, exchange: 'openstack', flags: DEFAULT_QUEUE_FLAGS, instanceId, key, context });
  }

  /** The first report matching, waiting for it. */
  async waitForReport(match: (report: ConductorCast) => boolean, timeoutMs = 60_000, what = 'report'): Promise<ConductorCast> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.reports.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; reports so far: ${JSON.stringify(this.reports.map((r) => [r.method, r.args.state ?? r.args.payload]))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  backupReports(backupId: string): ConductorCast[] {
    return this.reports.filter((r) => r.method === 'update_backup' && r.args.backup_id === backupId);
  }

  async close(): Promise<void> {
    this.rpc.close();
    await this.link.close();
  }
}
