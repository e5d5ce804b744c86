/**
 * The benchmark's results: one row per store × compression × direction, the
 * stage ceilings, the issue's targets with met or missed, and the machine
 * they were measured on; printed as a table and written as JSON.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Compression } from '../src/archive/stored-format.js';
import { formatBytes } from '../src/util/format-bytes.js';
import type { Backend } from './bench-options.js';
import type { Ceiling } from './stage-ceilings.js';
import type { ProcessGroup } from './process-tree.js';

export interface Side {
  command: string;
  wall_seconds: number;
  /** Agent: the transfer phase; shell: the whole pipeline. */
  transfer_seconds: number;
  raw_bytes: number;
  /** MB/s (10^6 B/s) of raw data over transfer_seconds. */
  mbps: number;
  /** Agent: MB/s over the whole command (snapshot, catalog, Cassandra stop/start included). */
  mbps_whole_command?: number;
  /** user + sys of the process and every descendant it waited for (GNU time). */
  cpu_seconds: number;
  /** The agent's own process; for the shell, bash (negligible). */
  main_cpu_seconds: number;
  /** Agent: VmHWM of the agent's process. Shell: the largest process of the pipeline. */
  peak_rss_bytes: number;
  /** Every process of the tree, by command name (the agent itself under 'agent'). */
  processes: Record<string, ProcessGroup>;
  nice: number;
  /** Agent: its progress lines, seconds since its start. */
  steps?: { at: number; line: string }[];
}

export interface Row {
  store: Backend;
  /** e.g. "swift, 64 MiB segments". */
  label: string;
  compression: Compression;
  direction: 'backup' | 'restore';
  raw_bytes: number;
  stored_bytes: number;
  agent: Side & { tool?: { command: string; peak_rss_bytes: number; cpu_seconds: number } };
  shell?: Side;
  shell_skipped?: string;
  /** agent.mbps / shell.mbps. */
  ratio?: number;
  /** The slowest single stage of this row's pipeline (stage-ceilings.ts), and the agent's fraction of it. */
  ceiling?: { stage: string; mbps: number; fraction: number };
}

export interface Target {
  target: string;
  value: string;
  met: boolean | null;
  /** What holds it back, where missed or not measured. */
  note?: string;
}

export interface BenchResults {
  bench: 'backup-restore';
  date: string;
  host: string;
  machine: {
    cores: number;
    cpu: string;
    memory_bytes: number;
    node: string;
    kernel: string;
    load_average_start: number[];
    load_average_end: number[];
    tools: Record<string, string>;
  };
  options: Record<string, unknown>;
  data: {
    raw_bytes: number;
    files: number;
    generate_seconds: number;
    description: string;
    compressibility?: unknown;
  };
  ceilings: Record<string, Record<string, Ceiling | string>>;
  rows: Row[];
  skipped: string[];
  backup_list?: unknown;
  targets: Target[];
  seconds: number;
}

const MiB = 1024 * 1024;
export const RSS_LIMIT_BYTES = 150 * MiB;
/** RSS that differs by less than this between sizes is the same (allocator noise). */
const RSS_SAME_BYTES = 8 * MiB;

const mb = (n: number | undefined): string => (n === undefined ? '–' : n >= 100 ? n.toFixed(0) : n.toFixed(1));
const mib = (n: number): string => `${(n / MiB).toFixed(0)}`;

export function formatTable(results: BenchResults): string {
  const header = ['store / direction', 'compr.', 'agent MB/s', 'whole cmd', 'shell MB/s', 'ratio', '% of slowest stage', 'agent RSS MiB', 'shell RSS MiB', 'CPU s agent', 'CPU s shell'];
  const rows = results.rows.map((r) => [
    `${r.label} ${r.direction}`,
    r.compression,
    mb(r.agent.mbps),
    mb(r.agent.mbps_whole_command),
    r.shell ? mb(r.shell.mbps) : 'skipped',
    r.ratio === undefined ? '–' : `${r.ratio.toFixed(2)}×`,
    r.ceiling ? `${(r.ceiling.fraction * 100).toFixed(0)} % of ${mb(r.ceiling.mbps)} (${r.ceiling.stage})` : '–',
    `${mib(r.agent.peak_rss_bytes)}${r.agent.tool ? ` + ${mib(r.agent.tool.peak_rss_bytes)} ${r.agent.tool.command}` : ''}`,
    r.shell ? `${mib(r.shell.peak_rss_bytes)} (${largestProcess(r.shell)})` : '–',
    `${(r.agent.main_cpu_seconds + (r.agent.tool?.cpu_seconds ?? 0)).toFixed(1)} (${r.agent.cpu_seconds.toFixed(1)})`,
    r.shell ? r.shell.cpu_seconds.toFixed(1) : '–',
  ]);
  return textTable(header, rows);
}

function largestProcess(side: Side): string {
  let best = '';
  let bytes = -1;
  for (const [name, group] of Object.entries(side.processes)) {
    if (group.peakRssBytes > bytes) {
      best = name;
      bytes = group.peakRssBytes;
    }
  }
  return best;
}

export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i <= 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatCeilings(results: BenchResults): string {
  const lines: string[] = [];
  for (const [scope, stages] of Object.entries(results.ceilings)) {
    const parts = Object.entries(stages).map(([stage, c]) => (typeof c === 'string' ? `${stage} ${c}` : `${stage} ${mb(c.mbps)}`));
    lines.push(`  ${scope}: ${parts.join(' · ')}`);
  }
  return lines.join('\n');
}

export function formatTargets(targets: Target[]): string {
  return targets
    .map((t) => `  [${t.met === null ? 'not measured' : t.met ? 'met' : 'MISSED'}] ${t.target}: ${t.value}${t.note ? `\n      ${t.note}` : ''}`)
    .join('\n');
}

/** Earlier results of this host at other sizes, for the "no more RSS at 10 GiB than at 1 GiB" target. */
export async function earlierRuns(resultsDir: string, host: string, except: string): Promise<BenchResults[]> {
  const names = await readdir(resultsDir).catch(() => [] as string[]);
  const found: BenchResults[] = [];
  for (const name of names) {
    if (!name.endsWith('.json') || path.join(resultsDir, name) === except) continue;
    try {
      const parsed = JSON.parse(await readFile(path.join(resultsDir, name), 'utf8')) as BenchResults;
      // Only this repository's own build, as it runs by default: an A/B run (--agent, --node-flags) is not comparable.
      const custom = parsed.options?.agent !== undefined || (Array.isArray(parsed.options?.nodeFlags) && parsed.options.nodeFlags.length > 0);
      if (parsed.bench === 'backup-restore' && parsed.host === host && Array.isArray(parsed.rows) && !custom) found.push(parsed);
    } catch {
      // Not one of ours.
    }
  }
  return found;
}

/** The largest agent peak RSS of each store's backup and restore rows, by label and compression. */
function peaks(results: BenchResults): Map<string, number> {
  const map = new Map<string, number>();
  for (const r of results.rows) {
    const key = `${r.label} ${r.compression} ${r.direction}`;
    map.set(key, Math.max(map.get(key) ?? 0, r.agent.peak_rss_bytes));
  }
  return map;
}

/** RSS against data size: each row of this run beside the same row of the other sizes measured on this host. */
export function rssAcrossSizes(current: BenchResults, earlier: BenchResults[]): Target {
  const bySize = new Map<number, BenchResults>();
  for (const run of [...earlier].sort((a, b) => a.date.localeCompare(b.date))) bySize.set(Number(run.options.size), run);
  bySize.set(Number(current.options.size), current);
  const sizes = [...bySize.keys()].filter((s) => s > 0).sort((a, b) => a - b);
  if (sizes.length < 2) {
    return { target: 'agent peak RSS no higher at a larger size (10 GiB vs 1 GiB)', value: `one size measured on ${current.host} (${formatBytes(Number(current.options.size))})`, met: null, note: 'run `npm run bench -- --size 1G` and `--size 10G` (or the default 2 GiB) on this host: each run compares itself with the others in bench/results/' };
  }
  const small = bySize.get(sizes[0]!)!;
  const large = bySize.get(sizes[sizes.length - 1]!)!;
  const smallPeaks = peaks(small);
  const worse: string[] = [];
  const compared: string[] = [];
  for (const [key, bytes] of peaks(large)) {
    const before = smallPeaks.get(key);
    if (before === undefined) continue;
    compared.push(`${key} ${mib(before)} → ${mib(bytes)} MiB`);
    if (bytes > before + RSS_SAME_BYTES) worse.push(key);
  }
  return {
    target: `agent peak RSS no higher at ${formatBytes(sizes[sizes.length - 1]!)} than at ${formatBytes(sizes[0]!)} (within ${mib(RSS_SAME_BYTES)} MiB)`,
    value: compared.length ? compared.join('; ') : 'no row in common',
    met: compared.length ? worse.length === 0 : null,
    ...(worse.length ? { note: `higher at the larger size: ${worse.join(', ')}` } : {}),
  };
}

export async function writeResults(file: string, results: BenchResults): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
}

export function machineFacts(): Pick<BenchResults['machine'], 'cores' | 'cpu' | 'memory_bytes' | 'node' | 'kernel'> {
  return { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memory_bytes: os.totalmem(), node: process.version, kernel: `${os.type()} ${os.release()}` };
}
