import { formatJavaError } from './java-traces.js';
import { callNode, NodeUnreachableError, RemoteJavaError } from './jmx-protocol.js';
import { ROOT_ENV } from './layout.js';
import { parseCommandLine, ParseError } from './nodetool/args.js';
import { ClientJavaError, COMMANDS, HELP_COMMAND, type Command } from './nodetool/commands.js';

/**
 * bin/nodetool of a simulated node: parses the command line like nodetool (airline), talks to the
 * daemon over its management endpoint and prints what Cassandra 4.0's nodetool prints, on the same
 * streams and with the same exit codes. Kept free of heavy imports: every call is a process start.
 */
const USAGE_HINT = "See 'nodetool help' or 'nodetool help <command>'.\n";
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '0:0:0:0:0:0:0:1']);

async function main(argv: string[]): Promise<number> {
  let stdout = '';
  let stderr = '';
  const out = (text: string): void => {
    stdout += text;
  };
  const finish = (code: number): number => {
    if (stdout) process.stdout.write(stdout);
    if (stderr) process.stderr.write(stderr);
    return code;
  };

  const root = process.env[ROOT_ENV];
  if (!root) {
    stderr += `nodetool: ${ROOT_ENV} is not set; run the bin/nodetool wrapper of a simulated node\n`;
    return finish(1);
  }

  let parsed;
  try {
    parsed = parseCommandLine(argv, COMMANDS, HELP_COMMAND);
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    out(`nodetool: ${err.message}\n${USAGE_HINT}`);
    return finish(1);
  }
  const command = parsed.command as Command;
  const host = typeof parsed.values.get('host') === 'string' ? (parsed.values.get('host') as string) : '127.0.0.1';
  const portText = typeof parsed.values.get('port') === 'string' ? (parsed.values.get('port') as string) : '7199';
  if (!/^-?\d+$/.test(portText)) {
    out(`nodetool: port: can not convert "${portText}" to a int\n${USAGE_HINT}`);
    return finish(1);
  }
  const connectionRefused = (): number => {
    stderr += `nodetool: Failed to connect to '${host}:${portText}' - ConnectException: 'Connection refused'.\n`;
    return finish(1);
  };

  const call = (op: string, args?: Record<string, unknown>): Promise<unknown> => callNode(root, args ? { op, args } : { op });
  if (!command.offline) {
    if (!LOCAL_HOSTS.has(host) || Number(portText) !== 7199) return connectionRefused();
    try {
      await call('ping');
    } catch (err) {
      if (err instanceof NodeUnreachableError) return connectionRefused();
      throw err;
    }
  }

  try {
    await command.run({ args: parsed.args, values: parsed.values, out, call });
    return finish(0);
  } catch (err) {
    if (err instanceof RemoteJavaError && err.failure.badUse) {
      out(`nodetool: ${err.message}\n${USAGE_HINT}`);
      return finish(1);
    }
    if (err instanceof RemoteJavaError) {
      stderr += formatJavaError(err.failure.javaClass, err.failure.message, err.failure.frames);
      return finish(2);
    }
    if (err instanceof ClientJavaError) {
      stderr += formatJavaError(err.javaClass, err.message, err.frames);
      return finish(2);
    }
    if (err instanceof NodeUnreachableError) return connectionRefused();
    stderr += formatJavaError('java.lang.RuntimeException', (err as Error).message, []);
    return finish(2);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error: ${(err as Error).message}\n-- StackTrace --\n${(err as Error).stack ?? ''}\n`);
    process.exitCode = 2;
  },
);
