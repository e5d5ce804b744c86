import { PassThrough, Writable, type Duplex, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { extract as tarExtract, type Extract, type Header } from 'tar-stream';
import { readStages } from '../archive/archive-format.js';
import { ByteMeter, DigestStream } from '../archive/digest-stream.js';
import { crcHex } from '../archive/file-crc.js';
import { LEGACY_SCHEME } from '../archive/openssl-legacy.js';
import { unsafeEntryReason } from '../archive/tar-extract.js';
import { DATA_DIR_PAX_KEY } from '../archive/tar-pack.js';
import type { EncryptionInfo, StoredFormat } from '../archive/stored-format.js';
import { incompleteReason, type BackupRecord } from '../catalog/backup-record.js';
import type { Catalog } from '../catalog/catalog.js';
import { walkChain, type ChainBreak } from './backup-chain.js';
import { foreignArchiveNames } from './foreign-archive.js';
import type { ArchiveConfig } from '../config/config-schema.js';
import { ArchiveError, BackupNotFoundError, ObjectNotFoundError, StorageError, errorMessage } from '../errors.js';
import type { ObjectVerifier, Storage } from '../storage/storage.js';
import { formatBytes } from '../util/format-bytes.js';
import type { Progress } from '../util/progress.js';

/** What verify works with: storage and catalog only; no node, nodetool or data directory. */
export interface VerifyContext {
  /** For readStages: how stored bytes turn back into TAR (decompression, decryption keys). */
  config: ArchiveConfig;
  storage: Storage;
  catalog: Catalog;
  progress: Progress;
  signal?: AbortSignal;
}

export interface VerifyOptions {
  /** Read every ancestor's object too, rather than only checking that it is there with its recorded size. */
  chain?: boolean;
}

/** 'not checked': stored in an ancestor's object, which only --chain reads. */
export type FileStatus = 'ok' | 'missing' | 'size differs' | 'crc differs' | 'unexpected' | 'not checked';

export interface FileResult {
  /** TAR entry name: `<keyspace>/<table-dir>/<file>`. */
  name: string;
  /** Index of the data directory it belongs to. */
  dir: number;
  /** As the manifest records it; for a file no manifest lists, as found. */
  size: number;
  crc32: string;
  status: FileStatus;
  /** The backup whose object holds (or should hold) its bytes. */
  stored_in: string;
  /** What the object holds, when it differs from the manifest. */
  found?: { size: number; crc32: string };
}

export interface ObjectResult {
  backup_id: string;
  key: string;
  /** 'streamed': every byte read and checked; 'head': only its presence and size (an ancestor, without --chain). */
  check: 'streamed' | 'head';
  /** The size the catalog recorded (the store's, for an archive without a record). */
  stored_bytes: number;
  bytes_read: number;
  /** SHA-256 of the bytes read, when the object was read to its end. */
  sha256?: string;
  /** The store's own checksum the bytes were checked against as they streamed (Swift's ETag). */
  store_checksum?: string;
  ok: boolean;
}

export interface VerifyReport {
  ok: boolean;
  backup_id: string;
  /** false: an archive without a record of ours (Trove's), vouched for by the store's checksum alone. */
  in_catalog: boolean;
  /** The backup, then its ancestors as far as their records could be read. */
  chain: string[];
  /**
   * Every problem found, in the order found, except that an object's own
   * verdict (missing, size, checksum, unreadable) comes before what it means
   * for the files inside it. The first is what the command says.
   */
  problems: string[];
  files: FileResult[];
  objects: ObjectResult[];
  /** Stored bytes read, over every object streamed. */
  bytes_read: number;
  /** Objects read to their end and checked. */
  objects_verified: number;
}

/**
 * How an archive without a catalog record that `openssl enc` encrypted is
 * read: readStages decrypts it with trove_backup_aes_cbc_key, trying each key
 * derivation (a restore finds the one that works before it starts).
 */
const LEGACY_ENCRYPTION: EncryptionInfo = { scheme: LEGACY_SCHEME, key_id: 'trove_backup_aes_cbc_key' };

/** Object-level verdicts on one streamed object. */
interface ObjectOutcome {
  result: ObjectResult;
  problems: string[];
  /** The entries read, in order; undefined when the object could not be read at all. */
  entries: Entry[] | undefined;
  /** The read or the TAR parsing stopped early: files after that point were never seen. */
  cutShort: boolean;
}

interface Entry {
  name: string;
  type: Header['type'];
  dir: number;
  size: number;
  crc32: string;
  /** Why a restore refuses it, if it does. */
  unsafe: string | undefined;
}

/**
 * Checks a stored backup without touching any node: streams its object
 * through the read stages and a TAR parser (nothing is written anywhere),
 * checking the SHA-256 of the stored bytes, the store's own checksum where it
 * keeps one (Swift: every segment's MD5 and the ETag), that every entry is
 * one a restore accepts, and every file against the manifest: present once,
 * with its size and CRC-32 (without a manifest: the file count and raw
 * size). Ancestors must have complete records and their objects with their
 * recorded sizes; `chain` streams them too. Problems with the backup are
 * reported, not thrown; what stops the check itself (the store unreachable,
 * an unknown id) is thrown.
 */
export async function verifyBackup(ctx: VerifyContext, backupId: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const record = await ctx.catalog.get(backupId);
  if (!record) return verifyForeignArchive(ctx, backupId);
  const report = newReport(backupId, true);
  const words = new Wording(backupId);
  const incomplete = incompleteReason(record);
  if (incomplete) {
    report.problems.push(words.damage(backupId, `its catalog record is incomplete (${incomplete})`));
    return finished(report);
  }

  if (record.parent) ctx.progress.step(`backup ${backupId} builds on ${record.parent.id}: checking its chain of ancestors`);
  const { ancestors, complete } = await loadAncestors(ctx, record, report, words);
  const chain = [record, ...ancestors];
  report.chain = chain.map((r) => r.id);
  // The manifests whose files are checked: the backup's own, and with --chain every ancestor's.
  const manifests = options.chain ? chain : [record];

  for (const owner of chain) {
    if (owner !== record && !options.chain) {
      await checkPresence(ctx, owner, report, words);
      continue;
    }
    const outcome = await verifyObject(ctx, words, {
      owner: owner.id,
      key: owner.object_key,
      format: owner,
      recordedSize: owner.stored_bytes,
      sha256: owner.sha256,
      ...(isEtag(owner.checksum) ? { storeChecksum: owner.checksum } : {}),
      contents: owner.files ? `${owner.files.filter((f) => f.stored_in === owner.id).length} files against the manifest` : 'the file count',
    });
    report.objects.push(outcome.result);
    report.problems.push(...outcome.problems);
    checkContents(owner, manifests, outcome, report, words);
  }

  // Files stored in objects not read: an ancestor's without --chain, or one the chain does not reach.
  const streamed = new Set(options.chain ? report.chain : [record.id]);
  const inChain = new Set(report.chain);
  const listed = new Set<string>();
  for (const manifest of manifests) {
    for (const file of manifest.files ?? []) {
      const id = `${file.stored_in}\0${fileKey(file.dir, file.name)}`;
      if (streamed.has(file.stored_in) || listed.has(id)) continue;
      listed.add(id);
      const stray = complete && !inChain.has(file.stored_in);
      report.files.push({ name: file.name, dir: file.dir, size: file.size, crc32: file.crc32, status: stray ? 'missing' : 'not checked', stored_in: file.stored_in });
      if (stray) {
        const whose = manifest === record ? 'its manifest' : `the manifest of ${manifest.id}`;
        report.problems.push(words.chain(`${whose} says ${file.name} is stored in backup ${file.stored_in}, which is not in its chain (${report.chain.join(' → ')})`));
      }
    }
  }
  return finished(report);
}

/** One line for people: the verdict, or the first problem and how many more there are. */
export function verdictLine(report: VerifyReport): string {
  if (!report.ok) {
    const more = report.problems.length - 1;
    return more > 0 ? `${report.problems[0]} (${more} more problem${more === 1 ? '' : 's'}; --json lists every file)` : report.problems[0]!;
  }
  const checked = report.files.filter((f) => f.status === 'ok');
  const notChecked = report.files.length - checked.length;
  const raw = checked.reduce((sum, f) => sum + f.size, 0);
  const objects = `${report.objects_verified} object${report.objects_verified === 1 ? '' : 's'}`;
  let line = `backup ${report.backup_id} is good: ${checked.length} files (${formatBytes(raw)}) checked, ${formatBytes(report.bytes_read)} read from ${objects}`;
  if (!report.in_catalog) line += '; it has no catalog record: checked against the store\'s ETag and for its TAR structure only';
  if (notChecked > 0) line += `; ${notChecked} files stored in ancestors not read (--chain reads them)`;
  return line;
}

/** Messages that name the backup verified, which backup of its chain is at fault, and what to do. */
class Wording {
  constructor(private readonly target: string) {}

  /** Something wrong with `owner` (the backup itself or one of its ancestors). */
  damage(owner: string, what: string): string {
    if (owner === this.target) return `backup ${this.target}: ${what}; it cannot be restored as it was taken: take a new backup`;
    return `backup ${this.target}: its ancestor ${owner}: ${what}; ${this.target} builds on it and cannot be restored: take a new full backup`;
  }

  /** Something wrong with the chain itself. */
  chain(what: string): string {
    return `backup ${this.target}: ${what}; it cannot be restored: take a new full backup`;
  }
}

function newReport(backupId: string, inCatalog: boolean): VerifyReport {
  return { ok: false, backup_id: backupId, in_catalog: inCatalog, chain: [backupId], problems: [], files: [], objects: [], bytes_read: 0, objects_verified: 0 };
}

function finished(report: VerifyReport): VerifyReport {
  report.ok = report.problems.length === 0;
  report.bytes_read = report.objects.reduce((sum, o) => sum + o.bytes_read, 0);
  report.objects_verified = report.objects.filter((o) => o.check === 'streamed' && o.sha256 !== undefined).length;
  return report;
}

/** A Swift ETag (MD5 hex), as opposed to a SHA-256 kept as the checksum by stores without one. */
function isEtag(checksum: string | undefined): checksum is string {
  return checksum !== undefined && /^[0-9a-f]{32}$/.test(checksum);
}

/** The parent chain, as far as complete records go: every break is a problem. */
async function loadAncestors(ctx: VerifyContext, record: BackupRecord, report: VerifyReport, words: Wording): Promise<{ ancestors: BackupRecord[]; complete: boolean }> {
  const { members, breaks } = await walkChain(ctx.catalog, record);
  for (const broken of breaks) report.problems.push(words.chain(chainProblem(ctx, record, broken)));
  return { ancestors: members.slice(1), complete: breaks.every((b) => b.kind === 'replaced') };
}

function chainProblem(ctx: VerifyContext, record: BackupRecord, broken: ChainBreak): string {
  switch (broken.kind) {
    case 'loop':
      return `its chain of parents loops back to ${broken.id}`;
    case 'missing':
      return `its ancestor ${broken.id} (the parent of ${broken.child}) is not in the catalog (${ctx.catalog.description})`;
    case 'incomplete':
      return `its ancestor ${broken.id} has an incomplete catalog record (${broken.reason})`;
    case 'replaced':
      return `${broken.child} was taken on ${broken.id} with checksum ${broken.linked}, but ${broken.id} now has checksum ${broken.now}: it was replaced`;
    case 'no-full':
      return broken.oldest === record.id ? 'it is an incremental backup without a parent' : `its oldest ancestor ${broken.oldest} is an incremental backup without a parent`;
  }
}

/** An ancestor not read (no --chain): its object must be there with the recorded size, a HEAD each. */
async function checkPresence(ctx: VerifyContext, owner: BackupRecord, report: VerifyReport, words: Wording): Promise<void> {
  const head = await ctx.storage.head(owner.object_key);
  const result: ObjectResult = { backup_id: owner.id, key: owner.object_key, check: 'head', stored_bytes: owner.stored_bytes, bytes_read: 0, ok: false };
  report.objects.push(result);
  if (!head) {
    report.problems.push(words.damage(owner.id, `its object ${owner.object_key} is missing from ${ctx.storage.name} storage`));
  } else if (head.size !== owner.stored_bytes) {
    report.problems.push(words.damage(owner.id, sizeProblem(owner.object_key, head.size, owner.stored_bytes)));
  } else {
    result.ok = true;
  }
}

function sizeProblem(key: string, actual: number, recorded: number): string {
  return `its object ${key} is ${actual} bytes but the catalog says ${recorded}; it is truncated or was replaced`;
}

interface ObjectRequest {
  owner: string;
  key: string;
  format: StoredFormat;
  /** What the catalog says, when there is a record. */
  recordedSize?: number;
  sha256?: string;
  storeChecksum?: string;
  /** Already found (an archive without a record is found through it). */
  verifier?: ObjectVerifier;
  /** What is checked inside, for people watching: `12 files against the manifest`. */
  contents?: string;
}

/** Finds, reads and checks one stored object; the verdict on its bytes, and the entries inside it. */
async function verifyObject(ctx: VerifyContext, words: Wording, request: ObjectRequest): Promise<ObjectOutcome> {
  const { owner, key } = request;
  const problems: string[] = [];
  const result: ObjectResult = { backup_id: owner, key, check: 'streamed', stored_bytes: request.recordedSize ?? 0, bytes_read: 0, ok: false };
  const unreadable = (): ObjectOutcome => ({ result, problems, entries: undefined, cutShort: true });

  // Swift checks every segment against its manifest, and the whole against the ETag, as it streams.
  let verifier = request.verifier;
  let size: number;
  if (!verifier && ctx.storage.verifier) {
    try {
      verifier = await ctx.storage.verifier(key);
      if (!verifier) {
        problems.push(words.damage(owner, `its object ${key} is missing from ${ctx.storage.name} storage`));
        return unreadable();
      }
    } catch (err) {
      if (!(err instanceof ArchiveError)) throw err;
      problems.push(words.damage(owner, errorMessage(err)));
    }
  }
  if (verifier) {
    size = verifier.size;
    result.store_checksum = verifier.expected;
    if (request.recordedSize === undefined) result.stored_bytes = verifier.size;
    if (request.storeChecksum && request.storeChecksum !== verifier.expected) {
      problems.push(words.damage(owner, `its object ${key} has ETag ${verifier.expected}, the catalog says ${request.storeChecksum}; it was replaced`));
    }
  } else {
    const head = await ctx.storage.head(key);
    if (!head) {
      problems.push(words.damage(owner, `its object ${key} is missing from ${ctx.storage.name} storage`));
      return unreadable();
    }
    size = head.size;
  }
  if (request.recordedSize !== undefined && size !== request.recordedSize) {
    problems.push(words.damage(owner, sizeProblem(key, size, request.recordedSize)));
  }

  const checks = [request.sha256 ? 'SHA-256' : undefined, verifier ? `${ctx.storage.name} ETag` : undefined, 'TAR structure', request.contents].filter(Boolean).join(', ');
  ctx.progress.step(`reading ${key} (${formatBytes(size)}) from ${ctx.storage.name} storage: checking ${checks}`);
  let source: Readable;
  try {
    source = verifier ? await verifier.read(ctx.signal) : await ctx.storage.get(key, ctx.signal);
  } catch (err) {
    if (!(err instanceof ObjectNotFoundError)) throw err;
    problems.push(words.damage(owner, `its object ${key} is missing from ${ctx.storage.name} storage`));
    return unreadable();
  }

  let stages: Duplex[];
  try {
    stages = await readStages(request.format, ctx.config);
  } catch (err) {
    source.destroy();
    throw err;
  }
  ctx.progress.begin('verify', size);
  let reading: ArchiveReading;
  try {
    reading = await readArchive(source, stages, (n) => ctx.progress.advance(n), ctx.signal);
  } finally {
    ctx.progress.end();
  }
  result.bytes_read = reading.bytes;

  if (reading.readError !== undefined) {
    const err = reading.readError;
    if (ctx.signal?.aborted) throw ctx.signal.reason ?? err;
    if (err instanceof ArchiveError) problems.push(words.damage(owner, `${errorMessage(err)} (after ${reading.bytes} bytes)`));
    else if (err instanceof ObjectNotFoundError) problems.push(words.damage(owner, `its object ${key} disappeared from ${ctx.storage.name} storage while it was read`));
    // The store failing is not a verdict on the backup: the check could not be made.
    else throw new StorageError(`verify ${request.owner}: reading ${key} from ${ctx.storage.name} storage failed after ${reading.bytes} bytes: ${errorMessage(err)}; nothing is known about the backup yet: check the storage and retry`, { cause: err });
  } else {
    result.sha256 = reading.sha256;
    if (request.sha256 && reading.sha256 !== request.sha256) {
      problems.push(words.damage(owner, `the SHA-256 of its ${reading.bytes} stored bytes is ${reading.sha256}, the catalog says ${request.sha256}; ${key} is corrupt`));
    }
  }
  if (reading.archiveError !== undefined && reading.readError === undefined) {
    // Every stored byte was read, so the checksum verdict is known: it tells a corrupted object from one written broken.
    const bytesGood = problems.length === 0;
    const what = `${key} cannot be read as a TAR${request.format.compression === 'none' ? '' : ` compressed with ${request.format.compression}`} (${errorMessage(reading.archiveError)})`;
    const matching = `although its stored bytes match ${request.sha256 ? 'the recorded SHA-256' : 'its ETag'}`;
    // Bytes as stored, yet no TAR: a key that does not decrypt it (Trove's passphrases are only checked against the data), or a bad writer.
    const why = request.format.encryption ? 'the configured key does not decrypt it, or it was written broken' : 'it was written broken';
    problems.push(words.damage(owner, bytesGood ? `${what}, ${matching}: ${why}` : what));
  }
  result.ok = problems.length === 0;
  return { result, problems, entries: reading.entries, cutShort: reading.readError !== undefined || reading.archiveError !== undefined };
}

/**
 * Compares what one object holds with every manifest that places files in it:
 * its own backup's (which also says what may not be there) and, with
 * --chain, its descendants'. Without a manifest, the file count and raw size.
 */
function checkContents(owner: BackupRecord, manifests: BackupRecord[], outcome: ObjectOutcome, report: VerifyReport, words: Wording): void {
  const key = owner.object_key;
  const found = new Map<string, Entry>();
  const fileEntries: Entry[] = [];
  for (const entry of outcome.entries ?? []) {
    if (entry.unsafe) {
      report.problems.push(words.damage(owner.id, `${key} holds an entry a restore refuses, '${entry.name}': ${entry.unsafe}`));
      continue;
    }
    if (entry.type !== 'file') continue;
    const id = fileKey(entry.dir, entry.name);
    if (found.has(id)) {
      report.problems.push(words.damage(owner.id, `${key} holds ${entry.name} twice`));
      continue;
    }
    found.set(id, entry);
    fileEntries.push(entry);
  }

  // Files after the point where the read stopped were never seen: one problem says so, not one per file.
  let unseen = 0;
  const listed = new Set<string>();
  const results = new Set<string>();
  for (const manifest of manifests) {
    for (const file of manifest.files ?? []) {
      if (file.stored_in !== owner.id) continue;
      const id = fileKey(file.dir, file.name);
      if (manifest === owner) listed.add(id);
      const resultId = `${id}\0${file.size}\0${file.crc32}`;
      if (results.has(resultId)) continue;
      results.add(resultId);
      const entry = found.get(id);
      const result: FileResult = { name: file.name, dir: file.dir, size: file.size, crc32: file.crc32, status: 'ok', stored_in: owner.id };
      const whose = manifest === owner ? 'its manifest' : `the manifest of ${manifest.id}`;
      if (!entry) {
        result.status = 'missing';
        if (outcome.cutShort) unseen += 1;
        else report.problems.push(words.damage(owner.id, `${file.name} (data directory ${file.dir}) is in ${whose} but not in ${key}`));
      } else if (entry.size !== file.size) {
        result.status = 'size differs';
        result.found = { size: entry.size, crc32: entry.crc32 };
        report.problems.push(words.damage(owner.id, `${file.name} is ${entry.size} bytes in ${key}, ${whose} says ${file.size}`));
      } else if (entry.crc32 !== file.crc32) {
        result.status = 'crc differs';
        result.found = { size: entry.size, crc32: entry.crc32 };
        report.problems.push(words.damage(owner.id, `${file.name} has CRC-32 ${entry.crc32} in ${key}, ${whose} says ${file.crc32}`));
      }
      report.files.push(result);
    }
  }
  if (unseen > 0 && outcome.entries !== undefined) report.problems.push(words.damage(owner.id, `${unseen} files of the manifest were not found in the part of ${key} that could be read`));

  if (owner.files) {
    for (const entry of fileEntries) {
      if (listed.has(fileKey(entry.dir, entry.name))) continue;
      report.files.push({ name: entry.name, dir: entry.dir, size: entry.size, crc32: entry.crc32, status: 'unexpected', stored_in: owner.id });
      report.problems.push(words.damage(owner.id, `${key} holds ${entry.name} (data directory ${entry.dir}), which its manifest does not list`));
    }
    return;
  }
  // A record from before manifests: each file as found, and the totals the record kept.
  for (const entry of fileEntries) {
    if (results.has(`${fileKey(entry.dir, entry.name)}\0${entry.size}\0${entry.crc32}`)) continue;
    report.files.push({ name: entry.name, dir: entry.dir, size: entry.size, crc32: entry.crc32, status: 'ok', stored_in: owner.id });
  }
  if (outcome.entries === undefined || outcome.cutShort) return;
  const rawBytes = fileEntries.reduce((sum, e) => sum + e.size, 0);
  if (fileEntries.length !== owner.file_count) {
    report.problems.push(words.damage(owner.id, `${key} holds ${fileEntries.length} files, the catalog says ${owner.file_count}`));
  } else if (rawBytes !== owner.raw_bytes) {
    report.problems.push(words.damage(owner.id, `the files in ${key} add up to ${rawBytes} bytes, the catalog says ${owner.raw_bytes}`));
  }
}

function fileKey(dir: number, name: string): string {
  return `${dir}\0${name}`;
}

/** An archive with no record of ours, in a store that keeps its own checksum (Swift): its ETag and TAR structure. */
async function verifyForeignArchive(ctx: VerifyContext, backupId: string): Promise<VerifyReport> {
  const notInCatalog = `backup ${backupId} is not in the catalog (${ctx.catalog.description})`;
  if (!ctx.storage.verifier) throw new BackupNotFoundError(`${notInCatalog}; check the id and the storage settings`);
  const report = newReport(backupId, false);
  const words = new Wording(backupId);
  const names = foreignArchiveNames(backupId);
  for (const { key, compression, encrypted } of names) {
    const encryption = encrypted ? LEGACY_ENCRYPTION : undefined;
    let verifier: ObjectVerifier | undefined;
    try {
      verifier = await ctx.storage.verifier(key);
    } catch (err) {
      if (!(err instanceof ArchiveError)) throw err;
      report.problems.push(words.damage(backupId, errorMessage(err)));
      return finished(report);
    }
    if (!verifier) continue;
    ctx.progress.step(`backup ${backupId} has no catalog record: verifying ${key} against its ETag ${verifier.expected} (${verifier.algorithm})`);
    const outcome = await verifyObject(ctx, words, { owner: backupId, key, format: { id: backupId, compression, ...(encryption ? { encryption } : {}) }, verifier });
    report.objects.push(outcome.result);
    report.problems.push(...outcome.problems);
    for (const entry of outcome.entries ?? []) {
      // Trove's archives come from `tar -C <data dir> ... <ks>/<table-dir>`, with the directories as entries.
      if (entry.unsafe) report.problems.push(words.damage(backupId, `${key} holds an entry a restore refuses, '${entry.name}': ${entry.unsafe}`));
      else if (entry.type === 'file') report.files.push({ name: entry.name, dir: entry.dir, size: entry.size, crc32: entry.crc32, status: 'ok', stored_in: backupId });
    }
    return finished(report);
  }
  throw new BackupNotFoundError(
    `${notInCatalog}, and ${ctx.storage.name} storage holds no archive ${names.map(({ key }) => key).join(' or ')} either; check the id and the storage settings`,
  );
}

interface ArchiveReading {
  /** Stored bytes read. */
  bytes: number;
  /** Of every stored byte; only when the read reached the end. */
  sha256: string | undefined;
  /** The store's read failed (a missing or altered segment, a network error): the bytes stop there. */
  readError: unknown;
  /** The bytes do not decode or parse as a TAR; the stored bytes were still read to the end. */
  archiveError: unknown;
  entries: Entry[];
}

/**
 * Stored bytes → hash → read stages → TAR parser, each entry's CRC-32
 * computed as it passes and nothing written anywhere. The hashing side reads
 * on to the end even when the archive side fails, so that a corrupted object
 * (checksum differs) is told from one that was written broken (checksum matches).
 */
async function readArchive(source: Readable, stages: Duplex[], onBytes: (n: number) => void, signal: AbortSignal | undefined): Promise<ArchiveReading> {
  const digest = new DigestStream();
  const tarInput = new PassThrough();
  const extract = tarExtract();
  const entries: Entry[] = [];
  const parsing = Promise.allSettled([pipeline([tarInput, ...stages, extract as unknown as NodeJS.WritableStream]), listEntries(extract, entries)]);

  // Hands the stored bytes to the archive side while it lives, with its backpressure; drops them once it has failed.
  const feed = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (tarInput.destroyed || tarInput.write(chunk)) return callback();
      const resume = (): void => {
        tarInput.off('drain', resume);
        tarInput.off('close', resume);
        callback();
      };
      tarInput.on('drain', resume);
      tarInput.on('close', resume);
    },
    final(callback) {
      if (!tarInput.destroyed) tarInput.end();
      callback();
    },
    destroy(err, callback) {
      if (err) tarInput.destroy(err);
      callback(err);
    },
  });

  let readError: unknown;
  try {
    await pipeline([source, new ByteMeter(onBytes), digest, feed], signal ? { signal } : {});
  } catch (err) {
    readError = err;
    tarInput.destroy(err as Error);
  }
  const [fed, listed] = await parsing;
  // The pipeline's error is the stage that failed (decompressor, parser); the listing's only echoes it.
  const archiveError = fed.status === 'rejected' ? fed.reason : listed.status === 'rejected' ? listed.reason : undefined;
  return { bytes: digest.bytes, sha256: readError === undefined ? digest.digest() : undefined, readError, archiveError, entries };
}

async function listEntries(extract: Extract, entries: Entry[]): Promise<void> {
  for await (const entry of extract) {
    const header = entry.header;
    let crc = 0;
    let size = 0;
    for await (const chunk of entry) {
      crc = zlib.crc32(chunk as Buffer, crc);
      size += (chunk as Buffer).length;
    }
    const { dir, problem } = dataDirIndex(header);
    entries.push({ name: header.name, type: header.type, dir, size, crc32: crcHex(crc), unsafe: unsafeEntryReason(header) ?? problem });
  }
}

/** The data directory an entry goes to (DATA_DIR_PAX_KEY; absent: the first), as restore routes it. */
function dataDirIndex(header: Header): { dir: number; problem?: string } {
  const raw = ((header.pax ?? {}) as Record<string, string>)[DATA_DIR_PAX_KEY];
  if (raw === undefined) return { dir: 0 };
  const dir = Number(raw);
  if (!Number.isInteger(dir) || dir < 0) return { dir: 0, problem: `its data directory index '${raw}' is not a whole number` };
  return { dir };
}
