import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { BusyError } from '../../src/errors.js';
import { acquirePidLock } from '../../src/util/pid-lock.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

describe('the restore lock (a pid file)', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await makeTempDir('pid-lock');
    file = path.join(dir, '.data.restore-lock');
  });
  afterEach(() => removeDir(dir));

  it('refuses a second holder while the first one lives, naming what runs and its pid', async () => {
    const release = await acquirePidLock(file, 'a restore of backup b1');
    const refused = await acquirePidLock(file, 'a restore of backup b2').then(() => undefined, (err: Error) => err);
    expect(refused).to.be.instanceOf(BusyError);
    expect(refused!.message).to.match(new RegExp(`^a restore of backup b1 is running \\(pid ${process.pid}, since \\S+\\); wait for it to end`));
    await release();
    const again = await acquirePidLock(file, 'a restore of backup b2');
    await again();
  });

  it('takes over a lock whose process is gone (a crashed restore never blocks the next one)', async () => {
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    await writeFile(file, JSON.stringify({ pid: Number(gone), what: 'a restore of backup old', since: '2026-01-01T00:00:00.000Z' }));
    const release = await acquirePidLock(file, 'a restore of backup b3');
    expect(JSON.parse(await readFile(file, 'utf8'))).to.include({ pid: process.pid, what: 'a restore of backup b3' });
    await release();
    expect(await readFile(file, 'utf8').then(() => 'present', () => 'removed')).to.equal('removed');
  });

  it('takes over a lock whose pid now belongs to another process (started at another time)', async () => {
    await writeFile(file, JSON.stringify({ pid: process.ppid, started: '1', what: 'a restore of backup before-the-reboot', since: '2026-01-01T00:00:00.000Z' }));
    const release = await acquirePidLock(file, 'a restore of backup b4');
    expect(JSON.parse(await readFile(file, 'utf8'))).to.include({ pid: process.pid, what: 'a restore of backup b4' });
    await release();
  });
});
