import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import amqp from 'amqplib';
import { execa } from 'execa';
import { expect } from 'chai';
import { findSnapshotFiles } from '../../src/cassandra/data-layout.js';
import { runAgent } from '../support/agent-runner.js';
import { createNodeUnderTest, restoreLeftovers, type NodeUnderTest } from '../support/e2e-nodes.js';
import { swiftTestAccount } from '../support/object-store-env.js';
import { ServingAgent } from '../support/serving-agent.js';
import { stopAllSimNodes } from '../support/sim-node/index.js';
import { RABBIT_URL, TestControlPlane } from '../support/test-control-plane.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { digestTree } from '../support/tree-digest.js';

/** Incompressible enough that the gzip archive spans several 1 MiB segments. */
const TABLES = [
  { keyspace: 'shop', table: 'orders', sstables: 3, bytes: 2_000_000 },
  { keyspace: 'shop', table: 'customers', sstables: 2, bytes: 800_000 },
  { keyspace: 'metrics', table: 'events', sstables: 2, bytes: 900_000 },
];
const USER_KEYSPACES = new Set(TABLES.map((t) => t.keyspace));
const SEGMENT_SIZE = 1024 * 1024;

const swiftEnv = { ST_AUTH: swiftTestAccount.authUrl, ST_USER: swiftTestAccount.user, ST_KEY: swiftTestAccount.key };
const swift = (args: string[]) => execa('swift', args, { env: swiftEnv, timeout: 120_000 });

/**
 * Trove's old NodetoolSnapshot pipeline as an operator's shell runs it: every
 * file of snapshot $2 under data directory $1, with `snapshots/<tag>/` cut out
 * of its path, one TAR, gzip, `swift upload` of stdin as object $3 into
 * container $4, with the options that follow ($5...). With OPENSSL_KDF set,
 * encrypted between gzip and the upload exactly as Trove's strategies did:
 * `openssl enc -aes-256-cbc -salt $OPENSSL_KDF -pass pass:$TROVE_KEY`.
 */
const UPLOAD_PIPELINE = `set -euo pipefail
cd "$1"
encrypt() { if [ -n "\${OPENSSL_KDF:-}" ]; then openssl enc -aes-256-cbc -salt $OPENSSL_KDF -pass "pass:$TROVE_KEY"; else cat; fi; }
find . -path "*/snapshots/$2/*" -type f -printf '%P\\n' | sort \\
  | tar --transform "s#snapshots/$2/##" -cf - -T - \\
  | gzip \\
  | encrypt \\
  | swift upload "\${@:5}" --object-name "$3" "$4" -`;

/**
 * Trove 13's NodetoolSnapshot backup, as its cassandra_impl runs it: the
 * snapshot's *.db files by their absolute paths (tar -P), the snapshot
 * directory taken out of each name, gzip, openssl enc; uploaded as one
 * object <id>.tar.gz.enc. Arguments: data directory, snapshot tag, object, container.
 */
const TROVE13_PIPELINE = `set -euo pipefail
mapfile -t files < <(find "$1" -path "*/snapshots/$2/*" -type f -name '*.db' | sort)
tar --transform="s#snapshots/$2/##" -cpPf - -C "$1" "\${files[@]}" \
  | gzip \
  | openssl enc -aes-256-cbc -salt -md sha256 -pass "pass:$TROVE_KEY" \
  | swift upload --object-name "$3" "$4" -`;

/** Trove's backup_aes_cbc_key in these tests. */
const TROVE_KEY = 'trove-backup-passphrase-for-tests';

/** `openssl enc` key derivation options: Trove's guests on OpenSSL < 1.1 (md5), >= 1.1 (sha256), newer Trove (PBKDF2). */
const OPENSSL_KDF = {
  md5: '-md md5',
  sha256: '-md sha256',
  pbkdf2: '-pbkdf2 -iter 10000 -md sha512',
};

interface ForeignArchive {
  id: string;
  objectKey: string;
  /** Swift's ETag of the object, as Trove records it. */
  etag: string;
  /** `<keyspace>/<table-dir>/<file>` → SHA-256 of every file archived. */
  files: Map<string, string>;
}


/** The Trove instance the archives come from: also its Cassandra cluster's name, as Trove sets it. */
const SOURCE_CLUSTER = 'trove-source-instance';
describe('guest-agent restore of an archive without a catalog record (Trove layout, real Swift)', function () {
  this.timeout(240_000);
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const container = `foreign-${run}`;
  const conductorTopic = `trove-conductor-foreign-${run}`;
  const queues: string[] = [conductorTopic];
  const swiftSettings = {
    storage_strategy: 'swift',
    swift_auth_url: swiftTestAccount.authUrl,
    swift_user: swiftTestAccount.user,
    swift_key: swiftTestAccount.key,
    backup_swift_container: container,
  };
  let base: string;
  let source: NodeUnderTest;
  let slo: ForeignArchive;
  let serving: ServingAgent | undefined;
  let plane: TestControlPlane | undefined;

  /**
   * Snapshot `id` on the source node, archived and uploaded by the shell
   * pipeline, then cleared; encrypted as Trove did when `encrypt` names the
   * `openssl enc` key derivation options, and then named `<id><suffix>`.
   */
  async function uploadFromSnapshot(id: string, uploadOptions: string[], encrypt?: { kdf: string; suffix: '.tar.gz.enc' | '.gz.enc' }): Promise<ForeignArchive> {
    const objectKey = `${id}${encrypt?.suffix ?? '.tar.gz'}`;
    const snapshot = await source.sim!.nodetool(['snapshot', '-t', id]);
    expect(snapshot.exitCode, snapshot.stderr).to.equal(0);
    try {
      const files = new Map<string, string>();
      for (const file of (await findSnapshotFiles(source.dataDirs, id)).files) {
        files.set(file.entryName, createHash('sha256').update(await readFile(file.sourcePath)).digest('hex'));
      }
      const env = { ...swiftEnv, ...(encrypt ? { OPENSSL_KDF: encrypt.kdf, TROVE_KEY } : {}) };
      await execa('bash', ['-c', UPLOAD_PIPELINE, 'upload', source.dataDirs[0]!, id, objectKey, container, ...uploadOptions], { env, timeout: 120_000 });
      return { id, objectKey, etag: await etagOf(objectKey), files };
    } finally {
      await source.sim!.nodetool(['clearsnapshot', '-t', id]);
    }
  }

  async function etagOf(objectKey: string): Promise<string> {
    const stat = await swift(['stat', container, objectKey]);
    const etag = /^\s*ETag: "?([0-9a-f]{32})"?$/m.exec(stat.stdout)?.[1];
    if (!etag) throw new Error(`no ETag in 'swift stat ${container} ${objectKey}':\n${stat.stdout}`);
    return etag;
  }

  async function segmentsOf(archive: ForeignArchive): Promise<string[]> {
    const listing = await swift(['list', `${container}_segments`, '--prefix', `${archive.objectKey}/`]);
    return listing.stdout.split('\n').filter(Boolean).sort();
  }

  const newNode = (name: string, seed: number, extra: Record<string, unknown> = {}) =>
    createNodeUnderTest(path.join(base, name), { storePath: path.join(base, 'unused-local-store') }, { seed }, { ...swiftSettings, ...extra });

  /** Every archived file of a user keyspace is in the node's data directory with the same bytes. */
  async function expectRestored(node: NodeUnderTest, archive: ForeignArchive): Promise<void> {
    const live = await digestTree(node.dataDirs[0]!);
    let checked = 0;
    for (const [name, digest] of archive.files) {
      if (!USER_KEYSPACES.has(name.split('/')[0]!)) continue;
      expect(live.get(name), `${name} restored byte for byte`).to.equal(digest);
      checked += 1;
    }
    expect(checked).to.be.greaterThan(TABLES.length);
  }

  before(async () => {
    base = await makeTempDir('foreign');
    // Trove names a Cassandra cluster after its instance: the source's system.local saves that name.
    source = await createNodeUnderTest(path.join(base, 'source'), { storePath: path.join(base, 'unused-local-store') }, { tables: TABLES, seed: 41, clusterName: SOURCE_CLUSTER });
    await source.sim!.start();
    slo = await uploadFromSnapshot(`trove-slo-${run}`, ['--use-slo', '-S', String(SEGMENT_SIZE)]);
  });

  afterEach(async () => {
    await serving?.stop('SIGTERM');
    serving = undefined;
  });

  after(async () => {
    await plane?.close();
    if (queues.length > 1) {
      const connection = await amqp.connect(RABBIT_URL);
      const channel = await connection.createChannel();
      for (const queue of queues) await channel.deleteQueue(queue).catch(() => undefined);
      await connection.close();
    }
    await stopAllSimNodes();
    // Deleting the manifests removes their segments; what is left goes with the containers.
    for (const name of [container, `${container}_segments`]) await swift(['delete', name]).catch(() => undefined);
    await removeDir(base);
  });

  it('restores a Static Large Object uploaded with swift upload --use-slo, byte for byte, verified by its ETag', async () => {
    expect((await segmentsOf(slo)).length, 'segments of the uploaded archive').to.be.at.least(3);
    const target = await newNode('target-slo', 51);
    await target.sim!.start();
    const before = await digestTree(target.dataDirs[0]!);

    const restore = await runAgent(['restore', '--source-cluster-name', SOURCE_CLUSTER, '--config', target.configFile, '--backup-id', slo.id]);
    expect(restore.exitCode, restore.stderr).to.equal(0);
    expect(restore.stderr).to.contain(`backup ${slo.id} has no catalog record`);
    expect(restore.stderr).to.contain(`verified by its ETag ${slo.etag}`);
    expect(restore.stdout).to.match(new RegExp(`restore of ${slo.id} COMPLETED`));
    await expectRestored(target, slo);
    // The node's own tables before the restore are gone: the archive replaced its data.
    const after = await digestTree(target.dataDirs[0]!);
    const oldUserFiles = [...before.keys()].filter((name) => USER_KEYSPACES.has(name.split('/')[0]!) && !slo.files.has(name));
    expect(oldUserFiles.length).to.be.greaterThan(0);
    expect(oldUserFiles.filter((name) => after.has(name))).to.deep.equal([]);
    expect(await restoreLeftovers(target)).to.deep.equal([]);
  });

  it('refuses an archive one of whose segments was replaced, naming the segment, and leaves the node untouched', async () => {
    const tampered = await uploadFromSnapshot(`trove-tampered-${run}`, ['--use-slo', '-S', String(SEGMENT_SIZE)]);
    const segments = await segmentsOf(tampered);
    const replaced = segments[1]!;
    const impostor = path.join(base, 'impostor-segment');
    await writeFile(impostor, randomBytes(SEGMENT_SIZE));
    await swift(['upload', '--object-name', replaced, `${container}_segments`, impostor]);

    const target = await newNode('target-tampered', 52);
    await target.sim!.start();
    const before = await digestTree(target.dataDirs[0]!);
    const restore = await runAgent(['restore', '--source-cluster-name', SOURCE_CLUSTER, '--config', target.configFile, '--backup-id', tampered.id]);
    expect(restore.exitCode, restore.stderr).to.equal(1);
    expect(restore.stderr).to.contain(`segment 2 of ${segments.length} of ${tampered.objectKey} (${container}_segments/${replaced}) was replaced after the upload`);
    expect(await digestTree(target.dataDirs[0]!)).to.deep.equal(before);
    expect(await restoreLeftovers(target)).to.deep.equal([]);
    expect(await target.sim!.isRunning(), 'node still running').to.equal(true);
  });

  it('refuses an archive whose ETag is not the --checksum given, before touching anything', async () => {
    const target = await newNode('target-checksum', 53);
    await target.sim!.start();
    const before = await digestTree(target.dataDirs[0]!);
    const wrong = 'a'.repeat(32);
    const restore = await runAgent(['restore', '--source-cluster-name', SOURCE_CLUSTER, '--config', target.configFile, '--backup-id', slo.id, '--checksum', wrong]);
    expect(restore.exitCode, restore.stderr).to.equal(1);
    expect(restore.stderr).to.contain(`${slo.objectKey} has ETag ${slo.etag} (the MD5 of the`);
    expect(restore.stderr).to.contain(`but the checksum given for it is ${wrong}`);
    expect(await digestTree(target.dataDirs[0]!)).to.deep.equal(before);
    expect(await restoreLeftovers(target)).to.deep.equal([]);
  });

  it('restores an archive stored whole (no segments) when --checksum is its MD5', async () => {
    const whole = await uploadFromSnapshot(`trove-whole-${run}`, []);
    const target = await newNode('target-whole', 54);
    await target.sim!.start();
    const restore = await runAgent(['restore', '--source-cluster-name', SOURCE_CLUSTER, '--config', target.configFile, '--backup-id', whole.id, '--checksum', whole.etag]);
    expect(restore.exitCode, restore.stderr).to.equal(0);
    expect(restore.stderr).to.contain(`verified by its ETag ${whole.etag} (the MD5 of the object)`);
    await expectRestored(target, whole);
  });

  describe("encrypted archives of Trove's old strategy (tar | gzip | openssl enc -aes-256-cbc -salt)", () => {
    let encrypted: ForeignArchive;
    before(async () => {
      encrypted = await uploadFromSnapshot(`trove-enc-${run}`, ['--use-slo', '-S', String(SEGMENT_SIZE)], { kdf: OPENSSL_KDF.sha256, suffix: '.tar.gz.enc' });
    });

    /** The node as a refused restore must leave it: same files, still running, nothing beside it. */
    async function expectRefused(target: NodeUnderTest, id: string, exitCode: number, message: RegExp, env: NodeJS.ProcessEnv = {}): Promise<void> {
      const before = await digestTree(target.dataDirs[0]!);
      const restore = await runAgent(['restore', '--source-cluster-name', SOURCE_CLUSTER, '--config', target.configFile, '--backup-id', id], env);
      expect(restore.exitCode, restore.stderr).to.equal(exitCode);
      expect(restore.stderr).to.match(message);
      expect(restore.stderr + restore.stdout).not.to.include(TROVE_KEY);
      expect(await digestTree(target.dataDirs[0]!), 'node untouched').to.deep.equal(before);
      expect(await restoreLeftovers(target)).to.deep.equal([]);
      expect(await target.sim!.isRunning(), 'node still running').to.equal(true);
    }

    it('restores <id>.tar.gz.enc (-md sha256, a Static Large Object) with trove_backup_aes_cbc_key from the environment, byte for byte', async () => {
      expect((await segmentsOf(encrypted)).length, 'segments of the uploaded archive').to.be.at.least(3);
      const target = await newNode('target-enc-sha256', 55);
      await target.sim!.start();
      const restore = await runAgent(['restore', '--source-cluster-name', SOURCE_CLUSTER, '--config', target.configFile, '--backup-id', encrypted.id], { GUEST_AGENT_TROVE_BACKUP_AES_CBC_KEY: TROVE_KEY });
      expect(restore.exitCode, restore.stderr).to.equal(0);
      expect(restore.stderr).to.contain(`restoring ${encrypted.objectKey} from swift storage, verified by its ETag ${encrypted.etag}`);
      expect(restore.stderr).to.contain('decrypted with trove_backup_aes_cbc_key (EVP_BytesToKey with SHA-256)');
      expect(restore.stderr + restore.stdout).not.to.include(TROVE_KEY);
      await expectRestored(target, encrypted);
      expect(await restoreLeftovers(target)).to.deep.equal([]);
    });

    it("restores <id>.gz.enc, the name Trove's Cassandra strategy gave, made with -md md5 (OpenSSL before 1.1)", async () => {
      const md5 = await uploadFromSnapshot(`trove-enc-md5-${run}`, [], { kdf: OPENSSL_KDF.md5, suffix: '.gz.enc' });
      const target = await newNode('target-enc-md5', 57, { trove_backup_aes_cbc_key: TROVE_KEY });
      await target.sim!.start();
      const restore = await runAgent(['restore', '--source-cluster-name', SOURCE_CLUSTER, '--config', target.configFile, '--backup-id', md5.id, '--checksum', md5.etag]);
      expect(restore.exitCode, restore.stderr).to.equal(0);
      expect(restore.stderr).to.contain('decrypted with trove_backup_aes_cbc_key (EVP_BytesToKey with MD5)');
      await expectRestored(target, md5);
    });

    it('refuses a wrong passphrase before touching the node, saying what was tried', async () => {
      const target = await newNode('target-enc-wrong', 58);
      await target.sim!.start();
      await expectRefused(
        target,
        encrypted.id,
        1,
        new RegExp(
          `backup ${encrypted.id}: ${encrypted.objectKey}: trove_backup_aes_cbc_key does not decrypt it \\(tried EVP_BytesToKey with MD5, EVP_BytesToKey with SHA-256, PBKDF2-HMAC-SHA512 with 10000 iterations\\): the passphrase is wrong`,
        ),
        { GUEST_AGENT_TROVE_BACKUP_AES_CBC_KEY: 'default_aes_cbc_key' },
      );
    });

    it('refuses it without a passphrase configured, saying which setting to set', async () => {
      const target = await newNode('target-enc-nokey', 59);
      await target.sim!.start();
      await expectRefused(target, encrypted.id, 2, new RegExp(`backup ${encrypted.id}: ${encrypted.objectKey} is encrypted by Trove's old strategy \\(openssl enc -aes-256-cbc\\) but trove_backup_aes_cbc_key is not set`));
    });
  });

  let pbkdf2Upload: Promise<ForeignArchive> | undefined;
  /** A Trove-encrypted archive as newer Trove made them, uploaded once. */
  const pbkdf2Archive = (): Promise<ForeignArchive> =>
    (pbkdf2Upload ??= uploadFromSnapshot(`trove-enc-pbkdf2-${run}`, ['--use-slo', '-S', String(SEGMENT_SIZE)], { kdf: OPENSSL_KDF.pbkdf2, suffix: '.tar.gz.enc' }));

  /**
   * prepare(backup_info) with Trove's location and the ETag as checksum, to
   * an agent on a new node (whose own container is another one: the
   * archive's comes from the location); resolves once the agent said how it went.
   */
  async function prepareFrom(archive: ForeignArchive, name: string, seed: number, extra: Record<string, unknown> = {}, beforeRequest?: (node: NodeUnderTest) => Promise<void>) {
    plane ??= await TestControlPlane.open(conductorTopic, new Map());
    const instanceId = `${name}-${run}`;
    queues.push(`guestagent.${instanceId}`);
    const target = await newNode(name, seed, {
      backup_swift_container: `${container}-agent`,
      instance_id: instanceId,
      transport_url: RABBIT_URL,
      conductor_topic: conductorTopic,
      report_interval: 1,
      log_format: 'json',
      ...extra,
    });
    await target.sim!.start();
    serving = new ServingAgent(target.configFile);
    await serving.ready();
    await beforeRequest?.(target);

    const before = plane.reports.length;
    const location = `${swiftTestAccount.authUrl.replace(/\/auth\/v1\.0$/, '')}/v1/AUTH_test/${container}/${archive.objectKey}`;
    await plane.guest(instanceId, undefined, { request_id: `req-${name}` }).prepare({
      backupInfo: { id: archive.id, instance_id: SOURCE_CLUSTER, location, type: 'full', checksum: archive.etag },
    });
    const heartbeat = (status: string) => (r: { method: string; args: Record<string, unknown> }) =>
      plane!.reports.indexOf(r as never) >= before &&
      r.method === 'heartbeat' &&
      r.args.instance_id === instanceId &&
      (r.args.payload as { service_status: string }).service_status === status;
    await plane.waitForReport(heartbeat('building'), 30_000, 'building heartbeat');
    const outcome = await serving.waitForLog((l) => l.event === 'prepare.completed' || l.event === 'prepare.failed', 120_000, 'prepare outcome');
    return { target, serving, outcome, heartbeat };
  }

  it('restores it through prepare(backup_info) with Trove\'s location and the SLO ETag as checksum', async () => {
    const { target, serving, heartbeat } = await prepareFrom(slo, 'foreign-dst', 56);
    expect(serving.logs.find((l) => l.event === 'prepare.failed'), serving.stderr).to.equal(undefined);
    await plane!.waitForReport(heartbeat('healthy'), 30_000, 'healthy heartbeat');
    expect(serving.logs.some((l) => typeof l.step === 'string' && l.step.includes(`backup ${slo.id} has no catalog record`))).to.equal(true);
    await expectRestored(target, slo);
    expect(await restoreLeftovers(target)).to.deep.equal([]);
  });

  it("restores a Trove 13 archive (tar -P: absolute names; only *.db; gzip + openssl) byte for byte through prepare onto a node of another cluster name", async () => {
    const id = `trove13-${run}`;
    const objectKey = `${id}.tar.gz.enc`;
    const snapshot = await source.sim!.nodetool(['snapshot', '-t', id]);
    expect(snapshot.exitCode, snapshot.stderr).to.equal(0);
    const files = new Map<string, string>();
    try {
      for (const file of (await findSnapshotFiles(source.dataDirs, id)).files) {
        if (file.fileName.endsWith('.db')) files.set(file.entryName, createHash('sha256').update(await readFile(file.sourcePath)).digest('hex'));
      }
      await execa('bash', ['-c', TROVE13_PIPELINE, 'trove13', source.dataDirs[0]!, id, objectKey, container], { env: { ...swiftEnv, TROVE_KEY }, timeout: 120_000 });
    } finally {
      await source.sim!.nodetool(['clearsnapshot', '-t', id]);
    }
    const listing = await execa('bash', ['-c', `swift download -o - "$1" "$2" | openssl enc -d -aes-256-cbc -md sha256 -pass "pass:$TROVE_KEY" | gunzip | tar -tPf - | head -n 1`, 'list', container, objectKey], { env: { ...swiftEnv, TROVE_KEY } });
    expect(listing.stdout, 'members are named by their absolute paths').to.match(new RegExp(`^${source.dataDirs[0]!}/`));
    const archive: ForeignArchive = { id, objectKey, etag: await etagOf(objectKey), files };
    const { target, serving, heartbeat } = await prepareFrom(archive, 'trove13-dst', 61, { trove_backup_aes_cbc_key: TROVE_KEY });
    expect(serving.logs.find((l) => l.event === 'prepare.failed'), serving.stderr).to.equal(undefined);
    await plane!.waitForReport(heartbeat('healthy'), 30_000, 'healthy heartbeat');
    await expectRestored(target, archive);
    expect(await restoreLeftovers(target)).to.deep.equal([]);
  });

  it("restores a Trove-encrypted <id>.tar.gz.enc (-pbkdf2 -iter 10000 -md sha512, as newer Trove) through prepare(backup_info)", async () => {
    const pbkdf2 = await pbkdf2Archive();
    const { target, serving, heartbeat } = await prepareFrom(pbkdf2, 'foreign-enc-dst', 60, { trove_backup_aes_cbc_key: TROVE_KEY });
    expect(serving.logs.find((l) => l.event === 'prepare.failed'), serving.stderr).to.equal(undefined);
    await plane!.waitForReport(heartbeat('healthy'), 30_000, 'healthy heartbeat');
    expect(serving.logs.some((l) => typeof l.step === 'string' && l.step.includes('decrypted with trove_backup_aes_cbc_key (PBKDF2-HMAC-SHA512 with 10000 iterations)'))).to.equal(true);
    expect(serving.stderr).not.to.include(TROVE_KEY);
    await expectRestored(target, pbkdf2);
    expect(await restoreLeftovers(target)).to.deep.equal([]);
  });

  it('fails prepare of a Trove-encrypted archive with a wrong passphrase before touching the node, reporting why', async () => {
    const archive = await pbkdf2Archive();
    // The node is started by prepareFrom before the request: its state then is what must survive.
    let before: Map<string, string> | undefined;
    const { target, serving, outcome, heartbeat } = await prepareFrom(archive, 'foreign-enc-wrong', 61, { trove_backup_aes_cbc_key: 'default_aes_cbc_key' }, async (node) => {
      before = await digestTree(node.dataDirs[0]!);
    });
    expect(outcome.event, serving.stderr).to.equal('prepare.failed');
    expect(outcome.reason).to.match(
      new RegExp(`backup ${archive.id}: ${archive.objectKey.replace(/\./g, '\\.')}: trove_backup_aes_cbc_key does not decrypt it \\(tried .*\\): the passphrase is wrong`),
    );
    await plane!.waitForReport(heartbeat('failed to spawn'), 30_000, 'failed to spawn heartbeat');
    expect(await digestTree(target.dataDirs[0]!), 'node untouched').to.deep.equal(before);
    expect(await restoreLeftovers(target)).to.deep.equal([]);
    expect(await target.sim!.isRunning(), 'node still running').to.equal(true);
  });
});
