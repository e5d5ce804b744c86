import { readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { CassandraNode } from '../cassandra/cassandra-node.js';
import { writeYamlText } from '../cassandra/yaml-editor.js';
import { AgentError, errorMessage } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { Progress } from '../util/progress.js';
import { failpointActive } from '../util/failpoint.js';
import { acquirePidLock } from '../util/pid-lock.js';

/**
 * The steps of a restore that a crash can interrupt, in order. Up to
 * `resetting` an interrupted restore is rolled back; at `committing` the new
 * data is healthy and only the old directories remain to delete.
 */
export const RESTORE_STEPS = ['extracting', 'stopping', 'swapping', 'resetting', 'committing'] as const;
export type RestoreStep = (typeof RESTORE_STEPS)[number];

interface JournalState {
  backup_id: string;
  step: RestoreStep;
  /** Fresh directories being extracted into (`<dir>.restore-ID`). */
  fresh: string[];
  /** Live directories the swap replaces, and the suffix their old selves are parked under. */
  live: string[];
  kept_suffix: string;
  yaml_file: string;
}

/**
 * A small file beside the data directory, fsynced at every step, so that an
 * agent killed in the middle of a restore (SIGKILL, power loss) finds out at
 * its next start what it was doing and leaves the node entirely old or
 * entirely new — never a mixed data directory or a half-edited cassandra.yaml.
 */
export class RestoreJournal {
  private constructor(
    private readonly file: string,
    private readonly yamlCopy: string,
    private state: JournalState,
  ) {}

  /** Where the journal of a node lives: beside its first data directory. */
  static fileFor(node: CassandraNode): string {
    const first = node.settings.dataFileDirectories[0]!;
    return path.join(path.dirname(first), `.${path.basename(first)}.restore-journal.json`);
  }

  /** The lock a restore holds from its first check to its end, beside the journal. */
  static lockFileFor(node: CassandraNode): string {
    const first = node.settings.dataFileDirectories[0]!;
    return path.join(path.dirname(first), `.${path.basename(first)}.restore-lock`);
  }

  /** Taken by a restore: a second restore, or a recovery, is refused while its process lives. */
  static lock(node: CassandraNode, backupId: string): Promise<() => Promise<void>> {
    return acquirePidLock(RestoreJournal.lockFileFor(node), `a restore of backup ${backupId}`);
  }

  /** Starts a journal; cassandra.yaml as it is now is kept beside it until the restore ends. */
  static async begin(node: CassandraNode, state: Omit<JournalState, 'step' | 'yaml_file'>, originalYaml: string): Promise<RestoreJournal> {
    const file = RestoreJournal.fileFor(node);
    const journal = new RestoreJournal(file, `${file}.cassandra.yaml`, { ...state, step: 'extracting', yaml_file: node.settings.file });
    await writeFileAtomic(journal.yamlCopy, originalYaml, 0o600);
    await journal.advance('extracting');
    return journal;
  }

  async advance(step: RestoreStep): Promise<void> {
    this.state = { ...this.state, step };
    await this.write();
    failpoint(step);
  }

  /** The restore ended (done or rolled back in-process): nothing to recover. */
  async finish(): Promise<void> {
    await rm(this.file, { force: true });
    await rm(this.yamlCopy, { force: true });
  }

  private async write(): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify(this.state, null, 2)}\n`, 0o600);
  }

  /**
   * Run at every agent start, before anything else touches the node: finishes
   * or rolls back a restore a crash interrupted. Resolves with what it did.
   */
  static async recover(node: CassandraNode, progress: Progress): Promise<{ backupId: string; outcome: 'rolled back' | 'completed' } | undefined> {
    const file = RestoreJournal.fileFor(node);
    if (!(await exists(file))) return undefined;
    // A journal of a restore that still runs is not an interrupted one: refused while its process lives.
    const release = await acquirePidLock(RestoreJournal.lockFileFor(node), 'the recovery of an interrupted restore');
    try {
      return await RestoreJournal.recoverLocked(node, file, progress);
    } finally {
      await release();
    }
  }

  private static async recoverLocked(node: CassandraNode, file: string, progress: Progress): Promise<{ backupId: string; outcome: 'rolled back' | 'completed' } | undefined> {
    let state: JournalState;
    try {
      state = JSON.parse(await readFile(file, 'utf8')) as JournalState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new AgentError(`restore journal ${file} is unreadable (${errorMessage(err)}); check the data directories by hand (names ending in .restore-* and .pre-restore-*) and remove it`, { cause: err });
    }
    const journal = new RestoreJournal(file, `${file}.cassandra.yaml`, state);
    const { service } = node;
    if (state.step === 'committing') {
      progress.step(`an interrupted restore of backup ${state.backup_id} had finished its checks: deleting the old directories`);
      for (const live of state.live) await rm(`${live}${state.kept_suffix}`, { recursive: true, force: true });
      await journal.finish();
      if (!(await service.isRunning())) await service.startAndWaitHealthy();
      return { backupId: state.backup_id, outcome: 'completed' };
    }
    progress.step(`rolling back an interrupted restore of backup ${state.backup_id} (it stopped at '${state.step}')`);
    if (state.step !== 'extracting') {
      await service.stop().catch(() => undefined);
      // Undo the swap from what is on disk: a parked old directory goes back in place of whatever is there.
      for (const live of [...state.live].reverse()) {
        const kept = `${live}${state.kept_suffix}`;
        if (!(await exists(kept))) continue;
        await rm(live, { recursive: true, force: true });
        await rename(kept, live);
      }
      await writeYamlText(state.yaml_file, await readFile(journal.yamlCopy, 'utf8'));
    }
    for (const dir of state.fresh) await rm(dir, { recursive: true, force: true });
    await journal.finish();
    if (!(await service.isRunning())) await service.startAndWaitHealthy();
    return { backupId: state.backup_id, outcome: 'rolled back' };
  }
}

/** `restore:<step>` kills the process the moment the journal records that step, exactly as a SIGKILL or a power cut would. */
function failpoint(step: RestoreStep): void {
  if (failpointActive(`restore:${step}`)) process.kill(process.pid, 'SIGKILL');
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
