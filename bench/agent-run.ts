/**
 * `guest-agent backup` and `guest-agent restore` as an operator runs them
 * (node dist/src/cli/guest-agent.js), measured as a process tree: the whole
 * command, and its transfer phase between two of its progress lines, which
 * is the part a shell pipeline does (the snapshot, the catalog and, for a
 * restore, stopping and starting Cassandra are not in the pipeline).
 */
import { guestAgentBin } from '../test/support/repo-paths.js';
import { measureTree, phaseSeconds, type RunOptions, type TreeMeasurement } from './process-tree.js';

/** The commands the agent runs as stream stages, whose processes are measured apart. */
export const TOOL_COMMANDS = ['zstd', 'lz4', 'lzop'];

export interface AgentRun {
  command: string;
  measured: TreeMeasurement;
  /** From the progress line that starts the transfer to the one after it. */
  transferSeconds: number;
  /** The compression tool's process, when there was one. */
  tool?: { command: string; peakRssBytes: number; cpuSeconds: number };
}

const PHASES = {
  backup: { from: /^guest-agent: streaming \d+ files to /, to: /^guest-agent: clearing snapshot / },
  restore: { from: /^guest-agent: downloading and extracting /, to: /^guest-agent: stopping Cassandra/ },
};

export interface AgentBuild {
  /** guest-agent.js to run; default this repository's build. */
  bin?: string;
  nodeFlags?: string[];
}

export async function runAgent(action: 'backup' | 'restore', configFile: string, backupId: string, options: RunOptions, build: AgentBuild = {}): Promise<AgentRun> {
  const args = [build.bin ?? guestAgentBin(), action, '--config', configFile, '--backup-id', backupId];
  const measured = await measureTree([process.execPath, ...(build.nodeFlags ?? []), ...args], options);
  if (measured.exitCode !== 0) {
    const tail = measured.stderrLines.slice(-4).map((l) => l.line).join(' / ');
    throw new Error(`guest-agent ${action} ${backupId} failed (exit ${measured.exitCode}): ${tail}`);
  }
  const phase = PHASES[action];
  const transferSeconds = phaseSeconds(measured, phase.from, phase.to);
  if (transferSeconds === undefined) throw new Error(`guest-agent ${action}: no progress line matched ${phase.from}; has its output changed? (${measured.stderrLines.map((l) => l.line).join(' / ')})`);
  const toolName = TOOL_COMMANDS.find((c) => measured.children[c]);
  const tool = toolName ? measured.children[toolName]! : undefined;
  return {
    command: [...(build.nodeFlags?.length ? ['node', ...build.nodeFlags, args[0]!] : [build.bin ?? 'guest-agent']), ...args.slice(1)].join(' '),
    measured,
    transferSeconds,
    ...(tool && toolName ? { tool: { command: toolName, peakRssBytes: tool.peakRssBytes, cpuSeconds: tool.cpuSeconds } } : {}),
  };
}
