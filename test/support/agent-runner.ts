import { execa } from 'execa';
import { guestAgentBin } from './repo-paths.js';

export interface AgentRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout parsed, when --json was given. */
  json: Record<string, unknown> | undefined;
}

/** Runs the built `guest-agent` command as an operator would, without a TTY. */
export async function runAgent(args: string[], env: NodeJS.ProcessEnv = {}): Promise<AgentRun> {
  const result = await execa(process.execPath, [guestAgentBin(), ...args], {
    reject: false,
    stdin: 'ignore',
    env: { GUEST_AGENT_CONFIG: undefined, ...env },
    timeout: 300_000,
  });
  let json: Record<string, unknown> | undefined;
  if (args.includes('--json')) {
    try {
      json = JSON.parse(result.stdout) as Record<string, unknown>;
    } catch {
      throw new Error(`guest-agent ${args[0]} --json printed no JSON (exit ${result.exitCode}); stdout: ${result.stdout.slice(0, 500)}; stderr: ${result.stderr.slice(-2000)}`);
    }
  }
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr, json };
}
