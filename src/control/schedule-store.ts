import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { AgentError, errorMessage } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { readJsonFiles } from '../util/json-directory.js';
import type { LastRun, Schedule } from './schedule-plan.js';

const SCHEDULE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OUTCOMES = new Set(['running', 'completed', 'failed', 'skipped']);

export function isValidScheduleId(id: string): boolean {
  return SCHEDULE_ID.test(id);
}

/** A schedule not in the store. */
export class ScheduleNotFoundError extends AgentError {}

/** One JSON file per schedule in `dbaas_state_dir/schedules/<id>.json`, each written atomically. */
export class ScheduleStore {
  readonly #dir: string;

  constructor(stateDir: string) {
    this.#dir = path.join(stateDir, 'schedules');
  }

  get dir(): string {
    return this.#dir;
  }

  async get(id: string): Promise<Schedule | undefined> {
    if (!isValidScheduleId(id)) return undefined;
    return this.#read(this.#file(id));
  }

  async put(schedule: Schedule): Promise<void> {
    if (!isValidScheduleId(schedule.id)) throw new AgentError(`dbaas schedules: '${schedule.id}' is not a valid schedule id`);
    const file = this.#file(schedule.id);
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(file, `${JSON.stringify(schedule, null, 2)}\n`, 0o600);
    } catch (err) {
      throw new AgentError(`dbaas schedules: cannot write ${file}: ${errorMessage(err)}; check dbaas_state_dir`, { cause: err });
    }
  }

  /**
   * Changes a schedule as it is on disk now, and returns it changed; undefined
   * when it is gone (deleted meanwhile by schedule-delete: it stays deleted).
   */
  async update(id: string, change: (schedule: Schedule) => Schedule): Promise<Schedule | undefined> {
    const current = await this.get(id);
    if (!current) return undefined;
    const next = change(current);
    await this.put(next);
    return next;
  }

  /** Removes it; false when there was no such schedule. */
  async delete(id: string): Promise<boolean> {
    if (!(await this.get(id))) return false;
    await rm(this.#file(id), { force: true });
    return true;
  }

  /** Every schedule, oldest first; one that cannot be read is passed over (told to `onSkipped`). */
  async list(onSkipped: (reason: string) => void = () => undefined): Promise<Schedule[]> {
    const schedules = await readJsonFiles(this.#dir, 'dbaas schedules', (file) => this.#read(file), onSkipped);
    return schedules.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  }

  #file(id: string): string {
    return path.join(this.#dir, `${id}.json`);
  }

  async #read(file: string): Promise<Schedule | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new AgentError(`dbaas schedules: cannot read ${file}: ${errorMessage(err)}`, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new AgentError(`dbaas schedules: ${file} is not valid JSON; delete it (the schedule is forgotten) or put back a good copy`, { cause: err });
    }
    return parseSchedule(value, file);
  }
}

/** A stored schedule, checked field by field; the error names the file and the field. */
export function parseSchedule(value: unknown, where: string): Schedule {
  const bad = (field: string, expected: string): never => {
    throw new AgentError(`dbaas schedules: ${where}: '${field}' must be ${expected}; fix or delete the file`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('(top level)', 'an object');
  const o = value as Record<string, unknown>;
  const text = (field: string): string => (typeof o[field] === 'string' && o[field] !== '' ? (o[field] as string) : bad(field, 'a string'));
  const time = (field: string, v: unknown): string => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? v : bad(field, 'an ISO time'));
  const orNull = <T>(field: string, check: (v: unknown) => v is T, expected: string): T | null =>
    o[field] === null || o[field] === undefined ? null : check(o[field]) ? o[field] : bad(field, `${expected} or null`);
  const isString = (v: unknown): v is string => typeof v === 'string';
  const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;
  const id = text('id');
  if (!isValidScheduleId(id)) bad('id', 'a UUID');
  const incrementalCron = orNull('incremental_cron', isString, 'a cron expression');
  return {
    id,
    instance_id: text('instance_id'),
    cron: text('cron'),
    incremental_cron: incrementalCron,
    keep_last: orNull('keep_last', isCount, 'a whole number, at least 1'),
    keep_days: orNull('keep_days', isCount, 'a whole number, at least 1'),
    created: time('created', o.created),
    next_run: time('next_run', o.next_run),
    next_incremental_run: incrementalCron === null ? null : time('next_incremental_run', o.next_incremental_run),
    last_run: o.last_run === null || o.last_run === undefined ? null : parseLastRun(o.last_run, bad),
  };
}

function parseLastRun(value: unknown, bad: (field: string, expected: string) => never): LastRun {
  if (typeof value !== 'object' || value === null) return bad('last_run', 'an object');
  const o = value as Record<string, unknown>;
  const kind = o.kind === 'full' || o.kind === 'incremental' ? o.kind : bad('last_run.kind', "'full' or 'incremental'");
  const outcome = typeof o.outcome === 'string' && OUTCOMES.has(o.outcome) ? (o.outcome as LastRun['outcome']) : bad('last_run.outcome', 'running, completed, failed or skipped');
  const str = (field: string): string => (typeof o[field] === 'string' ? (o[field] as string) : bad(`last_run.${field}`, 'a string'));
  const strOrNull = (field: string): string | null => (o[field] === null || o[field] === undefined ? null : str(field));
  return { kind, scheduled_for: str('scheduled_for'), started: str('started'), finished: strOrNull('finished'), backup_id: strOrNull('backup_id'), outcome, message: strOrNull('message') };
}
