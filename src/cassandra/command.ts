import { execa } from 'execa';

export interface CommandResult {
  exitCode: number | undefined;
  timedOut: boolean;
  /** Last lines of stderr (or stdout), for error messages. */
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
  // The lines that explain, not Java's stack frames.
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !/^\s+at /.test(l) && !l.startsWith('-- StackTrace --'));
  const output = lines.slice(-2).join(' / ').slice(0, 400);
  const spawnError = result.exitCode === undefined && result.cause instanceof Error ? result.cause.message : undefined;
  return { exitCode: result.exitCode, timedOut: result.timedOut, output, ...(spawnError ? { spawnError } : {}) };
}
