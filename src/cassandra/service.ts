import { ServiceError } from '../errors.js';
import { runCommand, type CommandResult } from './command.js';
import type { Nodetool } from './nodetool.js';

export interface ServiceCommands {
  start: string[];
  stop: string[];
  status: string[];
  startTimeoutSeconds: number;
  stopTimeoutSeconds: number;
}

export interface ServiceControl {
  isRunning(): Promise<boolean>;
  stop(): Promise<void>;
  /** Starts and waits until the node answers nodetool. */
  startAndWaitHealthy(): Promise<void>;
}

const POLL_MS = 500;

/**
 * Start, stop and status through the configured commands (systemctl on a
 * real host). Health is the status command succeeding and nodetool answering,
 * within service_start_timeout_seconds: real nodes need 10–45 s.
 */
export function createServiceControl(commands: ServiceCommands, nodetool: Nodetool): ServiceControl {
  const describe = (what: string, result: CommandResult): string => {
    if (result.spawnError) return `${what} could not be run: ${result.spawnError}`;
    if (result.timedOut) return `${what} did not finish in time`;
    return `${what} failed (exit ${result.exitCode})${result.output ? `: ${result.output}` : ''}`;
  };

  const isRunning = async (): Promise<boolean> => {
    const result = await runCommand(commands.status, 60);
    if (result.spawnError) throw new ServiceError(describe('the service status command (service_status_command)', result));
    return result.exitCode === 0;
  };

  return {
    isRunning,

    async stop() {
      const result = await runCommand(commands.stop, commands.stopTimeoutSeconds);
      if (result.exitCode !== 0) throw new ServiceError(`cannot stop Cassandra: ${describe('service_stop_command', result)}`);
      if (await isRunning()) throw new ServiceError('cannot stop Cassandra: service_stop_command succeeded but the service still reports running');
    },

    async startAndWaitHealthy() {
      const deadline = Date.now() + commands.startTimeoutSeconds * 1000;
      const result = await runCommand(commands.start, commands.startTimeoutSeconds);
      if (result.exitCode !== 0) throw new ServiceError(`cannot start Cassandra: ${describe('service_start_command', result)}`);
      let lastProblem = 'the service does not report running';
      while (Date.now() < deadline) {
        if (await isRunning()) {
          try {
            await nodetool.version();
            return;
          } catch (err) {
            lastProblem = (err as Error).message;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      throw new ServiceError(`Cassandra did not become healthy within ${commands.startTimeoutSeconds} s (service_start_timeout_seconds): ${lastProblem}`);
    },
  };
}
