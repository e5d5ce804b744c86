/**
 * What the benchmark needs on the machine, brought up as the test suite does
 * (test/support/global-setup.ts): GNU time, the compression tools, the test
 * Swift with s3api (test/services/object-store.sh, which also installs the
 * swift and aws commands). Whatever cannot be had is reported with how to get
 * it, so that the rows needing it are skipped instead of failing the run.
 */
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { Compression } from '../src/archive/stored-format.js';
import { repoRoot } from '../test/support/repo-paths.js';
import { GNU_TIME } from './process-tree.js';

const INSTALL_TIMEOUT_MS = 15 * 60_000;

async function executable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function onPath(command: string): Promise<string | undefined> {
  const found = await execa('bash', ['-c', `command -v -- "$1"`, 'bash', command], { reject: false });
  return found.exitCode === 0 && found.stdout.trim() ? found.stdout.trim() : undefined;
}

const say = (message: string): void => {
  process.stderr.write(`bench: ${message}\n`);
};

/** GNU time, which every row is measured with: Debian's `time` package, installed when missing and root. */
export async function ensureGnuTime(): Promise<void> {
  if (await executable(GNU_TIME)) return;
  if (process.getuid?.() === 0) {
    say("installing Debian's 'time' package (GNU time) ...");
    await execa('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'time'], { reject: false, timeout: INSTALL_TIMEOUT_MS, env: { DEBIAN_FRONTEND: 'noninteractive' } });
    if (!(await executable(GNU_TIME))) {
      await execa('apt-get', ['update', '-qq'], { reject: false, timeout: INSTALL_TIMEOUT_MS });
      await execa('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'time'], { reject: false, timeout: INSTALL_TIMEOUT_MS, env: { DEBIAN_FRONTEND: 'noninteractive' } });
    }
  }
  if (!(await executable(GNU_TIME))) throw new Error(`${GNU_TIME} (GNU time) is missing: install it with 'apt-get install time' (every measurement runs under it)`);
}

/** The compressions whose tool is there (installing zstd, lz4, lzop as the tests do); the others with the reason. */
export async function ensureCompressionTools(wanted: Compression[]): Promise<{ usable: Compression[]; missing: Record<string, string> }> {
  const needsTool = wanted.filter((c) => c === 'zstd' || c === 'lz4');
  const missing: Record<string, string> = {};
  if (needsTool.length > 0) {
    const script = path.join(repoRoot(), 'test/services/compression-tools.sh');
    const result = await execa('bash', [script], { reject: false, all: true, timeout: INSTALL_TIMEOUT_MS });
    if (result.exitCode !== 0) say(`test/services/compression-tools.sh failed: ${String(result.all).trim().split('\n').pop()}`);
  }
  // gzip is Node's zlib in the agent; the shell pipeline and its ceiling run the gzip command.
  for (const compression of wanted) {
    const tool = compression === 'none' ? undefined : compression;
    if (tool && !(await onPath(tool))) missing[compression] = `the '${tool}' command is missing: apt-get install ${tool}`;
  }
  return { usable: wanted.filter((c) => !missing[c]), missing };
}

export interface ObjectStore {
  /** Why Swift and S3 cannot be measured, when they cannot. */
  unavailable?: string;
  /**
   * Checks the store is still up, and starts it again if not (restarted):
   * the store is shared with test runs, whose teardown stops a store they
   * started. `error` when it cannot be started.
   */
  recheck(): Promise<{ restarted: boolean; error?: string }>;
  /** Stops the store if this run started it (unless told to keep it). */
  release(): Promise<void>;
}

/** The test Swift with s3api on 127.0.0.1:8080: used when healthy, else started (and then stopped at the end). */
export async function ensureObjectStore(keep: boolean): Promise<ObjectStore> {
  const script = path.join(repoRoot(), 'test/services/object-store.sh');
  let startedHere = false;
  const bringUp = async (): Promise<{ restarted: boolean; error?: string }> => {
    const status = await execa('bash', [script, 'status'], { reject: false, timeout: 60_000 });
    if (status.exitCode === 0) return { restarted: false };
    say('starting the test object store (Swift with s3api; the first time installs Debian packages, ~30 s) ...');
    const up = await execa('bash', [script, 'up'], { reject: false, all: true, timeout: INSTALL_TIMEOUT_MS });
    if (up.exitCode !== 0) {
      const tail = String(up.all).trim().split('\n').slice(-3).join(' / ');
      return {
        restarted: false,
        error: `test/services/object-store.sh up failed (${tail}); it needs root and Debian's swift packages (apt-get install swift swift-proxy swift-account swift-container swift-object python3-swiftclient memcached awscli)`,
      };
    }
    startedHere = true;
    return { restarted: true };
  };
  const first = await bringUp();
  return {
    ...(first.error ? { unavailable: first.error } : {}),
    recheck: bringUp,
    release: async () => {
      if (keep || !startedHere) return;
      await execa('bash', [script, 'down'], { reject: false, timeout: 120_000 });
    },
  };
}

export interface ShellClients {
  swift?: string;
  aws?: string;
  /** Why a client is missing, with how to get it. */
  missing: Record<string, string>;
  versions: Record<string, string>;
}

/** Debian's python3-swiftclient and awscli; a failure is said, and the clients' absence then fails the run. */
async function installShellClients(): Promise<void> {
  say('installing the shell baselines\' clients: apt-get install python3-swiftclient awscli ...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await execa('apt-get', ['update', '-qq'], { reject: false, env, timeout: 10 * 60_000 });
  const result = await execa('apt-get', ['install', '-y', '-qq', 'python3-swiftclient', 'awscli'], { reject: false, all: true, env, timeout: 15 * 60_000 });
  if (result.exitCode !== 0) say(`apt-get install python3-swiftclient awscli failed (exit ${result.exitCode}): ${String(result.all).trim().split('\n').slice(-3).join(' / ')}`);
}

/**
 * The swift and aws commands of the shell pipelines. Debian's aws (/usr/bin/aws,
 * AWS CLI v2) first: another `aws` earlier on PATH may be a different one.
 */
export async function findShellClients(install = true): Promise<ShellClients> {
  // A row without its baseline measures nothing: the clients are installed (Debian's) rather than skipped.
  if (install && (!(await onPath('swift')) || !((await executable('/usr/bin/aws')) || (await onPath('aws'))))) await installShellClients();
  const clients: ShellClients = { missing: {}, versions: {} };
  const swift = await onPath('swift');
  if (swift) {
    clients.swift = swift;
    const version = await execa(swift, ['--version'], { reject: false, timeout: 30_000 });
    clients.versions.swift = `${version.stdout}${version.stderr}`.trim();
  } else clients.missing.swift = "the 'swift' command is missing: apt-get install python3-swiftclient (test/services/object-store.sh installs it)";
  const aws = (await executable('/usr/bin/aws')) ? '/usr/bin/aws' : await onPath('aws');
  if (aws) {
    clients.aws = aws;
    const version = await execa(aws, ['--version'], { reject: false, timeout: 30_000 });
    clients.versions.aws = `${version.stdout}${version.stderr}`.trim();
  } else clients.missing.aws = "the 'aws' command is missing: apt-get install awscli (test/services/object-store.sh installs it)";
  for (const tool of ['tar', 'zstd', 'lz4', 'gzip']) {
    const found = await onPath(tool);
    if (!found) continue;
    const version = await execa(found, ['--version'], { reject: false, timeout: 30_000 });
    clients.versions[tool] = `${version.stdout}${version.stderr}`.trim().split('\n')[0] ?? '';
  }
  return clients;
}
