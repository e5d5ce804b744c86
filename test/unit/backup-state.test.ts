import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { BackupStateStore, type BackupRequest } from '../../src/control/backup-state.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

describe("the control plane's backup state", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('state');
  });
  afterEach(() => removeDir(dir));

  it('lists the good entries when one file is damaged, and says which one it passed over', async () => {
    const store = new BackupStateStore(dir);
    const now = new Date().toISOString();
    const entry = (id: string): BackupRequest => ({
      id, instance_id: 'inst-1', name: null, description: null, type: 'full', parent_id: null, keyspaces: [], tables: [],
      state: 'COMPLETED', reason: null, location: null, checksum: null, size_gb: null, created: now, updated: now, completed: now,
      last_report_sent: null, origin: 'request',
    });
    await store.put(entry('good-1'));
    await store.put(entry('good-2'));
    await writeFile(path.join(dir, 'backups', 'broken.json'), '{"id": "broken", ');
    const skipped: string[] = [];
    const listed = await store.list((reason) => skipped.push(reason));
    expect(listed.map((e) => e.id)).to.deep.equal(['good-1', 'good-2']);
    expect(skipped).to.have.length(1);
    expect(skipped[0]).to.match(/broken\.json is not valid JSON; delete it/);
  });
});
