import { open, readFile, unlink } from 'node:fs/promises';
import { BusyError } from '../errors.js';

interface LockOwner {
  pid: number;
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
  const mine: LockOwner = { pid: process.pid, what, since: new Date().toISOString() };
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
    if (owner && isAlive(owner.pid)) {
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

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
