import type { BackupSummary } from '../catalog/catalog.js';
import type { BackupRequest } from './backup-state.js';
import type { BackupRequestState } from './conductor-reports.js';

/**
 * One backup as the delete rules see it: who it is, how far it got, and
 * what it builds on. An incremental backup is restored through its parent
 * (and the parent's parent...): deleting an ancestor breaks it.
 */
export interface BackupNode {
  id: string;
  instance_id: string;
  name: string | null;
  created: string;
  state: BackupRequestState;
  type: 'full' | 'incremental';
  parent_id: string | null;
  /** Its record is in the catalog: it has data in storage. */
  in_catalog: boolean;
}

const RUNNING: ReadonlySet<BackupRequestState> = new Set(['NEW', 'BUILDING', 'SAVING']);

/** Asked for or being taken: never deleted, and what it builds on is not deleted either. */
export function isRunning(state: BackupRequestState): boolean {
  return RUNNING.has(state);
}

/** Every backup the catalog or dbaas's state knows; the catalog's record wins, as in backup-list. */
export function backupNodes(summaries: readonly BackupSummary[], requests: readonly BackupRequest[]): BackupNode[] {
  const requestOf = new Map(requests.map((r) => [r.id, r]));
  const nodes: BackupNode[] = summaries.map((s) => ({
    id: s.id,
    instance_id: s.instance_id,
    name: s.name ?? requestOf.get(s.id)?.name ?? null,
    created: s.created,
    // A delete that failed half-way is known to dbaas's state before (or without) the record saying so.
    state: requestOf.get(s.id)?.state === 'DELETE_FAILED' ? 'DELETE_FAILED' : s.state,
    type: s.type,
    parent_id: s.parent_id,
    in_catalog: true,
  }));
  const inCatalog = new Set(summaries.map((s) => s.id));
  for (const r of requests) {
    if (inCatalog.has(r.id)) continue;
    nodes.push({ id: r.id, instance_id: r.instance_id, name: r.name, created: r.created, state: r.state, type: r.type, parent_id: r.parent_id, in_catalog: false });
  }
  return nodes;
}

/** A backup that needs its ancestors: one with data, or one being taken on them. A FAILED request has nothing to restore. */
export function needsAncestors(node: BackupNode): boolean {
  return node.in_catalog || isRunning(node.state);
}

/** The backups that build on `id`, directly or through others, that need it. */
export function descendantsOf(id: string, nodes: readonly BackupNode[]): BackupNode[] {
  const children = childrenByParent(nodes);
  const found: BackupNode[] = [];
  const seen = new Set([id]);
  const queue = [id];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      if (seen.has(child.id)) continue;
      seen.add(child.id);
      found.push(child);
      queue.push(child.id);
    }
  }
  return found;
}

/** `id`'s parent, its parent, ... as far as they are known (a damaged catalog's loop ends the walk). */
export function ancestorsOf(id: string, nodes: readonly BackupNode[]): BackupNode[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const found: BackupNode[] = [];
  const seen = new Set([id]);
  for (let parent = byId.get(id)?.parent_id; parent && !seen.has(parent); parent = byId.get(parent)?.parent_id) {
    seen.add(parent);
    const node = byId.get(parent);
    if (!node) break;
    found.push(node);
  }
  return found;
}

/** Newest first; the id decides between backups of the same time, so that the order is stable. */
export function newestFirst(a: BackupNode, b: BackupNode): number {
  return timeOf(b.created) - timeOf(a.created) || a.id.localeCompare(b.id);
}

/**
 * The order in which to delete `nodes`: every backup after those among them
 * that build on it, and of those free to go, the newest first.
 */
export function deletionOrder(nodes: readonly BackupNode[]): BackupNode[] {
  const ids = new Set(nodes.map((n) => n.id));
  const waitingFor = new Map(nodes.map((n) => [n.id, 0]));
  for (const node of nodes) {
    if (node.parent_id && ids.has(node.parent_id) && node.parent_id !== node.id) waitingFor.set(node.parent_id, waitingFor.get(node.parent_id)! + 1);
  }
  const left = [...nodes].sort(newestFirst);
  const order: BackupNode[] = [];
  while (left.length > 0) {
    // A loop of parents (a damaged catalog) has no backup free to go: then simply the newest.
    const index = Math.max(0, left.findIndex((n) => waitingFor.get(n.id) === 0));
    const [next] = left.splice(index, 1);
    order.push(next!);
    if (next!.parent_id && waitingFor.has(next!.parent_id)) waitingFor.set(next!.parent_id, waitingFor.get(next!.parent_id)! - 1);
  }
  return order;
}

function childrenByParent(nodes: readonly BackupNode[]): Map<string, BackupNode[]> {
  const children = new Map<string, BackupNode[]>();
  for (const node of nodes) {
    if (!node.parent_id || !needsAncestors(node)) continue;
    children.set(node.parent_id, [...(children.get(node.parent_id) ?? []), node]);
  }
  return children;
}

/** A time that does not parse sorts as the oldest. */
function timeOf(created: string): number {
  const ms = Date.parse(created);
  return Number.isNaN(ms) ? -Infinity : ms;
}
