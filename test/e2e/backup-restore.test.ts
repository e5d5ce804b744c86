import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { execa } from 'execa';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import { runAgent } from '../support/agent-runner.js';
import { cqlLogin } from '../support/cql-login.js';
import { readArchive } from '../support/archive-reader.js';
import { createNodeUnderTest, localRecordFile, restoreLeftovers, type AgentStores, type NodeUnderTest, readCatalogRecord } from '../support/e2e-nodes.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { s3AgentSettings, swiftAgentSettings, swiftTestAccount } from '../support/object-store-env.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { digestTree } from '../support/tree-digest.js';

const USER_TABLES = [
  { keyspace: 'shop', table: 'orders', sstables: 3, bytes: 300_000 },
  { keyspace: 'shop', table: 'customers', sstables: 2, bytes: 120_000 },
  { keyspace: 'metrics', table: 'events', sstables: 2, bytes: 200_000 },
];
const execFileAsync = promisify(execFile);
const SYSTEM_KEYSPACES = ['system', 'system_schema', 'system_auth', 'system_distributed', 'system_traces'];

describe('guest-agent backup and restore, end to end', function () {
  this.timeout(180_000);
  let base: string;
  let stores: AgentStores;
  let source: NodeUnderTest;
  let target: NodeUnderTest;

  before(async () => {
    base = await makeTempDir('e2e');
    stores = { storePath: path.join(base, 'store') };
    source = await createNodeUnderTest(path.join(base, 'node-a'), stores, { tables: USER_TABLES, seed: 1 });
    target = await createNodeUnderTest(path.join(base, 'node-b'), stores, { tables: [{ keyspace: 'shop', table: 'orders', sstables: 1, bytes: 10_000 }], seed: 2 });
    await source.sim!.start();
    await target.sim!.start();
  });

  after(async () => {
    await stopAllSimNodes();
    await removeDir(base);
  });

  const record = (id: string): Promise<BackupRecord> => readCatalogRecord(source.configFile, id);
  const objectFile = (rec: BackupRecord): string => new URL(rec.location).pathname;

  /** Data directories as they are, minus what Cassandra changes by itself. */
  const liveState = async (node: NodeUnderTest) => Promise.all(node.dataDirs.map((dir) => digestTree(dir)));

  describe('a full backup', () => {
    let rec: BackupRecord;

    it('streams every snapshot file as <keyspace>/<table-dir>/<file> and records it', async () => {
      const run = await runAgent(['backup', '--config', source.configFile, '--backup-id', 'full-1', '--json']);
      expect(run.exitCode, run.stderr).to.equal(0);
      expect(run.json).to.include({ ok: true, command: 'backup' });
      rec = await record('full-1');
      expect(rec).to.include({ id: 'full-1', state: 'COMPLETED', type: 'full', strategy: 'NodetoolSnapshot', compression: 'none' });
      expect((run.json!.backup as BackupRecord).sha256).to.equal(rec.sha256);

      const stored = await readFile(objectFile(rec));
      expect(stored.length).to.equal(rec.stored_bytes);
      expect(createHash('sha256').update(stored).digest('hex')).to.equal(rec.sha256);

      const archive = await readArchive(objectFile(rec));
      expect(archive.size).to.equal(rec.file_count);
      expect([...archive.values()].reduce((s, f) => s + f.size, 0)).to.equal(rec.raw_bytes);
      for (const name of archive.keys()) expect(name).to.match(/^[^/]+\/[^/]+-[0-9a-f]{32}\/[^/]+$/);
      const keyspaces = new Set([...archive.keys()].map((n) => n.split('/')[0]));
      for (const ks of SYSTEM_KEYSPACES) expect(keyspaces, `system keyspace ${ks}`).to.include(ks);

      // Every table has its manifest; schema.cql only for user keyspaces.
      const tableDirs = new Set([...archive.keys()].map((n) => n.split('/').slice(0, 2).join('/')));
      for (const dir of tableDirs) expect(archive.has(`${dir}/manifest.json`), `${dir}/manifest.json`).to.equal(true);
      for (const dir of tableDirs) {
        const isSystem = SYSTEM_KEYSPACES.includes(dir.split('/')[0]!);
        expect(archive.has(`${dir}/schema.cql`), `${dir}/schema.cql`).to.equal(!isSystem);
      }
      expect(rec.archived_tables.filter((t) => t.schema).map((t) => t.keyspace).sort()).to.satisfy((ks: string[]) => ks.every((k) => !SYSTEM_KEYSPACES.includes(k)));
    });

    it('archives exactly the live SSTables of the node, byte for byte', async () => {
      const archive = await readArchive(objectFile(rec));
      const live = (await liveState(source))[0]!;
      for (const [name, file] of archive) {
        if (name.endsWith('/manifest.json') || name.endsWith('/schema.cql')) continue;
        expect(live.get(name), `${name} is a live file with the same bytes`).to.equal(file.sha256);
      }
      for (const name of live.keys()) {
        const [keyspace] = name.split('/');
        if (name.includes('/snapshots/') || name.includes('/backups/') || SYSTEM_KEYSPACES.includes(keyspace!)) continue;
        expect(archive.has(name), `live user file ${name} is archived`).to.equal(true);
      }
    });

    it('records the facts a restore needs', () => {
      expect(rec.cluster_name).to.equal('Test Cluster');
      expect(rec.cassandra_version).to.match(/^\d+\.\d+/);
      expect(rec.ring.tokens.length).to.be.greaterThan(0);
      expect(rec.data_directory_count).to.equal(source.dataDirs.length);
      const schemas = rec.archived_tables.filter((t) => t.schema);
      expect(schemas.length).to.be.greaterThan(0);
      for (const t of schemas) expect(t.schema).to.match(/^CREATE TABLE IF NOT EXISTS /m);
    });

    it('clears its snapshot afterwards', async () => {
      const live = await liveState(source);
      expect([...live[0]!.keys()].filter((n) => n.includes('/snapshots/full-1/'))).to.deep.equal([]);
    });
  });

  describe('a restore', () => {
    it('puts the backup in place on another node, byte for byte, and starts it', async () => {
      const rec = await record('full-1');
      const archive = await readArchive(objectFile(rec));
      const run = await runAgent(['restore', '--config', target.configFile, '--backup-id', 'full-1', '--json']);
      expect(run.exitCode, run.stderr).to.equal(0);
      expect(run.json).to.include({ ok: true, command: 'restore' });
      expect(await target.sim!.isRunning()).to.equal(true);

      const restored = (await liveState(target))[0]!;
      for (const [name, file] of archive) {
        const keyspace = name.split('/')[0]!;
        // Cassandra rewrites some system tables at start-up (size estimates, local); user data must be untouched.
        if (SYSTEM_KEYSPACES.includes(keyspace) && !restored.has(name)) continue;
        if (keyspace === 'system') continue;
        expect(restored.get(name), `${name} restored byte for byte`).to.equal(file.sha256);
      }
      expect(await restoreLeftovers(target)).to.deep.equal([]);
    });

    it('empties the commitlog, so a crashed node replays none of its old writes over the restored data', async function () {
      const node = await createNodeUnderTest(path.join(base, 'replay'), stores, { seed: 21 });
      await node.sim!.start();
      const backup = await runAgent(['backup', '--config', node.configFile, '--backup-id', 'replay-1']);
      expect(backup.exitCode, backup.stderr).to.equal(0);
      // Unflushed writes, then a crash: they are only in the commitlog.
      await node.sim!.write('shop', 'orders', 50_000);
      await node.sim!.kill();

      const restore = await runAgent(['restore', '--config', node.configFile, '--backup-id', 'replay-1']);
      expect(restore.exitCode, restore.stderr).to.equal(0);
      const archived = [...(await readArchive(objectFile(await record('replay-1')))).keys()].filter((n) => n.startsWith('shop/orders-'));
      const live = [...(await liveState(node))[0]!.keys()].filter((n) => n.startsWith('shop/orders-') && !/\/(snapshots|backups)\//.test(n));
      expect(live.sort()).to.deep.equal(archived.sort());
    });
  });

  describe('the identity of a restored node', () => {
    it("gives it a cluster name of its own and the agent's superuser password, in two starts", async function () {
      const auth = { authenticator: 'PasswordAuthenticator', authCacheValidityMs: 200 } as const;
      const from = await createNodeUnderTest(path.join(base, 'id-source'), stores, { ...auth, clusterName: 'Source Cluster', tables: USER_TABLES, seed: 41 });
      const into = await createNodeUnderTest(path.join(base, 'id-target'), stores, { ...auth, seed: 42 });
      await from.sim!.start();
      await into.sim!.start();
      try {
        const backup = await runAgent(['backup', '--config', from.configFile, '--backup-id', 'identity-1']);
        expect(backup.exitCode, backup.stderr).to.equal(0);
        const restore = await runAgent(['restore', '--config', into.configFile, '--backup-id', 'identity-1']);
        expect(restore.exitCode, restore.stderr).to.equal(0);
        expect(restore.stdout).to.match(/as cluster 'id-target' with the agent's superuser password \(2 starts\)/);

        const yamlText = await readFile(into.sim!.cassandraYaml, 'utf8');
        expect(yamlText).to.match(/^cluster_name: 'id-target'$/m);
        expect(yamlText, 'authentication back as it was').to.match(/^authenticator: PasswordAuthenticator$/m);
        expect((await into.sim!.nodetool(['describecluster'])).stdout).to.contain('Name: id-target');
        expect((await into.sim!.nodetool(['status'])).stdout).to.match(/^UN {2}127\.0\.0\.1/m);

        const credentialsFile = path.join(into.sim!.root, 'agent-admin-credentials.json');
        expect((await stat(credentialsFile)).mode & 0o777).to.equal(0o600);
        const credentials = JSON.parse(await readFile(credentialsFile, 'utf8')) as { username: string; password: string };
        expect(credentials.username).to.equal('cassandra');
        expect(restore.stdout + restore.stderr).to.not.contain(credentials.password);
        expect(await cqlLogin(into, 'cassandra', credentials.password)).to.equal(undefined);
        const refused = await cqlLogin(into, 'cassandra', 'cassandra');
        expect(refused?.message).to.match(/Provided username cassandra and\/or password are incorrect/);
      } finally {
        await from.sim!.stop();
        await into.sim!.stop();
      }
    });

    it('rolls the restore back when the restored node refuses the new password hash, and says so', async function () {
      const auth = { authenticator: 'PasswordAuthenticator', authCacheValidityMs: 200 } as const;
      const from = await createNodeUnderTest(path.join(base, 'hash-source'), stores, { ...auth, tables: USER_TABLES, seed: 43 });
      const into = await createNodeUnderTest(path.join(base, 'hash-target'), stores, { ...auth, seed: 44 });
      await from.sim!.start();
      await into.sim!.start();
      try {
        const backup = await runAgent(['backup', '--config', from.configFile, '--backup-id', 'hash-1']);
        expect(backup.exitCode, backup.stderr).to.equal(0);
        const yamlBefore = await readFile(into.sim!.cassandraYaml, 'utf8');
        const userFilesBefore = [...(await digestTree(into.dataDirs[0]!, ['snapshots'])).entries()].filter(([n]) => !n.startsWith('system'));
        // A $2b$ hash, which Cassandra's jBCrypt refuses ("Invalid salt revision"): the UPDATE succeeds, the login cannot.
        const restore = await runAgent(['restore', '--config', into.configFile, '--backup-id', 'hash-1'], { CASSANDRA_GUEST_AGENT_FAILPOINT: 'identity:unaccepted-hash' });
        expect(restore.exitCode).to.equal(1);
        expect(restore.stderr).to.match(/restore hash-1 failed and was rolled back, the node runs on its old data again: the restored node does not accept the new credentials: .*password are incorrect/);
        expect(await into.sim!.isRunning()).to.equal(true);
        expect(await readFile(into.sim!.cassandraYaml, 'utf8')).to.equal(yamlBefore);
        const userFilesAfter = [...(await digestTree(into.dataDirs[0]!, ['snapshots'])).entries()].filter(([n]) => !n.startsWith('system'));
        expect(userFilesAfter).to.deep.equal(userFilesBefore);
        expect(await cqlLogin(into, 'cassandra', 'cassandra'), 'the old superuser password works again').to.equal(undefined);
        expect(await restoreLeftovers(into)).to.deep.equal([]);
      } finally {
        await from.sim!.stop();
        await into.sim!.stop();
      }
    });
  });

  describe('selections, layouts and ownership', () => {
    const archivedKeyspaceTables = async (id: string): Promise<string[]> => {
      const archive = await readArchive(objectFile(await record(id)));
      const tables = [...archive.keys()].map((name) => {
        const [keyspace, directory] = name.split('/');
        return `${keyspace}.${directory!.replace(/-[0-9a-f]{32}$/, '')}`;
      });
      return [...new Set(tables)].sort();
    };

    it('backs up only the keyspaces asked for', async () => {
      const run = await runAgent(['backup', '--config', source.configFile, '--backup-id', 'ks-1', '--keyspaces', 'shop']);
      expect(run.exitCode, run.stderr).to.equal(0);
      expect(await archivedKeyspaceTables('ks-1')).to.deep.equal(['shop.customers', 'shop.orders']);
      expect((await record('ks-1')).keyspaces).to.deep.equal(['shop']);
    });

    it('backs up only the tables asked for', async () => {
      const run = await runAgent(['backup', '--config', source.configFile, '--backup-id', 'kt-1', '--tables', 'shop.orders,metrics.events']);
      expect(run.exitCode, run.stderr).to.equal(0);
      expect(await archivedKeyspaceTables('kt-1')).to.deep.equal(['metrics.events', 'shop.orders']);
    });

    it('keeps each file in its data directory across several data_file_directories', async function () {
      const multiA = await createNodeUnderTest(path.join(base, 'multi-a'), stores, { dataDirCount: 2, tables: USER_TABLES, seed: 11 });
      const multiB = await createNodeUnderTest(path.join(base, 'multi-b'), stores, { dataDirCount: 2, seed: 12 });
      await multiA.sim!.start();
      await multiB.sim!.start();
      const backup = await runAgent(['backup', '--config', multiA.configFile, '--backup-id', 'multi-1']);
      expect(backup.exitCode, backup.stderr).to.equal(0);
      const archive = await readArchive(objectFile(await record('multi-1')));
      expect(new Set([...archive.values()].map((f) => f.dataDirIndex))).to.deep.equal(new Set([0, 1]));

      const restore = await runAgent(['restore', '--config', multiB.configFile, '--backup-id', 'multi-1']);
      expect(restore.exitCode, restore.stderr).to.equal(0);
      const [first, second] = await liveState(multiB);
      for (const [name, file] of archive) {
        if (name.startsWith('system/')) continue;
        const restoredIn = file.dataDirIndex === 0 ? first! : second!;
        expect(restoredIn.get(name), `${name} back in data directory ${file.dataDirIndex}`).to.equal(file.sha256);
      }
    });

    it('gives restored files the owner of the data directory they replace', async function () {
      if (process.getuid?.() !== 0) this.skip(); // only root can give files away
      const owned = await createNodeUnderTest(path.join(base, 'owned'), stores, { seed: 13 });
      await execFileAsync('chown', ['-R', '65534:65534', owned.dataDirs[0]!]);
      await owned.sim!.start();
      const restore = await runAgent(['restore', '--config', owned.configFile, '--backup-id', 'ks-1']);
      expect(restore.exitCode, restore.stderr).to.equal(0);
      const { stdout } = await execFileAsync('find', [owned.dataDirs[0]!, '-path', '*/shop/*', '-printf', '%u:%g\\n']);
      expect([...new Set(stdout.trim().split('\n'))]).to.deep.equal(['nobody:nogroup']);
    });
  });

  describe('through the object stores', () => {
    const stores: { name: string; settings: (bucket: string) => Record<string, unknown>; location: (bucket: string) => string; cleanUp: (bucket: string) => Promise<unknown> }[] = [
      {
        name: 'OpenStack Swift (Trove layout, several segments)',
        settings: (container) => swiftAgentSettings(container),
        location: (container) => `http://127.0.0.1:8080/v1/AUTH_test/${container}/store-1.tar`,
        // Deleting the manifest removes its segments too, so the client's own segment deletes may 404.
        cleanUp: (container) => execFileAsync('swift', ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key, 'delete', container]).catch(() => undefined),
      },
      {
        name: 'S3 (through s3api, with a prefix)',
        settings: (bucket) => s3AgentSettings(bucket, { prefix: 'cluster-a' }),
        location: (bucket) => `s3://${bucket}/cluster-a/store-1.tar`,
        cleanUp: (bucket) => execFileAsync('swift', ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key, 'delete', bucket]).catch(() => undefined),
      },
    ];

    for (const store of stores) {
      it(`backs up into ${store.name} and restores from it, byte for byte`, async function () {
        const bucket = `e2e-${store.settings('x').storage_strategy}-${process.pid}`;
        const catalogs = { storePath: path.join(base, `unused-${bucket}`) };
        const a = await createNodeUnderTest(path.join(base, `${bucket}-a`), catalogs, { tables: USER_TABLES, seed: 31 }, store.settings(bucket));
        const b = await createNodeUnderTest(path.join(base, `${bucket}-b`), catalogs, { seed: 32 }, store.settings(bucket));
        await a.sim!.start();
        await b.sim!.start();
        try {
          const backup = await runAgent(['backup', '--config', a.configFile, '--backup-id', 'store-1', '--json']);
          expect(backup.exitCode, backup.stderr).to.equal(0);
          const rec = await readCatalogRecord(a.configFile, 'store-1');
          expect(rec.location).to.equal(store.location(bucket));

          const restore = await runAgent(['restore', '--config', b.configFile, '--backup-id', 'store-1']);
          expect(restore.exitCode, restore.stderr).to.equal(0);
          const original = (await liveState(a))[0]!;
          const restored = (await liveState(b))[0]!;
          for (const [name, digest] of original) {
            if (name.startsWith('system/') || /\/(snapshots|backups)\//.test(name)) continue;
            expect(restored.get(name), `${name} restored`).to.equal(digest);
          }
        } finally {
          await a.sim!.stop();
          await b.sim!.stop();
          await store.cleanUp(bucket);
        }
      });
    }
  });

  describe('compressions', () => {
    /** User data of the source as the target now has it, file by file. */
    const expectUserDataRestored = async (): Promise<void> => {
      const original = (await liveState(source))[0]!;
      const restored = (await liveState(target))[0]!;
      for (const [name, digest] of original) {
        if (SYSTEM_KEYSPACES.includes(name.split('/')[0]!) || /\/(snapshots|backups)\//.test(name)) continue;
        expect(restored.get(name), `${name} restored byte for byte`).to.equal(digest);
      }
    };

    for (const [compression, suffix] of [['zstd', '.tar.zst'], ['lz4', '.tar.lz4']] as const) {
      it(`backs up with ${compression} and restores byte for byte, the record telling how to decompress`, async () => {
        const id = `${compression}-1`;
        const backup = await runAgent(['backup', '--config', source.configFile, '--backup-id', id], { GUEST_AGENT_BACKUP_COMPRESSION: compression });
        expect(backup.exitCode, backup.stderr).to.equal(0);
        const rec = await record(id);
        expect(rec).to.include({ compression, object_key: `${id}${suffix}` });
        // A real .tar.zst / .tar.lz4: the command-line tool checks it whole.
        await execFileAsync(compression, ['-t', '-q', objectFile(rec)]);

        // The target's configuration says nothing of the compression.
        const restore = await runAgent(['restore', '--config', target.configFile, '--backup-id', id]);
        expect(restore.exitCode, restore.stderr).to.equal(0);
        await expectUserDataRestored();
      });
    }

    it('restores an archive made by tar | lzop, as the seed tool stored them', async () => {
      const plain = await runAgent(['backup', '--config', source.configFile, '--backup-id', 'lzop-src'], { GUEST_AGENT_BACKUP_COMPRESSION: 'none' });
      expect(plain.exitCode, plain.stderr).to.equal(0);
      const template = await record('lzop-src');
      const tree = path.join(base, 'lzop-tree');
      await mkdir(tree);
      await execa('tar', ['-C', tree, '-xf', objectFile(template)]);
      const objectPath = path.join(stores.storePath, 'lzop-1.tar.lzo');
      await execa('tar', ['-C', tree, '-cf', '-', ...(await readdir(tree)).sort()]).pipe('lzop', ['-c'], { stdout: { file: objectPath } });
      const object = await readFile(objectPath);
      // Our record beside it, as for any backup: there is no record-less restore from a local store.
      await writeFile(
        localRecordFile(stores, 'lzop-1'),
        JSON.stringify({
          ...template,
          // The seed tool recorded no file manifest.
          files: undefined,
          id: 'lzop-1',
          object_key: 'lzop-1.tar.lzo',
          compression: 'lzop',
          stored_bytes: object.length,
          sha256: createHash('sha256').update(object).digest('hex'),
          location: `file://${objectPath}`,
        }),
      );

      const restore = await runAgent(['restore', '--config', target.configFile, '--backup-id', 'lzop-1']);
      expect(restore.exitCode, restore.stderr).to.equal(0);
      await expectUserDataRestored();
    });
  });
});
