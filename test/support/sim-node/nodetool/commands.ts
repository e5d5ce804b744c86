import { CLIENT_FRAMES } from '../java-traces.js';
import type { NodeInfo } from '../jmx-protocol.js';
import type { SnapshotDetails } from '../snapshots.js';
import type { CommandSpec, OptionSpec } from './args.js';
import { commandHelp, globalHelp } from './help-texts.js';
import { renderDescribeCluster, renderInfo, renderListSnapshots, renderRing, renderStatus } from './render.js';

/** An exception thrown inside the nodetool client itself, printed with its stack trace, exit code 2. */
export class ClientJavaError extends Error {
  constructor(
    readonly javaClass: string,
    message: string,
    readonly frames: readonly string[],
  ) {
    super(message);
  }
}

export interface CommandContext {
  args: string[];
  values: Map<string, string | true>;
  out: (text: string) => void;
  call: (op: string, args?: Record<string, unknown>) => Promise<unknown>;
}

export interface Command extends CommandSpec {
  /** Commands that work without a running node (help). */
  offline?: boolean;
  run: (ctx: CommandContext) => Promise<void>;
}

const opt = (key: string, names: string[], title?: string): OptionSpec => (title === undefined ? { key, names } : { key, names, title });

function stringValue(ctx: CommandContext, key: string): string | undefined {
  const value = ctx.values.get(key);
  return typeof value === 'string' ? value : undefined;
}

async function nodeInfo(ctx: CommandContext): Promise<NodeInfo> {
  return (await ctx.call('info')) as NodeInfo;
}

/** Snapshot.execute (4.0): the "Requested creating snapshot(s)" line is printed before the server is asked. */
async function snapshot(ctx: CommandContext): Promise<void> {
  const tag = stringValue(ctx, 'tag') ?? String(Date.now());
  const table = stringValue(ctx, 'table');
  const ktList = stringValue(ctx, 'ktList');
  const skipFlush = ctx.values.has('skipFlush');
  const suffix = `${tag === '' ? '' : ` with snapshot name [${tag}]`} and options {skipFlush=${skipFlush}}`;
  if (ktList !== undefined && ktList !== '') {
    const list = ktList.replace(/ /g, '');
    if (ctx.args.length > 0 || table !== undefined) {
      throw new ClientJavaError(
        'java.io.IOException',
        'When specifying the Keyspace table list (using -kt,--kt-list,-kc,--kc.list), you must not also specify keyspaces to snapshot',
        CLIENT_FRAMES.snapshotKtAndKeyspaces,
      );
    }
    ctx.out(`Requested creating snapshot(s) for [${list}]${suffix}\n`);
    // Java's String.split(",") drops trailing empty strings.
    const entities = list.split(',');
    while (entities.length > 0 && entities[entities.length - 1] === '') entities.pop();
    await ctx.call('takeTableSnapshot', { tag, entities, skipFlush });
  } else {
    ctx.out(`Requested creating snapshot(s) for ${ctx.args.length === 0 ? '[all keyspaces]' : `[${ctx.args.join(', ')}]`}${suffix}\n`);
    if (table !== undefined) {
      if (ctx.args.length !== 1) {
        throw new ClientJavaError('java.io.IOException', 'When specifying the table for a snapshot, you must specify one and only one keyspace', CLIENT_FRAMES.snapshotTableNeedsOneKeyspace);
      }
      await ctx.call('takeTableSnapshot', { tag, entities: [`${ctx.args[0]}.${table}`], skipFlush });
    } else {
      await ctx.call('takeSnapshot', { tag, keyspaces: ctx.args, skipFlush });
    }
  }
  ctx.out(`Snapshot directory: ${tag}\n`);
}

async function clearSnapshot(ctx: CommandContext): Promise<void> {
  const tag = stringValue(ctx, 'tag') ?? '';
  const all = ctx.values.has('all');
  if (tag === '' && !all) throw new ClientJavaError('java.lang.RuntimeException', 'Specify snapshot name or --all', CLIENT_FRAMES.clearSnapshotWithoutTag);
  if (tag !== '' && all) throw new ClientJavaError('java.lang.RuntimeException', 'Specify only one of snapshot name or --all', CLIENT_FRAMES.clearSnapshotTagAndAll);
  const keyspaces = ctx.args.length === 0 ? '[all keyspaces]' : `[${ctx.args.join(', ')}]`;
  ctx.out(`Requested clearing snapshot(s) for ${keyspaces} with ${tag === '' ? '[all snapshots]' : `snapshot name [${tag}]`}\n`);
  await ctx.call('clearSnapshot', { tag, keyspaces: ctx.args });
}

function keyspaceAndTables(ctx: CommandContext): { keyspace?: string; tables: string[] } {
  const [keyspace, ...tables] = ctx.args;
  return keyspace === undefined ? { tables: [] } : { keyspace, tables };
}

export const COMMANDS: Command[] = [
  {
    name: 'snapshot',
    acceptsArguments: true,
    options: [
      opt('table', ['-cf', '--column-family', '--table'], 'table'),
      opt('ktList', ['-kt', '--kt-list', '-kc', '--kc.list'], 'ktlist'),
      opt('skipFlush', ['-sf', '--skip-flush']),
      opt('tag', ['-t', '--tag'], 'tag'),
    ],
    run: snapshot,
  },
  { name: 'clearsnapshot', acceptsArguments: true, options: [opt('all', ['--all']), opt('tag', ['-t'], 'snapshot_name')], run: clearSnapshot },
  {
    name: 'listsnapshots',
    acceptsArguments: false,
    options: [],
    run: async (ctx) => ctx.out(renderListSnapshots((await ctx.call('snapshotDetails')) as SnapshotDetails)),
  },
  { name: 'flush', acceptsArguments: true, options: [], run: async (ctx) => void (await ctx.call('flush', keyspaceAndTables(ctx))) },
  { name: 'compact', acceptsArguments: true, options: [], run: async (ctx) => void (await ctx.call('compact', keyspaceAndTables(ctx))) },
  { name: 'drain', acceptsArguments: false, options: [], run: async (ctx) => void (await ctx.call('drain')) },
  { name: 'status', acceptsArguments: false, options: [], run: async (ctx) => ctx.out(renderStatus(await nodeInfo(ctx))) },
  { name: 'info', acceptsArguments: false, options: [], run: async (ctx) => ctx.out(renderInfo(await nodeInfo(ctx))) },
  { name: 'describecluster', acceptsArguments: false, options: [], run: async (ctx) => ctx.out(renderDescribeCluster(await nodeInfo(ctx))) },
  { name: 'ring', acceptsArguments: false, options: [], run: async (ctx) => ctx.out(renderRing(await nodeInfo(ctx))) },
  { name: 'version', acceptsArguments: false, options: [], run: async (ctx) => ctx.out(`ReleaseVersion: ${(await nodeInfo(ctx)).releaseVersion}\n`) },
  { name: 'statusbackup', acceptsArguments: false, options: [], run: async (ctx) => ctx.out((await nodeInfo(ctx)).incrementalBackups ? 'running\n' : 'not running\n') },
  { name: 'enablebackup', acceptsArguments: false, options: [], run: async (ctx) => void (await ctx.call('setIncrementalBackups', { enabled: true })) },
  { name: 'disablebackup', acceptsArguments: false, options: [], run: async (ctx) => void (await ctx.call('setIncrementalBackups', { enabled: false })) },
  {
    name: 'help',
    acceptsArguments: true,
    options: [],
    offline: true,
    run: async (ctx) => ctx.out((ctx.args.length > 0 ? commandHelp(ctx.args.join(' ')) : undefined) ?? globalHelp()),
  },
];

export const HELP_COMMAND = COMMANDS.find((c) => c.name === 'help') as Command;
