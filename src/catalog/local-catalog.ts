import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { AgentError, errorMessage } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { isValidBackupId } from './backup-id.js';
import type { BackupRecord } from './backup-record.js';

/** The catalog's narrow interface; other catalogs (control plane, object store) plug in here. */
export interface Catalog {
  get(id: string): Promise<BackupRecord | undefined>;
  put(record: BackupRecord): Promise<void>;
  list(): AsyncIterable<BackupRecord>;
  delete(id: string): Promise<void>;
}

/** One JSON file per backup in a directory, each written atomically. */
export function createLocalCatalog(directory: string): Catalog {
  const fileOf = (id: string): string => {
    if (!isValidBackupId(id)) throw new AgentError(`catalog: '${id}' is not a valid backup id`);
    return path.join(directory, `${id}.json`);
  };

  async function read(file: string): Promise<BackupRecord | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new AgentError(`catalog: cannot read ${file}: ${errorMessage(err)}`, { cause: err });
    }
    try {
      return JSON.parse(text) as BackupRecord;
    } catch (err) {
      throw new AgentError(`catalog: ${file} is not valid JSON; move it away or restore it from a copy`, { cause: err });
    }
  }

  return {
    get: (id) => read(fileOf(id)),
    async put(record) {
      await mkdir(directory, { recursive: true });
      await writeFileAtomic(fileOf(record.id), `${JSON.stringify(record, null, 2)}\n`);
    },
    async *list() {
      let names: string[];
      try {
        names = await readdir(directory);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw new AgentError(`catalog: cannot list ${directory}: ${errorMessage(err)}`, { cause: err });
      }
      for (const name of names.sort()) {
        if (!name.endsWith('.json') || name.startsWith('.')) continue;
        const record = await read(path.join(directory, name));
        if (record) yield record;
      }
    },
    async delete(id) {
      await rm(fileOf(id), { force: true });
    },
  };
}
