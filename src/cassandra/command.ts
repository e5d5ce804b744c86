import { execa } from 'execa';

export interface CommandResult {
  exitCode: number | undefined;
  timedOut: boolean;
  /** The lines of stderr (or stdout) that explain a failure, for error messages (explainingLines). */
  output: string;
  /** Why it could not run at all (e.g. not found). */
  spawnError?: string;
}

/**
 * Runs a configured command (an argument array, never a shell string) with a
 * time limit, without throwing: callers decide what a failure means.
 */
export async function runCommand(argv: string[], timeoutSeconds: number): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (!file) return { exitCode: undefined, timedOut: false, output: '', spawnError: 'the command is empty' };
  const result = await execa(file, args, {
    reject: false,
    stdin: 'ignore',
    timeout: timeoutSeconds * 1000,
    forceKillAfterDelay: 5000,
  });
  const text = `${result.stderr}`.trim() || `${result.stdout}`.trim();
  const output = explainingLines(text).join(' / ').slice(0, 600);
  const spawnError = result.exitCode === undefined && result.cause instanceof Error ? result.cause.message : undefined;
  return { exitCode: result.exitCode, timedOut: result.timedOut, output, ...(spawnError ? { spawnError } : {}) };
}

const ERROR_LINE = /^(ERROR|FATAL)\b|^error:|Exception\b|^Caused by:/;

/**
 * The lines of a command's output that say why it failed: from the last
 * ERROR line (a log's, such as Cassandra's system.log quoted by a start
 * script), the error and the exception after it; else the first error or
 * exception line and what follows it; else the last two lines. Java's stack
 * frames are dropped (they say where, not why), and so are the INFO lines
 * Cassandra logs after the error while it shuts down.
 */
export function explainingLines(text: string): string[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !/^\s+at /.test(l) && !/^\s*\.\.\. \d+ more$/.test(l) && !l.startsWith('-- StackTrace --'));
  let from = -1;
  lines.forEach((line, at) => {
    if (/^(ERROR|FATAL)\b/.test(line)) from = at;
  });
  if (from === -1) from = lines.findIndex((line) => ERROR_LINE.test(line));
  if (from === -1) return lines.slice(-2);
  const block = [lines[from]!];
  for (const line of lines.slice(from + 1)) {
    if (block.length === 3 || /^(INFO|WARN|DEBUG|TRACE|ERROR|FATAL)\b/.test(line)) break;
    block.push(line);
  }
  return block;
}
