import { expect } from 'chai';
import { UsageError } from '../../src/errors.js';
import type { BackupNode } from '../../src/control/backup-graph.js';
import { formatDuration, parseDuration, planPurge, type PurgePlan, type PurgeRules } from '../../src/control/purge-plan.js';

const NOW = new Date('2026-11-21T12:00:00.000Z');
const DAY = 86_400_000;
const HOUR = 3_600_000;

/** A backup `daysAgo` days before NOW. */
const backup = (id: string, daysAgo: number, extra: Partial<BackupNode> = {}): BackupNode => ({
  id,
  instance_id: 'i1',
  name: id,
  created: new Date(NOW.getTime() - daysAgo * DAY).toISOString(),
  state: 'COMPLETED',
  type: 'full',
  parent_id: null,
  in_catalog: true,
  ...extra,
});
const incremental = (id: string, daysAgo: number, parent: string, extra: Partial<BackupNode> = {}): BackupNode =>
  backup(id, daysAgo, { type: 'incremental', parent_id: parent, ...extra });

const plan = (backups: BackupNode[], rules: Partial<PurgeRules>): PurgePlan => planPurge(backups, { graceMs: DAY, ...rules }, NOW);
const deleted = (p: PurgePlan): string[] => p.delete.map((d) => d.backup.id);
const keptReasons = (p: PurgePlan): Record<string, string> => Object.fromEntries(p.keep.map((k) => [k.backup.id, k.reason]));

describe('purge planning', () => {
  it('needs keep-last or max-age', () => {
    expect(() => plan([backup('a', 10)], {})).to.throw(UsageError, /needs a rule/);
  });

  it('keep-last: deletes what is beyond the newest N COMPLETED backups of each instance, oldest last', () => {
    const backups = [backup('a', 10), backup('b', 8), backup('c', 6), backup('d', 4), backup('x', 9, { instance_id: 'i2' }), backup('y', 7, { instance_id: 'i2' })];
    const p = plan(backups, { keepLast: 2 });
    expect(deleted(p)).to.deep.equal(['b', 'a']);
    expect(p.delete[0]!.reason).to.equal('not among the newest 2 COMPLETED backup(s) of instance i1');
    expect(p.keep).to.deep.equal([]);
  });

  it('keep-last: FAILED and DELETE_FAILED backups do not count among the N and are candidates', () => {
    const backups = [backup('a', 10), backup('f', 5, { state: 'FAILED', in_catalog: false }), backup('g', 4, { state: 'DELETE_FAILED' }), backup('b', 3)];
    const p = plan(backups, { keepLast: 2 });
    expect(deleted(p)).to.have.members(['f', 'g']);
    expect(p.delete.find((d) => d.backup.id === 'f')!.reason).to.match(/^FAILED: only COMPLETED backups are counted/);
  });

  it('max-age: deletes what is older, in every instance, or in the one asked for', () => {
    const backups = [backup('a', 40), backup('b', 31), backup('c', 29), backup('d', 2), backup('x', 45, { instance_id: 'i2' }), backup('y', 1, { instance_id: 'i2' })];
    expect(deleted(plan(backups, { maxAgeMs: 30 * DAY }))).to.have.members(['a', 'b', 'x']);
    const only = plan(backups, { maxAgeMs: 30 * DAY, instanceId: 'i2' });
    expect(deleted(only)).to.deep.equal(['x']);
    expect(only.delete[0]!.reason).to.equal('older than 30d');
  });

  it('with both rules, a backup is a candidate when either makes it one', () => {
    const backups = [backup('a', 40), backup('b', 35), backup('c', 3), backup('d', 2)];
    const p = plan(backups, { keepLast: 3, maxAgeMs: 30 * DAY });
    expect(deleted(p)).to.deep.equal(['b', 'a']);
    expect(p.delete.find((d) => d.backup.id === 'a')!.reason).to.equal('not among the newest 3 COMPLETED backup(s) of instance i1; older than 30d');
    expect(p.delete.find((d) => d.backup.id === 'b')!.reason).to.equal('older than 30d');
  });

  it('never deletes the newest COMPLETED full backup of an instance', () => {
    // Only incrementals since the last full one, all within keep-last; the full one is beyond it.
    const backups = [backup('old-full', 20), backup('full', 10), incremental('i1', 3, 'full'), incremental('i2', 2, 'i1')];
    const p = plan(backups, { maxAgeMs: 5 * DAY });
    expect(deleted(p)).to.deep.equal(['old-full']);
    expect(keptReasons(p)).to.deep.equal({ full: 'the newest COMPLETED full backup of instance i1: always kept' });
    // A DELETE_FAILED full backup is not a restore point: the older COMPLETED one is the newest full.
    const broken = plan([backup('old-full', 20), backup('full', 10, { state: 'DELETE_FAILED' })], { maxAgeMs: 5 * DAY });
    expect(deleted(broken)).to.deep.equal(['full']);
    expect(keptReasons(broken)).to.have.keys(['old-full']);
  });

  it('never deletes an ancestor of a backup that stays, however far up', () => {
    const backups = [backup('f1', 50), incremental('i1', 40, 'f1'), incremental('i2', 35, 'i1'), incremental('i3', 3, 'i2'), backup('f0', 60)];
    const p = plan(backups, { maxAgeMs: 30 * DAY });
    expect(deleted(p)).to.deep.equal(['f0']);
    const reasons = keptReasons(p);
    expect(reasons.i2).to.equal('an ancestor of backup i3, which stays (restoring it needs this one)');
    expect(reasons.i1).to.equal('an ancestor of backup i3, which stays (restoring it needs this one)');
    expect(reasons.f1).to.be.a('string');
  });

  it('keeps the parent of a backup that is being taken, and does not count a FAILED child', () => {
    const backups = [
      backup('f-new', 1.5),
      backup('f1', 40),
      incremental('running', 0.1, 'f1', { state: 'BUILDING', in_catalog: false }),
      backup('f2', 38),
      incremental('failed', 0.1, 'f2', { state: 'FAILED', in_catalog: false }),
    ];
    const p = plan(backups, { maxAgeMs: 30 * DAY });
    expect(deleted(p)).to.deep.equal(['f2']);
    expect(keptReasons(p).f1).to.match(/^an ancestor of backup running/);
  });

  it('never deletes a backup younger than the grace period', () => {
    const backups = [backup('a', 5), backup('b', 0.5), backup('c', 0.2), backup('d', 0.1)];
    const p = plan(backups, { keepLast: 1 });
    expect(deleted(p)).to.deep.equal(['a']);
    expect(keptReasons(p)).to.deep.equal({ c: 'younger than the grace period of 1d', b: 'younger than the grace period of 1d' });
    expect(deleted(planPurge(backups, { keepLast: 1, graceMs: 2 * HOUR }, NOW))).to.deep.equal(['c', 'b', 'a']);
  });

  it('never deletes a backup in progress, however old', () => {
    const backups = [backup('f', 1.5), backup('stuck', 90, { state: 'BUILDING', in_catalog: false }), backup('asked', 60, { state: 'NEW', in_catalog: false })];
    const p = plan(backups, { maxAgeMs: 30 * DAY });
    expect(deleted(p)).to.deep.equal([]);
    expect(keptReasons(p)).to.deep.equal({
      asked: 'in progress (NEW): never deleted while it runs',
      stuck: 'in progress (BUILDING): never deleted while it runs',
    });
  });

  it('deletes children before their parents, then the newest first', () => {
    // Created out of order on purpose: a child "older" than its parent (clock skew) still goes first.
    const backups = [backup('keep', 2), backup('f', 50), incremental('c1', 45, 'f'), incremental('c2', 55, 'c1'), backup('g', 48), incremental('h', 47, 'g')];
    expect(deleted(plan(backups, { maxAgeMs: 30 * DAY }))).to.deep.equal(['h', 'g', 'c2', 'c1', 'f']);
  });

  it('parses durations in minutes, hours and days, and says what it expected otherwise', () => {
    expect(parseDuration('30d', '--max-age')).to.equal(30 * DAY);
    expect(parseDuration('12h', '--max-age')).to.equal(12 * HOUR);
    expect(parseDuration('90m', '--grace')).to.equal(90 * 60_000);
    expect(parseDuration('0d', '--grace')).to.equal(0);
    for (const bad of ['30', 'd', '1.5d', '-1d', '30 days', '2w', '']) {
      expect(() => parseDuration(bad, '--max-age'), bad).to.throw(UsageError, `--max-age '${bad}': expected a whole number and a unit, d (days), h (hours) or m (minutes), e.g. 30d, 12h or 90m`);
    }
    expect([30 * DAY, 36 * HOUR, 90 * 60_000, 0].map(formatDuration)).to.deep.equal(['30d', '36h', '90m', '0m']);
  });
});
