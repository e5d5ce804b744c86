import { randomBytes, randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { expect } from 'chai';
import yaml from 'js-yaml';
import type { BackupRecord } from '../../src/catalog/backup-record.js';
import type { IndexedCatalog } from '../../src/catalog/catalog.js';
import { indexPrefixOf } from '../../src/catalog/catalog-index.js';
import { createStorageCatalog } from '../../src/catalog/storage-catalog.js';
import { BackupStateStore, type BackupRequest } from '../../src/control/backup-state.js';
import type { BackupView } from '../../src/control/backup-view.js';
import type { Storage } from '../../src/storage/storage.js';
import { createSwiftStorage } from '../../src/storage/swift-storage.js';
import { DbaasRunner, said } from '../support/dbaas-runner.js';
import { startFaultyProxy, type FaultyProxy } from '../support/faulty-proxy.js';
import { swiftTestAccount } from '../support/object-store-env.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';
import { recordFixture } from '../support/record-fixture.js';

const run = promisify(execFile);
const DAY = 86_400_000;

/**
 * backup-delete (with and without --cascade, failing half-way) and
 * backup-purge, through the dbaas command, against the test Swift behind a
 * proxy that can fail requests. The backups are records and objects written
 * straight into the store, as the agent writes them, at chosen ages; no
 * RabbitMQ is configured (dbaas says so and goes on from storage and state).
 */
describe('dbaas backup-delete and backup-purge (retention)', function () {
  this.timeout(120_000);
  const container = `retention-${randomBytes(4).toString('hex')}`;
  let base: string;
  let stateDir: string;
  let proxy: FaultyProxy;
  let dbaas: DbaasRunner;
  /** The store as the agents write it: directly, not through the proxy. */
  let storage: Storage;
  let catalog: IndexedCatalog;

  /** A COMPLETED backup `daysAgo` days old: its object and its record (with its index entry). */
  async function backup(instanceId: string, daysAgo: number, parent?: BackupRecord, extra: Partial<BackupRecord> = {}): Promise<BackupRecord> {
    const id = randomUUID();
    const bytes = randomBytes(2048);
    const put = await storage.put(`${id}.tar`, Readable.from([bytes]), { 'backup-id': id });
    const created = new Date(Date.now() - daysAgo * DAY).toISOString();
    const record = recordFixture(
      {
        id,
        instance_id: instanceId,
        name: `${parent ? 'incremental' : 'full'} ${daysAgo}d`,
        created,
        raw_bytes: bytes.length,
        stored_bytes: put.size,
        checksum: put.storeChecksum ?? 'c'.repeat(64),
        location: put.location,
        object_key: `${id}.tar`,
        ...extra,
      },
      parent,
    );
    await catalog.put(record);
    return record;
  }

  /** Whether anything of the backup is left in the store: object, record, index entries. */
  async function leftInStore(id: string): Promise<string[]> {
    const left: string[] = [];
    if (await storage.head(`${id}.tar`)) left.push('object');
    if (await catalog.get(id)) left.push('record');
    for await (const _ of storage.list(indexPrefixOf(id))) left.push('index entry');
    return left;
  }

  const listJson = async (): Promise<BackupView[]> => {
    const result = await dbaas.run(['backup-list', '--json']);
    expect(result.exitCode, said(result)).to.equal(0);
    return JSON.parse(result.stdout) as BackupView[];
  };

  /** The DELETE requests dbaas sent from `from` on, as `<id> object|record|index`. */
  const deletesSeen = (from: number): string[] =>
    proxy.seen
      .slice(from)
      .filter((r) => r.method === 'DELETE')
      .map((r) => {
        const name = decodeURIComponent(r.path.split('?')[0]!).split(`/${container}/`)[1]!;
        if (name.startsWith('catalog/')) return `${name.slice('catalog/'.length, -'.json'.length)} record`;
        if (name.startsWith('catalog-index/')) return `${name.slice('catalog-index/'.length, 36 + 'catalog-index/'.length)} index`;
        return `${name.replace(/\.tar$/, '')} object`;
      });

  before(async () => {
    base = await makeTempDir('retention');
    stateDir = path.join(base, 'dbaas-state');
    proxy = await startFaultyProxy();
    storage = createSwiftStorage({ ...swiftTestAccount, container, segmentSize: 1024 * 1024 });
    catalog = createStorageCatalog(storage);
    const configFile = path.join(base, 'dbaas.yaml');
    const config = {
      storage_strategy: 'swift',
      swift_auth_url: `${proxy.url}/auth/v1.0`,
      swift_user: swiftTestAccount.user,
      swift_key: swiftTestAccount.key,
      backup_swift_container: container,
      dbaas_state_dir: stateDir,
    };
    await writeFile(configFile, yaml.dump(config), { mode: 0o600 });
    dbaas = new DbaasRunner({ DBAAS_CONFIG: configFile });
  });

  after(async () => {
    await proxy?.close();
    await run('swift', ['-A', swiftTestAccount.authUrl, '-U', swiftTestAccount.user, '-K', swiftTestAccount.key, 'delete', container]).catch(() => undefined);
    await removeDir(base);
  });

  it('backup-list reads no record: the index listing gives every field, without RabbitMQ', async () => {
    const full = await backup('list-a', 3);
    const child = await backup('list-a', 2, full);
    const from = proxy.seen.length;
    const views = await listJson();
    const view = views.find((v) => v.id === child.id);
    expect(view).to.deep.equal({
      id: child.id,
      instance_id: 'list-a',
      name: child.name,
      state: 'COMPLETED',
      type: 'incremental',
      size_bytes: child.stored_bytes,
      size_gb: null,
      created: child.created,
      location: child.location,
      checksum: child.checksum,
      reason: null,
      in_catalog: true,
      in_state: false,
    });
    expect(views.map((v) => v.id).indexOf(child.id)).to.be.below(views.map((v) => v.id).indexOf(full.id));
    // Listings have a query; authentication is /auth/v1.0: any other GET reads an object.
    const gets = proxy.seen.slice(from).filter((r) => r.method === 'GET' && !r.path.includes('?') && !r.path.startsWith('/auth/'));
    expect(gets.map((r) => r.path)).to.deep.equal([]);
    const table = await dbaas.run(['backup-list']);
    expect(table.stderr).to.contain('transport_url is not set');
    expect(table.stdout).to.match(new RegExp(`${child.id}\\s+list-a\\s+incremental 2d\\s+COMPLETED\\s+incremental\\s`));
  });

  it('backup-delete refuses a backup others build on, naming them; --cascade deletes them first, newest first, each object before its record', async () => {
    const full = await backup('cascade-a', 5);
    const child = await backup('cascade-a', 4, full);
    const grandchild = await backup('cascade-a', 3, child);
    const sibling = await backup('cascade-a', 2, full);
    const unrelated = await backup('cascade-a', 1);

    const refused = await dbaas.run(['backup-delete', full.id, '--yes']);
    expect(refused.exitCode, said(refused)).to.equal(1);
    expect(refused.stderr).to.contain(`backup ${full.id} cannot be deleted: 3 backup(s) build on it`);
    for (const dependent of [child, grandchild, sibling]) expect(refused.stderr).to.contain(dependent.id);
    expect(refused.stderr).to.contain(`'dbaas backup-delete ${full.id} --cascade'`);
    const refusedChild = await dbaas.run(['backup-delete', child.id, '--yes']);
    expect(refusedChild.exitCode, said(refusedChild)).to.equal(1);
    expect(refusedChild.stderr).to.contain(`backup ${child.id} cannot be deleted: 1 backup(s) build on it`).and.contain(grandchild.id).and.not.contain(sibling.id);
    for (const b of [full, child, grandchild, sibling]) expect(await leftInStore(b.id), b.name).to.deep.equal(['object', 'record', 'index entry']);

    const from = proxy.seen.length;
    const cascade = await dbaas.run(['backup-delete', full.id, '--cascade', '--yes']);
    expect(cascade.exitCode, said(cascade)).to.equal(0);
    const order = [sibling, grandchild, child, full];
    expect(cascade.stdout.trim().split('\n').map((line) => line.split(' ')[1])).to.deep.equal(order.map((b) => b.id));
    expect(cascade.stdout).to.contain(`backup ${child.id} deleted (built on ${full.id}): stored object ${child.id}.tar and catalog record removed`);
    expect(deletesSeen(from)).to.deep.equal(order.flatMap((b) => [`${b.id} object`, `${b.id} index`, `${b.id} record`]));
    for (const b of order) expect(await leftInStore(b.id), b.name).to.deep.equal([]);
    expect(await leftInStore(unrelated.id)).to.deep.equal(['object', 'record', 'index entry']);
    const listed = (await listJson()).map((v) => v.id);
    expect(listed).to.include(unrelated.id);
    expect(listed.filter((id) => order.some((b) => b.id === id))).to.deep.equal([]);
  });

  it('a delete that fails half-way leaves the backup DELETE_FAILED with the reason; running it again finishes it', async () => {
    const doomed = await backup('fail-a', 4);
    // Swift's proxy answers 503 to the record's DELETE once: the object is gone by then.
    proxy.inject({ method: 'DELETE', path: new RegExp(`/catalog/${doomed.id}\\.json$`), fault: 503 });
    const failed = await dbaas.run(['backup-delete', doomed.id, '--yes']);
    expect(failed.exitCode, said(failed)).to.equal(1);
    expect(failed.stderr).to.contain(`backup ${doomed.id}: could not delete the catalog record`).and.contain('HTTP 503');
    expect(failed.stderr).to.contain(`it is now DELETE_FAILED: run 'dbaas backup-delete ${doomed.id}' again to retry`);
    expect(await leftInStore(doomed.id)).to.deep.equal(['record', 'index entry']);
    const marked = await catalog.get(doomed.id);
    expect(marked?.state).to.equal('DELETE_FAILED');
    expect(marked?.delete_failed_reason, 'the record says why, for whoever reads the store next').to.match(/could not delete the catalog record/);

    const view = (await listJson()).find((v) => v.id === doomed.id);
    expect(view).to.include({ state: 'DELETE_FAILED', in_catalog: true, in_state: true });
    expect(view!.reason).to.contain('could not delete the catalog record').and.contain('HTTP 503');
    const shown = await dbaas.run(['backup-show', doomed.id]);
    expect(shown.stdout).to.match(/^state\s+DELETE_FAILED$/m).and.match(/^reason\s+could not delete the catalog record/m);

    const again = await dbaas.run(['backup-delete', doomed.id, '--yes']);
    expect(again.exitCode, said(again)).to.equal(0);
    expect(again.stdout).to.contain(`backup ${doomed.id} deleted`);
    expect(await leftInStore(doomed.id)).to.deep.equal([]);
    expect(await new BackupStateStore(stateDir).get(doomed.id)).to.equal(undefined);
    expect((await listJson()).some((v) => v.id === doomed.id)).to.equal(false);
  });

  describe('backup-purge', () => {
    const state = () => new BackupStateStore(stateDir);
    let b: Record<'young' | 'fBase' | 'incNew' | 'fMid' | 'fOld' | 'iOld' | 'broken' | 'other', BackupRecord>;
    let building: BackupRequest;

    before(async () => {
      const fOld = await backup('purge-a', 30);
      const fMid = await backup('purge-a', 20);
      const fBase = await backup('purge-a', 5);
      b = {
        fOld,
        iOld: await backup('purge-a', 29, fOld),
        broken: await backup('purge-a', 25, undefined, { state: 'DELETE_FAILED' }),
        fMid,
        fBase,
        young: await backup('purge-a', 0.5, fBase),
        incNew: await backup('purge-a', 0.1, fBase),
        other: await backup('purge-b', 50),
      };
      // An incremental backup being taken on fMid, known only to dbaas's state.
      const now = new Date().toISOString();
      building = {
        id: randomUUID(), instance_id: 'purge-a', name: 'running', description: null, type: 'incremental', parent_id: fMid.id, keyspaces: [], tables: [],
        state: 'BUILDING', reason: null, location: null, checksum: null, size_gb: null, created: now, updated: now, completed: null, last_report_sent: null, origin: 'request',
      };
      await state().put(building);
    });

    const rules = ['backup-purge', '--instance', 'purge-a', '--keep-last', '1', '--max-age', '28d'];

    it('--dry-run prints what it would delete and why each kept candidate stays, and deletes nothing', async () => {
      const result = await dbaas.run([...rules, '--dry-run']);
      expect(result.exitCode, said(result)).to.equal(0);
      const lines = result.stdout.split('\n');
      expect(lines[0]).to.equal('would delete 3 backup(s) (dry run: nothing deleted), in this order:');
      expect(lines.slice(1, 4).map((l) => l.trim().split(/\s+/)[0])).to.deep.equal([b.broken.id, b.iOld.id, b.fOld.id]);
      expect(lines[1]).to.contain('DELETE_FAILED: only COMPLETED backups are counted among the newest 1');
      expect(lines[3]).to.contain('not among the newest 1 COMPLETED backup(s) of instance purge-a; older than 28d');
      expect(lines[4]).to.equal('kept 4 candidate(s):');
      const kept = Object.fromEntries(lines.slice(5).filter(Boolean).map((l) => [l.trim().split(/\s+/)[0], l]));
      expect(Object.keys(kept)).to.have.members([building.id, b.young.id, b.fBase.id, b.fMid.id]);
      expect(kept[building.id]).to.contain('in progress (BUILDING): never deleted while it runs');
      expect(kept[b.young.id]).to.contain('younger than the grace period of 1d');
      expect(kept[b.fBase.id]).to.contain('the newest COMPLETED full backup of instance purge-a');
      expect(kept[b.fMid.id]).to.contain(`an ancestor of backup ${building.id}, which stays`);
      for (const backup of Object.values(b)) expect(await leftInStore(backup.id), backup.name).to.deep.equal(['object', 'record', 'index entry']);

      const json = await dbaas.run([...rules, '--dry-run', '--json']);
      expect(json.exitCode, said(json)).to.equal(0);
      const plan = JSON.parse(json.stdout) as { ok: boolean; dry_run: boolean; would_delete: { id: string; reason: string }[]; kept: { id: string }[] };
      expect(plan).to.include({ ok: true, dry_run: true });
      expect(plan.would_delete.map((d) => d.id)).to.deep.equal([b.broken.id, b.iOld.id, b.fOld.id]);
      expect(plan.kept.map((k) => k.id)).to.have.members([building.id, b.young.id, b.fBase.id, b.fMid.id]);
    });

    it('deletes the plan, children first, and keeps what the rules protect', async () => {
      const from = proxy.seen.length;
      const result = await dbaas.run(rules);
      expect(result.exitCode, said(result)).to.equal(0);
      expect(result.stdout).to.match(/^deleted 3 backup\(s\):$/m).and.match(/^kept 4 candidate\(s\):$/m);
      expect(deletesSeen(from)).to.deep.equal([b.broken, b.iOld, b.fOld].flatMap((x) => [`${x.id} object`, `${x.id} index`, `${x.id} record`]));
      for (const gone of [b.broken, b.iOld, b.fOld]) expect(await leftInStore(gone.id), gone.name).to.deep.equal([]);
      for (const kept of [b.young, b.fBase, b.incNew, b.fMid, b.other]) expect(await leftInStore(kept.id), kept.name).to.deep.equal(['object', 'record', 'index entry']);
      expect((await state().get(building.id))?.state).to.equal('BUILDING');
      // Nothing left to do: the same purge again deletes nothing.
      const again = await dbaas.run(rules);
      expect(again.exitCode, said(again)).to.equal(0);
      expect(again.stdout.split('\n')[0]).to.equal('deleted nothing');
    });

    it('needs a rule, and says which duration it could not read (exit 2)', async () => {
      const none = await dbaas.run(['backup-purge', '--dry-run']);
      expect(none.exitCode, said(none)).to.equal(2);
      expect(none.stderr).to.contain('give --keep-last N, --max-age DURATION or both');
      const bad = await dbaas.run(['backup-purge', '--max-age', '4weeks']);
      expect(bad.exitCode, said(bad)).to.equal(2);
      expect(bad.stderr).to.contain("--max-age '4weeks': expected a whole number and a unit, d (days), h (hours) or m (minutes), e.g. 30d, 12h or 90m");
      const grace = await dbaas.run(['backup-purge', '--keep-last', '2', '--grace', '1.5d']);
      expect(grace.exitCode, said(grace)).to.equal(2);
      expect(grace.stderr).to.contain("--grace '1.5d'");
      const keep = await dbaas.run(['backup-purge', '--keep-last', '0']);
      expect(keep.exitCode, said(keep)).to.equal(2);
      expect(keep.stderr).to.contain("--keep-last '0': expected a whole number of backups, at least 1");
      const help = await dbaas.run(['backup-purge', '--help']);
      expect(help.exitCode).to.equal(0);
      expect(help.stdout).to.match(/^Usage: dbaas backup-purge /).and.contain('--keep-last N').and.contain('--config FILE');
    });
  });
});
