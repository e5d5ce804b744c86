import { text } from 'node:stream/consumers';
import { Readable } from 'node:stream';
import { AgentError, ObjectNotFoundError, errorMessage } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { isValidBackupId } from './backup-id.js';
import type { BackupRecord } from './backup-record.js';
import type { Catalog } from './catalog.js';

export const CATALOG_PREFIX = 'catalog/';

/**
 * Records kept in the same store as the backups, one JSON object per backup
 * (`catalog/<id>.json`). Any agent that can read a backup can read its record
 * too: a new instance restoring another instance's backup has no local state,
 * and neither has the control plane.
 */
export function createStorageCatalog(storage: Storage): Catalog {
  const keyOf = (id: string): string => {
    if (!isValidBackupId(id)) throw new AgentError(`catalog: '${id}' is not a valid backup id`);
    return `${CATALOG_PREFIX}${id}.json`;
  };

  async function read(key: string): Promise<BackupRecord | undefined> {
    let body: string;
    try {
      body = await text(await storage.get(key));
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw new AgentError(`catalog: cannot read ${key} from ${storage.name} storage: ${errorMessage(err)}`, { cause: err });
    }
    try {
      return JSON.parse(body) as BackupRecord;
    } catch (err) {
      throw new AgentError(`catalog: ${key} in ${storage.name} storage is not valid JSON; delete it or put back a good copy`, { cause: err });
    }
  }

  return {
    description: `${storage.name} storage, ${CATALOG_PREFIX}`,
    get: (id) => read(keyOf(id)),
    async put(record) {
      await storage.put(keyOf(record.id), Readable.from([Buffer.from(`${JSON.stringify(record, null, 2)}\n`)]), { 'backup-id': record.id });
    },
    async *list() {
      for await (const object of storage.list(CATALOG_PREFIX)) {
        if (!object.key.endsWith('.json')) continue;
        const record = await read(object.key);
        if (record) yield record;
      }
    },
    async delete(id) {
      await storage.delete(keyOf(id));
    },
  };
}
