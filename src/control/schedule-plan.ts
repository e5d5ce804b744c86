import { CronExpressionParser } from 'cron-parser';
import { UsageError, errorMessage } from '../errors.js';
import { isRunning } from './backup-graph.js';
import type { BackupRequest } from './backup-state.js';

/**
 * When a schedule runs, as pure functions of the schedule and the time now:
 * the scheduler passes `now` in, so every rule here is tested with a clock.
 * Cron expressions are the classic 5 fields (minute hour day-of-month month
 * day-of-week), always read in UTC.
 */

export type RunKind = 'full' | 'incremental';

/** How the last run of a schedule ended, or that it still runs. */
export type RunOutcome = 'running' | 'completed' | 'failed' | 'skipped';

export interface LastRun {
  kind: RunKind;
  /** The occurrence of the cron expression this run is for (ISO). */
  scheduled_for: string;
  started: string;
  finished: string | null;
  /** null when no backup was asked for (skipped, or the request failed). */
  backup_id: string | null;
  outcome: RunOutcome;
  /** Why it was skipped or failed; what the purge did after it completed. */
  message: string | null;
}

export interface Schedule {
  id: string;
  instance_id: string;
  /** Full backups. */
  cron: string;
  /** Incremental backups on the newest COMPLETED backup, or null. */
  incremental_cron: string | null;
  /** Retention after each successful run (backup-purge's --keep-last), or null. */
  keep_last: number | null;
  /** Retention after each successful run (backup-purge's --max-age in days), or null. */
  keep_days: number | null;
  created: string;
  /** The next occurrence of `cron` not yet run (ISO, UTC). */
  next_run: string;
  /** The next occurrence of `incremental_cron` not yet run, or null. */
  next_incremental_run: string | null;
  last_run: LastRun | null;
}

/** A run whose time has come: which kind, for which occurrence, and how many occurrences have passed since (1 when none was missed). */
export interface DueRun {
  kind: RunKind;
  scheduledFor: Date;
  /** Occurrences from `scheduledFor` up to now, at most MISSED_COUNT_LIMIT. */
  occurrences: number;
}

/** Counting missed occurrences stops here: a schedule every minute, down for a year, would be half a million. */
export const MISSED_COUNT_LIMIT = 1000;

/** Checks a 5-field cron expression; `what` names the option in the error. */
export function checkCron(expression: string, what: string): void {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new UsageError(`${what} '${expression}': expected 5 fields (minute hour day-of-month month day-of-week, in UTC), e.g. '0 2 * * *' for 02:00 every day; got ${fields.length}`);
  }
  if (fields.some((f) => /[Hh]/.test(f))) throw new UsageError(`${what} '${expression}': 'H' (a random value) is not accepted: give the times`);
  try {
    CronExpressionParser.parse(expression, { tz: 'UTC', strict: false });
  } catch (err) {
    throw new UsageError(`${what} '${expression}': ${errorMessage(err)}`, { cause: err });
  }
}

/** The first occurrence of `expression` strictly after `after`. */
export function nextOccurrence(expression: string, after: Date): Date {
  return CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: after }).next().toDate();
}

/** How many occurrences of `expression` fall in [from, now], `from` being one of them; at most MISSED_COUNT_LIMIT. */
export function occurrencesSince(expression: string, from: Date, now: Date): number {
  if (from.getTime() > now.getTime()) return 0;
  const iterator = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: from });
  let count = 1;
  while (count < MISSED_COUNT_LIMIT) {
    const next = iterator.next().toDate();
    if (next.getTime() > now.getTime()) break;
    count += 1;
  }
  return count;
}

/**
 * The run due now, or undefined. A full run wins when both kinds are due
 * (one backup, not two). However many occurrences passed, this is one run:
 * missed runs are reported, not made up one by one.
 */
export function dueRun(schedule: Schedule, now: Date): DueRun | undefined {
  const full = new Date(schedule.next_run);
  if (full.getTime() <= now.getTime()) return { kind: 'full', scheduledFor: full, occurrences: occurrencesSince(schedule.cron, full, now) };
  if (schedule.incremental_cron && schedule.next_incremental_run) {
    const incremental = new Date(schedule.next_incremental_run);
    if (incremental.getTime() <= now.getTime()) {
      return { kind: 'incremental', scheduledFor: incremental, occurrences: occurrencesSince(schedule.incremental_cron, incremental, now) };
    }
  }
  return undefined;
}

/** The next-run times after a run (or a skip) at `now`: each time that has come moves to its next occurrence after now; the others stay. */
export function advance(schedule: Schedule, now: Date): Pick<Schedule, 'next_run' | 'next_incremental_run'> {
  const moved = (expression: string, at: string): string => (new Date(at).getTime() <= now.getTime() ? nextOccurrence(expression, now).toISOString() : at);
  return {
    next_run: moved(schedule.cron, schedule.next_run),
    next_incremental_run: schedule.incremental_cron && schedule.next_incremental_run ? moved(schedule.incremental_cron, schedule.next_incremental_run) : null,
  };
}

/**
 * Why a run must not start now, or undefined: the previous run of this
 * schedule is still in progress, or another backup of the instance is (NEW,
 * BUILDING or SAVING in dbaas's state). An agent takes one backup at a time
 * and would refuse the second anyway.
 */
export function overlapReason(schedule: Schedule, requests: readonly BackupRequest[]): string | undefined {
  const last = schedule.last_run;
  if (last?.outcome === 'running') {
    const request = requests.find((r) => r.id === last.backup_id);
    return `the previous run of this schedule (backup ${last.backup_id ?? '-'}, started ${last.started}) is still ${request?.state ?? 'in progress'}`;
  }
  const busy = requests.find((r) => r.instance_id === schedule.instance_id && isRunning(r.state));
  if (busy) return `backup ${busy.id} is ${busy.state} on instance ${schedule.instance_id} (started ${busy.created})`;
  return undefined;
}

/**
 * The last run once its backup has finished, from dbaas's state entry of
 * that backup; undefined while it still runs (or when the last run is not
 * running). A backup that vanished from the state is a failed run.
 */
export function finishedRun(last: LastRun | null, request: BackupRequest | undefined, now: Date): LastRun | undefined {
  if (last?.outcome !== 'running') return undefined;
  if (request && isRunning(request.state)) return undefined;
  const finished = now.toISOString();
  if (!request) return { ...last, outcome: 'failed', finished, message: `backup ${last.backup_id ?? '-'} is no longer in dbaas's state: deleted, or the state was lost` };
  if (request.state === 'COMPLETED') return { ...last, outcome: 'completed', finished, message: null };
  return { ...last, outcome: 'failed', finished, message: `backup ${request.id} ${request.state}: ${request.reason ?? 'no reason given'}` };
}
