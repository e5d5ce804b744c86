/**
 * `nodetool help <command>` in airline's layout, for the commands whose help was captured:
 * snapshot, clearsnapshot, flush and listsnapshots reproduce nt_help_*.stdout byte for byte (a
 * test checks it). Any other command gets the global usage.
 */
interface OptionHelp {
  /** Sort key: the first option name without dashes (airline sorts options by it). */
  key: string;
  usage: string;
  description: string[];
}

interface CommandHelp {
  name: string;
  description: string[];
  /** The synopsis after the global options, already wrapped (first part continues the `-u` line). */
  synopsis: string[];
  options: OptionHelp[];
  argument?: { usage: string; description: string[] };
}

const GLOBAL_OPTIONS: OptionHelp[] = [
  { key: 'h', usage: '-h <host>, --host <host>', description: ['Node hostname or ip address'] },
  { key: 'p', usage: '-p <port>, --port <port>', description: ['Remote jmx agent port number'] },
  { key: 'pp', usage: '-pp, --print-port', description: ['Operate in 4.0 mode with hosts disambiguated by port number'] },
  { key: 'pw', usage: '-pw <password>, --password <password>', description: ['Remote jmx agent password'] },
  { key: 'pwf', usage: '-pwf <passwordFilePath>, --password-file <passwordFilePath>', description: ['Path to the JMX password file'] },
  { key: 'u', usage: '-u <username>, --username <username>', description: ['Remote jmx agent username'] },
];

const SEPARATOR_HELP = [
  'This option can be used to separate command-line options from the',
  'list of argument, (useful when arguments might be mistaken for',
  'command-line options',
];

const COMMANDS: CommandHelp[] = [
  {
    name: 'snapshot',
    description: ['Take a snapshot of specified keyspaces or a snapshot', 'of the specified table'],
    synopsis: [
      'snapshot',
      '[(-cf <table> | --column-family <table> | --table <table>)]',
      '[(-kt <ktlist> | --kt-list <ktlist> | -kc <ktlist> | --kc.list <ktlist>)]',
      '[(-sf | --skip-flush)] [(-t <tag> | --tag <tag>)] [--] [<keyspaces...>]',
    ],
    options: [
      { key: 'cf', usage: '-cf <table>, --column-family <table>, --table <table>', description: ['The table name (you must specify one and only one keyspace for using', 'this option)'] },
      { key: 'kt', usage: '-kt <ktlist>, --kt-list <ktlist>, -kc <ktlist>, --kc.list <ktlist>', description: ['The list of Keyspace.table to take snapshot.(you must not specify', 'only keyspace)'] },
      { key: 'sf', usage: '-sf, --skip-flush', description: ['Do not flush memtables before snapshotting (snapshot will not', 'contain unflushed data)'] },
      { key: 't', usage: '-t <tag>, --tag <tag>', description: ['The name of the snapshot'] },
    ],
    argument: { usage: '[<keyspaces...>]', description: ['List of keyspaces. By default, all keyspaces'] },
  },
  {
    name: 'clearsnapshot',
    description: ['Remove the snapshot with the given name from', 'the given keyspaces'],
    synopsis: ['clearsnapshot [--all]', '[-t <snapshot_name>] [--] [<keyspaces>...]'],
    options: [
      { key: 'all', usage: '--all', description: ['Removes all snapshots'] },
      { key: 't', usage: '-t <snapshot_name>', description: ['Remove the snapshot with a given name'] },
    ],
    argument: { usage: '[<keyspaces>...]', description: ['Remove snapshots from the given keyspaces'] },
  },
  {
    name: 'flush',
    description: ['Flush one or more tables'],
    synopsis: ['flush [--] [<keyspace>', '<tables>...]'],
    options: [],
    argument: { usage: '[<keyspace> <tables>...]', description: ['The keyspace followed by one or many tables'] },
  },
  {
    name: 'listsnapshots',
    description: [
      'Lists all the snapshots along with the size on',
      'disk and true size. True size is the total size of all SSTables which',
      'are not backed up to disk. Size on disk is total size of the snapshot on',
      'disk. Total TrueDiskSpaceUsed does not make any SSTable deduplication.',
    ],
    synopsis: ['listsnapshots'],
    options: [],
  },
];

const GLOBAL_SYNOPSIS = [
  'nodetool [(-h <host> | --host <host>)] [(-p <port> | --port <port>)]',
  '        [(-pp | --print-port)] [(-pw <password> | --password <password>)]',
  '        [(-pwf <passwordFilePath> | --password-file <passwordFilePath>)]',
  '        [(-u <username> | --username <username>)]',
];

function render(help: CommandHelp): string {
  const out: string[] = ['NAME'];
  const [first, ...rest] = help.description;
  out.push(`        nodetool ${help.name} - ${first ?? ''}`, ...rest.map((l) => `        ${l}`), '', 'SYNOPSIS');
  const synopsis = [...GLOBAL_SYNOPSIS];
  synopsis[synopsis.length - 1] += ` ${help.synopsis[0] ?? ''}`;
  synopsis.push(...help.synopsis.slice(1).map((l) => `        ${l}`));
  out.push(...synopsis.map((l) => `        ${l}`), '', 'OPTIONS');
  const options = [...GLOBAL_OPTIONS, ...help.options].sort((a, b) => (a.key.toLowerCase() < b.key.toLowerCase() ? -1 : 1));
  for (const option of options) out.push(`        ${option.usage}`, ...option.description.map((l) => `            ${l}`), '');
  if (help.argument) {
    out.push('        --', ...SEPARATOR_HELP.map((l) => `            ${l}`), '');
    out.push(`        ${help.argument.usage}`, ...help.argument.description.map((l) => `            ${l}`.trimEnd()), '');
  }
  out.push('');
  return out.join('\n') + '\n';
}

export function commandHelp(name: string): string | undefined {
  const help = COMMANDS.find((c) => c.name === name);
  return help ? render(help) : undefined;
}

/** `nodetool help` without a command: airline's global usage and the command list. */
export function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 4;
  const lines = [
    `usage: ${GLOBAL_SYNOPSIS[0]}`,
    ...GLOBAL_SYNOPSIS.slice(1, -1),
    `${GLOBAL_SYNOPSIS[GLOBAL_SYNOPSIS.length - 1] ?? ''} <command> [<args>]`,
    '',
    'The most commonly used nodetool commands are:',
    ...[...COMMANDS].sort((a, b) => (a.name < b.name ? -1 : 1)).map((c) => `    ${c.name.padEnd(width)}${c.description.join(' ')}`),
    '',
    "See 'nodetool help <command>' for more information on a specific command.",
    '',
  ];
  return lines.join('\n') + '\n';
}
