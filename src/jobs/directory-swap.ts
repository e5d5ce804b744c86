import { chown, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { AgentError, errorMessage } from '../errors.js';
import { fsyncDirectory } from '../util/atomic-file.js';

/** One live directory to be replaced by a prepared one (or by a new empty one). */
export interface SwapPlan {
  live: string;
  /** Prepared replacement; undefined means "an empty directory". */
  replacement?: string;
  owner?: { uid: number; gid: number };
}

interface Swapped {
  live: string;
  /** Where the old directory was moved; undefined when there was none. */
  kept?: string;
}

/**
 * Renames live directories aside and the replacements into place, in order,
 * remembering what it did so that `undo` can put every old directory back and
 * `commit` can delete them once the node is healthy.
 */
export class DirectorySwap {
  private readonly done: Swapped[] = [];

  constructor(private readonly keptSuffix: string) {}

  async apply(plans: SwapPlan[]): Promise<void> {
    for (const plan of plans) {
      const kept = `${plan.live}${this.keptSuffix}`;
      const hadLive = await exists(plan.live);
      try {
        if (hadLive) await rename(plan.live, kept);
        this.done.push({ live: plan.live, ...(hadLive ? { kept } : {}) });
        if (plan.replacement) {
          await rename(plan.replacement, plan.live);
        } else {
          await mkdir(plan.live, { recursive: true, mode: 0o755 });
          if (plan.owner) await chown(plan.live, plan.owner.uid, plan.owner.gid);
        }
        await fsyncDirectory(path.dirname(plan.live));
      } catch (err) {
        throw new AgentError(`cannot move ${plan.replacement ?? 'a new directory'} into place as ${plan.live}: ${errorMessage(err)}`, { cause: err });
      }
    }
  }

  /** Puts every old directory back; what was put in its place is removed. */
  async undo(): Promise<void> {
    const problems: string[] = [];
    for (const entry of this.done.reverse()) {
      try {
        await rm(entry.live, { recursive: true, force: true });
        if (entry.kept) await rename(entry.kept, entry.live);
      } catch (err) {
        problems.push(`${entry.live}: ${errorMessage(err)}`);
      }
    }
    this.done.length = 0;
    if (problems.length > 0) {
      throw new AgentError(`could not put every old directory back (${problems.join('; ')}); the old data is kept under names ending in ${this.keptSuffix}`);
    }
  }

  /** The node is healthy on the new directories: the old ones can go. */
  async commit(): Promise<void> {
    for (const entry of this.done) {
      if (entry.kept) await rm(entry.kept, { recursive: true, force: true });
    }
    this.done.length = 0;
  }
}

async function exists(dir: string): Promise<boolean> {
  try {
    await stat(dir);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
