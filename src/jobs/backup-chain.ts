import { incompleteReason, type BackupRecord, type ManifestFile } from '../catalog/backup-record.js';
import type { Catalog } from '../catalog/catalog.js';
import { BackupNotFoundError } from '../errors.js';

/** Far beyond any sane chain: a guard against a parent loop in a damaged catalog. */
const MAX_CHAIN_LENGTH = 10_000;

/**
 * The backups a restore of `newest` needs, full first: its parents followed
 * through the catalog. A missing or incomplete member stops here, before any
 * byte is read, naming the member.
 */
export async function resolveChain(catalog: Catalog, newest: BackupRecord): Promise<BackupRecord[]> {
  const chain = [newest];
  const seen = new Set([newest.id]);
  let current = newest;
  while (current.parent) {
    const parentId = current.parent.id;
    if (seen.has(parentId) || chain.length >= MAX_CHAIN_LENGTH) {
      throw new BackupNotFoundError(`backup ${newest.id}: its chain of parents loops back to ${parentId}; the catalog is damaged`);
    }
    const parent = await catalog.get(parentId);
    if (!parent) {
      throw new BackupNotFoundError(`backup ${newest.id} needs its ancestor ${parentId} (parent of ${current.id}), which is not in the catalog (${catalog.description}); the chain cannot be restored, restore an older full backup`);
    }
    const reason = incompleteReason(parent);
    if (reason) throw new BackupNotFoundError(`backup ${newest.id} needs its ancestor ${parentId}, which cannot be restored: ${reason}`);
    chain.push(parent);
    seen.add(parentId);
    current = parent;
  }
  if (current.type !== 'full') {
    throw new BackupNotFoundError(`backup ${newest.id}: its oldest ancestor ${current.id} is an incremental backup without a parent; the catalog is damaged`);
  }
  return chain.reverse();
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
