import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import type { BackupRequest } from './backup-state.js';
import type { DbaasControlPlane } from './control-plane.js';
import type { PurgeRules } from './purge-plan.js';
import { advance, dueRun, finishedRun, MISSED_COUNT_LIMIT, overlapReason, type LastRun, type RunKind, type Schedule } from './schedule-plan.js';
import type { ScheduleStore } from './schedule-store.js';

const DAY_MS = 86_400_000;

/** What the scheduler tells its user: one event per line (human or JSON). */
export interface SchedulerEvent {
  event: 'started' | 'missed' | 'run' | 'skipped' | 'completed' | 'failed' | 'purged' | 'purge-failed' | 'error' | 'stopped';
  time: string;
  schedule_id?: string;
  instance_id?: string;
  kind?: RunKind;
  backup_id?: string;
  message: string;
}

export interface SchedulerOptions {
  plane: DbaasControlPlane;
  store: ScheduleStore;
  onEvent: (event: SchedulerEvent) => void;
  /** The clock (tests inject one). */
  now?: () => Date;
  /** How often due runs are looked for and running ones followed. Default 5 s. */
  tickMs?: number;
}

/**
 * Runs the schedules as Trove's schedule-create did through Mistral, with
 * the control plane as the runner: each run is requestBackup, the one
 * backup-create uses; it is followed through dbaas's state (the conductor
 * reports) across ticks, never waited on, so one slow backup does not hold
 * the others; after a COMPLETED run the schedule's retention goes through
 * purgeBackups. Schedules are read from the store on every tick, so
 * schedule-create and schedule-delete take effect without a restart.
 */
export class Scheduler {
  readonly #plane: DbaasControlPlane;
  readonly #store: ScheduleStore;
  readonly #emit: (event: SchedulerEvent) => void;
  readonly #now: () => Date;
  readonly #tickMs: number;
  /** Schedules whose runs this process started and has not seen finish. */
  readonly #started = new Set<string>();
  #failures = 0;

  constructor(options: SchedulerOptions) {
    this.#plane = options.plane;
    this.#store = options.store;
    this.#emit = options.onEvent;
    this.#now = options.now ?? (() => new Date());
    this.#tickMs = options.tickMs ?? 5_000;
  }

  /** Runs that failed (or whose retention failed) in this process. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Until `signal` aborts (or, with `once`, until the runs due at start have
   * finished or `onceTimeoutMs` passed). At start, every schedule whose next
   * run passed while no scheduler ran is reported as missed; the normal rule
   * then makes one catch-up run for it.
   */
  async run(options: { once: boolean; signal: AbortSignal; onceTimeoutMs?: number }): Promise<void> {
    const { once, signal } = options;
    const started = this.#now();
    const schedules = await this.#list();
    this.#event({ event: 'started', message: `${schedules.length} schedule(s) in ${this.#store.dir}${once ? '; running what is due now, then exiting (--once)' : ''}` });
    for (const schedule of schedules) this.#reportMissed(schedule, started);
    await this.tick({ startRuns: true });
    const deadline = Date.now() + (options.onceTimeoutMs ?? 3_600_000);
    while (!signal.aborted) {
      if (once && (this.#started.size === 0 || Date.now() >= deadline)) break;
      await sleep(this.#tickMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) break;
      await this.tick({ startRuns: !once });
    }
    const running = [...this.#started];
    const why = signal.aborted ? `stopping (${errorMessage(signal.reason)})` : once && running.length > 0 ? 'giving up waiting (--once)' : 'done';
    this.#event({
      event: 'stopped',
      message: `${why}${running.length > 0 ? `; ${running.length} run(s) go on on the agents, and the next 'dbaas scheduler' follows them: ${running.join(', ')}` : ''}`,
    });
  }

  /** One pass: read the reports, follow the running runs, start the due ones (unless told not to). */
  async tick(options: { startRuns: boolean }): Promise<void> {
    try {
      await this.#plane.resync();
    } catch (err) {
      this.#event({ event: 'error', message: `cannot read the conductor queue: ${errorMessage(err)}; trying again in ${this.#tickMs / 1000} s` });
    }
    let requests: BackupRequest[];
    try {
      requests = await this.#plane.state.list();
    } catch (err) {
      this.#event({ event: 'error', message: errorMessage(err) });
      return;
    }
    let schedules: Schedule[];
    try {
      schedules = await this.#list();
    } catch (err) {
      this.#event({ event: 'error', message: `${errorMessage(err)}; trying again in ${this.#tickMs / 1000} s` });
      return;
    }
    for (const schedule of schedules) {
      const now = this.#now();
      try {
        let current: Schedule | undefined = schedule;
        const last = schedule.last_run;
        const finished = finishedRun(last, last?.backup_id ? requests.find((r) => r.id === last.backup_id) : undefined, now);
        if (finished) current = await this.#finish(schedule, finished);
        if (!current || !options.startRuns) continue;
        const due = dueRun(current, now);
        if (due) await this.#start(current, due.kind, due.scheduledFor, now, requests);
      } catch (err) {
        this.#event({ event: 'error', ...about(schedule), message: errorMessage(err) });
      }
    }
  }

  #reportMissed(schedule: Schedule, now: Date): void {
    const due = dueRun(schedule, now);
    if (!due) return;
    const count = due.occurrences >= MISSED_COUNT_LIMIT ? `${MISSED_COUNT_LIMIT} or more` : String(due.occurrences);
    this.#event({
      event: 'missed',
      ...about(schedule),
      kind: due.kind,
      message: `missed ${count} run(s) while no scheduler ran, the first due at ${due.scheduledFor.toISOString()}; one catch-up ${due.kind} run now`,
    });
  }

  async #start(schedule: Schedule, kind: RunKind, scheduledFor: Date, now: Date, requests: BackupRequest[]): Promise<void> {
    const base = { kind, scheduled_for: scheduledFor.toISOString(), started: now.toISOString() };
    const overlap = overlapReason(schedule, requests);
    if (overlap) {
      const message = `skipped the ${kind} run due at ${base.scheduled_for}: ${overlap}`;
      await this.#record(schedule, now, { ...base, finished: now.toISOString(), backup_id: null, outcome: 'skipped', message: overlap });
      this.#event({ event: 'skipped', ...about(schedule), kind, message });
      return;
    }
    let last: LastRun;
    try {
      const { request } = await this.#plane.requestBackup({
        instanceId: schedule.instance_id,
        name: `scheduled ${kind} ${base.scheduled_for.replace(/:00\.000Z$/, 'Z')}`,
        description: `dbaas schedule ${schedule.id}`,
        incremental: kind === 'incremental',
      });
      last = { ...base, finished: null, backup_id: request.id, outcome: 'running', message: null };
      // Another schedule of the same instance, later in this tick, must see it.
      requests.push(request);
      this.#started.add(schedule.id);
      this.#event({ event: 'run', ...about(schedule), kind, backup_id: request.id, message: `${kind} backup ${request.id} asked of instance ${schedule.instance_id} (due at ${base.scheduled_for})` });
    } catch (err) {
      this.#failures += 1;
      last = { ...base, finished: now.toISOString(), backup_id: null, outcome: 'failed', message: errorMessage(err) };
      this.#event({ event: 'failed', ...about(schedule), kind, message: `the ${kind} run due at ${base.scheduled_for} could not start: ${errorMessage(err)}` });
    }
    await this.#record(schedule, now, last);
  }

  /** The schedule with its last run and next times; when it was deleted meanwhile, it stays deleted. */
  async #record(schedule: Schedule, now: Date, last: LastRun): Promise<void> {
    await this.#store.update(schedule.id, (current) => ({ ...current, ...advance(current, now), last_run: last }));
  }

  async #finish(schedule: Schedule, finished: LastRun): Promise<Schedule | undefined> {
    this.#started.delete(schedule.id);
    const backupId = finished.backup_id ?? '-';
    if (finished.outcome !== 'completed') {
      this.#failures += 1;
      this.#event({ event: 'failed', ...about(schedule), kind: finished.kind, backup_id: backupId, message: `the ${finished.kind} run due at ${finished.scheduled_for} failed: ${finished.message}` });
      return this.#store.update(schedule.id, (current) => ({ ...current, last_run: finished }));
    }
    this.#event({ event: 'completed', ...about(schedule), kind: finished.kind, backup_id: backupId, message: `${finished.kind} backup ${backupId} COMPLETED` });
    const retention = await this.#retain(schedule);
    return this.#store.update(schedule.id, (current) => ({ ...current, last_run: { ...finished, message: retention } }));
  }

  /** The schedule's retention through the purge (no grace period: the schedule's rules are the whole policy); what it did, for the last run's message. */
  async #retain(schedule: Schedule): Promise<string | null> {
    const rules = retentionRules(schedule);
    if (!rules) return null;
    try {
      const result = await this.#plane.purgeBackups(rules, { dryRun: false, now: this.#now() });
      const deleted = result.deleted.map((d) => d.backup.id);
      const message = `retention: deleted ${deleted.length} backup(s)${deleted.length > 0 ? ` (${deleted.join(', ')})` : ''}, kept ${result.plan.keep.length} candidate(s)`;
      if (result.failed.length > 0) {
        this.#failures += 1;
        const failed = `${message}; could not delete ${result.failed.map((f) => `${f.backup.id} (${f.reason})`).join(', ')}`;
        this.#event({ event: 'purge-failed', ...about(schedule), message: failed });
        return failed;
      }
      this.#event({ event: 'purged', ...about(schedule), message });
      return message;
    } catch (err) {
      this.#failures += 1;
      const message = `retention failed: ${errorMessage(err)}`;
      this.#event({ event: 'purge-failed', ...about(schedule), message });
      return message;
    }
  }

  async #list(): Promise<Schedule[]> {
    return this.#store.list((reason) => this.#event({ event: 'error', message: `passed over a schedule: ${reason}` }));
  }

  #event(event: Omit<SchedulerEvent, 'time'>): void {
    this.#emit({ time: this.#now().toISOString(), ...event });
  }
}

/** The purge rules of a schedule's retention (its instance only), or undefined when it has none. */
export function retentionRules(schedule: Schedule): PurgeRules | undefined {
  if (schedule.keep_last === null && schedule.keep_days === null) return undefined;
  return {
    instanceId: schedule.instance_id,
    ...(schedule.keep_last !== null ? { keepLast: schedule.keep_last } : {}),
    ...(schedule.keep_days !== null ? { maxAgeMs: schedule.keep_days * DAY_MS } : {}),
    graceMs: 0,
  };
}

function about(schedule: Schedule): { schedule_id: string; instance_id: string } {
  return { schedule_id: schedule.id, instance_id: schedule.instance_id };
}
