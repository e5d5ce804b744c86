import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { JobProgress } from '../rpc/conductor-reporter.js';

export type JobKind = 'backup' | 'restore';

/** The RPC methods counted by name; anything else (a hostile or mistyped method) is `other`, so labels stay few. */
const COUNTED_METHODS = new Set(['rpc_ping', 'get_filesystem_stats', 'create_backup', 'backup-create', 'prepare', 'restore']);

/** Backups and restores take seconds to hours: buckets from 10 s to 12 h. */
const DURATION_BUCKETS = [10, 30, 60, 300, 900, 1800, 3600, 7200, 14_400, 43_200];

/**
 * What `guest-agent serve` tells Prometheus (`/metrics`, metrics_listen).
 * Every label has a bounded set of values: job kinds, strategy names, RPC
 * method names, error type names; never a backup id or a message.
 */
export class AgentMetrics {
  readonly registry = new Registry();

  readonly #rpcRequests = new Counter({ name: 'guest_agent_rpc_requests_total', help: 'RPC requests received, by method', labelNames: ['method'] as const, registers: [this.registry] });
  readonly #jobDuration = new Histogram({
    name: 'guest_agent_job_duration_seconds',
    help: 'Duration of backups and restores, by kind and outcome',
    labelNames: ['kind', 'outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly #jobFailures = new Counter({ name: 'guest_agent_job_failures_total', help: 'Backups and restores that failed, by kind and error type', labelNames: ['kind', 'reason'] as const, registers: [this.registry] });
  readonly #jobRunning = new Gauge({ name: 'guest_agent_job_in_progress', help: '1 while a backup or restore of this kind runs', labelNames: ['kind'] as const, registers: [this.registry] });
  /** The running job's progress, read at each scrape (the same the heartbeats tell). */
  #runningJob: () => JobProgress | undefined = () => undefined;
  readonly #jobBytesDone: Gauge<'kind' | 'phase'> = new Gauge({
    name: 'guest_agent_job_bytes_done',
    help: 'Bytes done in the running job phase (absent when idle)',
    labelNames: ['kind', 'phase'] as const,
    registers: [this.registry],
    collect: (): void => this.#showRunningJob(this.#jobBytesDone, (p) => p.bytes_done),
  });
  readonly #jobBytesTotal: Gauge<'kind' | 'phase'> = new Gauge({
    name: 'guest_agent_job_bytes_total',
    help: 'Bytes the running job phase has to do in all (absent when idle)',
    labelNames: ['kind', 'phase'] as const,
    registers: [this.registry],
    collect: (): void => this.#showRunningJob(this.#jobBytesTotal, (p) => p.bytes_total),
  });
  readonly #bytesRead = new Counter({ name: 'guest_agent_bytes_read_total', help: 'Bytes read: from the node by backups, from storage by restores', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly #bytesStored = new Counter({ name: 'guest_agent_bytes_stored_total', help: 'Bytes written to storage by backups', registers: [this.registry] });
  readonly #lastBackupTime = new Gauge({ name: 'guest_agent_last_backup_success_timestamp_seconds', help: 'When the last successful backup of each strategy ended', labelNames: ['strategy'] as const, registers: [this.registry] });
  readonly #lastBackupSize = new Gauge({ name: 'guest_agent_last_backup_success_stored_bytes', help: 'Stored size of the last successful backup of each strategy', labelNames: ['strategy'] as const, registers: [this.registry] });
  readonly #reportsFailed = new Counter({ name: 'guest_agent_conductor_reports_failed_total', help: 'Reports to trove-conductor that could not be sent, by method', labelNames: ['method'] as const, registers: [this.registry] });

  rpcReceived(method: string): void {
    this.#rpcRequests.inc({ method: COUNTED_METHODS.has(method) ? method : 'other' });
  }

  reportFailed(method: string): void {
    this.#reportsFailed.inc({ method });
  }

  /** Marks a job running; the returned functions end it, once. */
  jobStarted(kind: JobKind): { succeeded(): void; failed(err: unknown): void } {
    this.#jobRunning.set({ kind }, 1);
    const end = this.#jobDuration.startTimer({ kind });
    let ended = false;
    const finish = (outcome: 'success' | 'failure'): void => {
      if (ended) return;
      ended = true;
      end({ outcome });
      this.#jobRunning.set({ kind }, 0);
    };
    return {
      succeeded: () => finish('success'),
      failed: (err) => {
        if (!ended) this.#jobFailures.inc({ kind, reason: err instanceof Error ? err.name : 'Error' });
        finish('failure');
      },
    };
  }

  backupCompleted(strategy: string, rawBytes: number, storedBytes: number): void {
    this.#bytesRead.inc({ kind: 'backup' }, rawBytes);
    this.#bytesStored.inc(storedBytes);
    this.#lastBackupTime.set({ strategy }, Date.now() / 1000);
    this.#lastBackupSize.set({ strategy }, storedBytes);
  }

  restoreCompleted(storedBytesRead: number): void {
    this.#bytesRead.inc({ kind: 'restore' }, storedBytesRead);
  }

  /** Where the byte gauges read the running job's progress: the endpoint's tracker. */
  observeRunningJob(snapshot: () => JobProgress | undefined): void {
    this.#runningJob = snapshot;
  }

  #showRunningJob(gauge: Gauge<'kind' | 'phase'>, value: (progress: JobProgress) => number): void {
    gauge.reset();
    const progress = this.#runningJob();
    if (progress) gauge.set({ kind: progress.kind, phase: progress.phase }, value(progress));
  }
}
