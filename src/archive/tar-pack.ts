import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack, type Header, type Pack } from 'tar-stream';

type EntryHeader = Partial<Header> & Pick<Header, 'name' | 'size'>;
import { ArchiveError, errorMessage } from '../errors.js';
import { ByteMeter } from './digest-stream.js';
import { CrcStream } from './file-crc.js';

/** One file to put in the archive. */
export interface PackEntry {
  /** Where the file is read from. */
  sourcePath: string;
  /** Its name inside the TAR: `<keyspace>/<table-dir>/<file>`. */
  entryName: string;
  /** Which `data_file_directories` entry it came from (0 = the first). */
  dataDirIndex: number;
}

/** PAX key recording the data directory of an entry when it is not the first. */
export const DATA_DIR_PAX_KEY = 'CASSANDRA.data_dir_index';

export interface PackOptions {
  /** Read size for each file. */
  chunkSize: number;
  /** Told about every raw byte read, for progress. */
  onBytes?: (n: number) => void;
  /** Told about each file once it is in the archive: its size and CRC-32, for the manifest. */
  onFile?: (entry: PackEntry, size: number, crc32: string) => void;
}

/**
 * The files as one TAR stream, read one at a time with backpressure: memory
 * stays at a few chunks whatever the total size. An error reading any file
 * destroys the stream with that error, naming the file.
 */
export function packFiles(entries: Iterable<PackEntry>, options: PackOptions): Readable {
  const pack = tarPack();
  void (async () => {
    for (const entry of entries) {
      if (pack.destroyed) return;
      const handle = await open(entry.sourcePath, 'r').catch((err: unknown) => {
        throw new ArchiveError(`cannot open ${entry.sourcePath}: ${errorMessage(err)}`, { cause: err });
      });
      try {
        const stat = await handle.stat();
        const header: EntryHeader = {
          name: entry.entryName,
          size: stat.size,
          mode: stat.mode & 0o777,
          mtime: stat.mtime,
          type: 'file',
        };
        if (entry.dataDirIndex > 0) header.pax = { [DATA_DIR_PAX_KEY]: String(entry.dataDirIndex) };
        const crc32 = await writeEntry(pack, header, handle, options);
        options.onFile?.(entry, stat.size, crc32);
      } catch (err) {
        throw err instanceof ArchiveError
          ? err
          : new ArchiveError(`cannot archive ${entry.sourcePath}: ${errorMessage(err)}`, { cause: err });
      } finally {
        await handle.close();
      }
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as Readable;
}

/** Writes one entry and resolves to the CRC-32 of its contents. */
async function writeEntry(pack: Pack, header: EntryHeader, handle: FileHandle, options: PackOptions): Promise<string> {
  const crc = new CrcStream();
  if (header.size === 0) {
    await new Promise<void>((resolve, reject) => pack.entry(header, '', (err) => (err ? reject(err) : resolve())));
    return crc.crc32;
  }
  const sink = pack.entry(header) as unknown as NodeJS.WritableStream;
  // `end` bounds the read to the size in the header: a file that grows while
  // it is read cannot corrupt the archive (one that shrinks fails loudly).
  const file = handle.createReadStream({ highWaterMark: options.chunkSize, autoClose: false, start: 0, end: header.size! - 1 });
  if (options.onBytes) await pipeline(file, crc, new ByteMeter(options.onBytes), sink);
  else await pipeline(file, crc, sink);
  return crc.crc32;
}
