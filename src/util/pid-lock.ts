import { readFileSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { BusyError } from '../errors.js';

interface LockOwner {
  pid: number;
  /** The process's start time (Linux: /proc/<pid>/stat), so that another process given the same pid later is not taken for it. */
  started?: string;
  what: string;
  since: string;
}

/**
 * A lock file holding its owner's pid, made with O_EXCL so that two
 * processes never both hold it. A lock whose process is gone (a crash, a
 * SIGKILL) is stale and taken over: a crashed run never blocks the next one.
 * Resolves to the release, which removes the file only while it is still ours.
 */
export async function acquirePidLock(file: string, what: string): Promise<() => Promise<void>> {
  const started = processStartTime(process.pid);
  const mine: LockOwner = { pid: process.pid, ...(started ? { started } : {}), what, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      const handle = await open(file, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(mine)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return async () => {
        const owner = await readOwner(file);
        if (owner?.pid === mine.pid && owner.since === mine.since) await unlink(file).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = await readOwner(file);
    if (owner && isAlive(owner)) {
      throw new BusyError(`${owner.what} is running (pid ${owner.pid}, since ${owner.since}); wait for it to end (lock ${file})`);
    }
    // Stale (its process is gone) or unreadable (a crash while it was written): take it over.
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
