import path from 'node:path';
import { incompleteReason, type BackupRecord } from '../catalog/backup-record.js';
import { isValidBackupId } from '../catalog/backup-id.js';
import { errorMessage } from '../errors.js';
import { resolveChain } from './backup-chain.js';
import type { JobContext } from './job-context.js';

/** What an incremental backup was asked to build on: by id, or Trove's `backup_info.parent`. */
export interface ParentReference {
  id?: string;
  location?: string;
  checksum?: string;
}

/** The parent to build on, or why a full backup is taken instead (absent reason: none was asked). */
export type ParentChoice = { parent: BackupRecord; chain: BackupRecord[] } | { parent: undefined; fullReason?: string };

/**
 * The parent an incremental backup may build on. It must be in this
 * storage's catalog, complete, taken on this node (same instance id and
 * cluster name) of the same keyspaces and tables, with its whole chain
 * restorable, and acceptable to the strategy; otherwise the answer is why
 * not, and the caller takes a full backup that records it.
 */
export async function chooseParent(
  ctx: JobContext,
  request: { parent?: ParentReference; forceFull?: boolean; keyspaces: string[]; tables: string[] },
  strategyAccepts: (parent: BackupRecord, chain: BackupRecord[]) => string | undefined,
): Promise<ParentChoice> {
  const asked = request.parent;
  if (!asked) return { parent: undefined };
  if (request.forceFull) return { parent: undefined, fullReason: 'a full backup was asked for (--full)' };
  const id = asked.id ?? (asked.location ? idFromLocation(asked.location) : undefined);
  if (!id) return { parent: undefined, fullReason: `the parent ${asked.location ?? ''} does not name a backup of this agent` };

  const parent = await ctx.catalog.get(id);
  if (!parent) return { parent: undefined, fullReason: `parent backup ${id} is not in the catalog of this storage (${ctx.catalog.description})` };
  const why = unusableReason(ctx, parent, asked, request);
  if (why) return { parent: undefined, fullReason: `parent backup ${id} ${why}` };
  let chain: BackupRecord[];
  try {
    chain = await resolveChain(ctx.catalog, parent);
  } catch (err) {
    return { parent: undefined, fullReason: `parent backup ${id} cannot be restored: ${errorMessage(err)}` };
  }
  const refused = strategyAccepts(parent, chain);
  if (refused) return { parent: undefined, fullReason: `parent backup ${id} ${refused}` };
  return { parent, chain };
}

function unusableReason(ctx: JobContext, parent: BackupRecord, asked: ParentReference, request: { keyspaces: string[]; tables: string[] }): string | undefined {
  const incomplete = incompleteReason(parent);
  if (incomplete) return `cannot be built on: ${incomplete}`;
  if (asked.location && asked.location !== parent.location) return `is stored at ${parent.location}, not at ${asked.location}`;
  const checksum = parent.checksum ?? parent.sha256;
  if (asked.checksum && asked.checksum !== checksum && asked.checksum !== parent.sha256) return `has checksum ${checksum}, not ${asked.checksum}`;
  if (parent.instance_id !== ctx.config.instance_id) return `was taken on instance ${parent.instance_id}, this is ${ctx.config.instance_id}`;
  if (parent.cluster_name !== ctx.node.settings.clusterName) return `was taken in cluster '${parent.cluster_name}', this node is in '${ctx.node.settings.clusterName}'`;
  if (!sameSet(parent.keyspaces, request.keyspaces) || !sameSet(parent.tables, request.tables)) {
    return `covers ${describeSelection(parent)}, this backup ${describeSelection(request)}`;
  }
  return undefined;
}

/** `…/<id>.tar.gz.enc` → `<id>`: our object keys are the backup id and the pipeline's suffix. */
export function idFromLocation(location: string): string | undefined {
  const base = path.posix.basename(location.split('?')[0]!);
  const id = base.replace(/\.tar(\.[A-Za-z0-9]+)*$/, '');
  return id !== base && isValidBackupId(id) ? id : undefined;
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
}

function describeSelection(s: { keyspaces: string[]; tables: string[] }): string {
  if (s.tables.length > 0) return `tables ${s.tables.join(', ')}`;
  if (s.keyspaces.length > 0) return `keyspaces ${s.keyspaces.join(', ')}`;
  return 'all keyspaces';
}
