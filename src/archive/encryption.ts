import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ArchiveError, ChecksumMismatchError } from '../errors.js';
import type { EncryptionKey } from './encryption-key.js';

/**
 * Client-side authenticated encryption of a backup stream, AES-256-GCM in
 * fixed-size chunks:
 *
 *     header   magic "\x89CGAENC\n" (8) | format version 1 (1) | header length (2, BE)
 *              | scheme name length (1) | scheme name | key id length (1) | key id
 *              | chunk size (4, BE) | salt (32)
 *     chunk i  AES-256-GCM(chunk key, nonce = prefix (4) ‖ i (8, BE),
 *                          AAD = header ‖ i (8, BE) ‖ last (1)) ‖ tag (16)
 *
 * Every chunk but the last holds exactly `chunk size` plaintext bytes; the
 * last holds fewer (0 when the plaintext is an exact multiple), so there is
 * always a last chunk and its length alone says it is the last. The chunk
 * key and nonce prefix are HKDF-SHA256(key, salt, info ‖ backup id) with a fresh random salt
 * per object, so two objects never share a (key, nonce) pair however many
 * are written under one key.
 *
 * What the AAD and nonce catch: a changed byte anywhere (the header is in
 * every chunk's AAD), chunks reordered, duplicated or dropped (the counter),
 * a stream cut at a chunk boundary (the chunk before the cut was sealed as
 * "not last") or inside one (its tag is missing or wrong), bytes appended
 * after the last chunk (it would then be read as a full, non-last chunk).
 */
export const ENCRYPTION_SCHEME = 'aes-256-gcm-chunked-v1';

const MAGIC = Buffer.from('\x89CGAENC\n', 'latin1');
const FORMAT_VERSION = 1;
/** magic, version, header length: enough to know how long the header is. */
const FIXED_PREFIX = MAGIC.length + 1 + 2;
const MAX_HEADER = 1024;
const SALT_BYTES = 32;
const TAG_BYTES = 16;
const NONCE_PREFIX_BYTES = 4;
const HKDF_INFO = Buffer.from(`cassandra-guest-agent ${ENCRYPTION_SCHEME} chunk key`);

/**
 * 1 MiB: the 16-byte tag costs 0.0015 %, the per-chunk cipher set-up
 * vanishes next to the bulk work, and each stream holds at most about two
 * chunks. (Measured: docs/encryption.md, Cost.)
 */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;
/** Bounds a reader accepts, so that a damaged header cannot make it allocate without limit. */
const MIN_CHUNK_SIZE = 16;
const MAX_CHUNK_SIZE = 64 * 1024 * 1024;

/** What an encrypted object's header says. */
export interface EncryptionHeader {
  /** Bytes of the header, where the first chunk starts. */
  length: number;
  version: number;
  scheme: string;
  keyId: string;
  chunkSize: number;
  salt: Buffer;
}

interface ChunkKeys {
  key: KeyObject;
  noncePrefix: Buffer;
}

/**
 * The object's own key and nonce prefix. The backup id, when given, is part
 * of the derivation: an object moved under another backup's name (its
 * record rewritten too) fails authentication at its first chunk.
 */
function chunkKeys(master: KeyObject, salt: Buffer, objectId: string | undefined): ChunkKeys {
  const info = objectId === undefined ? HKDF_INFO : Buffer.concat([HKDF_INFO, Buffer.from(`\0${objectId}`, 'utf8')]);
  const okm = Buffer.from(hkdfSync('sha256', master, salt, info, 32 + NONCE_PREFIX_BYTES));
  const key = createSecretKey(okm.subarray(0, 32));
  const noncePrefix = Buffer.from(okm.subarray(32));
  okm.fill(0);
  return { key, noncePrefix };
}

function nonceOf(prefix: Buffer, counter: bigint): Buffer {
  const nonce = Buffer.alloc(NONCE_PREFIX_BYTES + 8);
  prefix.copy(nonce);
  nonce.writeBigUInt64BE(counter, NONCE_PREFIX_BYTES);
  return nonce;
}

function aadOf(header: Buffer, counter: bigint, last: boolean): Buffer {
  const aad = Buffer.alloc(header.length + 9);
  header.copy(aad);
  aad.writeBigUInt64BE(counter, header.length);
  aad[header.length + 8] = last ? 1 : 0;
  return aad;
}

function encodeHeader(keyId: string, chunkSize: number, salt: Buffer): Buffer {
  const scheme = Buffer.from(ENCRYPTION_SCHEME, 'ascii');
  const id = Buffer.from(keyId, 'ascii');
  const length = FIXED_PREFIX + 1 + scheme.length + 1 + id.length + 4 + SALT_BYTES;
  const header = Buffer.alloc(length);
  let at = MAGIC.copy(header);
  at = header.writeUInt8(FORMAT_VERSION, at);
  at = header.writeUInt16BE(length, at);
  at = header.writeUInt8(scheme.length, at);
  at += scheme.copy(header, at);
  at = header.writeUInt8(id.length, at);
  at += id.copy(header, at);
  at = header.writeUInt32BE(chunkSize, at);
  salt.copy(header, at);
  return header;
}

/**
 * How long the header starting `bytes` is, once enough of it is there;
 * undefined while fewer than the fixed prefix's bytes are. Throws when the
 * bytes are not this format's.
 */
function headerLengthOf(bytes: Buffer, label: string): number | undefined {
  const magic = bytes.subarray(0, MAGIC.length);
  if (!MAGIC.subarray(0, magic.length).equals(magic)) {
    throw new ArchiveError(`${label}: the stored object does not start with this agent's encryption header (${ENCRYPTION_SCHEME}): the stored backup was altered or replaced: restore from another backup`);
  }
  if (bytes.length < FIXED_PREFIX) return undefined;
  const version = bytes[MAGIC.length]!;
  if (version !== FORMAT_VERSION) {
    throw new ArchiveError(`${label}: the stored object's encryption header has format version ${version}; this agent reads version ${FORMAT_VERSION}: the stored backup was altered, or written by a newer agent`);
  }
  const length = bytes.readUInt16BE(MAGIC.length + 1);
  if (length < FIXED_PREFIX + 2 + 4 + SALT_BYTES || length > MAX_HEADER) {
    throw new ArchiveError(`${label}: the stored object's encryption header claims ${length} bytes, which no header of this format has; the stored backup was altered: restore from another backup`);
  }
  return length;
}

/** The header at the start of `bytes` (which holds at least its length), checked for internal consistency. */
export function parseEncryptionHeader(bytes: Buffer, label = 'encrypted object'): EncryptionHeader {
  const length = headerLengthOf(bytes, label);
  if (length === undefined || bytes.length < length) throw new ArchiveError(`${label}: the stored object ends inside its encryption header; it is truncated`);
  const header = bytes.subarray(0, length);
  const altered = (what: string) => new ArchiveError(`${label}: the stored object's encryption header is malformed (${what}); the stored backup was altered: restore from another backup`);
  let at = FIXED_PREFIX;
  const text = (): string => {
    const n = header[at]!;
    if (at + 1 + n > length) throw altered('a field runs past its end');
    const value = header.subarray(at + 1, at + 1 + n).toString('latin1');
    at += 1 + n;
    return value;
  };
  const scheme = text();
  const keyId = text();
  if (at + 4 + SALT_BYTES !== length) throw altered(`its length ${length} does not match its fields`);
  const chunkSize = header.readUInt32BE(at);
  at += 4;
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) throw altered(`chunk size ${chunkSize}`);
  return { length, version: FORMAT_VERSION, scheme, keyId, chunkSize, salt: Buffer.from(header.subarray(at, at + SALT_BYTES)) };
}

/** Buffers pieces of a stream without copying, and hands out exactly n bytes of them. */
class ByteQueue {
  #pieces: Buffer[] = [];
  length = 0;

  push(piece: Buffer): void {
    if (piece.length === 0) return;
    this.#pieces.push(piece);
    this.length += piece.length;
  }

  /** The first n bytes (n ≤ length) as slices of what was pushed. */
  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    let wanted = n;
    while (wanted > 0) {
      const head = this.#pieces[0]!;
      if (head.length <= wanted) {
        out.push(head);
        this.#pieces.shift();
        wanted -= head.length;
      } else {
        out.push(head.subarray(0, wanted));
        this.#pieces[0] = head.subarray(wanted);
        wanted = 0;
      }
    }
    this.length -= n;
    return out;
  }

  /** The first n bytes (n ≤ length) as one buffer, left in the queue. */
  peek(n: number): Buffer {
    const head = this.#pieces[0];
    if (head && head.length >= n) return head.subarray(0, n);
    return Buffer.concat(this.#pieces).subarray(0, n);
  }
}

export interface EncryptOptions {
  /** Plaintext bytes per chunk (tests use small ones to get many chunks). */
  chunkSize?: number;
  /** The backup id the object is bound to; decryption must name the same one. */
  objectId?: string;
}

/** TAR (or compressed) bytes → header and sealed chunks. Holds at most one chunk of plaintext. */
export function createEncryptStream(key: EncryptionKey, options: EncryptOptions = {}): Transform {
  return new EncryptStream(key, options.chunkSize ?? DEFAULT_CHUNK_SIZE, options.objectId);
}

class EncryptStream extends Transform {
  readonly #header: Buffer;
  readonly #keys: ChunkKeys;
  readonly #chunkSize: number;
  readonly #pending = new ByteQueue();
  #counter = 0n;
  #started = false;

  constructor(key: EncryptionKey, chunkSize: number, objectId: string | undefined) {
    super();
    if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
      throw new RangeError(`chunk size ${chunkSize} is outside ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`);
    }
    const salt = randomBytes(SALT_BYTES);
    this.#header = encodeHeader(key.id, chunkSize, salt);
    this.#keys = chunkKeys(key.key, salt, objectId);
    this.#chunkSize = chunkSize;
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#start();
    this.#pending.push(data);
    // A full chunk is never the last one (the last is always short), so it can be sealed at once.
    while (this.#pending.length >= this.#chunkSize) this.#seal(this.#pending.take(this.#chunkSize), false);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.#start();
    this.#seal(this.#pending.take(this.#pending.length), true);
    callback();
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    this.push(this.#header);
  }

  #seal(pieces: Buffer[], last: boolean): void {
    const cipher = createCipheriv('aes-256-gcm', this.#keys.key, nonceOf(this.#keys.noncePrefix, this.#counter), { authTagLength: TAG_BYTES });
    cipher.setAAD(aadOf(this.#header, this.#counter, last));
    for (const piece of pieces) this.push(cipher.update(piece));
    cipher.final(); // GCM emits nothing here: the ciphertext is as long as the plaintext
    this.push(cipher.getAuthTag());
    this.#counter += 1n;
  }
}

export interface DecryptOptions {
  /** Names the backup in errors, e.g. `backup 3f2a`. */
  label: string;
  /** The backup id the object was bound to when encrypted. */
  objectId?: string;
}

/**
 * Header and sealed chunks → the plaintext. A chunk's plaintext is passed on
 * only once its tag has been verified; anything that does not verify, or a
 * stream that ends early, fails the stream with an ArchiveError saying the
 * stored backup was altered or truncated. Holds at most about two chunks.
 */
export function createDecryptStream(key: EncryptionKey, options: DecryptOptions): Transform {
  return new DecryptStream(key, options.label, options.objectId);
}

class DecryptStream extends Transform {
  readonly #key: EncryptionKey;
  readonly #label: string;
  readonly #pending = new ByteQueue();
  #header: Buffer | undefined;
  #keys: ChunkKeys | undefined;
  #record = 0;
  #counter = 0n;
  #received = 0;

  readonly #objectId: string | undefined;

  constructor(key: EncryptionKey, label: string, objectId: string | undefined) {
    super();
    this.#key = key;
    this.#label = label;
    this.#objectId = objectId;
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#received += data.length;
      this.#pending.push(data);
      if (!this.#header && !this.#readHeader()) return callback();
      // A full-size record is never the last chunk: open it as soon as it is all here.
      while (this.#pending.length >= this.#record) this.#open(this.#pending.take(this.#record), false);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (!this.#header) {
        throw new ArchiveError(
          this.#received === 0
            ? `${this.#label}: the stored object is empty, it has not even the encryption header; the stored backup was truncated: restore from another backup`
            : `${this.#label}: the stored object ends inside its encryption header (${this.#received} bytes); the stored backup was truncated: restore from another backup`,
        );
      }
      const left = this.#pending.length;
      if (left < TAG_BYTES) {
        throw new ArchiveError(
          left === 0
            ? `${this.#label}: the stored object ends after chunk ${this.#counter} without its final chunk; the stored backup was truncated: restore from another backup`
            : `${this.#label}: the stored object ends ${left} bytes into chunk ${this.#counter + 1n}, before its authentication tag; the stored backup was truncated: restore from another backup`,
        );
      }
      this.#open(this.#pending.take(left), true);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  /** true once the header has been read and checked; false while more bytes are needed. */
  #readHeader(): boolean {
    const length = headerLengthOf(this.#pending.peek(Math.min(this.#pending.length, FIXED_PREFIX)), this.#label);
    if (length === undefined || this.#pending.length < length) return false;
    const header = Buffer.concat(this.#pending.take(length));
    const parsed = parseEncryptionHeader(header, this.#label);
    if (parsed.scheme !== ENCRYPTION_SCHEME) {
      throw new ArchiveError(`${this.#label}: the stored object's encryption header names scheme '${parsed.scheme}', not ${ENCRYPTION_SCHEME}; the stored backup was altered: restore from another backup`);
    }
    if (parsed.keyId !== this.#key.id) {
      throw new ChecksumMismatchError(
        `${this.#label}: the stored object's encryption header names key id ${parsed.keyId}, but its record says ${this.#key.id}; the stored backup was altered or replaced: restore from another backup`,
      );
    }
    this.#header = header;
    this.#keys = chunkKeys(this.#key.key, parsed.salt, this.#objectId);
    this.#record = parsed.chunkSize + TAG_BYTES;
    return true;
  }

  #open(pieces: Buffer[], last: boolean): void {
    const keys = this.#keys!;
    const size = pieces.reduce((sum, p) => sum + p.length, 0);
    const tag = Buffer.concat(takeTail(pieces, TAG_BYTES));
    const decipher = createDecipheriv('aes-256-gcm', keys.key, nonceOf(keys.noncePrefix, this.#counter), { authTagLength: TAG_BYTES });
    decipher.setAAD(aadOf(this.#header!, this.#counter, last));
    decipher.setAuthTag(tag);
    const plain = pieces.map((piece) => decipher.update(piece));
    try {
      decipher.final();
    } catch (err) {
      const start = this.#header!.length + Number(this.#counter) * this.#record;
      throw new ChecksumMismatchError(
        `${this.#label}: chunk ${this.#counter + 1n} of the stored object (bytes ${start}-${start + size - 1}) fails authentication: the stored backup was altered, truncated or reordered, or is another backup's object; ` +
          `nothing of that chunk was used: restore from another backup`,
        { cause: err },
      );
    }
    for (const piece of plain) if (piece.length > 0) this.push(piece);
    this.#counter += 1n;
  }
}

/** Cuts the last n bytes off a list of pieces (in place) and returns them as pieces. */
function takeTail(pieces: Buffer[], n: number): Buffer[] {
  const tail: Buffer[] = [];
  let wanted = n;
  while (wanted > 0) {
    const last = pieces.pop()!;
    if (last.length <= wanted) {
      tail.unshift(last);
      wanted -= last.length;
    } else {
      tail.unshift(last.subarray(last.length - wanted));
      pieces.push(last.subarray(0, last.length - wanted));
      wanted = 0;
    }
  }
  return tail;
}
