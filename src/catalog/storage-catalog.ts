import { text } from 'node:stream/consumers';
import { Readable } from 'node:stream';
import { AgentError, MalformedRecordError, ObjectNotFoundError, errorMessage } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { isValidBackupId } from './backup-id.js';
import type { BackupRecord } from './backup-record.js';
import { summaryOf, type BackupSummary, type IndexedCatalog } from './catalog.js';
import { INDEX_PREFIX, indexKeyBudget, indexKeyOf, indexPrefixOf, parseIndexKey, type IndexEntry } from './catalog-index.js';
import { parseBackupRecord } from './record-schema.js';

export const CATALOG_PREFIX = 'catalog/';
const RECORD_SUFFIX = '.json';

export interface StorageCatalogOptions {
  /**
   * Told when an index entry could not be written, repaired or removed.
   * The record stays the truth: a listing that finds no entry, or one older
   * than its record, reads the record instead. Told too when a listing
   * passes over a malformed record. Default: nothing is said.
   */
  warn?: (message: string) => void;
  /** A listing writes the entries it finds missing or stale (default true). */
  repairIndex?: boolean;
  /** Records read at a time when a listing has to read them (default 16). */
  readConcurrency?: number;
}

/**
 * Records kept in the same store as the backups, one JSON object per backup
 * (`catalog/<id>.json`). Any agent that can read a backup can read its record
 * too: a new instance restoring another instance's backup has no local state,
 * and neither has the control plane. Beside each record, an index entry
 * (catalog-index.ts) whose key is the record's summary, so that listing
 * backups takes two listings instead of a GET per record.
 */
export function createStorageCatalog(storage: Storage, options: StorageCatalogOptions = {}): IndexedCatalog {
  const warn = options.warn ?? (() => undefined);
  const repairIndex = options.repairIndex ?? true;
  const concurrency = Math.max(1, options.readConcurrency ?? 16);
  const budget = indexKeyBudget(storage);
  const where = `${storage.name} storage`;

  const keyOf = (id: string): string => {
    if (!isValidBackupId(id)) throw new AgentError(`catalog: '${id}' is not a valid backup id`);
    return `${CATALOG_PREFIX}${id}${RECORD_SUFFIX}`;
  };

  /**
   * The record and the size of its stored JSON, or undefined when there is
   * none; a MalformedRecordError naming the field when it is not a record
   * (or not the one of backup `id`).
   */
  async function readRecord(key: string, id?: string): Promise<{ record: BackupRecord; bytes: number } | undefined> {
    let body: string;
    try {
      body = await text(await storage.get(key));
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw new AgentError(`catalog: cannot read ${key} from ${where}: ${errorMessage(err)}`, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch (err) {
      throw new MalformedRecordError(`catalog: ${key} in ${where} is not valid JSON; delete it or put back a good copy`, { cause: err });
    }
    return { record: parseBackupRecord(value, `${key} in ${where}`, { id }), bytes: Buffer.byteLength(body) };
  }

  /** As readRecord, for a listing: one malformed record is passed over (and told), it never hides the others. */
  async function readListed(key: string): Promise<{ record: BackupRecord; bytes: number } | undefined> {
    try {
      return await readRecord(key);
    } catch (err) {
      if (!(err instanceof MalformedRecordError)) throw err;
      warn(`${err.message}; listings pass over it`);
      return undefined;
    }
  }

  /**
   * Writes the record's current entry, then removes its other entries (an
   * earlier summary of the same backup). Keys that are not whole entries
   * (a Swift segment of an upload in flight) are left alone.
   */
  async function writeEntry(record: BackupRecord, recordBytes: number): Promise<void> {
    const summary = summaryOf(record);
    const key = indexKeyOf(summary, recordBytes, budget);
    if (key) await storage.put(key, Readable.from([Buffer.from(`${JSON.stringify(summary)}\n`)]), { 'backup-id': record.id });
    const stale: string[] = [];
    for await (const object of storage.list(indexPrefixOf(record.id))) {
      if (object.key !== key && parseIndexKey(object.key)?.id === record.id) stale.push(object.key);
    }
    for (const other of stale) await storage.delete(other);
  }

  /** The index is derived from the record: failing to update it must not fail (or undo) a record that is written. */
  async function writeEntryQuietly(record: BackupRecord, recordBytes: number): Promise<void> {
    try {
      await writeEntry(record, recordBytes);
    } catch (err) {
      warn(`catalog: the index entry of backup ${record.id} in ${where} could not be updated (${errorMessage(err)}); listings read its record instead until it is`);
    }
  }

  /** Every record key with the size of its JSON. */
  async function listRecords(): Promise<Map<string, number>> {
    const records = new Map<string, number>();
    for await (const object of storage.list(CATALOG_PREFIX)) {
      // Anything else under catalog/ (a Swift segment of a record being written) is not a record.
      if (object.key.endsWith(RECORD_SUFFIX)) records.set(object.key, object.size);
    }
    return records;
  }

  async function listEntries(): Promise<Map<string, IndexEntry[]>> {
    const entries = new Map<string, IndexEntry[]>();
    for await (const object of storage.list(INDEX_PREFIX)) {
      const entry = parseIndexKey(object.key);
      if (entry) entries.set(entry.id, [...(entries.get(entry.id) ?? []), entry]);
    }
    return entries;
  }

  return {
    description: `${where}, ${CATALOG_PREFIX}`,
    get: async (id) => (await readRecord(keyOf(id), id))?.record,

    async put(record) {
      const body = Buffer.from(`${JSON.stringify(record, null, 2)}\n`);
      await storage.put(keyOf(record.id), Readable.from([body]), { 'backup-id': record.id });
      await writeEntryQuietly(record, body.length);
    },

    async *list() {
      for (const key of (await listRecords()).keys()) {
        const found = await readListed(key);
        if (found) yield found.record;
      }
    },

    /**
     * One listing of the records (for their sizes) and one of the index. A
     * record with exactly one entry of its size is summarised from the key;
     * any other (no entry: written by an older version; several, or one of
     * another size: an update whose entry was not written) is read, and its
     * entry written anew. Entries without a record are ignored.
     */
    async *summaries(): AsyncIterable<BackupSummary> {
      let records: Map<string, number>;
      let entries: Map<string, IndexEntry[]>;
      try {
        [records, entries] = await Promise.all([listRecords(), listEntries()]);
      } catch (err) {
        throw new AgentError(`catalog: cannot list ${CATALOG_PREFIX} and ${INDEX_PREFIX} in ${where}: ${errorMessage(err)}`, { cause: err });
      }
      const toRead: { key: string; id: string | undefined; stale: boolean }[] = [];
      for (const [key, size] of records) {
        const id = key.slice(CATALOG_PREFIX.length, -RECORD_SUFFIX.length);
        const found = isValidBackupId(id) ? (entries.get(id) ?? []) : [];
        const only = found.length === 1 && found[0]!.recordBytes === size ? found[0]! : undefined;
        if (only?.kind === 'summary') yield only.summary;
        else toRead.push({ key, id: isValidBackupId(id) ? id : undefined, stale: only === undefined });
      }
      const read = await mapConcurrently(toRead, concurrency, async ({ key, id, stale }) => {
        const found = await readListed(key);
        // Deleted since the listing (or malformed, and told): it is not listed.
        if (!found) return undefined;
        if (repairIndex && stale && found.record.id === id) await writeEntryQuietly(found.record, found.bytes);
        return summaryOf(found.record);
      });
      for (const summary of read) if (summary) yield summary;
    },

    /**
     * Index entries first, the record last: if this fails half-way, the
     * backup is still found by its record (and listed by reading it), so
     * deleting it again finishes the job; entries left behind a deleted
     * record could never be found by id again.
     */
    async delete(id) {
      const key = keyOf(id);
      const entries: string[] = [];
      try {
        for await (const object of storage.list(indexPrefixOf(id))) entries.push(object.key);
        for (const entry of entries) await storage.delete(entry);
      } catch (err) {
        throw new AgentError(`catalog: cannot delete the index entries of backup ${id} from ${where}: ${errorMessage(err)}`, { cause: err });
      }
      try {
        await storage.delete(key);
      } catch (err) {
        throw new AgentError(`catalog: cannot delete ${key} from ${where}: ${errorMessage(err)}`, { cause: err });
      }
    },
  };
}

/** `task` on every item, at most `limit` at a time; the results in the items' order. */
async function mapConcurrently<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
