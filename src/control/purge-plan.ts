import { UsageError } from '../errors.js';
import { ancestorsOf, deletionOrder, isRunning, needsAncestors, newestFirst, type BackupNode } from './backup-graph.js';

/** Retention rules. At least one of keepLast and maxAgeMs. */
export interface PurgeRules {
  /** Only this instance's backups (all instances when absent). */
  instanceId?: string;
  /** Keep the newest N COMPLETED backups of each instance; the others are candidates. */
  keepLast?: number;
  /** Backups created longer ago than this are candidates. */
  maxAgeMs?: number;
  /** Never delete a backup younger than this. */
  graceMs: number;
}

export interface PlannedBackup {
  backup: BackupNode;
  /** Why it is deleted, or why it is kept although a rule made it a candidate. */
  reason: string;
}

export interface PurgePlan {
  /** In the order to delete them: children before their parents, newest first. */
  delete: PlannedBackup[];
  /** The candidates that stay, each with why. */
  keep: PlannedBackup[];
}

/**
 * What a purge deletes, from what the catalog and dbaas's state know and the
 * time now; nothing is read or deleted here. Candidates: backups beyond the
 * newest `keepLast` COMPLETED of their instance (FAILED and DELETE_FAILED
 * ones never count among those) or older than `maxAgeMs`. A candidate is
 * kept when it is in progress, younger than the grace period, the newest
 * COMPLETED full backup of its instance, or an ancestor of a backup that
 * stays (restoring that one needs it).
 */
export function planPurge(backups: readonly BackupNode[], rules: PurgeRules, now: Date): PurgePlan {
  if (rules.keepLast === undefined && rules.maxAgeMs === undefined) {
    throw new UsageError('a purge needs a rule: keep the newest N backups of each instance (keep-last), a maximum age (max-age), or both');
  }
  const candidates = new Map<string, string>();
  const byInstance = new Map<string, BackupNode[]>();
  for (const backup of backups) byInstance.set(backup.instance_id, [...(byInstance.get(backup.instance_id) ?? []), backup]);

  const newestFull = new Map<string, string>();
  for (const [instanceId, own] of byInstance) {
    const sorted = [...own].sort(newestFirst);
    const full = sorted.find((b) => b.state === 'COMPLETED' && b.type === 'full' && b.in_catalog);
    if (full) newestFull.set(instanceId, full.id);
    if (rules.instanceId !== undefined && instanceId !== rules.instanceId) continue;
    const why = (backup: BackupNode, reason: string): void => {
      const before = candidates.get(backup.id);
      candidates.set(backup.id, before ? `${before}; ${reason}` : reason);
    };
    if (rules.keepLast !== undefined) {
      let completed = 0;
      for (const backup of sorted) {
        if (backup.state === 'COMPLETED') {
          completed += 1;
          if (completed > rules.keepLast) why(backup, `not among the newest ${rules.keepLast} COMPLETED backup(s) of instance ${instanceId}`);
        } else {
          why(backup, `${backup.state}: only COMPLETED backups are counted among the newest ${rules.keepLast}`);
        }
      }
    }
    if (rules.maxAgeMs !== undefined) {
      for (const backup of sorted) {
        if (now.getTime() - Date.parse(backup.created) > rules.maxAgeMs) why(backup, `older than ${formatDuration(rules.maxAgeMs)}`);
      }
    }
  }

  const kept = new Map<string, string>();
  const byId = new Map(backups.map((b) => [b.id, b]));
  for (const id of candidates.keys()) {
    const backup = byId.get(id)!;
    const protection = protectionOf(backup, rules, now, newestFull);
    if (protection) kept.set(id, protection);
  }
  // Whatever stays keeps its whole chain: candidates or not, kept by a rule or by a protection.
  for (const backup of [...backups].sort(newestFirst)) {
    if ((candidates.has(backup.id) && !kept.has(backup.id)) || !needsAncestors(backup)) continue;
    for (const ancestor of ancestorsOf(backup.id, backups)) {
      if (candidates.has(ancestor.id) && !kept.has(ancestor.id)) kept.set(ancestor.id, `an ancestor of backup ${backup.id}, which stays (restoring it needs this one)`);
    }
  }

  const doomed = [...candidates.keys()].filter((id) => !kept.has(id)).map((id) => byId.get(id)!);
  return {
    delete: deletionOrder(doomed).map((backup) => ({ backup, reason: candidates.get(backup.id)! })),
    keep: [...kept].map(([id, reason]) => ({ backup: byId.get(id)!, reason })).sort((a, b) => newestFirst(a.backup, b.backup)),
  };
}

function protectionOf(backup: BackupNode, rules: PurgeRules, now: Date, newestFull: Map<string, string>): string | undefined {
  if (isRunning(backup.state)) return `in progress (${backup.state}): never deleted while it runs`;
  const age = now.getTime() - Date.parse(backup.created);
  // A time that does not parse is not known to be old enough.
  if (!(age >= rules.graceMs)) return `younger than the grace period of ${formatDuration(rules.graceMs)}`;
  if (newestFull.get(backup.instance_id) === backup.id) return `the newest COMPLETED full backup of instance ${backup.instance_id}: always kept`;
  return undefined;
}

const UNITS: Record<string, { ms: number; name: string }> = {
  d: { ms: 86_400_000, name: 'days' },
  h: { ms: 3_600_000, name: 'hours' },
  m: { ms: 60_000, name: 'minutes' },
};

/** `30d`, `12h`, `90m` → milliseconds; `what` names the option in the error. */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d{1,9})([dhm])$/.exec(text.trim());
  if (!match) {
    throw new UsageError(`${what} '${text}': expected a whole number and a unit, d (days), h (hours) or m (minutes), e.g. 30d, 12h or 90m`);
  }
  return Number(match[1]) * UNITS[match[2]!]!.ms;
}

/** The largest whole unit: 2592000000 → `30d`, 5400000 → `90m`. */
export function formatDuration(ms: number): string {
  for (const [unit, { ms: size }] of Object.entries(UNITS)) if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  return ms === 0 ? '0m' : `${Math.round(ms / 60_000)}m`;
}
