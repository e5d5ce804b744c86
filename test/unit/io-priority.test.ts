import { readdir } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { execa } from 'execa';
import { parseIoniceOutput, withLoweredPriority, type PrioritySettings } from '../../src/util/io-priority.js';
import { repoRoot } from '../support/repo-paths.js';

const BACKUP: PrioritySettings = { nice: 10, ioniceClass: 'best-effort', ioniceLevel: 7 };

const threads = async (): Promise<number[]> => (await readdir('/proc/self/task')).map(Number);

/** Each thread's nice value and I/O priority, read back as an operator would (`ionice -p TID`). */
async function priorities(): Promise<Map<number, { nice: number; io: string }>> {
  const all = new Map<number, { nice: number; io: string }>();
  for (const tid of await threads()) {
    const io = await execa('ionice', ['-p', String(tid)], { reject: false });
    if (io.failed) continue; // exited meanwhile
    all.set(tid, { nice: os.getPriority(tid), io: io.stdout.trim() });
  }
  return all;
}

/** Runs a script in a child Node process (optionally as another user, or under a command such as nice) and returns what it printed as JSON. */
async function inChild(script: string, options: { uid?: number; gid?: number; prefix?: string[] } = {}): Promise<Record<string, unknown>> {
  const module = fileURLToPath(new URL('../../src/util/io-priority.js', import.meta.url));
  const body = `import os from 'node:os';\nimport { execa } from 'execa';\nimport { withLoweredPriority } from ${JSON.stringify(module)};\n${script}`;
  const argv = [...(options.prefix ?? []), process.execPath, '--input-type=module', '-e', body];
  const child = await execa(argv[0]!, argv.slice(1), { timeout: 30_000, reject: false, cwd: repoRoot(), ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}) });
  expect(child.exitCode, `${child.stderr}`).to.equal(0);
  return JSON.parse(child.stdout) as Record<string, unknown>;
}

describe('lowered priority during a backup (nice, ionice)', function () {
  this.timeout(60_000);

  it('lowers the nice value and I/O priority of every thread for the job, and puts them back after', async () => {
    const before = await priorities();
    // Node runs the file system work on its pool threads: the change must reach more than the main thread.
    expect(before.size).to.be.greaterThan(1);
    const warnings: string[] = [];
    const during = await withLoweredPriority(BACKUP, (m) => warnings.push(m), () => priorities());
    expect(warnings).to.deep.equal([]);
    for (const [tid, was] of before) {
      const now = during.get(tid);
      if (!now) continue;
      expect(now.nice, `nice of thread ${tid}`).to.equal(Math.max(was.nice, 10));
      expect(now.io, `I/O priority of thread ${tid}`).to.equal(was.io === 'idle' ? 'idle' : 'best-effort: prio 7');
    }
    const after = await priorities();
    for (const [tid, was] of before) {
      if (after.has(tid)) expect(after.get(tid), `thread ${tid} after the job`).to.deep.equal(was);
    }
  });

  it('gives the lowered priority to the processes the job starts (compression tools)', async () => {
    const outside = (await execa('nice')).stdout.trim();
    const inside = await withLoweredPriority(BACKUP, () => undefined, async () => ({
      nice: (await execa('nice')).stdout.trim(),
      io: (await execa('ionice')).stdout.trim(),
    }));
    expect(inside).to.deep.equal({ nice: String(Math.max(Number(outside), 10)), io: 'best-effort: prio 7' });
    expect((await execa('nice')).stdout.trim()).to.equal(outside);
  });

  it('uses the idle class when asked, and leaves the I/O priority alone with class none', async () => {
    const idle = await withLoweredPriority({ ...BACKUP, nice: 0, ioniceClass: 'idle' }, () => undefined, async () => (await execa('ionice')).stdout.trim());
    expect(idle).to.equal('idle');
    const untouched = (await execa('ionice')).stdout.trim();
    const none = await withLoweredPriority({ ...BACKUP, nice: 0, ioniceClass: 'none' }, () => undefined, async () => (await execa('ionice')).stdout.trim());
    expect(none).to.equal(untouched);
  });

  it('puts the priority back when the job fails, and passes the failure on', async () => {
    const before = await priorities();
    let error: unknown;
    try {
      await withLoweredPriority(BACKUP, () => undefined, async () => {
        throw new Error('snapshot failed');
      });
    } catch (err) {
      error = err;
    }
    expect((error as Error).message).to.equal('snapshot failed');
    const after = await priorities();
    for (const [tid, was] of before) {
      if (after.has(tid)) expect(after.get(tid), `thread ${tid}`).to.deep.equal(was);
    }
  });

  it('warns, and still lowers the nice value and runs the job, when the ionice command is missing', async () => {
    const warnings: string[] = [];
    const result = await withLoweredPriority({ ...BACKUP, ioniceCommand: '/nonexistent/ionice' }, (m) => warnings.push(m), async () => ({
      nice: os.getPriority(),
      io: (await execa('ionice')).stdout.trim(),
    }));
    expect(result.nice).to.equal(10);
    expect(result.io).not.to.equal('best-effort: prio 7');
    expect(warnings).to.deep.equal([
      "could not lower the agent's I/O priority to best-effort 7 (the command '/nonexistent/ionice' is not installed; install the Debian package util-linux); " +
        'the backup runs at its normal I/O priority. Set backup_ionice_class: none to stop trying',
    ]);
  });

  it('never raises a priority: a process already lower keeps its own values', async () => {
    const seen = await inChild(
      `const warnings = [];
       const during = await withLoweredPriority({ nice: 10, ioniceClass: 'best-effort', ioniceLevel: 7 }, (m) => warnings.push(m), async () => ({
         nice: os.getPriority(),
         io: (await execa('ionice')).stdout.trim(),
       }));
       console.log(JSON.stringify({ during, warnings }));`,
      { prefix: ['nice', '-n', '15', 'ionice', '-c', '3'] },
    );
    expect(seen).to.deep.equal({ during: { nice: 15, io: 'idle' }, warnings: [] });
  });

  it('runs the job with a warning, not a failure, when it may not raise the priority back (not root)', async function () {
    if (process.getuid?.() !== 0) this.skip(); // needs root to start a process as another user
    const nobody = Number((await execa('id', ['-u', 'nobody'])).stdout);
    const nogroup = Number((await execa('id', ['-g', 'nobody'])).stdout);
    const seen = await inChild(
      `const warnings = [];
       const result = await withLoweredPriority({ nice: 10, ioniceClass: 'best-effort', ioniceLevel: 7 }, (m) => warnings.push(m), async () => os.getPriority());
       console.log(JSON.stringify({ result, after: os.getPriority(), warnings }));`,
      { uid: nobody, gid: nogroup },
    );
    expect(seen.result).to.equal(10);
    // Lowering is allowed to anybody, raising back is not: the agent says so.
    expect(seen.after).to.equal(10);
    expect(seen.warnings).to.have.length(1);
    expect((seen.warnings as string[])[0]).to.match(
      /^could not put the agent's CPU priority back from nice 10 to 0 \(setpriority of thread \d+: EACCES \(permission denied\)\): raising a priority needs CAP_SYS_NICE/,
    );
  });

  it("reads ionice's answers", () => {
    expect(parseIoniceOutput('best-effort: prio 7\n')).to.deep.equal({ class: 'best-effort', level: 7 });
    expect(parseIoniceOutput('none: prio 0')).to.deep.equal({ class: 'none', level: 0 });
    expect(parseIoniceOutput('idle')).to.deep.equal({ class: 'idle', level: 0 });
    expect(parseIoniceOutput('realtime: prio 2')).to.deep.equal({ class: 'realtime', level: 2 });
    expect(parseIoniceOutput('ionice: ioprio_get failed')).to.equal(undefined);
  });
});
