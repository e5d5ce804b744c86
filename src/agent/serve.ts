import { openCassandraNode } from '../cassandra/cassandra-node.js';
import type { AgentConfig } from '../config/config-schema.js';
import { loadConfig } from '../config/load-config.js';
import { ConfigError, errorMessage } from '../errors.js';
import { AmqpLink, redactUrl } from '../rpc/amqp-link.js';
import { ConductorReporter } from '../rpc/conductor-reporter.js';
import { startRpcServer } from '../rpc/rpc-server.js';
import { createStorage } from '../storage/create-storage.js';
import { createLogger } from '../util/logger.js';
import { RestoreJournal } from '../jobs/restore-journal.js';
import { silentProgress } from '../util/progress.js';
import { GuestEndpoint } from './guest-endpoint.js';
import { AgentMetrics } from './metrics.js';
import { startMetricsServer } from './metrics-server.js';
import { rpcSettings } from '../rpc/rpc-settings.js';
import { withTroveInjectedFiles } from './trove-injected-files.js';

/** How long SIGTERM waits for the last reports to reach the broker. */
const FINAL_REPORT_TIMEOUT_MS = 30_000;

/**
 * `guest-agent serve`: consume this instance's queue until SIGTERM, then stop
 * taking requests, abort the running job (it cleans up and reports), deliver
 * the queued reports and exit 0. Resolves with the exit status.
 */
export async function serve(configFile: string | undefined, stop: AbortSignal, logFormat?: AgentConfig['log_format']): Promise<number> {
  const config = await withTroveInjectedFiles(await loadConfig(configFile));
  // The command line's --log-format wins over the file: a unit file can say it once for every node.
  const log = createLogger({ format: logFormat ?? config.log_format });
  const settings = rpcSettings(config);
  const node = await openCassandraNode(config);
  // A restore a crash interrupted is finished or rolled back before any request is taken.
  const recovered = await RestoreJournal.recover(node, { ...silentProgress, step: (message) => log.warn('restore.recovering', { step: message }) });
  if (recovered) log.warn('restore.recovered', { backup_id: recovered.backupId, outcome: recovered.outcome });
  log.info('agent.starting', {
    instance_id: settings.instanceId,
    broker: redactUrl(settings.url),
    queue: settings.guestTopic,
    encrypted: settings.key !== undefined,
    backup_strategy: config.backup_strategy,
    storage: config.storage_strategy,
  });

  const metrics = new AgentMetrics();
  // Before the broker: a port that cannot be had is a configuration error, said at once.
  const metricsServer = config.metrics_listen ? await startMetricsServer(config.metrics_listen, metrics.registry) : undefined;
  if (metricsServer) log.info('metrics.listening', { address: metricsServer.address, path: '/metrics' });

  let fatal: Error | undefined;
  try {
    const link = await AmqpLink.open({ url: settings.url, retryFirstConnect: true, log: (event, fields) => log.info(event, fields) });
    const stopped = new Promise<void>((resolve) => {
      if (stop.aborted) resolve();
      stop.addEventListener('abort', () => resolve(), { once: true });
      link.on('fatal', (err) => {
        fatal = err;
        resolve();
      });
    });

    const reporter = new ConductorReporter({ link, exchange: settings.exchange, topic: settings.conductorTopic, instanceId: settings.instanceId, key: settings.key });
    // Trove 18 sends the user's token and project, and may name a container: the Swift driver uses them.
    const endpoint = new GuestEndpoint({
      config,
      node,
      reporter,
      log,
      openStorage: (request) => createStorage(config, request),
      metrics,
      // The prepare that crashed did not restore anything: the control plane must hear it failed.
      ...(recovered?.outcome === 'rolled back' ? { initialStatus: 'failed to spawn' as const } : {}),
    });
    const server = await startRpcServer({
      link,
      exchange: settings.exchange,
      topic: settings.guestTopic,
      flags: settings.flags,
      key: settings.key,
      log,
      handle: (request) => endpoint.handle(request),
    });
    log.info('agent.ready', { queue: settings.guestTopic });

    const heartbeat = async (): Promise<void> => {
      if (!link.connected) return; // a pile of stale heartbeats after an outage helps nobody
      await endpoint.heartbeat();
    };
    void heartbeat();
    const timer = setInterval(() => void heartbeat(), settings.reportIntervalSeconds * 1000);

    await stopped;
    clearInterval(timer);
    log.info('agent.stopping', { reason: fatal ? errorMessage(fatal) : 'signal', running_job: endpoint.runningJob });
    await server.stop().catch(() => undefined);
    await endpoint.shutdown('the agent is stopping (SIGTERM)');
    const unsent = await link.drain(FINAL_REPORT_TIMEOUT_MS);
    if (unsent > 0) log.error('agent.reports_lost', { unsent, reason: `the broker did not confirm them within ${FINAL_REPORT_TIMEOUT_MS / 1000} s` });
    await link.close();
    log.info('agent.stopped', {});
  } finally {
    await metricsServer?.close();
  }
  if (fatal) return fatal instanceof ConfigError ? 2 : 1;
  return 0;
}
