import { incompleteReason, type BackupRecord, type ManifestFile } from '../catalog/backup-record.js';
import type { Catalog } from '../catalog/catalog.js';
import { BackupNotFoundError } from '../errors.js';

/** Far beyond any sane chain: a guard against a parent loop in a damaged catalog. */
const MAX_CHAIN_LENGTH = 10_000;

/** Where a chain of parents breaks: what the restore refuses and verify reports. */
export type ChainBreak =
  | { kind: 'loop'; id: string }
  | { kind: 'missing'; id: string; child: string }
  | { kind: 'incomplete'; id: string; reason: string }
  /** Not fatal to the walk: the ancestor is there, but is not the one its child was taken on. */
  | { kind: 'replaced'; id: string; child: string; linked: string; now: string }
  | { kind: 'no-full'; oldest: string };

export interface ChainWalk {
  /** `newest` and its ancestors as far as complete records go, newest first. */
  members: BackupRecord[];
  /** Every break found; the walk stops at the first one but 'replaced'. */
  breaks: ChainBreak[];
}

/**
 * Follows `newest`'s parents through the catalog: the one walk that restore,
 * the choice of a parent and verify share. It reads records only.
 */
export async function walkChain(catalog: Catalog, newest: BackupRecord): Promise<ChainWalk> {
  const members = [newest];
  const breaks: ChainBreak[] = [];
  const seen = new Set([newest.id]);
  let child = newest;
  while (child.parent) {
    const link = child.parent;
    if (seen.has(link.id) || members.length >= MAX_CHAIN_LENGTH) {
      breaks.push({ kind: 'loop', id: link.id });
      return { members, breaks };
    }
    const parent = await catalog.get(link.id);
    if (!parent) {
      breaks.push({ kind: 'missing', id: link.id, child: child.id });
      return { members, breaks };
    }
    const reason = incompleteReason(parent);
    if (reason) {
      breaks.push({ kind: 'incomplete', id: link.id, reason });
      return { members, breaks };
    }
    const now = parent.checksum ?? parent.sha256;
    if (link.checksum && link.checksum !== now && link.checksum !== parent.sha256) {
      breaks.push({ kind: 'replaced', id: link.id, child: child.id, linked: link.checksum, now });
    }
    members.push(parent);
    seen.add(parent.id);
    child = parent;
  }
  if (child.type !== 'full') breaks.push({ kind: 'no-full', oldest: child.id });
  return { members, breaks };
}

/**
 * The backups a restore of `newest` needs, full first. A missing, incomplete
 * or replaced member stops here, before any byte is read, naming the member.
 */
export async function resolveChain(catalog: Catalog, newest: BackupRecord): Promise<BackupRecord[]> {
  const { members, breaks } = await walkChain(catalog, newest);
  const broken = breaks[0];
  if (broken) throw new BackupNotFoundError(chainBreakMessage(catalog, newest.id, broken));
  return members.reverse();
}

function chainBreakMessage(catalog: Catalog, id: string, broken: ChainBreak): string {
  switch (broken.kind) {
    case 'loop':
      return `backup ${id}: its chain of parents loops back to ${broken.id}; the catalog is damaged`;
    case 'missing':
      return `backup ${id} needs its ancestor ${broken.id} (parent of ${broken.child}), which is not in the catalog (${catalog.description}); the chain cannot be restored, restore an older full backup`;
    case 'incomplete':
      return `backup ${id} needs its ancestor ${broken.id}, which cannot be restored: ${broken.reason}`;
    case 'replaced':
      return `backup ${id} needs its ancestor ${broken.id}, but ${broken.child} was taken on ${broken.id} with checksum ${broken.linked} and ${broken.id} now has checksum ${broken.now}: it was replaced, and the chain would mix two backups; restore an older full backup`;
    case 'no-full':
      return `backup ${id}: its oldest ancestor ${broken.oldest} is an incremental backup without a parent; the catalog is damaged`;
  }
}

/** Identifies a file across the members of a chain: its data directory and TAR name. */
export function fileKey(file: Pick<ManifestFile, 'dir' | 'name'>): string {
  return `${file.dir}:${file.name}`;
}

/**
 * What a restore yields and from which member: the members in the order
 * their objects are applied (full first), and every file wanted with the
 * member holding it; `files` is absent for a single record without a
 * manifest (written before manifests, or an archive of Trove's), whose every
 * entry is wanted.
 */
export interface RestorePlan {
  members: BackupRecord[];
  files?: ManifestFile[];
}

/** A backup restored on its own: every file of its object. */
export function singlePlan(record: BackupRecord): RestorePlan {
  if (!record.files) return { members: [record] };
  const elsewhere = record.files.find((f) => f.stored_in !== record.id);
  if (elsewhere) {
    throw new BackupNotFoundError(`backup ${record.id}: its manifest says ${elsewhere.name} is stored in backup ${elsewhere.stored_in}, but ${record.strategy} restores one object; the record is damaged`);
  }
  return { members: [record], files: record.files };
}

/**
 * A chain whose newest record lists every file of its snapshot and where it
 * is stored (differential): exactly those files, each from its holder.
 */
export function completeManifestPlan(chain: BackupRecord[]): RestorePlan {
  const newest = chain[chain.length - 1]!;
  if (!newest.files) throw new BackupNotFoundError(`backup ${newest.id} has no file manifest; it cannot be restored as a differential backup`);
  const members = new Set(chain.map((m) => m.id));
  const foreign = newest.files.find((f) => !members.has(f.stored_in));
  if (foreign) {
    throw new BackupNotFoundError(`backup ${newest.id}: its file ${foreign.name} is stored in backup ${foreign.stored_in}, which is not one of its ancestors (${[...members].join(' → ')}); the catalog is damaged`);
  }
  // Members holding none of the wanted files need not be read at all.
  const holders = new Set(newest.files.map((f) => f.stored_in));
  return { members: chain.filter((m) => holders.has(m.id)), files: newest.files };
}

/**
 * A chain where each member adds files to the ones before (Cassandra's own
 * incremental backups): the full backup plus every later file; a file that
 * appears twice is taken from the newest member holding it.
 */
export function unionManifestPlan(chain: BackupRecord[]): RestorePlan {
  const files = new Map<string, ManifestFile>();
  for (const member of chain) {
    if (!member.files) throw new BackupNotFoundError(`backup ${member.id} (in the chain) has no file manifest; the chain cannot be restored`);
    for (const file of member.files) files.set(fileKey(file), file);
  }
  return { members: chain, files: [...files.values()] };
}
