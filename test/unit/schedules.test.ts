import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { BackupStateStore, type BackupRequest } from '../../src/control/backup-state.js';
import type { BackupRequestOptions, DbaasControlPlane, PurgeResult } from '../../src/control/control-plane.js';
import type { PurgeRules } from '../../src/control/purge-plan.js';
import { advance, checkCron, dueRun, finishedRun, nextOccurrence, occurrencesSince, overlapReason, type Schedule } from '../../src/control/schedule-plan.js';
import { ScheduleStore } from '../../src/control/schedule-store.js';
import { Scheduler, retentionRules, type SchedulerEvent } from '../../src/control/scheduler.js';
import { UsageError } from '../../src/errors.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

const T = (iso: string): Date => new Date(iso);

function schedule(extra: Partial<Schedule> = {}): Schedule {
  return {
    id: randomUUID(),
    instance_id: 'inst-1',
    cron: '0 2 * * *',
    incremental_cron: null,
    keep_last: null,
    keep_days: null,
    created: '2026-12-01T00:00:00.000Z',
    next_run: '2026-12-02T02:00:00.000Z',
    next_incremental_run: null,
    last_run: null,
    ...extra,
  };
}

function request(extra: Partial<BackupRequest> = {}): BackupRequest {
  const now = '2026-12-02T02:00:00.000Z';
  return {
    id: randomUUID(), instance_id: 'inst-1', name: 'n', description: null, type: 'full', parent_id: null, keyspaces: [], tables: [],
    state: 'BUILDING', reason: null, location: null, checksum: null, size_gb: null, created: now, updated: now, completed: null,
    last_report_sent: null, origin: 'request', ...extra,
  };
}

describe('schedules: cron times in UTC', () => {
  it('takes 5-field expressions and refuses others, naming the option', () => {
    checkCron('30 */6 * * 1-5', '--cron');
    expect(() => checkCron('* * * * * *', '--cron')).to.throw(UsageError, /--cron '\* \* \* \* \* \*': expected 5 fields .*got 6/);
    expect(() => checkCron('61 * * * *', '--incremental-cron')).to.throw(UsageError, /--incremental-cron '61 \* \* \* \*'/);
    expect(() => checkCron('H * * * *', '--cron')).to.throw(UsageError, /'H'/);
  });

  it('finds the next occurrence strictly after a time, in UTC', () => {
    expect(nextOccurrence('0 2 * * *', T('2026-12-02T01:59:59Z')).toISOString()).to.equal('2026-12-02T02:00:00.000Z');
    expect(nextOccurrence('0 2 * * *', T('2026-12-02T02:00:00Z')).toISOString()).to.equal('2026-12-03T02:00:00.000Z');
    expect(nextOccurrence('* * * * *', T('2026-12-02T02:00:30Z')).toISOString()).to.equal('2026-12-02T02:01:00.000Z');
  });

  it('counts the occurrences since a missed one, up to a limit', () => {
    expect(occurrencesSince('0 2 * * *', T('2026-12-02T02:00:00Z'), T('2026-12-02T03:00:00Z'))).to.equal(1);
    expect(occurrencesSince('0 2 * * *', T('2026-12-02T02:00:00Z'), T('2026-12-05T02:00:00Z'))).to.equal(4);
    expect(occurrencesSince('* * * * *', T('2025-01-01T00:00:00Z'), T('2026-12-05T02:00:00Z'))).to.equal(1000);
    expect(occurrencesSince('0 2 * * *', T('2026-12-02T02:00:00Z'), T('2026-12-01T00:00:00Z'))).to.equal(0);
  });
});

describe('schedules: which run is due', () => {
  it('is not due before its next run time, and due from it on', () => {
    const s = schedule();
    expect(dueRun(s, T('2026-12-02T01:59:59Z'))).to.equal(undefined);
    expect(dueRun(s, T('2026-12-02T02:00:00Z'))).to.deep.equal({ kind: 'full', scheduledFor: T('2026-12-02T02:00:00Z'), occurrences: 1 });
  });

  it('makes one run however many were missed, and says how many passed', () => {
    const due = dueRun(schedule(), T('2026-12-04T12:00:00Z'));
    expect(due).to.deep.include({ kind: 'full', occurrences: 3 });
    const moved = advance(schedule(), T('2026-12-04T12:00:00Z'));
    expect(moved.next_run).to.equal('2026-12-05T02:00:00.000Z');
  });

  it('runs an incremental backup on its own times, and a full one when both are due', () => {
    const s = schedule({ cron: '0 2 * * 0', next_run: '2026-12-06T02:00:00.000Z', incremental_cron: '0 2 * * *', next_incremental_run: '2026-12-03T02:00:00.000Z' });
    expect(dueRun(s, T('2026-12-03T02:00:10Z'))).to.deep.include({ kind: 'incremental', occurrences: 1 });
    expect(advance(s, T('2026-12-03T02:00:10Z'))).to.deep.equal({ next_run: '2026-12-06T02:00:00.000Z', next_incremental_run: '2026-12-04T02:00:00.000Z' });
    const both = { ...s, next_incremental_run: '2026-12-06T02:00:00.000Z' };
    expect(dueRun(both, T('2026-12-06T02:00:05Z'))).to.deep.include({ kind: 'full' });
    expect(advance(both, T('2026-12-06T02:00:05Z'))).to.deep.equal({ next_run: '2026-12-13T02:00:00.000Z', next_incremental_run: '2026-12-07T02:00:00.000Z' });
  });
});

describe('schedules: the overlap rule', () => {
  it('skips a run while another backup of the instance is NEW or BUILDING', () => {
    const busy = request({ state: 'BUILDING' });
    expect(overlapReason(schedule(), [busy])).to.equal(`backup ${busy.id} is BUILDING on instance inst-1 (started ${busy.created})`);
    expect(overlapReason(schedule(), [request({ state: 'NEW' })])).to.match(/is NEW on instance inst-1/);
  });

  it('does not mind finished backups, nor backups of other instances', () => {
    expect(overlapReason(schedule(), [request({ state: 'COMPLETED' }), request({ state: 'FAILED' }), request({ instance_id: 'inst-2' })])).to.equal(undefined);
  });

  it("skips a run while this schedule's previous run is in progress", () => {
    const previous = request({ state: 'BUILDING' });
    const s = schedule({ last_run: { kind: 'full', scheduled_for: previous.created, started: previous.created, finished: null, backup_id: previous.id, outcome: 'running', message: null } });
    expect(overlapReason(s, [previous])).to.match(new RegExp(`the previous run of this schedule \\(backup ${previous.id}, started .*\\) is still BUILDING`));
  });

  it('ends a running run from its backup state: COMPLETED, FAILED with the reason, or vanished', () => {
    const backup = request({ state: 'BUILDING' });
    const last = { kind: 'full' as const, scheduled_for: backup.created, started: backup.created, finished: null, backup_id: backup.id, outcome: 'running' as const, message: null };
    const now = T('2026-12-02T02:05:00Z');
    expect(finishedRun(last, backup, now)).to.equal(undefined);
    expect(finishedRun(last, { ...backup, state: 'COMPLETED' }, now)).to.include({ outcome: 'completed', finished: now.toISOString() });
    expect(finishedRun(last, { ...backup, state: 'FAILED', reason: 'disk full' }, now)).to.include({ outcome: 'failed', message: `backup ${backup.id} FAILED: disk full` });
    expect(finishedRun(last, undefined, now)?.message).to.match(/no longer in dbaas's state/);
  });

  it("turns a schedule's retention into the purge's rules for its instance, without a grace period", () => {
    expect(retentionRules(schedule())).to.equal(undefined);
    expect(retentionRules(schedule({ keep_last: 2, keep_days: 7 }))).to.deep.equal({ instanceId: 'inst-1', keepLast: 2, maxAgeMs: 7 * 86_400_000, graceMs: 0 });
  });
});

describe('schedules: the store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('schedules');
  });
  afterEach(() => removeDir(dir));

  it('keeps schedules as files in the state directory, lists them oldest first, and deletes them', async () => {
    const store = new ScheduleStore(dir);
    const older = schedule({ created: '2026-11-01T00:00:00.000Z' });
    const newer = schedule({ keep_last: 3, incremental_cron: '0 * * * *', next_incremental_run: '2026-12-02T01:00:00.000Z' });
    await store.put(newer);
    await store.put(older);
    expect(await store.get(newer.id)).to.deep.equal(newer);
    expect((await store.list()).map((s) => s.id)).to.deep.equal([older.id, newer.id]);
    expect(await store.update(older.id, (s) => ({ ...s, keep_days: 5 }))).to.include({ keep_days: 5 });
    expect(await store.delete(older.id)).to.equal(true);
    expect(await store.delete(older.id)).to.equal(false);
    expect(await store.update(older.id, (s) => s)).to.equal(undefined);
    expect(await store.get(older.id)).to.equal(undefined);
  });

  it('passes over a damaged or wrong file, saying which file and which field', async () => {
    const store = new ScheduleStore(dir);
    const good = schedule();
    await store.put(good);
    const bad = schedule({ keep_last: 0 });
    await writeFile(path.join(store.dir, `${bad.id}.json`), JSON.stringify(bad));
    await writeFile(path.join(store.dir, `${randomUUID()}.json`), '{"id": ');
    const skipped: string[] = [];
    expect((await store.list((reason) => skipped.push(reason))).map((s) => s.id)).to.deep.equal([good.id]);
    expect(skipped.join('\n')).to.match(new RegExp(`${bad.id}\\.json: 'keep_last' must be a whole number, at least 1 or null`)).and.match(/is not valid JSON/);
  });
});

/** The scheduler's loop with a control plane that records what it was asked, and a clock the test moves. */
describe('schedules: the scheduler loop', () => {
  let dir: string;
  let state: BackupStateStore;
  let store: ScheduleStore;
  let asked: BackupRequestOptions[];
  let purged: PurgeRules[];
  let events: SchedulerEvent[];
  let clock: Date;
  let scheduler: Scheduler;

  beforeEach(async () => {
    dir = await makeTempDir('scheduler');
    state = new BackupStateStore(dir);
    store = new ScheduleStore(dir);
    asked = [];
    purged = [];
    events = [];
    clock = T('2026-12-02T02:00:30Z');
    const plane = {
      state,
      resync: async () => undefined,
      requestBackup: async (options: BackupRequestOptions) => {
        const entry = request({ instance_id: options.instanceId, state: 'NEW', type: options.incremental ? 'incremental' : 'full', name: options.name });
        await state.put(entry);
        // Counted once its state entry exists, as the real plane's request is: the test then finishes that entry.
        asked.push(options);
        return { request: entry, queue: { queue: '', exists: true, consumers: 1, messages: 0 } };
      },
      purgeBackups: async (rules: PurgeRules): Promise<PurgeResult> => {
        purged.push(rules);
        return { plan: { delete: [], keep: [] }, deleted: [], failed: [] };
      },
    } as unknown as DbaasControlPlane;
    scheduler = new Scheduler({ plane, store, onEvent: (e) => events.push(e), now: () => clock, tickMs: 10 });
  });
  afterEach(() => removeDir(dir));

  it('reports the runs missed while it was down and makes exactly one catch-up run at start', async () => {
    const s = schedule({ next_run: '2026-11-29T02:00:00.000Z', keep_last: 2 });
    await store.put(s);
    const run = scheduler.run({ once: true, signal: AbortSignal.timeout(5_000) });
    // Let the first tick start the run, then finish its backup as the agent's reports would.
    while (asked.length === 0) await new Promise((r) => setTimeout(r, 5));
    const [entry] = await state.list();
    await state.put({ ...entry!, state: 'COMPLETED' });
    await run;
    expect(events.find((e) => e.event === 'missed')?.message).to.match(/missed 4 run\(s\) while no scheduler ran, the first due at 2026-11-29T02:00:00.000Z; one catch-up full run now/);
    expect(asked).to.have.length(1);
    expect(asked[0]).to.include({ instanceId: 'inst-1', incremental: false });
    expect(purged).to.deep.equal([{ instanceId: 'inst-1', keepLast: 2, graceMs: 0 }]);
    const after = (await store.get(s.id))!;
    expect(after.next_run).to.equal('2026-12-03T02:00:00.000Z');
    expect(after.last_run).to.include({ outcome: 'completed', backup_id: entry!.id, kind: 'full' });
    expect(events.map((e) => e.event)).to.deep.equal(['started', 'missed', 'run', 'completed', 'purged', 'stopped']);
  });

  it('skips a due run while a backup of the instance is BUILDING, and records why on the schedule', async () => {
    const busy = request({ state: 'BUILDING' });
    await state.put(busy);
    const s = schedule({ next_run: '2026-12-02T02:00:00.000Z' });
    await store.put(s);
    await scheduler.tick({ startRuns: true });
    expect(asked).to.have.length(0);
    const skipped = events.find((e) => e.event === 'skipped');
    expect(skipped?.message).to.equal(`skipped the full run due at 2026-12-02T02:00:00.000Z: backup ${busy.id} is BUILDING on instance inst-1 (started ${busy.created})`);
    const after = (await store.get(s.id))!;
    expect(after.last_run).to.include({ outcome: 'skipped', backup_id: null });
    expect(after.last_run?.message).to.match(/is BUILDING on instance inst-1/);
    expect(after.next_run).to.equal('2026-12-03T02:00:00.000Z');
  });

  it('lets only one of two schedules of the same instance run when both are due at once', async () => {
    await store.put(schedule({ created: '2026-11-01T00:00:00.000Z' }));
    await store.put(schedule());
    await scheduler.tick({ startRuns: true });
    expect(asked).to.have.length(1);
    expect(events.map((e) => e.event)).to.deep.equal(['run', 'skipped']);
  });

  it('records a run that could not start as failed, and tries again at the next time', async () => {
    const s = schedule();
    await store.put(s);
    const failing = new Scheduler({
      plane: { state, resync: async () => undefined, requestBackup: async () => { throw new Error('instance inst-1 has no queue'); } } as unknown as DbaasControlPlane,
      store,
      onEvent: (e) => events.push(e),
      now: () => clock,
    });
    await failing.tick({ startRuns: true });
    expect(failing.failures).to.equal(1);
    expect((await store.get(s.id))?.last_run).to.include({ outcome: 'failed', message: 'instance inst-1 has no queue' });
    expect((await store.get(s.id))?.next_run).to.equal('2026-12-03T02:00:00.000Z');
  });
});
