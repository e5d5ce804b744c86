#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { findStrategy } from '../../strategies/registry.js';
import { serve } from '../agent/serve.js';
import { abortOnSignals } from './interrupts.js';
import { openCassandraNode } from '../cassandra/cassandra-node.js';
import { loadConfig } from '../config/load-config.js';
import { RestoreJournal } from '../jobs/restore-journal.js';
import { describeBackupIdRule, isValidBackupId, newBackupId } from '../catalog/backup-id.js';
import { AgentError, ChecksumMismatchError, UsageError, errorMessage } from '../errors.js';
import { findForeignArchive, withForeignArchive } from '../jobs/foreign-archive.js';
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
             command, and serve, also does this first)

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
  -h, --help          show this help
`;

const BACKUP_HELP = `Usage: guest-agent backup --config FILE [--keyspaces a,b | --tables ks.t1,ks.t2] [--backup-id ID] [--name NAME] [--json]

Takes a snapshot with nodetool, streams its files as one compressed TAR to the
configured storage, records the backup in the catalog and clears the snapshot.

Options:
  --config FILE       agent configuration (YAML); also GUEST_AGENT_CONFIG
  --keyspaces a,b     back up only these keyspaces (default: all, system ones included)
  --tables ks.t,...   back up only these tables (not with --keyspaces)
  --backup-id ID      the backup id and snapshot tag (default: a new UUID);
                      ${describeBackupIdRule()}
  --name NAME         a name for people (default: the id)
  --json              print one JSON summary on stdout, no progress
  -h, --help          show this help
`;

const RESTORE_HELP = `Usage: guest-agent restore --config FILE --backup-id ID [--checksum SUM] [--json]

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

A backup with no catalog record (Trove's, or 'tar | gzip | swift upload
--use-slo') is restored from ID.tar.gz or ID.tar in Swift, verified against
its ETag as it streams (each segment of a Static Large Object against its
manifest).

Options:
  --config FILE       agent configuration (YAML); also GUEST_AGENT_CONFIG
  --backup-id ID      the backup to restore (required)
  --checksum SUM      refuse unless the backup's checksum is SUM (Swift's ETag,
                      as Trove records it, or the catalog's SHA-256)
  --json              print one JSON summary on stdout, no progress
  -h, --help          show this help
`;

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

async function serveCommand(args: string[], signal: AbortSignal): Promise<number> {
  const { values, help } = parse(args, {}, SERVE_HELP);
  if (help) return printHelp(help);
  return serve(configFile(values.config as string | undefined), signal);
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
  }, BACKUP_HELP);
  if (help) return printHelp(help);
  const keyspaces = splitList(values.keyspaces as string | undefined);
  const tables = splitList(values.tables as string | undefined);
  if (keyspaces.length > 0 && tables.length > 0) throw new UsageError('--keyspaces and --tables cannot be used together');
  const badTable = tables.find((t) => !/^[^.\s]+\.[^.\s]+$/.test(t));
  if (badTable) throw new UsageError(`--tables: '${badTable}' is not of the form keyspace.table`);
  const id = (values['backup-id'] as string | undefined) ?? newBackupId();
  if (!isValidBackupId(id)) throw new UsageError(`--backup-id '${id}': use ${describeBackupIdRule()}`);

  const started = Date.now();
  const ctx = await setUpJob(configFile(values.config as string | undefined), createTerminalProgress(process.stderr, { quiet: output.json }), signal);
  const strategy = await findStrategy('backup', ctx.config.backup_strategy, ctx.config.backup_namespace);
  const record = await strategy.backup(ctx, { id, name: (values.name as string | undefined) ?? id, keyspaces, tables });
  const seconds = (Date.now() - started) / 1000;
  if (output.json) {
    printJson({ ok: true, command: 'backup', duration_seconds: seconds, backup: record });
  } else {
    process.stdout.write(
      `backup ${record.id} COMPLETED: ${record.file_count} files, ${formatBytes(record.raw_bytes)} raw, ` +
        `${formatBytes(record.stored_bytes)} stored (${record.compression}) in ${seconds.toFixed(1)} s\n` +
        `  sha256   ${record.sha256}\n  location ${record.location}\n`,
    );
  }
  return 0;
}

async function restoreCommand(args: string[], output: Output, signal: AbortSignal): Promise<number> {
  const { values, help } = parse(args, { 'backup-id': { type: 'string' }, checksum: { type: 'string' } }, RESTORE_HELP);
  if (help) return printHelp(help);
  const id = values['backup-id'] as string | undefined;
  if (!id) throw new UsageError(`--backup-id is required\n\n${RESTORE_HELP}`);
  if (!isValidBackupId(id)) throw new UsageError(`--backup-id '${id}': use ${describeBackupIdRule()}`);

  const started = Date.now();
  const checksum = values.checksum as string | undefined;
  let ctx = await setUpJob(configFile(values.config as string | undefined), createTerminalProgress(process.stderr, { quiet: output.json }), signal);
  let record = await ctx.catalog.get(id);
  if (!record) {
    const foreign = await findForeignArchive(ctx, { backupId: id, checksum });
    ctx = { ...ctx, catalog: withForeignArchive(ctx.catalog, foreign) };
    record = foreign;
  } else if (checksum && checksum !== (record.checksum ?? record.sha256) && checksum !== record.sha256) {
    throw new ChecksumMismatchError(`backup ${id}: its checksum in the catalog is ${record.checksum ?? record.sha256}, not ${checksum} as --checksum says; nothing was restored`);
  }
  const strategy = await findStrategy('restore', record.strategy, ctx.config.restore_namespace);
  const result = await strategy.restore(ctx, id);
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
