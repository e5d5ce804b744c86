import { stringifyFileSize } from '../file-size.js';
import type { NodeInfo } from '../jmx-protocol.js';
import type { SnapshotDetails } from '../snapshots.js';
import { TableBuilder } from './table-builder.js';

/** Text of the informational nodetool commands, in the layouts of the captured outputs. */

export function renderStatus(info: NodeInfo): string {
  const title = `Datacenter: ${info.dataCenter}`;
  // A node always reports itself Up/Normal, drained or not (nt_status_after_drain).
  const state = 'UN';
  const table = new TableBuilder('  ')
    .add('--', 'Address', 'Load', 'Tokens', 'Owns (effective)', 'Host ID', 'Rack')
    .add(state, info.listenAddress, stringifyFileSize(info.loadBytes), String(info.tokens.length), '100.0%', info.hostId, info.rack);
  return `${title}\n${'='.repeat(title.length)}\nStatus=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n${table.toString()}\n`;
}

function formatMb(value: number): string {
  return value.toFixed(2);
}

export function renderInfo(info: NodeInfo): string {
  const line = (label: string, value: string): string => `${label.padEnd(23)}: ${value}\n`;
  let out = '';
  out += line('ID', info.hostId);
  out += line('Gossip active', String(info.gossipActive));
  out += line('Native Transport active', String(info.nativeTransportActive));
  out += line('Load', stringifyFileSize(info.loadBytes));
  out += line('Generation No', String(info.generation));
  out += line('Uptime (seconds)', String(info.uptimeSeconds));
  out += line('Heap Memory (MB)', `${formatMb(info.heapUsedMb)} / ${formatMb(info.heapMaxMb)}`);
  out += line('Off Heap Memory (MB)', '0.00');
  out += line('Data Center', info.dataCenter);
  out += line('Rack', info.rack);
  out += line('Exceptions', '0');
  const hitRate = (info.keyCacheHits / info.keyCacheRequests).toFixed(3);
  out += line(
    'Key Cache',
    `entries ${info.keyCacheEntries}, size ${stringifyFileSize(info.keyCacheEntries * 87)}, capacity 25 MiB, ${info.keyCacheHits} hits, ${info.keyCacheRequests} requests, ${hitRate} recent hit rate, 14400 save period in seconds`,
  );
  out += line('Row Cache', 'entries 0, size 0 bytes, capacity 0 bytes, 0 hits, 0 requests, NaN recent hit rate, 0 save period in seconds');
  out += line('Counter Cache', 'entries 0, size 0 bytes, capacity 12 MiB, 0 hits, 0 requests, NaN recent hit rate, 7200 save period in seconds');
  out += line('Percent Repaired', '100.0%');
  out += line('Token', `(invoke with -T/--tokens to see all ${info.tokens.length} tokens)`);
  return out;
}

function replicationText(replication: Record<string, string>): string {
  const cls = (replication['class'] ?? '').split('.').pop() ?? '';
  const rest = Object.entries(replication)
    .filter(([k]) => k !== 'class')
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return `${cls} {${rest}}`;
}

export function renderDescribeCluster(info: NodeInfo): string {
  const address = `${info.listenAddress}`;
  let out = 'Cluster Information:\n';
  out += `\tName: ${info.clusterName}\n`;
  out += `\tSnitch: ${info.snitch}\n`;
  out += '\tDynamicEndPointSnitch: enabled\n';
  out += `\tPartitioner: ${info.partitioner}\n`;
  out += '\tSchema versions:\n';
  out += `\t\t${info.schemaVersion}: [${address}]\n\n`;
  out += 'Stats for all nodes:\n\tLive: 1\n\tJoining: 0\n\tMoving: 0\n\tLeaving: 0\n\tUnreachable: 0\n\n';
  out += `Data Centers: \n\t${info.dataCenter} #Nodes: 1 #Down: 0\n\n`;
  out += `Database versions:\n\t${info.releaseVersion.replace(/^4\.0-rc1-SNAPSHOT$/, '4.0.0-rc1.SNAPSHOT')}: [${address}:${info.storagePort}]\n\n`;
  out += 'Keyspaces:\n';
  for (const keyspace of info.keyspaces) out += `\t${keyspace.name} -> Replication class: ${replicationText(keyspace.replication)}\n`;
  return out;
}

/** Ring.java's fixed-width layout (`%-16s%-12s%-7s%-8s%-16s%-20s%-44s`), one row per token, largest first. */
export function renderRing(info: NodeInfo): string {
  const row = (cells: string[]): string => {
    const widths = [16, 12, 7, 8, 16, 20, 44];
    return cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('') + '\n';
  };
  const tokens = [...info.tokens].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
  const load = stringifyFileSize(info.loadBytes);
  const state = 'Up';
  let out = `\nDatacenter: ${info.dataCenter}\n==========\n`;
  out += row(['Address', 'Rack', 'Status', 'State', 'Load', 'Owns', 'Token']);
  out += row(['', '', '', '', '', '', tokens[tokens.length - 1] ?? '']);
  for (const token of tokens) out += row([info.listenAddress, info.rack, state, 'Normal', load, '100.00%', token]);
  out += '\n  Warning: "nodetool ring" is used to output all the tokens of a node.\n';
  out += '  To view status related info of a node use "nodetool status" instead.\n\n\n  ';
  return out;
}

export function renderListSnapshots(details: SnapshotDetails): string {
  let out = 'Snapshot Details: \n';
  if (details.rows.length === 0) return `${out}There are no snapshots\n`;
  const table = new TableBuilder(' ').add('Snapshot name', 'Keyspace name', 'Column family name', 'True size', 'Size on disk');
  for (const row of details.rows) table.add(...row);
  out += table.toString();
  out += `\nTotal TrueDiskSpaceUsed: ${stringifyFileSize(details.trueDiskSpaceUsed)}\n\n`;
  return out;
}
