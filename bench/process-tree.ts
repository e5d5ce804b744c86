/**
 * Runs one command under GNU time (/usr/bin/time: wall time, and user + sys
 * CPU of the whole process tree, every descendant the command waited for)
 * while sampling its process tree from /proc every 100 ms: each process's
 * peak resident set (VmHWM, which the kernel keeps, so a sample only has to
 * come before the process exits) and CPU time, grouped by command name. The
 * lines the command writes on stderr are kept with the time they arrived, so
 * that a phase between two progress lines can be timed.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export const GNU_TIME = '/usr/bin/time';
const SAMPLE_MS = 100;
const CLOCK_TICKS = 100;

/** One command name in the tree (node, zstd, swift, tar, ...): its largest process and all of their CPU. */
export interface ProcessGroup {
  /** Largest VmHWM of one process of this name. */
  peakRssBytes: number;
  /** user + sys of every process of this name, as last sampled. */
  cpuSeconds: number;
  processes: number;
}

export interface TreeMeasurement {
  wallSeconds: number;
  /** user + sys of the command and every descendant it waited for (GNU time). */
  cpuSeconds: number;
  userSeconds: number;
  systemSeconds: number;
  /** Largest resident set of any one process of the tree (GNU time's %M). */
  largestRssBytes: number;
  /** The process the command started as (GNU time's child): its own peak RSS and CPU, and the highest nice value seen on any of its threads. */
  main: ProcessGroup & { command: string; nice: number };
  /** Every other process seen, by command name. */
  children: Record<string, ProcessGroup>;
  /** stderr lines with seconds since the start. */
  stderrLines: { at: number; line: string }[];
  stdout: string;
  exitCode: number;
}

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Seen {
  comm: string;
  hwm: number;
  cpu: number;
  nice: number;
}

async function readProc(pid: number): Promise<Seen | undefined> {
  try {
    const [status, stat] = await Promise.all([readFile(`/proc/${pid}/status`, 'utf8'), readFile(`/proc/${pid}/stat`, 'utf8')]);
    // The command name may hold spaces and parentheses: fields count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { comm, hwm: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024, cpu: ticks / CLOCK_TICKS, nice: Number(fields[16]) };
  } catch {
    return undefined; // exited between listing and reading
  }
}

async function highestThreadNice(pid: number): Promise<number> {
  let highest = 0;
  for (const task of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const stat = await readFile(`/proc/${pid}/task/${task}/stat`, 'utf8').catch(() => '');
    const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    if (Number.isFinite(nice)) highest = Math.max(highest, nice);
  }
  return highest;
}

async function childrenOf(pid: number): Promise<number[]> {
  try {
    const tasks = await readdir(`/proc/${pid}/task`);
    const lists = await Promise.all(tasks.map((t) => readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '')));
    return lists.flatMap((l) => l.split(' ').filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

export async function measureTree(argv: string[], options: RunOptions = {}): Promise<TreeMeasurement> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'cga-bench-time-'));
  const timeFile = path.join(scratch, 'time');
  try {
    const started = process.hrtime.bigint();
    const since = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    const child = execa(GNU_TIME, ['-o', timeFile, '-f', '%e %U %S %M', ...argv], {
      reject: false,
      stdin: 'ignore',
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
      timeout: options.timeoutMs ?? 4 * 3600_000,
      ...(options.signal ? { cancelSignal: options.signal } : {}),
      maxBuffer: 64 * 1024 * 1024,
    });
    const stderrLines: { at: number; line: string }[] = [];
    let partial = '';
    child.stderr?.on('data', (data: Buffer) => {
      const at = since();
      const text = partial + data.toString('utf8');
      const lines = text.split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const line of lines) if (line) stderrLines.push({ at, line });
    });
    const seen = new Map<number, Seen>();
    let mainPid: number | undefined;
    const sample = async (): Promise<void> => {
      if (!child.pid) return;
      const top = await childrenOf(child.pid);
      mainPid ??= top[0];
      const queue = [...top];
      while (queue.length > 0) {
        const pid = queue.shift()!;
        const info = await readProc(pid);
        if (!info) continue;
        // Nice is per thread on Linux, and the agent lowers each of its threads' own (src/util/io-priority.ts).
        if (pid === mainPid) info.nice = Math.max(info.nice, await highestThreadNice(pid));
        const before = seen.get(pid);
        // A pid reused by another command is a new process; keep the old one under a key of its own.
        if (before && before.comm !== info.comm) seen.set(-pid * 1000 - seen.size, before);
        const sameProcess = before?.comm === info.comm;
        seen.set(pid, { comm: info.comm, hwm: Math.max(info.hwm, sameProcess ? before.hwm : 0), cpu: info.cpu, nice: Math.max(info.nice, sameProcess ? before.nice : 0) });
        queue.push(...(await childrenOf(pid)));
      }
    };
    let sampling = Promise.resolve();
    const timer = setInterval(() => {
      sampling = sampling.then(sample).catch(() => undefined);
    }, SAMPLE_MS);
    const result = await child;
    clearInterval(timer);
    await sampling;
    if (partial) stderrLines.push({ at: since(), line: partial });
    const wall = since();
    const timeText = await readFile(timeFile, 'utf8').catch(() => '');
    // GNU time writes "Command exited with non-zero status N" before its line.
    const last = timeText.trim().split('\n').pop() ?? '';
    const [, user, sys, maxKb] = last.split(' ').map(Number);
    const main = mainPid !== undefined ? seen.get(mainPid) : undefined;
    const children: Record<string, ProcessGroup> = {};
    for (const [pid, info] of seen) {
      if (pid === mainPid) continue;
      const group = (children[info.comm] ??= { peakRssBytes: 0, cpuSeconds: 0, processes: 0 });
      group.peakRssBytes = Math.max(group.peakRssBytes, info.hwm);
      group.cpuSeconds += info.cpu;
      group.processes += 1;
    }
    return {
      wallSeconds: wall,
      cpuSeconds: (user ?? 0) + (sys ?? 0),
      userSeconds: user ?? 0,
      systemSeconds: sys ?? 0,
      largestRssBytes: (maxKb ?? 0) * 1024,
      main: { command: main?.comm ?? '?', peakRssBytes: main?.hwm ?? 0, cpuSeconds: main?.cpu ?? 0, processes: 1, nice: main?.nice ?? 0 },
      children,
      stderrLines,
      stdout: typeof result.stdout === 'string' ? result.stdout : '',
      exitCode: result.exitCode ?? (result.isCanceled ? 130 : 1),
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Seconds between the first stderr line matching `from` and the first later one matching `to` (or the end). */
export function phaseSeconds(m: TreeMeasurement, from: RegExp, to: RegExp | undefined): number | undefined {
  const start = m.stderrLines.find((l) => from.test(l.line));
  if (!start) return undefined;
  const end = to ? m.stderrLines.find((l) => l.at >= start.at && l !== start && to.test(l.line)) : undefined;
  return (end?.at ?? m.wallSeconds) - start.at;
}
