import { expect } from 'chai';
import { JobProgressTracker } from '../../src/agent/job-progress.js';
import { describeProgress } from '../../src/control/backup-view.js';
import { classifyReport, type HeartbeatReport } from '../../src/control/conductor-reports.js';
import type { ConductorCast } from '../../src/rpc/oslo-message.js';
import { silentProgress } from '../../src/util/progress.js';

const heartbeat = (payload: Record<string, unknown>): ConductorCast => ({
  method: 'heartbeat',
  args: { instance_id: 'inst-1', sent: 1_700_000_000.5, payload: { service_status: 'healthy', ...payload } },
  context: {},
  instanceId: undefined,
  uniqueId: undefined,
  encrypted: false,
});

describe('job progress in the heartbeats', () => {
  it("tells the running phase's bytes and an ETA at its rate so far, and nothing once the job ended", () => {
    let now = 1_000_000;
    const tracker = new JobProgressTracker(() => now);
    expect(tracker.snapshot()).to.equal(undefined);
    const progress = tracker.wrap('backup', 'b-1', silentProgress);
    progress.begin('upload', 1000);
    expect(tracker.snapshot()).to.deep.equal({ kind: 'backup', id: 'b-1', phase: 'upload', bytes_done: 0, bytes_total: 1000, eta_seconds: null });
    now += 10_000;
    progress.advance(250);
    // 250 bytes in 10 s: the other 750 take 30 s more.
    expect(tracker.snapshot()).to.deep.equal({ kind: 'backup', id: 'b-1', phase: 'upload', bytes_done: 250, bytes_total: 1000, eta_seconds: 30 });
    progress.begin('compare', 50);
    expect(tracker.snapshot()).to.include({ phase: 'compare', bytes_done: 0, bytes_total: 50 });
    tracker.clear('other-job');
    expect(tracker.snapshot()).to.not.equal(undefined);
    tracker.clear('b-1');
    expect(tracker.snapshot()).to.equal(undefined);
  });

  it("reads a heartbeat's job_progress, and passes over a malformed one without refusing the heartbeat", () => {
    const good = { kind: 'restore', id: 'b-1', phase: 'restore', bytes_done: 5, bytes_total: 10, eta_seconds: null };
    expect((classifyReport(heartbeat({ job_progress: good })) as HeartbeatReport).progress).to.deep.equal(good);
    for (const bad of [{ ...good, id: '../x' }, { ...good, bytes_done: -1 }, { ...good, phase: 'x\nforged line' }, { ...good, kind: 'drop' }, 'upload 50 %']) {
      const report = classifyReport(heartbeat({ job_progress: bad })) as HeartbeatReport;
      expect(report, JSON.stringify(bad)).to.include({ kind: 'heartbeat', status: 'healthy' });
      expect(report.progress, JSON.stringify(bad)).to.equal(undefined);
    }
    expect((classifyReport(heartbeat({})) as HeartbeatReport).progress).to.equal(undefined);
  });

  it('says the share done and the time left in words', () => {
    expect(describeProgress({ kind: 'backup', id: 'b', phase: 'upload', bytes_done: 512 * 1024 ** 2, bytes_total: 2 * 1024 ** 3, eta_seconds: 150 })).to.equal('upload 25 % of 2.0 GiB, about 3 min left');
    expect(describeProgress({ kind: 'restore', id: 'b', phase: 'restore', bytes_done: 0, bytes_total: 10, eta_seconds: null })).to.equal('restore 0 % of 10 B');
    expect(describeProgress({ kind: 'backup', id: 'b', phase: 'upload', bytes_done: 9, bytes_total: 10, eta_seconds: 12 })).to.equal('upload 90 % of 10 B, about 12 s left');
  });
});
