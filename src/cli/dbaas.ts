#!/usr/bin/env node
import { abortOnSignals } from './interrupts.js';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { BackupRecord } from '../catalog/backup-record.js';
import { createStorageCatalog } from '../catalog/storage-catalog.js';
import { loadConfig } from '../config/load-config.js';
import { createStorage } from '../storage/create-storage.js';
import { BACKUP_VERIFY_OPTIONS, backupVerifyHelp, runBackupVerify } from './dbaas-verify.js';
import type { AgentConfig } from '../config/config-schema.js';
import type { BackupRequest } from '../control/backup-state.js';
import { describeProgress, type BackupView } from '../control/backup-view.js';
import type { JobProgress } from '../rpc/conductor-reporter.js';
import { DbaasControlPlane, type PurgeResult } from '../control/control-plane.js';
import { instanceKeyFromEnv, readInstanceKeyFile } from '../control/instance-keys.js';
import { parseDuration, type PlannedBackup, type PurgeRules } from '../control/purge-plan.js';
import { AgentError, UsageError, errorMessage } from '../errors.js';
import type { RpcKey } from '../rpc/secure-serializer.js';
import { formatBytes, formatDuration } from '../util/format-bytes.js';
import { checkCron, nextOccurrence, type Schedule } from '../control/schedule-plan.js';
import { ScheduleNotFoundError, ScheduleStore } from '../control/schedule-store.js';
import { Scheduler, type SchedulerEvent } from '../control/scheduler.js';
import { acquirePidLock } from '../util/pid-lock.js';
import { eventLine, renderSchedules, scheduleCreateHelp, scheduleDeleteHelp, scheduleListHelp, schedulerHelp } from './dbaas-schedules.js';

const KEY_ENV = 'DBAAS_INSTANCE_KEY';
const CONFIG_ENV = 'DBAAS_CONFIG';
const DEFAULT_TIMEOUT_SECONDS = 3600;
const DEFAULT_GRACE = '1d';

const MAIN_HELP = `Usage: dbaas <command> [options]

The control plane's side, as Trove's taskmanager and conductor: sends
requests to the guest agents over RabbitMQ, reads their reports from the
conductor queue, and reads and deletes backups in storage itself.

Commands:
  backup-create    ask an instance's agent for a backup
  backup-list      list backups (catalog in storage + dbaas's own state)
  backup-show      show one backup with every field
  backup-delete    delete a backup from storage and the catalog (--cascade: with those built on it)
  backup-purge     delete old backups by retention rules (--keep-last N, --max-age 30d)
  backup-verify    check a stored backup (checksum, TAR, manifest) without any agent or node
  create           create an instance restored from a backup (create INSTANCE --backup ID)
  schedule-create  add a schedule of backups of an instance (cron, UTC; retention)
  schedule-list    list the schedules, their next and last runs
  schedule-delete  delete a schedule (its backups stay)
  scheduler        run the schedules (a long-running process; --once: what is due now)

Every command reads the agent's configuration format (--config FILE or
${CONFIG_ENV}; GUEST_AGENT_<KEY> variables override it): transport_url,
control_exchange, conductor_topic, the queue flags, the storage keys and
dbaas_state_dir, dbaas_instance_keys_file, dbaas_datastore_version.

Instance keys (encrypted RPC): --instance-key-file FILE (mode 0600, the
32-character key), or ${KEY_ENV}, for the instance the command is about;
dbaas_instance_keys_file for all. Without a key, messages are plaintext.

Run 'dbaas <command> --help' for a command's options.
Exit status: 0 success, 1 the operation failed, 2 bad usage or configuration.
`;

const COMMON_HELP = `  --config FILE             configuration (YAML); also ${CONFIG_ENV}
  --instance-key-file FILE  the instance's RPC key (mode 0600); also ${KEY_ENV}
  --json                    print one JSON document on stdout, no progress
  -h, --help                show this help`;

const BACKUP_CREATE_HELP = `Usage: dbaas backup-create INSTANCE NAME [--description D] [--incremental | --parent ID]
                           [--keyspaces a,b | --tables ks.t,...] [--wait [--timeout SECONDS]] [--json]

Sends create_backup to the agent of INSTANCE (queue guestagent.INSTANCE) as
Trove's taskmanager does, and prints the new backup's id. An instance
without a queue gets nothing (no agent ever connected for it); one whose
agent is not running gets the request queued, with a warning.

Options:
  --description D           a description for people
  --incremental             build on the newest COMPLETED backup of INSTANCE
  --parent ID               build on this backup (of the same instance)
  --keyspaces a,b           back up only these keyspaces
  --tables ks.t,...         back up only these tables (not with --keyspaces)
  --wait                    follow the agent's reports until COMPLETED (exit 0,
                            prints location, size, checksum) or FAILED (exit 1)
  --timeout SECONDS         give up waiting after this long (default ${DEFAULT_TIMEOUT_SECONDS})
${COMMON_HELP}
`;

const BACKUP_LIST_HELP = `Usage: dbaas backup-list [--instance ID] [--json]

Lists the backups of the catalog in storage (from its index: one listing,
not a read per backup), newest first, with those dbaas
asked for that are still NEW or BUILDING, FAILED, or DELETE_FAILED (from its
state, updated from the conductor queue first). Without RabbitMQ it lists
storage and state as they are, with a warning.

Options:
  --instance ID             only the backups of this instance
${COMMON_HELP}
`;

const BACKUP_SHOW_HELP = `Usage: dbaas backup-show ID [--json]

Shows one backup: every field of its catalog record and of dbaas's state.
A backup neither knows is an error (exit 1).

Options:
${COMMON_HELP}
`;

const BACKUP_DELETE_HELP = `Usage: dbaas backup-delete ID [--cascade] [--yes] [--json]

Deletes a backup as Trove's taskmanager does: refused while it is NEW or
BUILDING, and while other backups build on it (an incremental backup is
restored through its parents); the refusal names them. Then the stored
object (with its segments or unfinished multipart uploads), the catalog
record and dbaas's state entry, in that order. If a step fails the backup
is DELETE_FAILED (in dbaas's state and its record, with the reason) and
running the same command again retries.

Options:
  --cascade                 also delete every backup built on ID, directly or
                            not, first (children before parents, newest first)
  --yes                     do not ask (needed when not on a terminal)
${COMMON_HELP}
`;

const BACKUP_PURGE_HELP = `Usage: dbaas backup-purge [--instance ID] [--keep-last N] [--max-age DURATION]
                          [--grace DURATION] [--dry-run] [--json]

Deletes the backups that retention rules make candidates, as backup-delete
deletes each (children before parents). Try it with --dry-run first.

Candidates (at least one of the two rules is required):
  --keep-last N             every backup of an instance but its newest N
                            COMPLETED ones (FAILED and DELETE_FAILED backups
                            are never among those N)
  --max-age DURATION        every backup created longer ago than DURATION
  With both, a backup is a candidate when either rule makes it one.

A candidate is kept, and the output says why, when it is:
  - in progress (NEW, BUILDING);
  - younger than the grace period (--grace, default ${DEFAULT_GRACE});
  - the newest COMPLETED full backup of its instance;
  - an ancestor of a backup that stays (restoring that one needs it).

Options:
  --instance ID             only the backups of this instance
  --grace DURATION          never delete a backup younger than this (default ${DEFAULT_GRACE})
  --dry-run                 print what would be deleted and kept; delete nothing
${COMMON_HELP}

DURATION is a whole number and a unit: 90m (minutes), 12h (hours), 30d (days).
Exit status 1 when a planned delete failed (that backup is DELETE_FAILED;
running the purge again retries it).
`;

const CREATE_HELP = `Usage: dbaas create INSTANCE --backup ID [--wait [--timeout SECONDS]] [--json]

Restores backup ID into the new instance INSTANCE: checks the catalog record
and the stored object, then sends prepare with backup_info {id, instance_id
(the source), location, type, checksum} to guestagent.INSTANCE (declared
first, so it waits there until the instance's agent starts).

Options:
  --backup ID               the backup to restore (required)
  --wait                    follow the instance's heartbeats: building, then
                            healthy (exit 0) or failed to spawn (exit 1)
  --timeout SECONDS         give up waiting after this long (default ${DEFAULT_TIMEOUT_SECONDS})
${COMMON_HELP}
`;

/** The schedule commands take no instance key: the scheduler reads dbaas_instance_keys_file for every instance. */
const SCHEDULE_COMMON_HELP = COMMON_HELP.split('\n').filter((line) => !line.includes('--instance-key-file')).join('\n');
const SCHEDULE_CREATE_HELP = scheduleCreateHelp(SCHEDULE_COMMON_HELP);
const SCHEDULE_LIST_HELP = scheduleListHelp(SCHEDULE_COMMON_HELP);
const SCHEDULE_DELETE_HELP = scheduleDeleteHelp(SCHEDULE_COMMON_HELP);
const SCHEDULER_HELP = schedulerHelp(SCHEDULE_COMMON_HELP);

const COMMON_OPTIONS = {
  config: { type: 'string' },
  'instance-key-file': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

type OptionValues = Record<string, string | boolean | undefined>;

interface Parsed {
  values: OptionValues;
  positionals: string[];
  help?: string;
}

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
  const interrupted = abortOnSignals('dbaas', false);
  try {
    switch (command) {
      case 'backup-create':
        return await backupCreate(rest, output, interrupted);
      case 'backup-list':
        return await backupList(rest, output);
      case 'backup-show':
        return await backupShow(rest, output);
      case 'backup-delete':
        return await backupDelete(rest, output);
      case 'backup-purge':
        return await backupPurge(rest, output);
      case 'backup-verify':
        return await backupVerify(rest, output, interrupted);
      case 'create':
        return await createInstance(rest, output, interrupted);
      case 'schedule-create':
        return await scheduleCreate(rest, output);
      case 'schedule-list':
        return await scheduleList(rest, output);
      case 'schedule-delete':
        return await scheduleDelete(rest, output);
      case 'scheduler':
        return await runScheduler(rest, output, interrupted);
      default:
        throw new UsageError(`unknown command '${command}'; run 'dbaas --help'`);
    }
  } catch (err) {
    return report(command, err, output);
  }
}

function parse(args: string[], options: ParseArgsConfig['options'], help: string, positionals: string[]): Parsed {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`${errorMessage(err)}\n\n${help}`);
  }
  const values = parsed.values as OptionValues;
  if (values.help === true) return { values, positionals: parsed.positionals, help };
  if (parsed.positionals.length !== positionals.length) {
    const expected = positionals.length === 0 ? 'no arguments' : positionals.join(' ');
    throw new UsageError(`expected ${expected}, got ${parsed.positionals.length === 0 ? 'none' : `'${parsed.positionals.join(' ')}'`}\n\n${help}`);
  }
  return { values, positionals: parsed.positionals };
}

/** What every command opens: configuration, the command's instance key, the control plane. */
async function openPlane(values: OptionValues, broker: 'required' | 'optional'): Promise<{ config: AgentConfig; plane: DbaasControlPlane; commandKey: RpcKey | undefined }> {
  const configFile = (values.config as string | undefined) ?? process.env[CONFIG_ENV];
  const config = await loadConfig(configFile || undefined);
  const keyFile = values['instance-key-file'] as string | undefined;
  const commandKey = keyFile !== undefined ? await readInstanceKeyFile(keyFile) : instanceKeyFromEnv(KEY_ENV);
  const plane = await DbaasControlPlane.open({ config, broker, warn });
  return { config, plane, commandKey };
}

async function withPlane<T>(values: OptionValues, broker: 'required' | 'optional', work: (plane: DbaasControlPlane, commandKey: RpcKey | undefined) => Promise<T>): Promise<T> {
  const { plane, commandKey } = await openPlane(values, broker);
  try {
    return await work(plane, commandKey);
  } finally {
    await plane.close();
  }
}

async function backupVerify(args: string[], output: Output, signal: AbortSignal): Promise<number> {
  const { values, positionals, help } = parse(args, BACKUP_VERIFY_OPTIONS, backupVerifyHelp(COMMON_HELP), ['ID']);
  if (help) return printHelp(help);
  const [id] = positionals as [string];
  // Storage only: verify needs neither RabbitMQ nor dbaas's state.
  const config = await loadConfig(((values.config as string | undefined) ?? process.env[CONFIG_ENV]) || undefined);
  const storage = createStorage(config);
  return runBackupVerify({ id, chain: values.chain === true, json: output.json, signal }, { config, storage, catalog: createStorageCatalog(storage) });
}

async function backupCreate(args: string[], output: Output, signal: AbortSignal): Promise<number> {
  const { values, positionals, help } = parse(
    args,
    {
      description: { type: 'string' },
      incremental: { type: 'boolean', default: false },
      parent: { type: 'string' },
      keyspaces: { type: 'string' },
      tables: { type: 'string' },
      wait: { type: 'boolean', default: false },
      timeout: { type: 'string' },
    },
    BACKUP_CREATE_HELP,
    ['INSTANCE', 'NAME'],
  );
  if (help) return printHelp(help);
  const [instanceId, name] = positionals as [string, string];
  checkInstanceId(instanceId);
  if (name.trim() === '') throw new UsageError('NAME is empty: give the backup a name');
  const keyspaces = splitList(values.keyspaces as string | undefined);
  const tables = splitList(values.tables as string | undefined);
  if (keyspaces.length > 0 && tables.length > 0) throw new UsageError('--keyspaces and --tables cannot be used together');
  const badTable = tables.find((t) => !/^[^.\s]+\.[^.\s]+$/.test(t));
  if (badTable) throw new UsageError(`--tables: '${badTable}' is not of the form keyspace.table`);
  const parentId = values.parent as string | undefined;
  if (parentId !== undefined && values.incremental === true) throw new UsageError('--incremental and --parent cannot be used together: --parent names the backup to build on, --incremental picks the newest');
  const timeoutSeconds = parseTimeout(values);
  const wait = values.wait === true;

  return withPlane(values, 'required', async (plane, commandKey) => {
    if (commandKey) plane.useInstanceKey(instanceId, commandKey);
    await plane.sync();
    const { request } = await plane.requestBackup({
      instanceId,
      name,
      description: (values.description as string | undefined) ?? null,
      incremental: values.incremental === true,
      ...(parentId !== undefined ? { parentId } : {}),
      keyspaces,
      tables,
    });
    if (!output.json) {
      process.stdout.write(`${request.id}\n`);
      note(`create_backup ${request.id} (${request.type}${request.parent_id ? ` on ${request.parent_id}` : ''}) sent to instance ${instanceId}`, output);
    }
    if (!wait) {
      if (output.json) printJson({ ok: true, command: 'backup-create', backup: request });
      return 0;
    }
    const display = createWaitDisplay(process.stderr, output.json, `backup ${request.id}`);
    let final: BackupRequest;
    try {
      final = await plane.waitForBackup(request.id, {
        timeoutSeconds,
        signal,
        onChange: (entry) => display.update(entry.state),
        onProgress: (progress) => display.update(`BUILDING, ${describeProgress(progress)}`),
      });
    } catch (err) {
      if (signal.aborted) throw new AgentError(`stopped waiting (${errorMessage(signal.reason)}); backup ${request.id} goes on on the agent: 'dbaas backup-show ${request.id}' shows how it ends`);
      throw err;
    } finally {
      display.end();
    }
    const record = await plane.catalog.get(final.id).catch(() => undefined);
    if (final.state !== 'COMPLETED') {
      if (output.json) printJson({ ok: false, command: 'backup-create', backup: final, error: { type: 'BackupFailed', message: final.reason }, exit_code: 1 });
      process.stderr.write(`dbaas backup-create: backup ${final.id} ${final.state} on instance ${final.instance_id}: ${final.reason ?? 'no reason given'}\n`);
      return 1;
    }
    if (output.json) {
      printJson({ ok: true, command: 'backup-create', backup: final, catalog: record ?? null });
    } else {
      process.stdout.write(
        `state     COMPLETED\nlocation  ${final.location ?? record?.location ?? '-'}\nsize      ${sizeText(record?.stored_bytes ?? null, final.size_gb)}\nchecksum  ${final.checksum ?? record?.checksum ?? '-'}\n`,
      );
    }
    return 0;
  });
}

async function backupList(args: string[], output: Output): Promise<number> {
  const { values, help } = parse(args, { instance: { type: 'string' } }, BACKUP_LIST_HELP, []);
  if (help) return printHelp(help);
  const instanceId = values.instance as string | undefined;
  if (instanceId !== undefined) checkInstanceId(instanceId);
  if (values['instance-key-file'] !== undefined && instanceId === undefined) {
    throw new UsageError('--instance-key-file needs --instance ID: the instance whose key it is');
  }
  return withPlane(values, 'optional', async (plane, commandKey) => {
    if (commandKey && instanceId) plane.useInstanceKey(instanceId, commandKey);
    await plane.sync();
    const views = await plane.listBackups(instanceId ? { instanceId } : {});
    if (output.json) printJson(views);
    else process.stdout.write(views.length === 0 ? `no backups${instanceId ? ` of instance ${instanceId}` : ''}\n` : renderTable(views));
    return 0;
  });
}

async function backupShow(args: string[], output: Output): Promise<number> {
  const { values, positionals, help } = parse(args, {}, BACKUP_SHOW_HELP, ['ID']);
  if (help) return printHelp(help);
  const [id] = positionals as [string];
  return withPlane(values, 'optional', async (plane, commandKey) => {
    await bindKeyOfBackup(plane, id, commandKey);
    await plane.sync();
    const { view, record, request, progress } = await plane.showBackup(id);
    if (output.json) printJson({ ok: true, command: 'backup-show', backup: view, catalog: record ?? null, request: request ?? null, progress: progress ?? null });
    else process.stdout.write(renderShow(view, record, request, progress));
    return 0;
  });
}

async function backupDelete(args: string[], output: Output): Promise<number> {
  const { values, positionals, help } = parse(
    args,
    { yes: { type: 'boolean', default: false }, cascade: { type: 'boolean', default: false } },
    BACKUP_DELETE_HELP,
    ['ID'],
  );
  if (help) return printHelp(help);
  const [id] = positionals as [string];
  const cascade = values.cascade === true;
  if (values.yes !== true && !process.stdin.isTTY) {
    throw new UsageError(`not on a terminal, so dbaas cannot ask: run 'dbaas backup-delete ${id}${cascade ? ' --cascade' : ''} --yes' to delete it`);
  }
  return withPlane(values, 'optional', async (plane, commandKey) => {
    await bindKeyOfBackup(plane, id, commandKey);
    await plane.sync();
    const { view } = await plane.showBackup(id);
    const what = `backup ${id} (${view.name ?? 'no name'}, instance ${view.instance_id}, ${view.state})${cascade ? ' and every backup built on it' : ''}`;
    if (values.yes !== true && !(await confirm(`Delete ${what}? [y/N] `))) {
      process.stderr.write('dbaas backup-delete: nothing deleted\n');
      return 1;
    }
    const result = await plane.deleteBackup(id, { cascade });
    if (output.json) {
      printJson({ ok: true, command: 'backup-delete', deleted: id, object_key: result.objectKey, deleted_backups: result.deleted });
      return 0;
    }
    for (const backup of result.deleted) {
      const because = backup.id === id ? '' : ` (built on ${id})`;
      process.stdout.write(
        `backup ${backup.id} deleted${because}${backup.object_key ? `: stored object ${backup.object_key} and catalog record removed` : ' (it had no stored object)'}\n`,
      );
    }
    return 0;
  });
}

async function backupPurge(args: string[], output: Output): Promise<number> {
  const { values, help } = parse(
    args,
    {
      instance: { type: 'string' },
      'keep-last': { type: 'string' },
      'max-age': { type: 'string' },
      grace: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
    BACKUP_PURGE_HELP,
    [],
  );
  if (help) return printHelp(help);
  const rules = purgeRules(values);
  const dryRun = values['dry-run'] === true;
  if (values['instance-key-file'] !== undefined && rules.instanceId === undefined) {
    throw new UsageError('--instance-key-file needs --instance ID: the instance whose key it is');
  }
  return withPlane(values, 'optional', async (plane, commandKey) => {
    if (commandKey && rules.instanceId) plane.useInstanceKey(rules.instanceId, commandKey);
    // The agents' reports first: a backup that just started must be seen as in progress.
    await plane.sync();
    // A long purge says how far it got as it goes (stderr); the list of what it did comes at the end.
    let planned = 0;
    let done = 0;
    const result = await plane.purgeBackups(rules, {
      dryRun,
      onPlanned: (plan) => {
        planned = plan.delete.length;
      },
      onDeleted: ({ backup }) => {
        done += 1;
        note(`deleted backup ${backup.id} (${done} of ${planned})`, output);
      },
    });
    const ok = result.failed.length === 0;
    if (output.json) {
      const item = ({ backup, reason }: PlannedBackup) => ({ ...backup, reason });
      printJson({
        ok,
        command: 'backup-purge',
        dry_run: dryRun,
        ...(dryRun ? { would_delete: result.plan.delete.map(item) } : { deleted: result.deleted.map(item), failed: result.failed.map(item) }),
        kept: result.plan.keep.map(item),
        ...(ok ? {} : { exit_code: 1 }),
      });
    } else {
      process.stdout.write(renderPurge(result, dryRun));
    }
    if (!ok) process.stderr.write(`dbaas backup-purge: ${result.failed.length} backup(s) could not be deleted; run the purge again to retry\n`);
    return ok ? 0 : 1;
  });
}

/** The purge options as rules, each checked with an error that names it. */
function purgeRules(values: OptionValues): PurgeRules {
  const instanceId = values.instance as string | undefined;
  if (instanceId !== undefined) checkInstanceId(instanceId);
  const keepLastText = values['keep-last'] as string | undefined;
  const maxAgeText = values['max-age'] as string | undefined;
  if (keepLastText === undefined && maxAgeText === undefined) {
    throw new UsageError(`give --keep-last N, --max-age DURATION or both: without a rule nothing is a candidate\n\n${BACKUP_PURGE_HELP}`);
  }
  let keepLast: number | undefined;
  if (keepLastText !== undefined) {
    if (!/^\d{1,6}$/.test(keepLastText) || Number(keepLastText) < 1) throw new UsageError(`--keep-last '${keepLastText}': expected a whole number of backups, at least 1`);
    keepLast = Number(keepLastText);
  }
  const maxAgeMs = maxAgeText === undefined ? undefined : parseDuration(maxAgeText, '--max-age');
  if (maxAgeMs === 0) throw new UsageError(`--max-age '${maxAgeText}': must be more than 0: every backup would be a candidate`);
  return {
    ...(instanceId !== undefined ? { instanceId } : {}),
    ...(keepLast !== undefined ? { keepLast } : {}),
    ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
    graceMs: parseDuration((values.grace as string | undefined) ?? DEFAULT_GRACE, '--grace'),
  };
}

async function createInstance(args: string[], output: Output, signal: AbortSignal): Promise<number> {
  const { values, positionals, help } = parse(
    args,
    { backup: { type: 'string' }, wait: { type: 'boolean', default: false }, timeout: { type: 'string' } },
    CREATE_HELP,
    ['INSTANCE'],
  );
  if (help) return printHelp(help);
  const [instanceId] = positionals as [string];
  checkInstanceId(instanceId);
  const backupId = values.backup as string | undefined;
  if (!backupId) throw new UsageError(`--backup ID is required: the backup to restore into ${instanceId}\n\n${CREATE_HELP}`);
  const timeoutSeconds = parseTimeout(values);

  return withPlane(values, 'required', async (plane, commandKey) => {
    if (commandKey) plane.useInstanceKey(instanceId, commandKey);
    await plane.sync();
    const { record, previousStatus } = await plane.createInstance({ instanceId, backupId });
    const summary = { instance_id: instanceId, backup_id: record.id, source_instance_id: record.instance_id, location: record.location };
    if (values.wait !== true) {
      if (output.json) printJson({ ok: true, command: 'create', status: 'sent', ...summary });
      else process.stdout.write(`instance ${instanceId}: prepare sent, restoring backup ${record.id} of instance ${record.instance_id}\n`);
      return 0;
    }
    note(`prepare sent to instance ${instanceId}: restoring backup ${record.id} of instance ${record.instance_id}`, output);
    const display = createWaitDisplay(process.stderr, output.json, `instance ${instanceId}`);
    display.update('waiting for the agent');
    try {
      let status = previousStatus ?? 'waiting for the agent';
      await plane.waitForInstance(instanceId, {
        timeoutSeconds,
        signal,
        previousStatus,
        onStatus: (next) => display.update((status = next)),
        onProgress: (progress) => display.update(`${status}, ${describeProgress(progress)}`),
      });
    } catch (err) {
      if (signal.aborted) throw new AgentError(`stopped waiting (${errorMessage(signal.reason)}); the restore goes on on instance ${instanceId}`);
      throw err;
    } finally {
      display.end();
    }
    if (output.json) printJson({ ok: true, command: 'create', status: 'healthy', ...summary });
    else process.stdout.write(`instance ${instanceId} is healthy: backup ${record.id} restored\n`);
    return 0;
  });
}

/** The schedules in dbaas's state directory: configuration only, no broker, no storage. */
async function openSchedules(values: OptionValues): Promise<{ config: AgentConfig; store: ScheduleStore }> {
  if (values['instance-key-file'] !== undefined) {
    throw new UsageError('--instance-key-file does not apply to schedules: the scheduler takes every instance\'s key from dbaas_instance_keys_file');
  }
  const config = await loadConfig(((values.config as string | undefined) ?? process.env[CONFIG_ENV]) || undefined);
  return { config, store: new ScheduleStore(config.dbaas_state_dir) };
}

async function scheduleCreate(args: string[], output: Output): Promise<number> {
  const { values, positionals, help } = parse(
    args,
    { cron: { type: 'string' }, 'incremental-cron': { type: 'string' }, 'keep-last': { type: 'string' }, 'keep-days': { type: 'string' } },
    SCHEDULE_CREATE_HELP,
    ['INSTANCE'],
  );
  if (help) return printHelp(help);
  const [instanceId] = positionals as [string];
  checkInstanceId(instanceId);
  const cron = values.cron as string | undefined;
  if (cron === undefined) throw new UsageError(`--cron EXPR is required: when to take a full backup (5 fields, UTC)\n\n${SCHEDULE_CREATE_HELP}`);
  checkCron(cron, '--cron');
  const incrementalCron = (values['incremental-cron'] as string | undefined) ?? null;
  if (incrementalCron !== null) checkCron(incrementalCron, '--incremental-cron');
  const count = (option: string, what: string): number | null => {
    const text = values[option] as string | undefined;
    if (text === undefined) return null;
    if (!/^\d{1,6}$/.test(text) || Number(text) < 1) throw new UsageError(`--${option} '${text}': expected a whole number of ${what}, at least 1`);
    return Number(text);
  };
  const keepLast = count('keep-last', 'backups');
  const keepDays = count('keep-days', 'days');
  const { store } = await openSchedules(values);
  const now = new Date();
  const schedule: Schedule = {
    id: randomUUID(),
    instance_id: instanceId,
    cron: cron.trim(),
    incremental_cron: incrementalCron?.trim() ?? null,
    keep_last: keepLast,
    keep_days: keepDays,
    created: now.toISOString(),
    next_run: nextOccurrence(cron, now).toISOString(),
    next_incremental_run: incrementalCron === null ? null : nextOccurrence(incrementalCron, now).toISOString(),
    last_run: null,
  };
  await store.put(schedule);
  if (output.json) {
    printJson({ ok: true, command: 'schedule-create', schedule });
    return 0;
  }
  process.stdout.write(`${schedule.id}\n`);
  const incremental = schedule.incremental_cron ? `, incremental at '${schedule.incremental_cron}' (next ${schedule.next_incremental_run})` : '';
  note(`schedule ${schedule.id}: full backups of instance ${instanceId} at '${schedule.cron}' UTC (next ${schedule.next_run})${incremental}; 'dbaas scheduler' runs it`, output);
  return 0;
}

async function scheduleList(args: string[], output: Output): Promise<number> {
  const { values, help } = parse(args, {}, SCHEDULE_LIST_HELP, []);
  if (help) return printHelp(help);
  const { store } = await openSchedules(values);
  const schedules = await store.list(warn);
  if (output.json) printJson(schedules);
  else process.stdout.write(schedules.length === 0 ? 'no schedules\n' : renderSchedules(schedules));
  return 0;
}

async function scheduleDelete(args: string[], output: Output): Promise<number> {
  const { values, positionals, help } = parse(args, {}, SCHEDULE_DELETE_HELP, ['SCHEDULE_ID']);
  if (help) return printHelp(help);
  const [id] = positionals as [string];
  const { store } = await openSchedules(values);
  if (!(await store.delete(id))) throw new ScheduleNotFoundError(`schedule ${id} not found in ${store.dir}; 'dbaas schedule-list' shows the known ones`);
  if (output.json) printJson({ ok: true, command: 'schedule-delete', deleted: id });
  else process.stdout.write(`schedule ${id} deleted (its backups stay)\n`);
  return 0;
}

async function runScheduler(args: string[], output: Output, signal: AbortSignal): Promise<number> {
  const { values, help } = parse(args, { once: { type: 'boolean', default: false } }, SCHEDULER_HELP, []);
  if (help) return printHelp(help);
  const { config, store } = await openSchedules(values);
  await mkdir(config.dbaas_state_dir, { recursive: true, mode: 0o700 });
  const release = await acquirePidLock(path.join(config.dbaas_state_dir, 'scheduler.lock'), 'dbaas scheduler');
  try {
    return await withPlane(values, 'required', async (plane) => {
      const onEvent = (event: SchedulerEvent): void => {
        process.stdout.write(output.json ? `${JSON.stringify(event)}\n` : eventLine(event));
      };
      const once = values.once === true;
      // --once follows its runs closely (it exits when they finish); a service looks every 5 s.
      const scheduler = new Scheduler({ plane, store, onEvent, tickMs: once ? 1_000 : 5_000 });
      await scheduler.run({ once, signal });
      return once && scheduler.failures > 0 ? 1 : 0;
    });
  } finally {
    await release();
  }
}

/** show and delete: the command's key belongs to the instance of the backup. */
async function bindKeyOfBackup(plane: DbaasControlPlane, id: string, key: RpcKey | undefined): Promise<void> {
  if (!key) return;
  const instanceId = await plane.instanceOfBackup(id);
  if (instanceId) plane.useInstanceKey(instanceId, key);
}

function checkInstanceId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$/.test(id)) {
    throw new UsageError(`'${id}' is not an instance id: letters, digits, '.', '_', ':' and '-', starting with a letter or digit`);
  }
}

function parseTimeout(values: OptionValues): number {
  const text = values.timeout as string | undefined;
  if (text === undefined) return DEFAULT_TIMEOUT_SECONDS;
  if (values.wait !== true) throw new UsageError('--timeout only applies with --wait');
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--timeout '${text}': expected a whole number of seconds, at least 1`);
  return Number(text);
}

function splitList(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').map((s) => s.trim()).filter(Boolean);
}

function sizeText(bytes: number | null, gb: number | null): string {
  if (bytes !== null) return formatBytes(bytes);
  if (gb !== null) return `${gb} GB`;
  return '-';
}

function renderTable(views: BackupView[]): string {
  const header = ['ID', 'INSTANCE', 'NAME', 'STATE', 'TYPE', 'SIZE', 'CREATED'];
  const rows = views.map((v) => [
    v.id,
    v.instance_id,
    v.name ?? '-',
    v.in_catalog || v.state !== 'COMPLETED' ? v.state : 'COMPLETED*',
    v.type,
    sizeText(v.size_bytes, v.size_gb),
    v.created.replace(/\.\d+Z$/, 'Z'),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`;
  let text = line(header) + rows.map(line).join('');
  if (views.some((v) => !v.in_catalog && v.state === 'COMPLETED')) {
    text += '* reported COMPLETED, but its catalog record is not in this storage (deleted, or another store)\n';
  }
  return text;
}

function renderPurge(result: PurgeResult, dryRun: boolean): string {
  const rows = (items: PlannedBackup[]): string => {
    const cells = items.map(({ backup, reason }) => [backup.id, backup.instance_id, backup.type, backup.state, backup.created.replace(/\.\d+Z$/, 'Z'), reason]);
    const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...cells.map((r) => r[i]!.length)));
    return cells.map((r) => `  ${r.map((c, i) => (i < widths.length ? c.padEnd(widths[i]!) : c)).join('  ')}\n`).join('');
  };
  const { plan } = result;
  let text = '';
  if (dryRun) {
    text += plan.delete.length === 0 ? 'would delete nothing (dry run)\n' : `would delete ${plan.delete.length} backup(s) (dry run: nothing deleted), in this order:\n${rows(plan.delete)}`;
  } else {
    text += result.deleted.length === 0 && result.failed.length === 0 ? 'deleted nothing\n' : '';
    if (result.deleted.length > 0) text += `deleted ${result.deleted.length} backup(s):\n${rows(result.deleted)}`;
    if (result.failed.length > 0) text += `could not delete ${result.failed.length} backup(s):\n${rows(result.failed)}`;
  }
  if (plan.keep.length > 0) text += `kept ${plan.keep.length} candidate(s):\n${rows(plan.keep)}`;
  return text;
}

function renderShow(view: BackupView, record: BackupRecord | undefined, request: BackupRequest | undefined, progress: JobProgress | undefined): string {
  const lines: [string, string][] = [
    ['id', view.id],
    ['instance', view.instance_id],
    ['name', view.name ?? '-'],
    ['state', view.state],
    ['type', view.type],
    ['size', sizeText(view.size_bytes, view.size_gb)],
    ['created', view.created],
    ['location', view.location ?? '-'],
    ['checksum', view.checksum ?? '-'],
  ];
  if (view.reason) lines.push(['reason', view.reason]);
  if (progress) lines.push(['progress', describeProgress(progress)]);
  lines.push(['catalog', view.in_catalog ? 'record in storage' : 'no record in storage']);
  let text = table(lines);
  if (record) {
    text += '\ncatalog record:\n';
    text += table(
      Object.entries(record).map(([key, value]): [string, string] => {
        if (key === 'archived_tables') return [key, record.archived_tables.map((t) => `${t.keyspace}/${t.directory}`).join(', ') || '-'];
        if (key === 'ring') return [key, `${record.ring.tokens.length} token(s)${record.ring.tokens.length > 0 ? `: ${record.ring.tokens.slice(0, 4).join(', ')}${record.ring.tokens.length > 4 ? ', ...' : ''}` : ''}`];
        return [key, fieldText(value)];
      }),
      '  ',
    );
  }
  if (request) {
    text += '\ndbaas state:\n';
    text += table(Object.entries(request).map(([key, value]): [string, string] => [key, fieldText(value)]), '  ');
  }
  return text;
}

function fieldText(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function table(rows: [string, string][], indent = ''): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}\n`).join('');
}

/** On a terminal, one redrawn line (spinner, what it waits for, state, elapsed); otherwise a line per change. */
function createWaitDisplay(stream: NodeJS.WriteStream, quiet: boolean, what: string): { update(state: string): void; end(): void } {
  const tty = stream.isTTY === true;
  const frames = ['|', '/', '-', '\\'];
  const started = Date.now();
  let state = '';
  let frame = 0;
  let drawn = false;
  const elapsed = (): string => formatDuration((Date.now() - started) / 1000);
  const draw = (): void => {
    frame = (frame + 1) % frames.length;
    const line = `${frames[frame]} ${what}: ${state}  ${elapsed()} elapsed`;
    stream.write(`\r${line.padEnd(Math.max(line.length, (stream.columns ?? 80) - 1))}`);
    drawn = true;
  };
  const timer = !quiet && tty ? setInterval(draw, 200) : undefined;
  timer?.unref();
  return {
    update(next) {
      if (quiet || next === state) return;
      state = next;
      if (tty) draw();
      else stream.write(`dbaas: ${what}: ${state} (${elapsed()})\n`);
    },
    end() {
      if (timer) clearInterval(timer);
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

function note(message: string, output: Output): void {
  if (!output.json) process.stderr.write(`dbaas: ${message}\n`);
}

function warn(message: string): void {
  process.stderr.write(`dbaas: warning: ${message}\n`);
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
  if (output.json) printJson({ ok: false, command, error: { type, message: errorMessage(err) }, exit_code: exitCode });
  process.stderr.write(`dbaas ${command}: ${errorMessage(err)}\n`);
  if (!(err instanceof AgentError) && process.env.GUEST_AGENT_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return exitCode;
}

main(process.argv.slice(2)).then(exitWhenWritten, (err: unknown) => {
  process.stderr.write(`dbaas: unexpected failure: ${errorMessage(err)}\n`);
  exitWhenWritten(1);
});

/**
 * Exits as soon as everything printed is written out. Node's fetch keeps an
 * idle connection to the object store open for a while after the last
 * request, which would otherwise hold the finished command up to seconds.
 */
function exitWhenWritten(code: number): void {
  process.exitCode = code;
  let open = 2;
  const flushed = (): void => {
    open -= 1;
    if (open === 0) process.exit(code);
  };
  process.stdout.write('', flushed);
  process.stderr.write('', flushed);
}
