import type { Schedule } from '../control/schedule-plan.js';
import type { SchedulerEvent } from '../control/scheduler.js';

/** The help texts of dbaas's schedule commands; `commonOptions` are dbaas's own lines for --config, --json and --help. */
export function scheduleCreateHelp(commonOptions: string): string {
  return `Usage: dbaas schedule-create INSTANCE --cron EXPR [--incremental-cron EXPR]
                             [--keep-last N] [--keep-days D] [--json]

Adds a schedule of backups of INSTANCE, as Trove's schedule-create: 'dbaas
scheduler' runs it. Each run is a backup-create (full on --cron, incremental
on the newest COMPLETED backup on --incremental-cron; full wins when both are
due); after each COMPLETED run the retention rules delete older backups of
INSTANCE as 'dbaas backup-purge --instance INSTANCE' does, without a grace
period. Prints the schedule's id.

EXPR is a 5-field cron expression, minute hour day-of-month month
day-of-week, in UTC: '0 2 * * *' is 02:00 UTC every day, '30 */6 * * 1-5'
every six hours at half past on weekdays. Quote it.

Options:
  --cron EXPR               when to take a full backup (required)
  --incremental-cron EXPR   when to take an incremental backup
  --keep-last N             after a run, keep the newest N COMPLETED backups
                            of INSTANCE (backup-purge --keep-last N)
  --keep-days D             after a run, delete backups of INSTANCE older than
                            D days (backup-purge --max-age Dd)
  The newest COMPLETED full backup, backups in progress, and the ancestors of
  backups that stay are always kept, as backup-purge keeps them.
${commonOptions}
`;
}

export function scheduleListHelp(commonOptions: string): string {
  return `Usage: dbaas schedule-list [--json]

Lists the schedules in dbaas's state directory: id, instance, cron
expressions (UTC), retention, next run and how the last run ended
(running, completed, failed, skipped, with why). Needs neither RabbitMQ nor
storage.

Options:
${commonOptions}
`;
}

export function scheduleDeleteHelp(commonOptions: string): string {
  return `Usage: dbaas schedule-delete SCHEDULE_ID [--json]

Deletes a schedule; a running 'dbaas scheduler' stops running it at its next
look (every few seconds). Its backups stay: delete them with backup-delete or
backup-purge. A backup the schedule asked for that is still being taken goes
on.

Options:
${commonOptions}
`;
}

export function schedulerHelp(commonOptions: string): string {
  return `Usage: dbaas scheduler [--once] [--json]

Runs the schedules (schedule-create) until SIGTERM or SIGINT: every 5 s it
reads the agents' reports, follows the runs it started, and starts the runs
whose time has come (cron times are UTC). One scheduler per state directory
(a lock file, scheduler.lock, says which process has it). As a service:
packaging/cassandra-dbaas-scheduler.service.

Rules:
  - A run that would overlap a backup in progress on its instance (one NEW or
    BUILDING in dbaas's state, or this schedule's previous run) is skipped:
    a line says so, and the schedule's last run is 'skipped' with why.
  - Runs missed while no scheduler ran are reported at start; a schedule that
    missed one or more gets exactly one catch-up run at start (a full one if
    a full run was missed), not one per missed time.
  - After a COMPLETED run, the schedule's retention (--keep-last,
    --keep-days) deletes older backups of the instance, as backup-purge does.
  - SIGTERM or SIGINT: stops at once; backups already asked for go on on the
    agents, and the next start follows them to the end.

Output: a line per event on stdout (started, missed, run, skipped,
completed, failed, purged, purge-failed, error, stopped); --json: one JSON
object per line instead.

Options:
  --once                    start the runs due now (and the catch-up runs),
                            wait until they finish, then exit: for tests and
                            for running the scheduler from cron or a timer
${commonOptions}

Exit status: 0 stopped by a signal, or --once and every run and retention
succeeded; 1 --once and a run or its retention failed, or another scheduler
holds the lock; 2 bad usage or configuration.
`;
}

/** schedule-list's table. */
export function renderSchedules(schedules: readonly Schedule[]): string {
  const header = ['ID', 'INSTANCE', 'CRON (UTC)', 'INCREMENTAL', 'RETENTION', 'NEXT RUN', 'LAST RUN'];
  const time = (iso: string | null): string => (iso === null ? '-' : iso.replace(/:00\.000Z$/, 'Z').replace(/\.\d+Z$/, 'Z'));
  const rows = schedules.map((s) => {
    const retention = [s.keep_last !== null ? `last ${s.keep_last}` : '', s.keep_days !== null ? `${s.keep_days}d` : ''].filter(Boolean).join(', ') || '-';
    const next = s.next_incremental_run !== null && s.next_incremental_run < s.next_run ? `${time(s.next_incremental_run)} incremental` : `${time(s.next_run)} full`;
    const last = s.last_run
      ? `${s.last_run.outcome} ${s.last_run.kind} ${time(s.last_run.started)}${s.last_run.backup_id ? ` ${s.last_run.backup_id}` : ''}${s.last_run.message ? `: ${s.last_run.message}` : ''}`
      : 'never';
    return [s.id, s.instance_id, s.cron, s.incremental_cron ?? '-', retention, next, last];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`;
  return line(header) + rows.map(line).join('');
}

/** One scheduler event as a human line. */
export function eventLine(event: SchedulerEvent): string {
  const who = event.schedule_id ? ` schedule ${event.schedule_id} (instance ${event.instance_id})` : '';
  return `${event.time.replace(/\.\d+Z$/, 'Z')} ${event.event}${who}: ${event.message}\n`;
}
