import { chown, mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, type Header } from 'tar-stream';
import { ArchiveError, errorMessage } from '../errors.js';
import { crcHex } from './file-crc.js';
import { DATA_DIR_PAX_KEY } from './tar-pack.js';

export interface ExtractOptions {
  /** One fresh directory per data directory; entries are routed by their PAX index. */
  targets: string[];
  /** Owner given to every directory and file created (the old data directory's). */
  owner?: { uid: number; gid: number };
  /** Stages between the source and the TAR parser: hashing, decompression, progress. */
  transforms?: NodeJS.ReadWriteStream[];
  /** Aborts the extraction (the caller then removes the targets). */
  signal?: AbortSignal;
  /**
   * Whether a file entry is written; the others are read past. A chain member
   * holds files a later member replaces (`dir` is the entry's data directory
   * index in the source node).
   */
  select?: (name: string, dir: number) => boolean;
  /** Told about each file written: its data directory index, size and CRC-32. */
  onFile?: (file: ExtractedFile) => void;
  /**
   * The most bytes the written files may hold together (what the backup's
   * record declares): an entry past it is refused before a byte of it is
   * written, so an archive that lies about its size cannot fill the disk.
   */
  maxBytes?: number;
  /** The size the manifest declares for a file, if it lists it: an entry of another size is refused before it is written. */
  declaredSize?: (name: string, dir: number) => number | undefined;
  /**
   * Trove 13's archives (`tar -P`) name every member by its absolute path in
   * the source node's data directory. With this, that directory is learned
   * from the first member and taken off every name; a member outside it, or
   * an absolute name in an archive that did not start with one, is refused.
   */
  stripSourceDataDirectory?: boolean;
}

export interface ExtractedFile {
  name: string;
  dir: number;
  size: number;
  crc32: string;
}

export interface ExtractResult {
  files: number;
  bytes: number;
}

/** What our archives hold: `<keyspace>/<table-dir>/<file>`, or `<keyspace>/<table-dir>/.<index>/<file>`. */
const EXPECTED_DEPTH = 3;
/**
 * `.<index name>`: where Cassandra keeps a secondary index's SSTables, below
 * the table directory and below each of its snapshots and `backups/`
 * (index names are `\w+`).
 */
export const INDEX_DIR = /^\.\w+$/;

/**
 * Why an entry must not be written, or undefined when it is safe: only plain
 * files and directories, with relative names that stay below the target.
 */
export function unsafeEntryReason(header: Pick<Header, 'name' | 'type'>): string | undefined {
  const name = header.name;
  if (header.type !== 'file' && header.type !== 'directory') {
    return `it is a ${header.type ?? 'entry of unknown type'}, and only plain files and directories are restored`;
  }
  if (name === '' || name.includes('\0')) return 'its name is empty or holds a NUL byte';
  // A newline in a name printed raw could forge a line of the agent's log; Cassandra never writes one.
  if ([...name].some((c) => c < ' ' || c === '\u007f')) return 'its name holds a control character, which Cassandra never writes';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.includes('\\')) return 'its name is an absolute path';
  const parts = name.replace(/\/+$/, '').split('/');
  if (parts.some((p) => p === '..')) return "its name climbs out of the data directory with '..'";
  if (parts.some((p) => p === '' || p === '.')) return 'its name has an empty or "." component';
  const inIndex = parts.length > EXPECTED_DEPTH - 1 && INDEX_DIR.test(parts[EXPECTED_DEPTH - 1]!);
  const depth = inIndex ? EXPECTED_DEPTH + 1 : EXPECTED_DEPTH;
  if (header.type === 'file' && parts.length !== depth) {
    return `it is not laid out as <keyspace>/<table-dir>/<file> or <keyspace>/<table-dir>/.<index>/<file>`;
  }
  if (header.type === 'directory' && parts.length > depth - 1) return 'it is a directory below a table directory';
  return undefined;
}

/**
 * Extracts a TAR stream into fresh directories, refusing any entry that could
 * write outside them (links, devices, absolute names, `..`). Files are created
 * exclusively (a duplicate entry is an error, and nothing is followed), owned
 * as asked, and fsynced. The caller removes the targets if this rejects.
 */
/**
 * Files whose fsync may still run while the next ones are written. An fsync
 * waits for the disk; done in line it stopped the whole stream (reading,
 * hashing, parsing) once per file. Every one has finished, and none failed,
 * before the extraction resolves.
 */
const MAX_PENDING_SYNCS = 4;

export async function extractArchive(source: Readable, options: ExtractOptions): Promise<ExtractResult> {
  const extract = tarExtract();
  // The parser can fail (truncated input) while an entry is being written, or
  // before its stream is piped anywhere: every wait below races this.
  const extractFailed = new Promise<never>((_, reject) => extract.once('error', reject));
  extractFailed.catch(() => undefined);
  const result: ExtractResult = { files: 0, bytes: 0 };
  const madeDirectories = new Set<string>();

  const ensureDirectory = async (dir: string, root: string): Promise<void> => {
    if (madeDirectories.has(dir)) return;
    // Each component below the root is created by us, so none can be a link.
    const relative = path.relative(root, dir);
    let current = root;
    for (const part of relative === '' ? [] : relative.split(path.sep)) {
      current = path.join(current, part);
      if (madeDirectories.has(current)) continue;
      await mkdir(current, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      if (options.owner) await chown(current, options.owner.uid, options.owner.gid);
      madeDirectories.add(current);
    }
  };

  const pendingSyncs: Promise<void>[] = [];
  const sourceDirectory = options.stripSourceDataDirectory ? new SourceDataDirectory() : undefined;
  const consume = async (): Promise<void> => {
    for await (const entry of extract) {
      const header = entry.header;
      if (sourceDirectory) header.name = sourceDirectory.relativeName(header.name);
      const reason = unsafeEntryReason(header);
      if (reason) throw new ArchiveError(`refusing TAR entry '${printable(header.name)}': ${reason}`);
      const root = targetFor(header, options.targets);
      const destination = path.join(root, header.name);
      if (!isInside(root, destination)) throw new ArchiveError(`refusing TAR entry '${printable(header.name)}': it resolves outside the data directory`);

      if (header.type === 'directory') {
        await ensureDirectory(destination, root);
        entry.resume();
        continue;
      }
      const dir = dataDirIndexOf(header);
      if (options.select && !options.select(header.name, dir)) {
        entry.resume();
        continue;
      }
      const size = header.size ?? 0;
      const declared = options.declaredSize?.(header.name, dir);
      if (declared !== undefined && size !== declared) {
        throw new ArchiveError(`refusing TAR entry '${printable(header.name)}': it holds ${size} bytes, the manifest says ${declared}; the object or its record was damaged or tampered with, restore another backup`);
      }
      if (options.maxBytes !== undefined && result.bytes + size > options.maxBytes) {
        throw new ArchiveError(
          `refusing TAR entry '${printable(header.name)}' (${size} bytes): the archive holds more than the ${options.maxBytes} bytes its record declares; the object or its record was damaged or tampered with, restore another backup`,
        );
      }
      await ensureDirectory(path.dirname(destination), root);
      const fsError = (err: unknown): never => {
        if (err instanceof ArchiveError) throw err;
        // File system errors name their system call; zlib and TAR parser errors do not.
        if (!(err as NodeJS.ErrnoException).syscall) throw asArchiveError(err);
        throw new ArchiveError(`cannot extract ${printable(header.name)}: ${describeFsError(err)}`, { cause: err });
      };
      const { crc32, synced } = await writeFile(entry as unknown as Readable, destination, header, options.owner, extractFailed).catch(fsError);
      const checked = synced.catch(fsError);
      // Awaited below, or abandoned when the extraction fails anyway: never an unhandled rejection.
      checked.catch(() => undefined);
      pendingSyncs.push(checked);
      if (pendingSyncs.length > MAX_PENDING_SYNCS) await pendingSyncs.shift();
      result.files += 1;
      result.bytes += size;
      options.onFile?.({ name: header.name, dir, size, crc32 });
    }
    await Promise.all(pendingSyncs);
  };

  const feeding = pipeline([source, ...(options.transforms ?? []), extract as unknown as NodeJS.WritableStream], { signal: options.signal });
  const consuming = consume().catch((err: unknown) => {
    // Stop the feed too: nothing more is read from the source.
    source.destroy();
    extract.destroy(err as Error);
    throw err;
  });
  const [fed, consumed] = await Promise.allSettled([feeding, consuming]);
  if (consumed.status === 'rejected') throw asArchiveError(consumed.reason);
  if (fed.status === 'rejected') throw asArchiveError(fed.reason);
  return result;
}

/**
 * Writes one entry; resolves to the CRC-32 of what was written once it is
 * written, with `synced`, the file's fsync and close, still running.
 */
async function writeFile(entry: Readable, destination: string, header: Header, owner: ExtractOptions['owner'], extractFailed: Promise<never>): Promise<{ crc32: string; synced: Promise<void> }> {
  // 'wx' is O_CREAT|O_EXCL: it never opens an existing file nor follows a link.
  const file = await open(destination, 'wx', (header.mode ?? 0o644) & 0o666);
  let crc = 0;
  const copy = (async () => {
    for await (const chunk of entry as AsyncIterable<Buffer>) {
      crc = zlib.crc32(chunk, crc);
      for (let offset = 0; offset < chunk.length; ) offset += (await file.write(chunk, offset)).bytesWritten;
    }
  })();
  // When the parser fails first, the copy is abandoned (and fails on the closed file): not an unhandled rejection.
  copy.catch(() => undefined);
  try {
    await Promise.race([copy, extractFailed]);
    if (owner) await file.chown(owner.uid, owner.gid);
  } catch (err) {
    await file.close().catch(() => undefined);
    throw err;
  }
  return { crc32: crcHex(crc), synced: file.sync().finally(() => file.close()) };
}

/** The source node's data directory an entry came from (its PAX index; 0 when absent). */
export function dataDirIndexOf(header: Pick<Header, 'name' | 'pax'>): number {
  const pax = (header.pax ?? {}) as Record<string, string>;
  const raw = pax[DATA_DIR_PAX_KEY];
  const index = raw === undefined ? 0 : Number(raw);
  if (!Number.isInteger(index) || index < 0) {
    throw new ArchiveError(`refusing TAR entry '${printable(header.name)}': bad data directory index '${raw}'`);
  }
  return index;
}

function targetFor(header: Header, targets: string[]): string {
  // A node with fewer data directories than the source gets the extra ones
  // folded in: Cassandra finds a table's SSTables in any of its directories.
  return targets[dataDirIndexOf(header) % targets.length]!;
}

/** `<table>-<32 lowercase hex table id>`, as Cassandra names table directories. */
export const TABLE_DIR = /^(.+)-([0-9a-f]{32})$/;

/**
 * The data directory of the node a `tar -P` archive was made on
 * (`/var/lib/cassandra/data` in `/var/lib/cassandra/data/ks/t-<id>/na-1-big-Data.db`):
 * whatever comes before `<keyspace>/<table-dir>/`, learned from the first
 * absolute name; every later one must be below the same directory.
 */
class SourceDataDirectory {
  #prefix: string | undefined;
  #relativeSeen = false;

  relativeName(name: string): string {
    if (!name.startsWith('/')) {
      this.#relativeSeen = true;
      return name;
    }
    const shown = printable(name);
    if (this.#relativeSeen) throw new ArchiveError(`refusing TAR entry '${shown}': an absolute name in an archive whose first members are relative`);
    const parts = name.split('/');
    if (parts.includes('..') || parts.includes('.')) throw new ArchiveError(`refusing TAR entry '${shown}': its name climbs out of the data directory with '..'`);
    if (this.#prefix === undefined) {
      const table = parts.findIndex((part, i) => i >= 2 && TABLE_DIR.test(part));
      if (table === -1) throw new ArchiveError(`refusing TAR entry '${shown}': an absolute name with no <keyspace>/<table-dir>/ in it, so not a file of a Cassandra data directory`);
      this.#prefix = `${parts.slice(0, table - 1).join('/')}/`;
    }
    if (!name.startsWith(this.#prefix)) {
      throw new ArchiveError(`refusing TAR entry '${shown}': it is outside ${printable(this.#prefix)}, the source data directory of the archive's first member`);
    }
    return name.slice(this.#prefix.length);
  }
}

/** A name as it can be printed on one line: control characters escaped as JSON does (`\n`, `\u001b`). */
export function printable(name: string): string {
  return JSON.stringify(name).slice(1, -1);
}

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') return 'no space left on device (free space or choose a larger volume, then retry)';
  if (code === 'EEXIST') return 'the archive holds this file twice';
  return errorMessage(err);
}

function asArchiveError(err: unknown): Error {
  if (err instanceof ArchiveError) return err;
  const message = errorMessage(err);
  if (/unexpected end|incorrect (header|data) check|invalid|checksum/i.test(message) || (err as NodeJS.ErrnoException).code?.startsWith('Z_')) {
    return new ArchiveError(`the stored backup is truncated or corrupt (${message}); restore from another backup`, { cause: err });
  }
  return new ArchiveError(`cannot read the stored backup: ${message}`, { cause: err });
}
