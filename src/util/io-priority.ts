import { readdir } from 'node:fs/promises';
import os from 'node:os';
import { execa } from 'execa';
import type { JobConfig } from '../config/config-schema.js';
import { errorMessage } from '../errors.js';

/**
 * The agent's CPU and I/O priority, lowered for the length of a backup so
 * that the Cassandra node beside it keeps serving, as Medusa and Priam do.
 *
 * On Linux both are attributes of each thread, not of the process:
 * setpriority(2) with a thread id changes that thread only (the nice value is
 * "a per-thread attribute" under NPTL), and ioprio_set(2) says "the distinct
 * threads of a process will not share the same I/O context ... you may need
 * to call ioprio_set() on each of the threads". So every thread in
 * /proc/self/task is changed: the libuv pool threads do the file reads, the
 * main thread spawns the compression tools, which inherit its values. Threads
 * started during the job inherit the lowered values from their creator, and
 * are put back to the main thread's earlier values afterwards.
 *
 * I/O priorities only act under a scheduler that honours them (bfq; classes
 * in mq-deadline), and only on reads and synchronous writes (ioprio_set(2)):
 * a backup is reads. Nothing here ever fails a job: a missing ionice command,
 * a refusal (no permission) or a timeout is a warning, and the job runs at the
 * priority it had.
 */

export type IoniceClass = 'idle' | 'best-effort' | 'none';

export interface PrioritySettings {
  /** Nice value during the job, 1 (barely lower) to 19 (lowest); 0 leaves it as it is. */
  nice: number;
  /** I/O class during the job; 'none' leaves the I/O priority as it is (then it follows the nice value). */
  ioniceClass: IoniceClass;
  /** Level within best-effort, 0 (highest) to 7 (lowest). */
  ioniceLevel: number;
  /** The ionice command (util-linux); default 'ionice'. */
  ioniceCommand?: string;
  /** Time limit of one ionice call, ms (default 5000). */
  timeoutMs?: number;
}

/** Warnings for people: the CLI's stderr, the agent's log. */
export type PriorityWarning = (message: string) => void;

/** The settings of a backup, from backup_nice, backup_ionice_class and backup_ionice_level. */
export function prioritySettingsFrom(config: Pick<JobConfig, 'backup_nice' | 'backup_ionice_class' | 'backup_ionice_level'>): PrioritySettings {
  return { nice: config.backup_nice, ioniceClass: config.backup_ionice_class, ioniceLevel: config.backup_ionice_level };
}

/** A thread's I/O priority as `ionice -p` reports it. */
export interface IoPriority {
  class: 'none' | 'realtime' | 'best-effort' | 'idle';
  level: number;
}

/** What was changed, to be put back. */
interface Saved {
  settings: PrioritySettings;
  /** Every thread that existed when the priority was lowered. */
  threads: Set<number>;
  /** Previous nice value of each thread whose nice value was changed. */
  nice: Map<number, number>;
  /** Previous I/O priority of each thread whose I/O priority was changed. */
  io: Map<number, IoPriority>;
}

/** One job at a time lowers and restores; an overlapping one shares it, and the last to end restores. */
let shared: { users: number; saved: Promise<Saved> } | undefined;

/**
 * Runs `fn` with the agent's CPU and I/O priority lowered as `settings` say,
 * and puts back the earlier values whatever the outcome (resolve, throw,
 * abort). Priority is only ever lowered: a thread already at a lower
 * priority keeps its own. Child processes spawned inside `fn` inherit the
 * lowered values.
 */
export async function withLoweredPriority<T>(settings: PrioritySettings, warn: PriorityWarning, fn: () => Promise<T>): Promise<T> {
  const session = (shared ??= { users: 0, saved: lowerSafely(settings, warn) });
  session.users += 1;
  try {
    await session.saved;
    return await fn();
  } finally {
    session.users -= 1;
    if (session.users === 0) {
      if (shared === session) shared = undefined;
      await restore(await session.saved, warn).catch((err: unknown) => warn(`could not put the agent's priority back: ${errorMessage(err)}`));
    }
  }
}

/** Lowering is a courtesy to the node: whatever goes wrong is a warning, and the job runs as it is. */
function lowerSafely(settings: PrioritySettings, warn: PriorityWarning): Promise<Saved> {
  return lower(settings, warn).catch((err: unknown) => {
    warn(`could not lower the agent's priority: ${errorMessage(err)}; the backup runs at its normal priority`);
    return { settings, threads: new Set<number>(), nice: new Map(), io: new Map() };
  });
}

async function lower(settings: PrioritySettings, warn: PriorityWarning): Promise<Saved> {
  const threads = await threadIds();
  const saved: Saved = { settings, threads: new Set(threads), nice: new Map(), io: new Map() };
  // Nice first: a thread in I/O class none derives its I/O level from it.
  const niceBefore = new Map<number, number>();
  for (const tid of threads) {
    const nice = niceOf(tid);
    if (nice !== undefined) niceBefore.set(tid, nice);
  }

  if (settings.nice > 0) {
    const refused: string[] = [];
    for (const [tid, before] of niceBefore) {
      if (before >= settings.nice) continue;
      const outcome = setNice(tid, settings.nice);
      if ('done' in outcome) saved.nice.set(tid, before);
      else if ('refused' in outcome) refused.push(outcome.refused);
    }
    if (refused.length > 0) {
      warn(`could not lower the agent's CPU priority to nice ${settings.nice} (${refused[0]}); the backup runs at its normal CPU priority. Set backup_nice: 0 to stop trying`);
    }
  }

  if (settings.ioniceClass !== 'none') {
    const target: IoPriority = settings.ioniceClass === 'idle' ? { class: 'idle', level: 0 } : { class: 'best-effort', level: settings.ioniceLevel };
    const ionice = ioniceRunner(settings);
    const before = await Promise.all(threads.map(async (tid) => ({ tid, answer: await ionice.get(tid) })));
    const failures: string[] = [];
    await Promise.all(
      before.map(async ({ tid, answer }) => {
        if ('refused' in answer) failures.push(answer.refused);
        if (!('priority' in answer)) return;
        const nice = niceBefore.get(tid) ?? 0;
        if (rank(target, nice) <= rank(answer.priority, nice)) return;
        const outcome = await ionice.set(tid, target);
        if ('done' in outcome) saved.io.set(tid, answer.priority);
        else if ('refused' in outcome) failures.push(outcome.refused);
      }),
    );
    if (failures.length > 0) {
      warn(`could not lower the agent's I/O priority to ${label(target)} (${failures[0]}); the backup runs at its normal I/O priority. Set backup_ionice_class: none to stop trying`);
    }
  }
  return saved;
}

async function restore(saved: Saved, warn: PriorityWarning): Promise<void> {
  const { settings } = saved;
  const threads = await threadIds();
  const main = process.pid;
  // A thread started during the job got the lowered values from its creator,
  // most likely the main thread: it gets the main thread's earlier values.
  const previous = <V>(changed: Map<number, V>, tid: number): V | undefined => changed.get(tid) ?? (saved.threads.has(tid) ? undefined : changed.get(main));

  const refusedNice: string[] = [];
  for (const tid of threads) {
    const before = previous(saved.nice, tid);
    // Someone else changed it during the job: theirs stands.
    if (before === undefined || niceOf(tid) !== settings.nice) continue;
    const outcome = setNice(tid, before);
    if ('refused' in outcome) refusedNice.push(outcome.refused);
  }
  if (refusedNice.length > 0) {
    warn(
      `could not put the agent's CPU priority back from nice ${settings.nice} to ${saved.nice.get(main) ?? 'its earlier value'} (${refusedNice[0]}): ` +
        'raising a priority needs CAP_SYS_NICE (or RLIMIT_NICE); the agent keeps running at the lower priority until it is restarted. Run it as root, or set backup_nice: 0',
    );
  }

  if (saved.io.size === 0) return;
  const ionice = ioniceRunner(settings);
  const failures: string[] = [];
  await Promise.all(
    threads.map(async (tid) => {
      const before = previous(saved.io, tid);
      if (before === undefined) return;
      const outcome = await ionice.set(tid, before);
      if ('refused' in outcome) failures.push(outcome.refused);
    }),
  );
  if (failures.length > 0) {
    warn(`could not put the agent's I/O priority back (${failures[0]}); the agent keeps running at the lower I/O priority until it is restarted`);
  }
}

/** The threads of this process; just the process itself where /proc is not there. */
async function threadIds(): Promise<number[]> {
  try {
    return (await readdir('/proc/self/task')).map(Number).filter((tid) => Number.isSafeInteger(tid) && tid > 0);
  } catch {
    return [process.pid];
  }
}

/** A thread's nice value, or undefined when it has exited. */
function niceOf(tid: number): number | undefined {
  try {
    return os.getPriority(tid);
  } catch {
    return undefined;
  }
}

/**
 * How a change went: done, the thread had exited meanwhile (nothing to do),
 * or refused, with why, for a warning.
 */
type Outcome = { done: true } | { gone: true } | { refused: string };
const DONE: Outcome = { done: true };
const GONE: Outcome = { gone: true };

function setNice(tid: number, nice: number): Outcome {
  try {
    os.setPriority(tid, nice);
    return DONE;
  } catch (err) {
    const info = (err as { info?: { code?: string; message?: string } }).info;
    if (info?.code === 'ESRCH') return GONE;
    return { refused: `setpriority of thread ${tid}: ${info?.code ? `${info.code}${info.message ? ` (${info.message})` : ''}` : errorMessage(err)}` };
  }
}

/**
 * Lower rank, higher priority: realtime −8…−1, best-effort 0…7, idle 8. A
 * thread in class none is served as best-effort at (nice + 20) / 5.
 */
function rank(priority: IoPriority, nice: number): number {
  switch (priority.class) {
    case 'realtime':
      return priority.level - 8;
    case 'best-effort':
      return priority.level;
    case 'none':
      return Math.min(7, Math.max(0, Math.floor((nice + 20) / 5)));
    case 'idle':
      return 8;
  }
}

const label = (priority: IoPriority): string => (priority.class === 'idle' || priority.class === 'none' ? priority.class : `${priority.class} ${priority.level}`);

const CLASS_NUMBER: Record<IoPriority['class'], string> = { none: '0', realtime: '1', 'best-effort': '2', idle: '3' };

/** `ionice -p TID`'s answer: "best-effort: prio 7", "idle", "none: prio 0", "realtime: prio 2". */
export function parseIoniceOutput(text: string): IoPriority | undefined {
  const match = /^(none|realtime|best-effort|idle)(?::\s*prio\s+(\d+))?\s*$/.exec(text.trim());
  if (!match) return undefined;
  return { class: match[1] as IoPriority['class'], level: Number(match[2] ?? 0) };
}

/**
 * ionice, one thread per call: with several ids it stops at the first thread
 * that has exited, leaving the others unchanged. A missing command is found
 * once, not once per thread.
 */
function ioniceRunner(settings: PrioritySettings) {
  const command = settings.ioniceCommand ?? 'ionice';
  const timeout = settings.timeoutMs ?? 5000;
  let missing = false;

  const run = async (args: string[]): Promise<Outcome & { stdout?: string }> => {
    if (missing) return { refused: missingMessage(command) };
    const result = await execa(command, args, { reject: false, timeout, stdin: 'ignore' });
    if (!result.failed) return { done: true, stdout: result.stdout };
    if (result.code === 'ENOENT') {
      missing = true;
      return { refused: missingMessage(command) };
    }
    if (/No such process/i.test(result.stderr)) return GONE;
    if (result.timedOut) return { refused: `${command} ${args.join(' ')} did not finish within ${timeout} ms` };
    return { refused: `${command} ${args.join(' ')}: ${result.stderr.trim() || result.shortMessage}` };
  };

  return {
    async get(tid: number): Promise<{ priority: IoPriority } | Exclude<Outcome, { done: true }>> {
      const answer = await run(['-p', String(tid)]);
      if (!('done' in answer)) return answer;
      const priority = parseIoniceOutput(answer.stdout ?? '');
      return priority ? { priority } : { refused: `${command} -p ${tid} answered '${(answer.stdout ?? '').trim()}', which is not an I/O class` };
    },
    async set(tid: number, priority: IoPriority): Promise<Outcome> {
      const level = priority.class === 'best-effort' || priority.class === 'realtime' ? ['-n', String(priority.level)] : [];
      return run(['-c', CLASS_NUMBER[priority.class], ...level, '-p', String(tid)]);
    },
  };
}

const missingMessage = (command: string): string => `the command '${command}' is not installed; install the Debian package util-linux`;
