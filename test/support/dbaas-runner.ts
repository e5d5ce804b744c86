import path from 'node:path';
import { execa } from 'execa';
import { repoRoot } from './repo-paths.js';

export interface DbaasResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function dbaasBin(): string {
  return path.join(repoRoot(), 'dist/src/cli/dbaas.js');
}

/**
 * Runs the built `dbaas` command as a user would, with only the environment
 * given (plus PATH and HOME), and keeps every output for secret checks.
 */
export class DbaasRunner {
  readonly outputs: string[] = [];

  constructor(private readonly baseEnv: Record<string, string>) {}

  async run(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<DbaasResult> {
    const result = await execa(process.execPath, [dbaasBin(), ...args], {
      reject: false,
      extendEnv: false,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...this.baseEnv, ...options.env },
      timeout: options.timeoutMs ?? 90_000,
      stdin: 'ignore',
    });
    const out: DbaasResult = { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
    this.outputs.push(out.stdout, out.stderr);
    return out;
  }
}

/** For assertion messages: what the command said. */
export const said = (result: DbaasResult): string => `exit ${result.exitCode}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
