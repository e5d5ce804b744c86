import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import yaml from 'js-yaml';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import { runAgent, type AgentRun } from '../support/agent-runner.js';
import { createNodeUnderTest, restoreLeftovers, type AgentStores, type NodeUnderTest, localRecordFile } from '../support/e2e-nodes.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { tarOf } from '../support/tar-builder.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { digestTree } from '../support/tree-digest.js';

const run = promisify(execFile);

/**
 * Every bad input gives a clear error, exit 1 (2 for usage), leaves the node
 * as it was and removes the command's own temporary files. These need
 * simulated nodes (faults a real node cannot be asked for).
 */
describe('guest-agent on bad input', function () {
  this.timeout(180_000);
  let base: string;
  let stores: AgentStores;
  let source: NodeUnderTest;
  let target: NodeUnderTest;

  before(async function () {
    base = await makeTempDir('bad');
    stores = { storePath: path.join(base, 'store') };
    source = await createNodeUnderTest(path.join(base, 'node-a'), stores, { seed: 3, tables: [{ keyspace: 'shop', table: 'orders', sstables: 2, bytes: 2_000_000 }, { keyspace: 'shop', table: 'customers', sstables: 1, bytes: 50_000 }] });
    target = await createNodeUnderTest(path.join(base, 'node-b'), stores, { seed: 4 });
    await source.sim!.start();
    await target.sim!.start();
  });

  after(async () => {
    await stopAllSimNodes();
    await removeDir(base);
  });

  const recordFile = (id: string) => localRecordFile(stores, id);
  const readRecord = async (id: string) => JSON.parse(await readFile(recordFile(id), 'utf8')) as BackupRecord;
  const writeRecord = async (rec: BackupRecord) => {
    await mkdir(path.dirname(recordFile(rec.id)), { recursive: true });
    await writeFile(recordFile(rec.id), JSON.stringify(rec));
  };
  const objectPath = (rec: BackupRecord) => new URL(rec.location).pathname;
  const backup = async (id: string, extra: string[] = []): Promise<BackupRecord> => {
    const result = await runAgent(['backup', '--config', source.configFile, '--backup-id', id, ...extra]);
    expect(result.exitCode, result.stderr).to.equal(0);
    return readRecord(id);
  };

  /** The whole state a restore must not change: files, and whether it runs. */
  const nodeState = async (node: NodeUnderTest) => ({
    running: await node.sim!.isRunning(),
    files: Object.fromEntries((await Promise.all(node.dataDirs.map((d) => digestTree(d, ['snapshots'])))).flatMap((m) => [...m])),
  });

  const expectRestoreRefused = async (id: string, message: RegExp, node: NodeUnderTest = target): Promise<AgentRun> => {
    const before = await nodeState(node);
    const result = await runAgent(['restore', '--config', node.configFile, '--backup-id', id]);
    expect(result.exitCode, result.stderr).to.equal(1);
    expect(result.stderr).to.match(message);
    expect(await nodeState(node)).to.deep.equal(before);
    expect(await restoreLeftovers(node)).to.deep.equal([]);
    return result;
  };

  describe('restore', () => {
    it('refuses an unknown backup id', async () => {
      await expectRestoreRefused('no-such-backup', /backup no-such-backup is not in the catalog \(local storage, catalog\/\); check the id and the storage settings/);
    });

    it('refuses a backup whose stored object is missing', async () => {
      const rec = await backup('missing-1');
      await rm(objectPath(rec));
      await expectRestoreRefused('missing-1', /its object missing-1\.tar is missing from local storage; the backup cannot be restored/);
    });

    it('refuses a truncated object before touching the node', async () => {
      const rec = await backup('trunc-1');
      const bytes = await readFile(objectPath(rec));
      await writeFile(objectPath(rec), bytes.subarray(0, Math.floor(bytes.length / 2)));
      await expectRestoreRefused('trunc-1', /its object is \d+ bytes but the catalog says \d+; it is truncated or was replaced/);
    });

    it('detects a truncated stream even when the record agrees with the size', async () => {
      const rec = await backup('trunc-2');
      const bytes = await readFile(objectPath(rec));
      const cut = bytes.subarray(0, Math.floor(bytes.length * 0.6));
      await writeFile(objectPath(rec), cut);
      await writeRecord({ ...rec, stored_bytes: cut.length, sha256: createHash('sha256').update(cut).digest('hex') });
      await expectRestoreRefused('trunc-2', /the stored backup is truncated or corrupt/);
    });

    it('refuses an object whose SHA-256 does not match the catalog', async () => {
      const rec = await backup('tamper-1', []);
      const bytes = await readFile(objectPath(rec));
      // Uncompressed would be needed to stay parseable; with gzip the flip is caught by one check or the other.
      bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
      await writeFile(objectPath(rec), bytes);
      await expectRestoreRefused('tamper-1', /SHA-256 is [0-9a-f]{64}, the catalog says [0-9a-f]{64}|truncated or corrupt/);
    });

    it('refuses a tampered uncompressed object by its SHA-256', async () => {
      const config = yaml.load(await readFile(source.configFile, 'utf8')) as Record<string, unknown>;
      const plainConfig = path.join(base, 'plain.yaml');
      await writeFile(plainConfig, yaml.dump({ ...config, backup_compression: 'none' }));
      const result = await runAgent(['backup', '--config', plainConfig, '--backup-id', 'tamper-2']);
      expect(result.exitCode, result.stderr).to.equal(0);
      const rec = await readRecord('tamper-2');
      expect(rec.object_key).to.equal('tamper-2.tar');
      const bytes = await readFile(objectPath(rec));
      // Flip a byte inside file data (after the first 512-byte header), keeping the TAR valid.
      bytes[600] = bytes[600]! ^ 0xff;
      await writeFile(objectPath(rec), bytes);
      await expectRestoreRefused('tamper-2', /the stored object's SHA-256 is [0-9a-f]{64}, the catalog says [0-9a-f]{64}; the object is corrupt, restore another backup/);
    });

    it('refuses a record whose manifest names a file outside the data directory, naming the record and the field, node untouched', async () => {
      const rec = await backup('manifest-1');
      await writeRecord({ ...rec, files: rec.files!.map((f, i) => (i === 0 ? { ...f, name: '../../etc/passwd' } : f)) });
      await expectRestoreRefused(
        'manifest-1',
        /backup record catalog\/manifest-1\.json in local storage: files\[0\]\.name must be a relative TAR name <keyspace>\/<table-dir>\/<file>, got "\.\.\/\.\.\/etc\/passwd" \(its name climbs out of the data directory with '\.\.'\)/,
      );
    });

    let template: Promise<BackupRecord> | undefined;
    /** A hand-made archive and record in the store, as a hostile or damaged backup would be: no file manifest. */
    const plantArchive = async (id: string, entries: Parameters<typeof tarOf>[0], rawBytes: number) => {
      const chunks: Buffer[] = [];
      for await (const c of tarOf(entries)) chunks.push(c as Buffer);
      const object = Buffer.concat(chunks);
      await mkdir(stores.storePath, { recursive: true });
      await writeFile(path.join(stores.storePath, `${id}.tar`), object);
      template ??= backup('plant-template');
      const rec = await template;
      await writeRecord({
        ...rec, files: undefined, id, object_key: `${id}.tar`, compression: 'none', file_count: entries.length, raw_bytes: rawBytes,
        stored_bytes: object.length, sha256: createHash('sha256').update(object).digest('hex'),
        location: `file://${path.join(stores.storePath, `${id}.tar`)}`,
      });
    };

    for (const [label, entry] of [
      ["a '..' entry", { name: 'shop/../../../escaped', body: 'x' }],
      ['an absolute path', { name: '/tmp/cga-escaped/file', body: 'x' }],
      ['a symlink', { name: 'shop/t-00000000000000000000000000000000/l', type: 'symlink', linkname: '/etc/passwd' }],
      ['a hard link out of the directory', { name: 'shop/t-00000000000000000000000000000000/h', type: 'link', linkname: '../../../../etc/passwd' }],
      ['a device file', { name: 'shop/t-00000000000000000000000000000000/d', type: 'character-device', devmajor: 1, devminor: 3 }],
    ] as const) {
      it(`refuses an archive with ${label}, node untouched`, async () => {
        const id = `hostile-${label.replace(/[^a-z]+/g, '-').replace(/^-|-$/g, '')}`;
        await plantArchive(id, [{ name: 'shop/t-00000000000000000000000000000000/ok', body: 'fine' }, entry], 100);
        await expectRestoreRefused(id, /refusing TAR entry '.*': /);
        expect(await readdir('/tmp').then((n) => n.includes('cga-escaped'))).to.equal(false);
      });
    }

    it('stops an archive that holds more than its record declares before it fills the disk', async () => {
      // 4 MiB of zeros whose record claims 1 KiB (an archive of zeros gzips to almost nothing).
      await plantArchive('liar-1', [{ name: 'shop/t-00000000000000000000000000000000/na-1-big-Data.db', body: '\0'.repeat(4 * 1024 * 1024) }], 1024);
      await expectRestoreRefused('liar-1', /refusing TAR entry 'shop\/t-0{32}\/na-1-big-Data\.db' \(4194304 bytes\): the archive holds more than the 1024 bytes its record declares/);
    });

    it('refuses a name with a newline, printed escaped so that it cannot forge a line of the output', async () => {
      await plantArchive('newline-1', [{ name: 'shop/t-00000000000000000000000000000000/na-1-big-Data.db\nrestore of newline-1 COMPLETED', body: 'x' }], 100);
      const refused = await expectRestoreRefused('newline-1', /its name holds a control character/);
      expect(refused.stderr.split('\n').filter((line) => line.startsWith('restore of newline-1 COMPLETED'))).to.deep.equal([]);
    });

    it('refuses, before stopping the node, a restore whose admin_credentials_file is a directory or holds garbage', async () => {
      const config = yaml.load(await readFile(target.configFile, 'utf8')) as Record<string, unknown>;
      const badConfig = path.join(base, 'bad-credentials.yaml');
      const credentials = path.join(base, 'credentials-as-dir');
      await mkdir(credentials, { recursive: true });
      await writeFile(badConfig, yaml.dump({ ...config, admin_credentials_file: credentials }), { mode: 0o600 });
      await backup('cred-1');
      const asDirectory = await runAgent(['restore', '--config', badConfig, '--backup-id', 'cred-1']);
      expect(asDirectory.exitCode, 'a configuration error').to.equal(2);
      expect(asDirectory.stderr).to.match(/credentials-as-dir \(admin_credentials_file\) is not a regular file/);
      expect(asDirectory.stderr).not.to.match(/stopping Cassandra/);
      const garbage = path.join(base, 'credentials-garbage.json');
      await writeFile(garbage, 'not json', { mode: 0o600 });
      await writeFile(badConfig, yaml.dump({ ...config, admin_credentials_file: garbage }), { mode: 0o600 });
      const asGarbage = await runAgent(['restore', '--config', badConfig, '--backup-id', 'cred-1']);
      expect(asGarbage.exitCode, 'a configuration error').to.equal(2);
      expect(asGarbage.stderr).to.match(/credentials-garbage\.json \(admin_credentials_file\) is not \{"username": \.\.\., "password": \.\.\.\}/);
      expect(asGarbage.stderr).not.to.match(/stopping Cassandra/);
      expect(await target.sim!.isRunning()).to.equal(true);
    });

    it('refuses a second restore while one runs, at once, naming the first and its pid', async () => {
      await backup('twice-1');
      const first = runAgent(['restore', '--config', target.configFile, '--backup-id', 'twice-1']);
      const lock = path.join(path.dirname(target.dataDirs[0]!), `.${path.basename(target.dataDirs[0]!)}.restore-lock`);
      for (let i = 0; i < 200 && !(await readFile(lock, 'utf8').then(() => true, () => false)); i += 1) await new Promise((r) => setTimeout(r, 25));
      const second = await runAgent(['restore', '--config', target.configFile, '--backup-id', 'twice-1']);
      expect(second.exitCode).to.equal(1);
      expect(second.stderr).to.match(/a restore of backup twice-1 is running \(pid \d+, since /);
      const done = await first;
      expect(done.exitCode, done.stderr).to.equal(0);
      expect(await target.sim!.isRunning()).to.equal(true);
      expect(await restoreLeftovers(target)).to.deep.equal([]);
    });

    it('refuses a data directory that does not exist, unless restore_create_data_directories asks for it', async () => {
      await backup('nodir-1');
      const node = await createNodeUnderTest(path.join(base, 'node-nodir'), stores, { seed: 9 });
      const cassandraYaml = yaml.load(await readFile(node.sim!.cassandraYaml, 'utf8')) as Record<string, unknown>;
      const missing = path.join(base, 'node-nodir', 'unmounted-volume', 'data');
      await writeFile(node.sim!.cassandraYaml, yaml.dump({ ...cassandraYaml, data_file_directories: [missing] }));
      const refused = await runAgent(['restore', '--config', node.configFile, '--backup-id', 'nodir-1']);
      expect(refused.exitCode, 'a configuration error').to.equal(2);
      expect(refused.stderr).to.match(/data directory .*unmounted-volume\/data \(data_file_directories in .*\) does not exist: a typo, or a volume that is not mounted\?/);
      expect(await readdir(path.join(base, 'node-nodir')).then((names) => names.includes('unmounted-volume'))).to.equal(false);
    });

    it('refuses when the disk has too little free space for the restore', async function () {
      if (process.getuid?.() !== 0) this.skip(); // mounting a small tmpfs needs root
      const rec = await backup('space-1');
      const small = await nodeOnTmpfs('space-node', 1024 * 1024);
      try {
        await expectRestoreRefused('space-1', /restore needs .* free beside .*, only .* is available; free space or grow the volume, then retry/, small);
      } finally {
        await small.sim!.stop();
        await run('umount', [path.join(base, 'space-node-mnt')]);
      }
      expect(rec.raw_bytes).to.be.greaterThan(1024 * 1024);
    });

    it('stops cleanly on a full disk during extraction (no space left on device)', async function () {
      if (process.getuid?.() !== 0) this.skip();
      const rec = await backup('space-2');
      const small = await nodeOnTmpfs('full-node', 64 * 1024 * 1024);
      // Room for 1.06 × the data, which passes the free-space check (1.05 ×),
      // but a tmpfs gives each file whole 4 KiB pages: the files do not fit.
      const PAGE = 4096;
      const pages = (rec.files ?? []).reduce((sum, f) => sum + Math.ceil(f.size / PAGE) * PAGE, 0);
      const room = Math.ceil((rec.raw_bytes * 1.06) / PAGE) * PAGE;
      expect(pages, 'the files need more pages than the room left').to.be.above(room);
      const mount = path.join(base, 'full-node-mnt');
      const fs = await statfs(mount);
      const used = (fs.blocks - fs.bfree) * fs.bsize;
      await run('mount', ['-o', `remount,size=${used + room}`, mount]);
      try {
        await expectRestoreRefused('space-2', /cannot extract .*: no space left on device/, small);
      } finally {
        await small.sim!.stop();
        await run('umount', [path.join(base, 'full-node-mnt')]);
      }
    });

    it('leaves the node running on its own data when the stop command fails', async () => {
      const config = yaml.load(await readFile(target.configFile, 'utf8')) as Record<string, unknown>;
      const stuck = { ...target, configFile: path.join(base, 'stop-fails.yaml') };
      await writeFile(stuck.configFile, yaml.dump({ ...config, service_stop_command: ['sh', '-c', 'echo "Job for cassandra.service failed" >&2; exit 1'] }));
      await backup('stop-1');
      await expectRestoreRefused('stop-1', /cannot stop Cassandra: service_stop_command failed \(exit 1\): Job for cassandra\.service failed/, stuck);
    });

    it('rolls back when the start command fails once after the swap, and the node runs on its old data', async () => {
      const config = yaml.load(await readFile(target.configFile, 'utf8')) as Record<string, unknown>;
      const flag = path.join(base, 'start-failed-once');
      const flaky = { ...target, configFile: path.join(base, 'start-fails-once.yaml') };
      await writeFile(
        flaky.configFile,
        yaml.dump({ ...config, service_start_command: ['sh', '-c', 'if [ ! -e "$0" ]; then touch "$0"; echo "Job for cassandra.service failed" >&2; exit 1; fi; exec "$@"', flag, ...target.sim!.serviceStartCommand] }),
        { mode: 0o600 },
      );
      await backup('start-1');
      const yamlBefore = await readFile(target.sim!.cassandraYaml, 'utf8');
      const before = await nodeState(target);
      const restore = await runAgent(['restore', '--config', flaky.configFile, '--backup-id', 'start-1']);
      expect(restore.exitCode).to.equal(1);
      expect(restore.stderr).to.match(/restore start-1 failed and was rolled back, the node runs on its old data again: .*Job for cassandra\.service failed/);
      const after = await nodeState(target);
      expect(after.running).to.equal(true);
      expect(withoutSystemKeyspace(after.files)).to.deep.equal(withoutSystemKeyspace(before.files));
      expect(await readFile(target.sim!.cassandraYaml, 'utf8')).to.equal(yamlBefore);
      expect(await restoreLeftovers(target)).to.deep.equal([]);
    });

    it('puts the old data and cassandra.yaml back and restarts the node when the restored node does not start', async () => {
      const other = await createNodeUnderTest(path.join(base, 'node-c'), stores, { clusterName: 'Other Cluster', seed: 5 });
      await other.sim!.start();
      const result = await runAgent(['backup', '--config', other.configFile, '--backup-id', 'other-cluster']);
      expect(result.exitCode, result.stderr).to.equal(0);
      await other.sim!.stop();
      // A record whose cluster name is not the one saved in the backup's system.local: Cassandra refuses to start.
      await writeRecord({ ...(await readRecord('other-cluster')), cluster_name: 'Test Cluster' });
      const yamlBefore = await readFile(target.sim!.cassandraYaml, 'utf8');
      const before = await nodeState(target);
      const restore = await runAgent(['restore', '--config', target.configFile, '--backup-id', 'other-cluster']);
      expect(restore.exitCode).to.equal(1);
      expect(restore.stderr).to.match(/restore other-cluster failed and was rolled back, the node runs on its old data again: .*Saved cluster name Other Cluster != configured name Test Cluster/);
      // A restart rewrites some tables of the system keyspace by itself (size
      // estimates, local); everything else must be exactly as before.
      const after = await nodeState(target);
      expect(after.running).to.equal(true);
      expect(await readFile(target.sim!.cassandraYaml, 'utf8')).to.equal(yamlBefore);
      expect(withoutSystemKeyspace(after.files)).to.deep.equal(withoutSystemKeyspace(before.files));
      expect(await restoreLeftovers(target)).to.deep.equal([]);
    });
  });

  describe('backup', () => {
    const expectBackupFailed = async (args: string[], message: RegExp, exitCode = 1) => {
      const result = await runAgent(['backup', '--config', source.configFile, ...args]);
      expect(result.exitCode, result.stderr).to.equal(exitCode);
      expect(result.stderr).to.match(message);
      const live = await digestTree(source.dataDirs[0]!);
      expect([...live.keys()].filter((n) => /\/snapshots\/(?!truncated-)/.test(n)), 'no snapshot left behind').to.deep.equal([]);
      const stored = await readdir(stores.storePath).catch(() => []);
      expect(stored.filter((n) => n.includes('.partial-')), 'no partial object').to.deep.equal([]);
      return result;
    };

    it('reports a nodetool failure in nodetool’s own words and records nothing', async () => {
      await expectBackupFailed(['--backup-id', 'nt-fail', '--keyspaces', 'nosuchks'], /nodetool snapshot failed \(exit 1\): Keyspace nosuchks does not exist/);
      expect(await readFile(recordFile('nt-fail')).catch(() => 'none')).to.equal('none');
    });

    it('refuses a backup id that already exists, leaving the first backup intact', async () => {
      const first = await backup('taken-1');
      await expectBackupFailed(['--backup-id', 'taken-1'], /backup taken-1 already exists in the catalog; choose another --backup-id/);
      expect(await readRecord('taken-1')).to.deep.equal(first);
    });

    it("refuses an id that is already a snapshot on the node, and keeps that snapshot", async () => {
      const made = await source.sim!.nodetool(['snapshot', '-t', 'manual-1', 'shop']);
      expect(made.exitCode, made.stdout).to.equal(0);
      const result = await runAgent(['backup', '--config', source.configFile, '--backup-id', 'manual-1']);
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.match(/a snapshot named manual-1 already exists on this node \(\d+ files\); choose another --backup-id/);
      const live = await digestTree(source.dataDirs[0]!);
      expect([...live.keys()].filter((n) => n.includes('/snapshots/manual-1/')).length).to.be.greaterThan(0);
      await source.sim!.nodetool(['clearsnapshot', '-t', 'manual-1']);
    });

    it('says Cassandra is down when nodetool cannot connect', async () => {
      await source.sim!.stop();
      try {
        await expectBackupFailed(['--backup-id', 'down-1'], /nodetool clearsnapshot failed \(exit 1\): Failed to connect to '127\.0\.0\.1:7199' - ConnectException: 'Connection refused'\. \(is Cassandra running\?/);
      } finally {
        await source.sim!.start();
      }
    });

    it('clears the snapshot and keeps no partial object when storage fails', async () => {
      const config = yaml.load(await readFile(source.configFile, 'utf8')) as Record<string, unknown>;
      const blocked = path.join(base, 'blocked');
      await writeFile(blocked, 'a file where the store directory should be');
      const badStore = path.join(base, 'bad-store.yaml');
      await writeFile(badStore, yaml.dump({ ...config, backup_local_path: path.join(blocked, 'store') }));
      const result = await runAgent(['backup', '--config', badStore, '--backup-id', 'store-fail']);
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.match(/ENOTDIR|not a directory/);
      const live = await digestTree(source.dataDirs[0]!);
      expect([...live.keys()].filter((n) => n.includes('/snapshots/store-fail/'))).to.deep.equal([]);
    });
  });

  describe('usage and configuration', () => {
    it('exits 2 on bad usage, naming the problem', async () => {
      const both = await runAgent(['backup', '--config', source.configFile, '--keyspaces', 'a', '--tables', 'a.b']);
      expect(both.exitCode).to.equal(2);
      expect(both.stderr).to.match(/--keyspaces and --tables cannot be used together/);
      const badId = await runAgent(['backup', '--config', source.configFile, '--backup-id', '../etc']);
      expect(badId.exitCode).to.equal(2);
      expect(badId.stderr).to.match(/--backup-id '\.\.\/etc': use letters, digits/);
      const noId = await runAgent(['restore', '--config', source.configFile]);
      expect(noId.exitCode).to.equal(2);
      expect(noId.stderr).to.match(/--backup-id is required/);
      const unknown = await runAgent(['frobnicate']);
      expect(unknown.exitCode).to.equal(2);
    });

    it('exits 2 on a --log-format serve does not know, before reading any configuration', async () => {
      const result = await runAgent(['serve', '--config', path.join(base, 'no-such.yaml'), '--log-format', 'xml']);
      expect(result.exitCode).to.equal(2);
      expect(result.stderr.trim()).to.equal("guest-agent serve: --log-format 'xml': use auto, json, text");
    });

    it('exits 2 with one line naming the file and key of a bad configuration', async () => {
      const file = path.join(base, 'bad.yaml');
      await writeFile(file, 'cassandra_yaml: /x\nnodetool_comand: [nodetool]\n');
      const result = await runAgent(['backup', '--config', file]);
      expect(result.exitCode).to.equal(2);
      expect(result.stderr.trim()).to.equal(`guest-agent backup: ${file}: unknown key 'nodetool_comand' (did you mean 'nodetool_command'?)`);
    });

    it('prints help for every command, exit 0', async () => {
      for (const args of [['--help'], ['backup', '--help'], ['restore', '--help']]) {
        const result = await runAgent(args);
        expect(result.exitCode, args.join(' ')).to.equal(0);
        expect(result.stdout).to.match(/^Usage: guest-agent/);
      }
    });

    it('gives one JSON summary on stdout with --json, also on failure', async () => {
      const result = await runAgent(['restore', '--config', target.configFile, '--backup-id', 'nope', '--json']);
      expect(result.exitCode).to.equal(1);
      expect(result.json).to.deep.include({ ok: false, command: 'restore', exit_code: 1 });
      expect((result.json!.error as { type: string }).type).to.equal('BackupNotFoundError');
    });
  });

  function withoutSystemKeyspace(files: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(files).filter(([name]) => !name.startsWith('system/')));
  }

  /** A copy of the target's configuration whose data directory lives on a small tmpfs. */
  async function nodeOnTmpfs(name: string, bytes: number): Promise<NodeUnderTest> {
    const node = await createNodeUnderTest(path.join(base, name), stores, { seed: 6 });
    const mount = path.join(base, `${name}-mnt`);
    await mkdir(mount, { recursive: true });
    await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', mount]);
    const dataDir = path.join(mount, 'data');
    await mkdir(dataDir);
    const cassandraYaml = yaml.load(await readFile(node.sim!.cassandraYaml, 'utf8')) as Record<string, unknown>;
    await writeFile(node.sim!.cassandraYaml, yaml.dump({ ...cassandraYaml, data_file_directories: [dataDir] }));
    await node.sim!.start();
    return { ...node, dataDirs: [dataDir] };
  }
});
