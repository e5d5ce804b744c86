/**
 * nodetool's command line as airline parses it: global options (-h -p -u -pw -pwf -pp) anywhere,
 * one command, its options, `--`, positional arguments. Parse errors carry airline's messages.
 */
export interface OptionSpec {
  /** Property the value lands in. */
  key: string;
  names: readonly string[];
  /** Value title shown in "Required values for option '<title>' not provided"; absent for flags. */
  title?: string;
}

export interface CommandSpec {
  name: string;
  options: readonly OptionSpec[];
  acceptsArguments: boolean;
}

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { key: 'host', names: ['-h', '--host'], title: 'host' },
  { key: 'port', names: ['-p', '--port'], title: 'port' },
  { key: 'username', names: ['-u', '--username'], title: 'username' },
  { key: 'password', names: ['-pw', '--password'], title: 'password' },
  { key: 'passwordFile', names: ['-pwf', '--password-file'], title: 'passwordFilePath' },
  { key: 'printPort', names: ['-pp', '--print-port'] },
];

export class ParseError extends Error {}

export interface ParsedCommandLine {
  command: CommandSpec;
  values: Map<string, string | true>;
  args: string[];
}

function javaList(items: string[]): string {
  return `[${items.join(', ')}]`;
}

export function parseCommandLine(argv: readonly string[], commands: readonly CommandSpec[], defaultCommand: CommandSpec): ParsedCommandLine {
  const values = new Map<string, string | true>();
  const unexpected: string[] = [];
  const args: string[] = [];
  let command: CommandSpec | undefined;
  let onlyArguments = false;

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (onlyArguments) {
      args.push(token);
      continue;
    }
    const options = command ? [...GLOBAL_OPTIONS, ...command.options] : GLOBAL_OPTIONS;
    const option = options.find((o) => o.names.includes(token));
    if (option) {
      if (option.title === undefined) {
        values.set(option.key, true);
      } else {
        const value = argv[i + 1];
        if (value === undefined) throw new ParseError(`Required values for option '${option.title}' not provided`);
        values.set(option.key, value);
        i++;
      }
      continue;
    }
    if (!command) {
      const found = commands.find((c) => c.name === token);
      if (found) {
        command = found;
        continue;
      }
      unexpected.push(...argv.slice(i));
      break;
    }
    if (token === '--' && command.acceptsArguments) {
      onlyArguments = true;
      continue;
    }
    if (command.acceptsArguments) args.push(token);
    else unexpected.push(token);
  }
  if (unexpected.length > 0) throw new ParseError(`Found unexpected parameters: ${javaList(unexpected)}`);
  return { command: command ?? defaultCommand, values, args };
}
