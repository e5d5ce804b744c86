#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { serve } from '../agent/serve.js';
import { abortOnSignals } from './interrupts.js';
import { openCassandraNode } from '../cassandra/cassandra-node.js';
import { loadConfig } from '../config/load-config.js';
import { RestoreJournal } from '../jobs/restore-journal.js';
import { describeBackupIdRule, isValidBackupId, newBackupId } from '../catalog/backup-id.js';
import { AgentError, UsageError, errorMessage } from '../errors.js';
import { checkBackupRequest, runBackup, type BackupJobRequest, type RequestFieldNames } from '../runner/run-backup.js';
import { runRestore } from '../runner/run-restore.js';
import { verdictLine, verifyBackup } from '../jobs/verify-backup.js';
import { createStorageCatalog } from '../catalog/storage-catalog.js';
import { createStorage } from '../storage/create-storage.js';
import { formatBytes } from '../util/format-bytes.js';
import { setUpJob } from './job-setup.js';
import { createTerminalProgress } from './progress-bar.js';

const MAIN_HELP = `Usage: guest-agent <command> [options]

The Cassandra guest agent. Direct mode: no broker needed (cron, operators, tests).

Commands:
  serve      run the agent: take the control plane's RPCs from RabbitMQ
  backup     take a backup of this node into the configured storage
  restore    restore a backup from the catalog into this node
  recover    finish or roll back a restore that a crash interrupted (every
             command that touches the node, and serve, also does this first)
  verify     check a stored backup (checksum, TAR, manifest) without
             touching any node

Run 'guest-agent <command> --help' for a command's options.
Exit status: 0 success, 1 the operation failed, 2 bad usage or configuration.
`;

const SERVE_HELP = `Usage: guest-agent serve --config FILE

Runs the agent: consumes this instance's queue (guestagent.<instance_id>) on
RabbitMQ as Trove's guest does, runs create_backup and prepare (restore) one
at a time, answers rpc_ping and get_filesystem_stats, and reports to
trove-conductor (update_backup, heartbeat every report_interval). Logs go to
stderr, one JSON object per line (text on a terminal; see log_format).

transport_url, instance_id and instance_rpc_encr_key come from the
configuration, or from Trove's injected files (trove_guest_info_file,
trove_guestagent_conf_file). Without an RPC key, messages are plaintext.

SIGTERM or SIGINT: stops taking requests, aborts the running job (its snapshot
is cleared, temporary files removed, FAILED reported), delivers the reports
still queued, and exits 0.

Options:
  --config FILE       agent configuration (YAML); also GUEST_AGENT_CONFIG
  --log-format F      json (one object per line, as journald keeps it), text,
                      or auto (text on a terminal); overrides log_format
  -h, --help          show this help
`;

const BACKUP_HELP = `Usage: guest-agent backup --config FILE [--keyspaces a,b | --tables ks.t1,ks.t2] [--incremental | --parent ID] [--full] [--backup-id ID] [--name NAME] [--json]

Takes a snapshot with nodetool, streams its files as one compressed TAR to the
configured storage, records the backup in the catalog and clears the snapshot.
An incremental backup (--incremental, --parent) runs backup_incremental_strategy
and stores only what its parent chain lacks; when the parent cannot be built on
(another node, other tables, incomplete), a full backup is taken and its record
says why.

Options:
  --incremental       build on the newest COMPLETED backup of this instance
  --parent ID         build on this backup
  --full              take a full backup with the incremental strategy (starts a new chain)
  --config FILE       agent configuration (YAML); also GUEST_AGENT_CONFIG
  --keyspaces a,b     back up only these keyspaces (default: all, system ones included)
  --tables ks.t,...   back up only these tables (not with --keyspaces)
  --backup-id ID      the backup id and snapshot tag (default: a new UUID);
                      ${describeBackupIdRule()}
  --name NAME         a name for people (default: the id)
  --json              print one JSON summary on stdout, no progress
  -h, --help          show this help
`;

const RESTORE_HELP = `Usage: guest-agent restore --config FILE --backup-id ID [--checksum SUM] [--source-cluster-name NAME] [--json]

Restores a backup into this node: checks the catalog record, the stored object
and free space; extracts into fresh directories beside the data directories,
verifying the SHA-256 as it streams; stops Cassandra, swaps the directories in
(emptying commitlog, saved caches and hints), starts Cassandra and checks it.
Then makes the node its own (one local-only start without authentication
under the backup's cluster name: UPDATE system.local SET cluster_name to
restore_cluster_name or the instance id, and the superuser's password to the
agent's, kept in admin_credentials_file; then a start with the node's own
cassandra.yaml and a login with the new password). If anything fails after
the swap, the old directories and cassandra.yaml are put back and the node
started on them.

An incremental backup is restored with its whole chain (every member
checked first, then each applied in order into the same fresh directories).

A backup with no catalog record (Trove's, or 'tar | gzip | swift upload
--use-slo') is restored from ID.tar.gz, ID.tar or ID.gz in Swift, or from
ID.tar.gz.enc / ID.gz.enc made by Trove's 'openssl enc -aes-256-cbc'
(passphrase: trove_backup_aes_cbc_key), verified against its ETag as it
streams (each segment of a Static Large Object against its manifest).

Options:
  --config FILE       agent configuration (YAML); also GUEST_AGENT_CONFIG
  --backup-id ID      the backup to restore (required)
  --checksum SUM      refuse unless the backup's checksum is SUM (Swift's ETag,
                      as Trove records it, or the catalog's SHA-256)
  --source-cluster-name NAME
                      for a backup with no catalog record: the cluster name of
                      the node it was taken on (Trove: the source instance's
                      id); default this node's own
  --json              print one JSON summary on stdout, no progress
  -h, --help          show this help
`;

/** The command line's names for a backup request's fields, for the errors that name them. */
const CLI_FIELD_NAMES: RequestFieldNames = { id: '--backup-id', keyspaces: '--keyspaces', tables: '--tables', parent: '--parent' };

const COMMON_OPTIONS = {
  config: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

interface Output {
  json: boolean;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(MAIN_HELP);
    return command === undefined ? 2 : 0;
  }
  const output: Output = { json: rest.includes('--json') };
  const interrupted = abortOnSignals('guest-agent', true);
  try {
    switch (command) {
      case 'serve':
        return await serveCommand(rest, interrupted);
      case 'backup':
        return await backupCommand(rest, output, interrupted);
      case 'restore':
        return await restoreCommand(rest, output, interrupted);
      case 'recover':
        return await recoverCommand(rest, output);
      case 'verify':
        return await verifyCommand(rest, output, interrupted);
      default:
        throw new UsageError(`unknown command '${command}'; run 'guest-agent --help'`);
    }
  } catch (err) {
    return report(command, err, output);
  }
}

type OptionValues = Record<string, string | boolean | undefined>;

function parse(args: string[], options: ParseArgsConfig['options'], help: string): { values: OptionValues; help?: string } {
  try {
    const parsed = parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, strict: true, allowPositionals: false });
    const values = parsed.values as OptionValues;
    return { values, ...(values.help === true ? { help } : {}) };
  } catch (err) {
    throw new UsageError(`${errorMessage(err)}\n\n${help}`);
  }
}

const LOG_FORMATS = ['auto', 'json', 'text'] as const;

async function serveCommand(args: string[], signal: AbortSignal): Promise<number> {
  const { values, help } = parse(args, { 'log-format': { type: 'string' } }, SERVE_HELP);
  if (help) return printHelp(help);
  const logFormat = values['log-format'] as string | undefined;
  if (logFormat !== undefined && !(LOG_FORMATS as readonly string[]).includes(logFormat)) {
    throw new UsageError(`--log-format '${logFormat}': use ${LOG_FORMATS.join(', ')}`);
  }
  return serve(configFile(values.config as string | undefined), signal, logFormat as (typeof LOG_FORMATS)[number] | undefined);
}

const RECOVER_HELP = `Usage: guest-agent recover --config FILE [--json]

A restore writes a journal beside the data directory at each step. If the
agent was killed in the middle (SIGKILL, power loss), this finishes the
restore when only the old directories were left to delete, and otherwise
rolls it back: the old data directories and cassandra.yaml are put back and
Cassandra is started on them. Every other command does the same first.

Options:
  --config FILE       agent configuration (YAML); also GUEST_AGENT_CONFIG
  --json              print one JSON summary on stdout
  -h, --help          show this help
`;

async function recoverCommand(args: string[], output: Output): Promise<number> {
  const { values, help } = parse(args, {}, RECOVER_HELP);
  if (help) return printHelp(help);
  const config = await loadConfig(configFile(values.config as string | undefined));
  const node = await openCassandraNode(config);
  const recovered = await RestoreJournal.recover(node, createTerminalProgress(process.stderr, { quiet: output.json }));
  if (output.json) printJson({ ok: true, command: 'recover', recovered: recovered ?? null });
  else process.stdout.write(recovered ? `restore of ${recovered.backupId} ${recovered.outcome}\n` : 'no interrupted restore: nothing to do\n');
  return 0;
}

async function backupCommand(args: string[], output: Output, signal: AbortSignal): Promise<number> {
  const { values, help } = parse(args, {
    keyspaces: { type: 'string' },
    tables: { type: 'string' },
    'backup-id': { type: 'string' },
    name: { type: 'string' },
    incremental: { type: 'boolean' },
    parent: { type: 'string' },
    full: { type: 'boolean' },
  }, BACKUP_HELP);
  if (help) return printHelp(help);
  const parentId = values.parent as string | undefined;
  if (parentId !== undefined && values.incremental === true) throw new UsageError('--incremental and --parent cannot be used together: --parent names the backup to build on, --incremental picks the newest');
  const id = (values['backup-id'] as string | undefined) ?? newBackupId();
  const request: BackupJobRequest = {
    id,
    name: (values.name as string | undefined) ?? id,
    keyspaces: splitList(values.keyspaces as string | undefined),
    tables: splitList(values.tables as string | undefined),
    ...(values.incremental === true ? { parent: 'newest' as const } : parentId !== undefined ? { parent: { id: parentId } } : {}),
    ...(values.full === true ? { forceFull: true } : {}),
  };
  // Before anything is set up: a bad request is exit 2 whatever the node's state.
  checkBackupRequest(request, CLI_FIELD_NAMES);

  const started = Date.now();
  const ctx = await setUpJob(configFile(values.config as string | undefined), createTerminalProgress(process.stderr, { quiet: output.json }), signal);
  const record = await runBackup(request, ctx, { onWarning: (warning) => process.stderr.write(`guest-agent: warning: ${warning}\n`) }, CLI_FIELD_NAMES);
  const seconds = (Date.now() - started) / 1000;
  if (output.json) {
    printJson({ ok: true, command: 'backup', duration_seconds: seconds, backup: record });
  } else {
    process.stdout.write(
      `backup ${record.id} COMPLETED: ${record.file_count} files, ${formatBytes(record.raw_bytes)} raw, ` +
        `${formatBytes(record.stored_bytes)} stored (${record.compression}) in ${seconds.toFixed(1)} s\n` +
        (record.parent ? `  type     incremental on ${record.parent.id} (${record.strategy})\n` : `  type     full (${record.strategy})\n`) +
        (record.full_reason ? `  full because ${record.full_reason}\n` : '') +
        `  sha256   ${record.sha256}\n  location ${record.location}\n`,
    );
  }
  return 0;
}

async function restoreCommand(args: string[], output: Output, signal: AbortSignal): Promise<number> {
  const { values, help } = parse(args, { 'backup-id': { type: 'string' }, checksum: { type: 'string' }, 'source-cluster-name': { type: 'string' } }, RESTORE_HELP);
  if (help) return printHelp(help);
  const id = values['backup-id'] as string | undefined;
  if (!id) throw new UsageError(`--backup-id is required\n\n${RESTORE_HELP}`);
  if (!isValidBackupId(id)) throw new UsageError(`--backup-id '${id}': use ${describeBackupIdRule()}`);

  const started = Date.now();
  const ctx = await setUpJob(configFile(values.config as string | undefined), createTerminalProgress(process.stderr, { quiet: output.json }), signal);
  const result = await runRestore(
    {
      backupId: id,
      checksum: (values.checksum as string | undefined) ?? null,
      location: null,
      sourceClusterName: (values['source-cluster-name'] as string | undefined) ?? null,
      rootPassword: null,
    },
    () => ctx,
  );
  const seconds = (Date.now() - started) / 1000;
  if (output.json) {
    printJson({ ok: true, command: 'restore', duration_seconds: seconds, restore: result });
  } else {
    process.stdout.write(
      `restore of ${result.backupId} COMPLETED: ${result.files} files, ${formatBytes(result.rawBytes)} in ${seconds.toFixed(1)} s; ` +
        `Cassandra is up as cluster '${result.clusterName}' with the agent's superuser password (${result.starts} starts)\n`,
    );
  }
  return 0;
}

const VERIFY_HELP = `Usage: guest-agent verify ID --config FILE [--chain] [--json]

Checks a stored backup without touching any Cassandra node (no nodetool, no
service, no data directory; nothing is written anywhere): reads its object
from storage and checks the SHA-256 the catalog recorded (in Swift also each
segment's MD5 and the ETag), that the TAR inside is whole and holds only
entries a restore accepts, and every file of the backup's manifest: there
once, with its size and CRC-32, and nothing else (a record from before
manifests: its file count and raw size). For a backup built on a parent,
every ancestor needs a complete record and its object with the recorded
size; --chain reads each ancestor's object too, checking the files the
backup keeps there. An archive without a catalog record (Trove's, in Swift:
ID.tar.gz, ID.tar, ID.gz, ID.gz.enc) is checked against its ETag and for its
TAR structure.

Exit status: 0 the backup is good; 1 it is not: the first problem found on
stderr, saying what is wrong and what to do; 2 bad usage or configuration.

Options:
  --config FILE       agent configuration (YAML); also GUEST_AGENT_CONFIG;
                      only the storage and encryption settings are used
  --backup-id ID      the backup to check, instead of the ID argument
  --chain             read every ancestor's object too
  --json              print one JSON report on stdout, also when the backup
                      is not good: every file with its status, no progress
  -h, --help          show this help
`;

async function verifyCommand(args: string[], output: Output, signal: AbortSignal): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...COMMON_OPTIONS, 'backup-id': { type: 'string' }, chain: { type: 'boolean', default: false } }, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`${errorMessage(err)}\n\n${VERIFY_HELP}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return printHelp(VERIFY_HELP);
  const named = values['backup-id'];
  if (positionals.length > 1 || (named !== undefined && positionals.length > 0)) {
    throw new UsageError(`give one backup id, as ID or --backup-id, got '${[...positionals, ...(named === undefined ? [] : [named])].join(' ')}'\n\n${VERIFY_HELP}`);
  }
  const id = named ?? positionals[0];
  if (!id) throw new UsageError(`the backup id is required: guest-agent verify ID\n\n${VERIFY_HELP}`);
  if (!isValidBackupId(id)) throw new UsageError(`backup id '${id}': use ${describeBackupIdRule()}`);

  const started = Date.now();
  // Only storage: verify must work where no node runs (a bastion, the control plane's host).
  const config = await loadConfig(configFile(values.config));
  const storage = createStorage(config);
  const progress = createTerminalProgress(process.stderr, { quiet: output.json });
  const report = await verifyBackup({ config, storage, catalog: createStorageCatalog(storage), progress, signal }, id, { chain: values.chain });
  const seconds = (Date.now() - started) / 1000;
  if (report.ok) {
    if (output.json) printJson({ ok: true, command: 'verify', duration_seconds: seconds, verify: report });
    else process.stdout.write(`${verdictLine(report)}\n`);
    return 0;
  }
  if (output.json) {
    printJson({ ok: false, command: 'verify', duration_seconds: seconds, verify: report, error: { type: 'BackupDamaged', message: report.problems[0] }, exit_code: 1 });
  }
  process.stderr.write(`guest-agent verify: ${verdictLine(report)}\n`);
  return 1;
}

function configFile(option: string | undefined): string | undefined {
  return option ?? process.env.GUEST_AGENT_CONFIG;
}

function splitList(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').map((s) => s.trim()).filter(Boolean);
}

function printHelp(text: string): number {
  process.stdout.write(text);
  return 0;
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function report(command: string, err: unknown, output: Output): number {
  const exitCode = err instanceof AgentError ? err.exitCode : 1;
  const type = err instanceof Error ? err.name : 'Error';
  if (output.json) {
    printJson({ ok: false, command, error: { type, message: errorMessage(err) }, exit_code: exitCode });
  }
  process.stderr.write(`guest-agent ${command}: ${errorMessage(err)}\n`);
  if (!(err instanceof AgentError) && process.env.GUEST_AGENT_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return exitCode;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`guest-agent: unexpected failure: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  },
);

