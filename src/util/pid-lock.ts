import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { BusyError } from '../errors.js';

interface LockOwner {
  pid: number;
  /** The process's start time (Linux: /proc/<pid>/stat), so that another process given the same pid later is not taken for it. */
  started?: string;
  what: string;
  since: string;
}

/**
 * A lock file holding its owner's pid, made by link(2) so that two
 * processes never both hold it. A lock whose process is gone (a crash, a
 * SIGKILL) is stale and taken over: a crashed run never blocks the next one.
 * Resolves to the release, which removes the file only while it is still ours.
 */
export async function acquirePidLock(file: string, what: string): Promise<() => Promise<void>> {
  const started = processStartTime(process.pid);
  const mine: LockOwner = { pid: process.pid, ...(started ? { started } : {}), what, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt += 1) {
    // Written whole under another name, then linked into place (link fails if the lock exists):
    // nobody ever reads a lock file half-written.
    const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(draft, `${JSON.stringify(mine)}\n`, { mode: 0o600, flush: true });
    try {
      await link(draft, file);
      return async () => {
        const owner = await readOwner(file);
        if (owner?.pid === mine.pid && owner.since === mine.since) await unlink(file).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await unlink(draft).catch(() => undefined);
    }
    const owner = await readOwner(file);
    if (owner && isAlive(owner)) {
      throw new BusyError(`${owner.what} is running (pid ${owner.pid}, since ${owner.since}); wait for it to end (lock ${file})`);
    }
    // Stale (its process is gone) or not a lock's content: take it over.
    await unlink(file).catch(() => undefined);
  }
  throw new BusyError(`cannot take the lock ${file}: other processes keep taking it`);
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<LockOwner>;
    if (typeof parsed.pid === 'number' && typeof parsed.what === 'string' && typeof parsed.since === 'string') return parsed as LockOwner;
  } catch {
    // missing or half-written: no owner
  }
  return undefined;
}

function isAlive(owner: LockOwner): boolean {
  if (owner.pid === process.pid) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: it exists, under another user.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A pid given to another process since (after a reboot, say) is not the lock's owner.
  return owner.started === undefined || processStartTime(owner.pid) === owner.started;
}

/** Field 22 of /proc/<pid>/stat (clock ticks after boot), or undefined where there is no /proc. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
