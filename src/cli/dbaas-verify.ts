import type { ParseArgsConfig } from 'node:util';
import type { Catalog } from '../catalog/catalog.js';
import type { ArchiveConfig } from '../config/config-schema.js';
import { verdictLine, verifyBackup } from '../jobs/verify-backup.js';
import type { Storage } from '../storage/storage.js';
import type { Progress } from '../util/progress.js';
import { createTerminalProgress } from './progress-bar.js';

/** `dbaas backup-verify`'s help; `commonOptions` are dbaas's own lines for --config, --json and --help. */
export function backupVerifyHelp(commonOptions: string): string {
  return `Usage: dbaas backup-verify ID [--chain] [--json]

Checks a stored backup from the control plane, without any agent or node:
reads its object from storage and checks the SHA-256 the catalog recorded
(in Swift also each segment's MD5 and the ETag), that the TAR inside is whole
and holds only entries a restore accepts, and every file of the backup's
manifest: there once, with its size and CRC-32, and nothing else (a record
from before manifests: its file count and raw size). Every ancestor of a
backup built on a parent needs a complete record and its object with the
recorded size; --chain reads each ancestor's object too. An archive without a
catalog record (Trove's, in Swift: ID.tar.gz, ID.tar, ID.gz, ID.gz.enc) is
checked against its ETag and for its TAR structure. Only the storage and
encryption settings are used; RabbitMQ is not needed.

Exit status: 0 the backup is good; 1 it is not: the first problem found on
stderr, saying what is wrong and what to do (--json: one JSON report on
stdout either way, with every file's status); 2 bad usage or configuration.

Options:
  --chain                   read every ancestor's object too
${commonOptions}
`;
}

/** Options beyond dbaas's common ones, for its parser. */
export const BACKUP_VERIFY_OPTIONS = {
  chain: { type: 'boolean', default: false },
} as const satisfies ParseArgsConfig['options'];

export interface BackupVerifyRequest {
  id: string;
  chain: boolean;
  json: boolean;
  signal?: AbortSignal;
}

/** The control plane's view of storage: its configuration (read stages), storage and catalog. */
export interface BackupVerifyStores {
  config: ArchiveConfig;
  storage: Storage;
  catalog: Catalog;
}

/** Where the command writes: the process's own streams, or a test's. */
export interface CommandStreams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
}

/**
 * Runs `dbaas backup-verify`: the report on stdout (one JSON document with
 * --json, else one line), the first problem on stderr when the backup is not
 * good. Returns the exit status; what stops the check itself (unknown id,
 * storage unreachable) is thrown for dbaas's own error report.
 */
export async function runBackupVerify(request: BackupVerifyRequest, stores: BackupVerifyStores, streams: CommandStreams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const started = Date.now();
  const report = await verifyBackup(
    { ...stores, progress: dbaasProgress(streams.stderr, request.json), ...(request.signal ? { signal: request.signal } : {}) },
    request.id,
    { chain: request.chain },
  );
  const seconds = (Date.now() - started) / 1000;
  const print = (value: unknown): void => void streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  if (report.ok) {
    if (request.json) print({ ok: true, command: 'backup-verify', duration_seconds: seconds, verify: report });
    else streams.stdout.write(`${verdictLine(report)}\n`);
    return 0;
  }
  if (request.json) {
    print({ ok: false, command: 'backup-verify', duration_seconds: seconds, verify: report, error: { type: 'BackupDamaged', message: report.problems[0] }, exit_code: 1 });
  }
  streams.stderr.write(`dbaas backup-verify: ${verdictLine(report)}\n`);
  return 1;
}

/** Steps as dbaas's own notes; the byte bar (on a terminal) as the agent draws it. Verify takes no step inside a byte phase. */
function dbaasProgress(stderr: NodeJS.WriteStream, quiet: boolean): Progress {
  const bar = createTerminalProgress(stderr, { quiet });
  return {
    step: (message) => {
      if (!quiet) stderr.write(`dbaas: ${message}\n`);
    },
    begin: (phase, total) => bar.begin(phase, total),
    advance: (bytes) => bar.advance(bytes),
    end: () => bar.end(),
  };
}
