import { spawn, type ChildProcess } from 'node:child_process';
import { createNodeUnderTest, writeAgentConfig, type AgentStores, type NodeUnderTest } from './e2e-nodes.js';
import { guestAgentBin } from './repo-paths.js';

export interface LogLine {
  event: string;
  level: string;
  [field: string]: unknown;
}

/** `guest-agent serve` as a child process whose JSON log lines the test can wait for. */
export class ServingAgent {
  readonly logs: LogLine[] = [];
  /** Everything it printed on stderr, for assertion messages and secret checks. */
  stderr = '';
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  #waiters: (() => void)[] = [];

  constructor(configFile: string, env: NodeJS.ProcessEnv = {}) {
    this.#child = spawn(process.execPath, [guestAgentBin(), 'serve', '--config', configFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, GUEST_AGENT_CONFIG: undefined, ...env },
    });
    let partial = '';
    this.#child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // not a log line (e.g. the CLI's own signal notice)
        }
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', (code) => {
      for (const wake of this.#waiters.splice(0)) wake();
      resolve(code);
    }));
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** The first log line matching, waiting for it up to the timeout. */
  async waitForLog(match: (line: LogLine) => boolean, timeoutMs = 30_000, what = 'log line'): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(match);
      if (found) return found;
      if (this.#child.exitCode !== null) throw new Error(`agent exited (${this.#child.exitCode}) before ${what}:\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; agent said:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  ready(): Promise<LogLine> {
    return this.waitForLog((l) => l.event === 'agent.ready', 60_000, 'agent.ready');
  }

  /** Sends the signal and waits for the exit status. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 60_000): Promise<number | null> {
    if (this.#child.exitCode !== null) return this.#child.exitCode;
    this.#child.kill(signal);
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface AgentRpc {
  instanceId: string;
  transportUrl: string;
  conductorTopic: string;
  /** The instance's RPC key; absent for plaintext. */
  key?: string;
  reportIntervalSeconds?: number;
}

/**
 * A simulated node with `guest-agent serve` beside it, both started. `extra`
 * configuration may depend on the node (for example its nodetool command).
 */
export async function startNodeWithAgent(
  root: string,
  stores: AgentStores,
  options: Parameters<typeof createNodeUnderTest>[2],
  rpc: AgentRpc,
  extra: (node: NodeUnderTest) => Record<string, unknown> = () => ({}),
): Promise<{ node: NodeUnderTest; agent: ServingAgent }> {
  const config = {
    instance_id: rpc.instanceId,
    transport_url: rpc.transportUrl,
    conductor_topic: rpc.conductorTopic,
    report_interval: rpc.reportIntervalSeconds ?? 1,
    log_format: 'json',
    ...(rpc.key ? { instance_rpc_encr_key: rpc.key } : {}),
  };
  const node = await createNodeUnderTest(root, stores, options, config);
  await writeAgentConfig(node.configFile, node.sim!, stores, { ...config, ...extra(node) });
  await node.sim!.start();
  const agent = new ServingAgent(node.configFile);
  try {
    await agent.ready();
  } catch (err) {
    await agent.stop('SIGKILL');
    throw err;
  }
  return { node, agent };
}
