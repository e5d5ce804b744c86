import { readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import yaml from 'js-yaml';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import type { VerifyReport } from '../../src/jobs/verify-backup.js';
import { runAgent } from '../support/agent-runner.js';
import { createNodeUnderTest, readCatalogRecord, type NodeUnderTest } from '../support/e2e-nodes.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

/**
 * `guest-agent verify` on real backups of a simulated node: taken by
 * `guest-agent backup`, then checked with a configuration that names only
 * the store, the node stopped. Corrupting stored objects needs a store of our
 * own, so this suite does not run against a real installation.
 */
describe('guest-agent verify, end to end', function () {
  this.timeout(180_000);
  let base: string;
  let node: NodeUnderTest;
  /** Names nothing but the store: verify must not need the node, nodetool or the data directories. */
  let storeOnly: string;
  let good: BackupRecord;
  let bad: BackupRecord;
  /** A differential backup on verify-good, as the agent takes it. */
  let diff: BackupRecord;

  const objectFile = (rec: BackupRecord): string => new URL(rec.location).pathname;
  const verify = (args: string[]) => runAgent(['verify', ...args, '--config', storeOnly]);

  before(async function () {
    base = await makeTempDir('verify-e2e');
    const stores = { storePath: path.join(base, 'store') };
    node = await createNodeUnderTest(path.join(base, 'node'), stores, {
      seed: 11,
      tables: [
        { keyspace: 'shop', table: 'orders', sstables: 2, bytes: 200_000 },
        { keyspace: 'shop', table: 'customers', sstables: 1, bytes: 50_000 },
      ],
    });
    await node.sim!.start();
    const backup = async (id: string, ...flags: string[]): Promise<BackupRecord> => {
      const run = await runAgent(['backup', '--config', node.configFile, '--backup-id', id, ...flags]);
      expect(run.exitCode, run.stderr).to.equal(0);
      return readCatalogRecord(node.configFile, id);
    };
    good = await backup('verify-good');
    await node.sim!.write('shop', 'customers', 8_000);
    diff = await backup('verify-diff', '--parent', 'verify-good');
    bad = await backup('verify-bad');
    await node.sim!.stop();
    storeOnly = path.join(base, 'store-only.yaml');
    await writeFile(storeOnly, yaml.dump({ backup_local_path: stores.storePath }), { mode: 0o600 });
  });

  after(async () => {
    await stopAllSimNodes();
    await removeDir(base);
  });

  it('passes a fresh backup with only the store configured and the node stopped (exit 0, one line)', async () => {
    const run = await verify(['verify-good']);
    expect(run.exitCode, run.stderr).to.equal(0);
    expect(run.stdout).to.match(new RegExp(`^backup verify-good is good: ${good.file_count} files \\(.+\\) checked, .+ read from 1 object$`));
    expect(run.stderr).to.contain(`guest-agent: reading ${good.object_key} (`);
    expect(await node.sim!.isRunning()).to.equal(false);
  });

  it('--json prints one report with every file and the object as read', async () => {
    const run = await verify(['--backup-id', 'verify-good', '--json']);
    expect(run.exitCode, run.stderr).to.equal(0);
    expect(run.json).to.include({ ok: true, command: 'verify' });
    const report = run.json!.verify as VerifyReport;
    expect(report).to.include({ ok: true, backup_id: 'verify-good', in_catalog: true, bytes_read: good.stored_bytes, objects_verified: 1 });
    expect(report.problems).to.deep.equal([]);
    expect(report.objects).to.deep.equal([
      { backup_id: 'verify-good', key: good.object_key, check: 'streamed', stored_bytes: good.stored_bytes, bytes_read: good.stored_bytes, sha256: good.sha256, ok: true },
    ]);
    // Full backups record a manifest of their files once that lands; before it, the record's count and raw size are what is checked.
    expect(report.files.length).to.equal(good.files?.length ?? good.file_count);
    expect(report.files.filter((f) => f.status !== 'ok')).to.deep.equal([]);
    expect(report.files.reduce((sum, f) => sum + f.size, 0)).to.equal(good.raw_bytes);
    for (const file of report.files) {
      expect(file.name).to.match(/^[^/]+\/[^/]+-[0-9a-f]{32}\/[^/]+$/);
      expect(file.crc32).to.match(/^[0-9a-f]{8}$/);
    }
    if (good.files) expect(report.files.map(({ status: _status, found: _found, ...f }) => f)).to.deep.equal(good.files);
  });

  it("passes a differential backup: its own object read, its parent's present; --chain reads the parent's too", async () => {
    const keptInParent = (diff.files ?? []).filter((f) => f.stored_in === 'verify-good');
    expect(diff.type).to.equal('incremental');
    expect(keptInParent.length).to.be.greaterThan(0);

    const run = await verify(['verify-diff', '--json']);
    expect(run.exitCode, run.stderr).to.equal(0);
    const report = run.json!.verify as VerifyReport;
    expect(report.chain).to.deep.equal(['verify-diff', 'verify-good']);
    expect(report.objects.map((o) => [o.backup_id, o.check, o.ok])).to.deep.equal([
      ['verify-diff', 'streamed', true],
      ['verify-good', 'head', true],
    ]);
    expect(report.files.filter((f) => f.status === 'not checked').map((f) => f.name).sort()).to.deep.equal(keptInParent.map((f) => f.name).sort());
    expect(report.files.filter((f) => f.status !== 'ok' && f.status !== 'not checked')).to.deep.equal([]);

    const chained = await verify(['verify-diff', '--chain', '--json']);
    expect(chained.exitCode, chained.stderr).to.equal(0);
    const chainReport = chained.json!.verify as VerifyReport;
    expect(chainReport.objects.map((o) => [o.backup_id, o.check, o.ok])).to.deep.equal([
      ['verify-diff', 'streamed', true],
      ['verify-good', 'streamed', true],
    ]);
    expect(chainReport.files.filter((f) => f.status !== 'ok')).to.deep.equal([]);
    expect(chainReport.bytes_read).to.equal(diff.stored_bytes + good.stored_bytes);
    const text = await verify(['verify-diff']);
    expect(text.stdout).to.match(new RegExp(`; ${keptInParent.length} files stored in ancestors not read \\(--chain reads them\\)$`));
  });

  it('exits 1 with one line naming the backup, the SHA-256 mismatch and what to do when a stored byte changed', async () => {
    const stored = await readFile(objectFile(bad));
    const middle = Math.floor(stored.length / 2);
    stored[middle] = stored[middle]! ^ 0x20;
    await writeFile(objectFile(bad), stored);

    const run = await verify(['verify-bad']);
    expect(run.exitCode).to.equal(1);
    expect(run.stdout).to.equal('');
    const lines = run.stderr.trim().split('\n');
    expect(lines.at(-1)).to.match(
      new RegExp(
        `^guest-agent verify: backup verify-bad: the SHA-256 of its ${bad.stored_bytes} stored bytes is [0-9a-f]{64}, the catalog says ${bad.sha256}; verify-bad\\.tar is corrupt; ` +
          'it cannot be restored as it was taken: take a new backup( \\(\\d+ more problems?; --json lists every file\\))?$',
      ),
    );
  });

  it('--json on a damaged backup: one document, ok false, the first problem as the error, per-file detail', async () => {
    const run = await verify(['verify-bad', '--json']);
    expect(run.exitCode).to.equal(1);
    expect(run.json).to.include({ ok: false, command: 'verify', exit_code: 1 });
    const report = run.json!.verify as VerifyReport;
    expect(report.ok).to.equal(false);
    expect(run.json!.error).to.deep.equal({ type: 'BackupDamaged', message: report.problems[0] });
    expect(report.problems[0]).to.match(/^backup verify-bad: the SHA-256 of its \d+ stored bytes is/);
    expect(report.objects[0]).to.include({ key: bad.object_key, bytes_read: bad.stored_bytes, ok: false });
    expect(report.files.length).to.be.greaterThan(0);
  });

  it('exits 1 naming the size when the stored file is truncated', async () => {
    await truncate(objectFile(bad), 10_000);
    const run = await verify(['verify-bad']);
    expect(run.exitCode).to.equal(1);
    expect(run.stderr.trim().split('\n').at(-1)).to.match(
      new RegExp(`^guest-agent verify: backup verify-bad: its object verify-bad\\.tar is 10000 bytes but the catalog says ${bad.stored_bytes}; it is truncated or was replaced; it cannot be restored as it was taken: take a new backup \\(\\d+ more problems; --json lists every file\\)$`),
    );
  });

  it('exits 1 for an id in neither the catalog nor the store', async () => {
    const run = await verify(['no-such-backup']);
    expect(run.exitCode).to.equal(1);
    expect(run.stderr.trim().split('\n').at(-1)).to.equal('guest-agent verify: backup no-such-backup is not in the catalog (local storage, catalog/); check the id and the storage settings');
  });

  it('--help shows the usage and exits 0; usage errors exit 2', async () => {
    const help = await runAgent(['verify', '--help']);
    expect(help.exitCode).to.equal(0);
    expect(help.stdout).to.match(/^Usage: guest-agent verify ID --config FILE \[--chain\] \[--json\]\n/);
    expect((await runAgent(['--help'])).stdout).to.match(/\n {2}verify {5}check a stored backup/);

    const missing = await verify([]);
    expect(missing.exitCode).to.equal(2);
    expect(missing.stderr).to.match(/^guest-agent verify: the backup id is required: guest-agent verify ID\n/);
    const twice = await verify(['a-1', '--backup-id', 'b-2', '--json']);
    expect(twice.exitCode).to.equal(2);
    expect(twice.json).to.deep.include({ ok: false, command: 'verify', exit_code: 2 });
    expect((twice.json!.error as { type: string }).type).to.equal('UsageError');
    const unknown = await verify(['verify-good', '--keyspaces', 'shop']);
    expect(unknown.exitCode).to.equal(2);
    expect(unknown.stderr).to.match(/^guest-agent verify: Unknown option '--keyspaces'/);
  });

  it('exits 2 for a configuration it cannot use', async () => {
    const run = await runAgent(['verify', 'verify-good', '--config', path.join(base, 'nowhere.yaml')]);
    expect(run.exitCode).to.equal(2);
    expect(run.stderr).to.match(/nowhere\.yaml: cannot read the configuration file/);
  });
});
