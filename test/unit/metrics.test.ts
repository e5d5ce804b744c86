import { expect } from 'chai';
import { JobProgressTracker } from '../../src/agent/job-progress.js';
import { AgentMetrics } from '../../src/agent/metrics.js';
import { parseListenAddress, startMetricsServer } from '../../src/agent/metrics-server.js';
import { ChecksumMismatchError, ConfigError } from '../../src/errors.js';
import { silentProgress } from '../../src/util/progress.js';

const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('agent metrics', () => {
  it('counts a failed job under its error type and ends it once', async () => {
    const metrics = new AgentMetrics();
    const job = metrics.jobStarted('restore');
    expect(sample(await metrics.registry.metrics(), 'guest_agent_job_in_progress{kind="restore"}')).to.equal(1);
    job.failed(new ChecksumMismatchError('backup x: the stored object is corrupt'));
    job.failed(new Error('a second end is ignored'));
    job.succeeded();
    const text = await metrics.registry.metrics();
    expect(sample(text, 'guest_agent_job_failures_total{kind="restore",reason="ChecksumMismatchError"}')).to.equal(1);
    expect(sample(text, 'guest_agent_job_failures_total{kind="restore",reason="Error"}')).to.equal(undefined);
    expect(sample(text, 'guest_agent_job_duration_seconds_count{kind="restore",outcome="failure"}')).to.equal(1);
    expect(sample(text, 'guest_agent_job_duration_seconds_count{kind="restore",outcome="success"}')).to.equal(undefined);
    expect(sample(text, 'guest_agent_job_in_progress{kind="restore"}')).to.equal(0);
    expect(text).to.not.contain('corrupt');
  });

  it('keeps the running phase\'s bytes from the job\'s progress, and clears them when it ends', async () => {
    const metrics = new AgentMetrics();
    const tracker = new JobProgressTracker();
    metrics.observeRunningJob(() => tracker.snapshot());
    const job = metrics.jobStarted('backup');
    const progress = tracker.wrap('backup', 'b-1', silentProgress);
    progress.begin('upload', 1000);
    progress.advance(300);
    progress.advance(200);
    let text = await metrics.registry.metrics();
    expect(sample(text, 'guest_agent_job_bytes_done{kind="backup",phase="upload"}')).to.equal(500);
    expect(sample(text, 'guest_agent_job_bytes_total{kind="backup",phase="upload"}')).to.equal(1000);
    job.succeeded();
    tracker.clear('b-1');
    text = await metrics.registry.metrics();
    expect(sample(text, 'guest_agent_job_bytes_done{kind="backup",phase="upload"}')).to.equal(undefined);
  });

  it('counts RPCs by method, and any method it does not know as other', async () => {
    const metrics = new AgentMetrics();
    metrics.rpcReceived('create_backup');
    metrics.rpcReceived('x'.repeat(300));
    metrics.rpcReceived('list_databases');
    const text = await metrics.registry.metrics();
    expect(sample(text, 'guest_agent_rpc_requests_total{method="create_backup"}')).to.equal(1);
    expect(sample(text, 'guest_agent_rpc_requests_total{method="other"}')).to.equal(2);
  });

  it('serves GET /metrics and nothing else', async () => {
    const metrics = new AgentMetrics();
    metrics.reportFailed('heartbeat');
    const server = await startMetricsServer('127.0.0.1:0', metrics.registry);
    try {
      const response = await fetch(`http://${server.address}/metrics`);
      expect(response.status).to.equal(200);
      expect(sample(await response.text(), 'guest_agent_conductor_reports_failed_total{method="heartbeat"}')).to.equal(1);
      expect((await fetch(`http://${server.address}/`)).status).to.equal(404);
      expect((await fetch(`http://${server.address}/metrics`, { method: 'POST' })).status).to.equal(404);
    } finally {
      await server.close();
    }
  });

  it('refuses a metrics_listen that is not host:port, and one whose port is taken, as configuration errors', async () => {
    expect(parseListenAddress('[::1]:9464')).to.deep.equal({ host: '::1', port: 9464 });
    expect(() => parseListenAddress('9464')).to.throw(ConfigError, "metrics_listen: '9464' is not host:port");
    expect(() => parseListenAddress('localhost:99999')).to.throw(ConfigError);
    const first = await startMetricsServer('127.0.0.1:0', new AgentMetrics().registry);
    try {
      const taken = await startMetricsServer(first.address, new AgentMetrics().registry).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(taken).to.be.instanceOf(ConfigError);
      expect((taken as Error).message).to.match(/^metrics_listen 127\.0\.0\.1:\d+: cannot listen: .*EADDRINUSE/);
    } finally {
      await first.close();
    }
  });
});
