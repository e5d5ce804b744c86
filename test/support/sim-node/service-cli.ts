import { closeSync, openSync, statSync } from 'node:fs';
import { chown, mkdir, open, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ENTRY_POINTS, nodeLayout, ROOT_ENV, type NodeLayout } from './layout.js';
import { isAlive, runningDaemonPid, waitForExit } from './process-control.js';
import { readSimSettings, type SimSettings } from './sim-settings.js';

/**
 * bin/cassandra-service start|stop|status, behaving like an init script / systemctl:
 * start returns once the log says "Startup complete" (non-zero with the fatal log lines on stderr
 * when the node dies starting), stop waits for the process to end, status exits 0 when running and
 * 3 when not (LSB).
 */
const STARTUP_COMPLETE = 'CassandraDaemon.java:780 - Startup complete';
const STOP_TIMEOUT_MS = 120_000;

function logSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

async function readFrom(path: string, offset: number): Promise<string> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return '';
  try {
    const size = (await handle.stat()).size;
    if (size <= offset) return '';
    const buffer = Buffer.alloc(size - offset);
    await handle.read(buffer, 0, buffer.length, offset);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}

/** The ERROR lines of a failed start with the exception lines that follow them. */
function fatalLines(logText: string): string {
  const lines = logText.split('\n');
  const picked: string[] = [];
  let inError = false;
  for (const line of lines) {
    if (/^(INFO|WARN|DEBUG|ERROR) +\[/.test(line)) inError = line.startsWith('ERROR');
    if (inError && line !== '') picked.push(line);
  }
  return picked.length > 0 ? `${picked.join('\n')}\n` : 'Cassandra exited during start-up; see logs/system.log\n';
}

async function prepareOwnership(layout: NodeLayout, settings: SimSettings): Promise<void> {
  if (!settings.owner || process.getuid?.() !== 0) return;
  for (const path of [layout.logDir, layout.runDir, layout.systemLog]) {
    await chown(path, settings.owner.uid, settings.owner.gid).catch(() => undefined);
  }
}

async function start(layout: NodeLayout): Promise<number> {
  const running = await runningDaemonPid(layout);
  if (running !== undefined) {
    process.stdout.write(`Cassandra is already running (pid ${running}).\n`);
    return 0;
  }
  const settings = await readSimSettings(layout.settingsFile);
  await mkdir(layout.logDir, { recursive: true });
  await mkdir(layout.runDir, { recursive: true });
  await rm(layout.pidFile, { force: true });
  const offset = logSize(layout.systemLog);
  const logFd = openSync(layout.systemLog, 'a');
  await prepareOwnership(layout, settings);

  // A real node runs as the cassandra user; with an owner configured (and root to switch to it) so does this one.
  const owner = settings.owner && process.getuid?.() === 0 ? settings.owner : undefined;
  // The daemon inherits the log file's descriptor itself, so its output keeps going there after this
  // process exits. execa passes any open descriptor through; its types only name the literals 3-9.
  const inherited = logFd as 3;
  // Imported here: status and stop should not pay for loading execa.
  const { execa } = await import('execa');
  const daemon = execa(process.execPath, [ENTRY_POINTS.daemon, layout.root], {
    detached: true,
    cleanup: false,
    reject: false,
    stdin: 'ignore',
    stdout: inherited,
    stderr: inherited,
    env: { [ROOT_ENV]: layout.root },
    uid: owner?.uid,
    gid: owner?.gid,
  });
  let exitCode: number | undefined;
  void daemon.then((result) => {
    exitCode = result.exitCode ?? (result.signal ? 128 : 1);
  });

  const deadline = Date.now() + settings.startupDelayMs + 120_000;
  try {
    while (Date.now() < deadline) {
      const text = await readFrom(layout.systemLog, offset);
      if (text.includes(STARTUP_COMPLETE)) {
        daemon.unref();
        return 0;
      }
      if (exitCode !== undefined) {
        process.stderr.write(fatalLines(await readFrom(layout.systemLog, offset)));
        return exitCode === 0 ? 1 : exitCode;
      }
      await sleep(15);
    }
    process.stderr.write(`Cassandra did not complete start-up within ${Math.round((deadline - Date.now()) / 1000)} s; stopping it\n`);
    if (daemon.pid !== undefined && isAlive(daemon.pid)) process.kill(daemon.pid, 'SIGKILL');
    return 1;
  } finally {
    closeSync(logFd);
  }
}

async function stop(layout: NodeLayout): Promise<number> {
  const pid = await runningDaemonPid(layout);
  if (pid === undefined) {
    await rm(layout.pidFile, { force: true });
    return 0;
  }
  process.kill(pid, 'SIGTERM');
  if (!(await waitForExit(pid, STOP_TIMEOUT_MS))) {
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 10_000);
  }
  await rm(layout.pidFile, { force: true });
  return 0;
}

async function status(layout: NodeLayout): Promise<number> {
  const pid = await runningDaemonPid(layout);
  if (pid === undefined) {
    process.stdout.write('Cassandra is not running.\n');
    return 3;
  }
  process.stdout.write(`Cassandra is running (pid ${pid}).\n`);
  return 0;
}

async function main(): Promise<number> {
  const root = process.env[ROOT_ENV];
  if (!root) {
    process.stderr.write(`cassandra-service: ${ROOT_ENV} is not set; run the bin/cassandra-service wrapper of a simulated node\n`);
    return 2;
  }
  const layout = nodeLayout(root);
  switch (process.argv[2]) {
    case 'start':
      return start(layout);
    case 'stop':
      return stop(layout);
    case 'status':
      return status(layout);
    default:
      process.stderr.write('Usage: cassandra-service {start|stop|status}\n');
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`cassandra-service: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
