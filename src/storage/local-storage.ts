import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { ObjectNotFoundError, StorageError, errorMessage } from '../errors.js';
import { fsyncDirectory, temporaryNameFor, writeFileAtomic } from '../util/atomic-file.js';
import type { ObjectInfo, ObjectMeta, PutResult, Storage, StorageLimits } from './storage.js';

export interface LocalStorageOptions {
  /** Directory that holds the objects; created on first write. */
  path: string;
}

const META_DIR = '.meta';

/**
 * A key's metadata is one file named after the whole key, and a file name
 * has at most 255 bytes: `.meta/catalog-index%2F<entry>.json`, and its
 * temporary name `.<that>.partial-<12 hex>`. So index keys are much
 * shorter here than in Swift or S3: most local entries are references to
 * the record, and a local read is cheap.
 */
export const LOCAL_LIMITS: StorageLimits = { indexKeyBudget: 220 };

/**
 * Objects as plain files under one directory. Writes go to a hidden temporary
 * name, are fsynced, then renamed: a partial file never has a final name.
 */
export function createLocalStorage(options: LocalStorageOptions): Storage {
  if (!options.path) throw new StorageError("local storage: option 'path' (backup_local_path) is required");
  const root = path.resolve(options.path);

  const fileOf = (key: string): string => {
    const parts = key.split('/');
    if (key === '' || path.isAbsolute(key) || parts.some((p) => p === '' || p === '.' || p === '..' || p.startsWith('.'))) {
      throw new StorageError(`local storage: '${key}' is not a valid object key`);
    }
    return path.join(root, ...parts);
  };
  const metaOf = (key: string): string => path.join(root, META_DIR, `${key.replaceAll('/', '%2F')}.json`);

  return {
    name: 'local',
    limits: LOCAL_LIMITS,

    async put(key: string, data: Readable, meta: ObjectMeta, signal?: AbortSignal): Promise<PutResult> {
      const finalPath = fileOf(key);
      await mkdir(path.dirname(finalPath), { recursive: true });
      await mkdir(path.join(root, META_DIR), { recursive: true });
      const temporary = temporaryNameFor(finalPath);
      try {
        // 'wx': a fresh file only; `flush`: fsynced before it is closed.
        await pipeline(data, createWriteStream(temporary, { flags: 'wx', mode: 0o640, flush: true }), { signal });
        await writeFileAtomic(metaOf(key), JSON.stringify(meta));
        await rename(temporary, finalPath);
        await fsyncDirectory(path.dirname(finalPath));
      } catch (err) {
        await rm(temporary, { force: true });
        if ((err as Error).name === 'AbortError') throw err;
        throw new StorageError(`local storage: cannot write ${finalPath}: ${errorMessage(err)}`, { cause: err });
      }
      const { size } = await stat(finalPath);
      return { location: pathToFileURL(finalPath).href, size };
    },

    async get(key: string): Promise<Readable> {
      const file = fileOf(key);
      try {
        const handle = await open(file, 'r');
        return handle.createReadStream();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new ObjectNotFoundError(`local storage: object '${key}' is missing from ${root}`, { cause: err });
        }
        throw new StorageError(`local storage: cannot read ${file}: ${errorMessage(err)}`, { cause: err });
      }
    },

    async head(key: string): Promise<ObjectInfo | undefined> {
      const file = fileOf(key);
      let size: number;
      try {
        const info = await stat(file);
        if (!info.isFile()) return undefined;
        size = info.size;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new StorageError(`local storage: cannot stat ${file}: ${errorMessage(err)}`, { cause: err });
      }
      let meta: ObjectMeta = {};
      try {
        meta = JSON.parse(await readFile(metaOf(key), 'utf8')) as ObjectMeta;
      } catch {
        // An object copied in by hand has no metadata; it is still an object.
      }
      return { key, size, meta };
    },

    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      for (const key of await walkKeys(root, '')) {
        if (!key.startsWith(prefix)) continue;
        const info = await this.head(key);
        if (info) yield info;
      }
    },

    async delete(key: string): Promise<void> {
      await rm(fileOf(key), { force: true });
      await rm(metaOf(key), { force: true });
    },
  };
}

async function walkKeys(root: string, relative: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(path.join(root, relative), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const keys: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const key = relative ? `${relative}/${entry.name}` : entry.name;
    if (entry.isDirectory()) keys.push(...(await walkKeys(root, key)));
    else if (entry.isFile()) keys.push(key);
  }
  return keys;
}
