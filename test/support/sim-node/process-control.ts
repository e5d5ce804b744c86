import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ENTRY_POINTS, type NodeLayout } from './layout.js';

/** Finding, signalling and waiting for a node's daemon process through its pid file. */

async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(pidFile, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the process still runs. A daemon whose parent (the start command) is gone is reaped by
 * init, which may take a while; until then it is a zombie, which counts as ended.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

/** Whether `pid` is this node's daemon (not a recycled pid): checked on /proc where there is one. */
async function isDaemonOf(pid: number, layout: NodeLayout): Promise<boolean> {
  if (!isAlive(pid)) return false;
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return cmdline.includes(ENTRY_POINTS.daemon) && cmdline.includes(layout.root);
  } catch {
    return process.platform !== 'linux';
  }
}

export async function runningDaemonPid(layout: NodeLayout): Promise<number | undefined> {
  const pid = await readPid(layout.pidFile);
  return pid !== undefined && (await isDaemonOf(pid, layout)) ? pid : undefined;
}

/** Waits until the process is gone; false when it is still there after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(20);
  }
  return !isAlive(pid);
}
