import { execa } from 'execa';
import { NodetoolError } from '../errors.js';

/** Which keyspaces or tables a snapshot covers; both empty means all keyspaces. */
export interface SnapshotSelection {
  keyspaces: string[];
  /** `keyspace.table` names. */
  tables: string[];
}

export interface Nodetool {
  snapshot(tag: string, selection: SnapshotSelection): Promise<void>;
  clearSnapshot(tag: string): Promise<void>;
  /** Flushes memtables: every keyspace, or one keyspace (and some of its tables). */
  flush(keyspace?: string, tables?: string[]): Promise<void>;
  /** Whether Cassandra hard-links flushed SSTables into backups/ (`nodetool statusbackup`). */
  incrementalBackupsRunning(): Promise<boolean>;
  ring(): Promise<string>;
  version(): Promise<string>;
  /** Any other subcommand; resolves to stdout. */
  run(args: string[]): Promise<string>;
}

/**
 * nodetool through execa with an argument array and a time limit. Failures
 * carry nodetool's own message (its `error: ...` or `nodetool: ...` line) but
 * never the configured command line, which may hold a JMX password.
 */
export function createNodetool(command: string[], timeoutSeconds: number): Nodetool {
  const [file, ...baseArgs] = command;
  if (!file) throw new NodetoolError('nodetool_command is empty', undefined);

  const run = async (args: string[]): Promise<string> => {
    const subcommand = args[0] ?? '';
    const result = await execa(file, [...baseArgs, ...args], {
      reject: false,
      stdin: 'ignore',
      timeout: timeoutSeconds * 1000,
      forceKillAfterDelay: 5000,
    });
    if (result.timedOut) {
      throw new NodetoolError(`nodetool ${subcommand} did not finish within ${timeoutSeconds} s (nodetool_timeout_seconds)`, undefined);
    }
    if (result.failed) {
      const code = result.exitCode;
      if (code === undefined) {
        // Not shortMessage: it repeats the whole command line, JMX password included.
        const cause = result.cause instanceof Error ? result.cause.message : 'unknown error';
        throw new NodetoolError(`nodetool ${subcommand} could not be run (check nodetool_command): ${cause}`, undefined);
      }
      throw new NodetoolError(`nodetool ${subcommand} failed (exit ${code}): ${nodetoolMessage(result.stdout, result.stderr)}${hintFor(result.stderr)}`, code);
    }
    return result.stdout;
  };

  return {
    run,
    async snapshot(tag, selection) {
      const args = ['snapshot', '-t', tag];
      if (selection.tables.length > 0) args.push('-kt', selection.tables.join(','));
      else if (selection.keyspaces.length > 0) args.push('--', ...selection.keyspaces);
      await run(args);
    },
    async clearSnapshot(tag) {
      await run(['clearsnapshot', '-t', tag]);
    },
    async flush(keyspace, tables = []) {
      await run(keyspace === undefined ? ['flush'] : ['flush', '--', keyspace, ...tables]);
    },
    async incrementalBackupsRunning() {
      const out = (await run(['statusbackup'])).trim();
      if (out !== 'running' && out !== 'not running') throw new NodetoolError(`nodetool statusbackup printed '${out.slice(0, 80)}', expected 'running' or 'not running'`, 0);
      return out === 'running';
    },
    ring: () => run(['ring']),
    async version() {
      const out = await run(['version']);
      const match = /ReleaseVersion:\s*(\S+)/.exec(out);
      if (!match) throw new NodetoolError(`nodetool version printed no ReleaseVersion: '${out.trim().slice(0, 80)}'`, 0);
      return match[1]!;
    },
  };
}

/** nodetool's own explanation: `error: X` (server side, stderr) or `nodetool: X` (arguments, stdout). */
export function nodetoolMessage(stdout: string, stderr: string): string {
  const lines = `${stderr}\n${stdout}`.split('\n');
  const line = lines.find((l) => l.startsWith('error: ')) ?? lines.find((l) => l.startsWith('nodetool: '));
  if (line) return line.replace(/^(error|nodetool): /, '').trim();
  const first = lines.find((l) => l.trim() !== '');
  return first?.trim() ?? 'no output';
}

function hintFor(stderr: string): string {
  if (stderr.includes('Failed to connect')) return ' (is Cassandra running? check it with the service_status_command)';
  return '';
}

/** This node's tokens from `nodetool ring` (one row per token; the last column). */
export function parseRingTokens(ringText: string): string[] {
  const tokens: string[] = [];
  for (const line of ringText.split('\n')) {
    const columns = line.trim().split(/\s+/);
    if (columns.length >= 7 && /^-?\d+$/.test(columns[columns.length - 1]!) && /^[\d.:a-fA-F]+$/.test(columns[0]!)) {
      tokens.push(columns[columns.length - 1]!);
    }
  }
  return tokens;
}
