import { createDecipheriv, createHash, pbkdf2 } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import { ArchiveError } from '../errors.js';

/**
 * Reading what Trove's old strategies wrote: `... | gzip | openssl enc
 * -aes-256-cbc -salt -pass pass:KEY` (newer Trove: `-md sha512 -pbkdf2 -iter
 * 10000`). The object is `Salted__`, an 8-byte salt, then AES-256-CBC with
 * PKCS#7 padding under a key and IV derived from the passphrase and salt.
 * Nothing in it says how they were derived, and there is no authentication:
 * a wrong key shows only as garbage. So the derivation is found by
 * decrypting the first block with each candidate and keeping the one whose
 * plaintext starts as the archive must (gzip: 1f 8b 08; a false match is
 * 1 in 2^24 per candidate); the store's checksum (Swift's ETag) vouches for
 * the bytes themselves.
 */
export const TROVE_KDFS = ['md5', 'sha256', 'pbkdf2-sha512'] as const;
/**
 * `md5`: EVP_BytesToKey, one MD5 round (OpenSSL before 1.1.0, `-md md5`);
 * `sha256`: the same with SHA-256 (OpenSSL 1.1.0 and later by default);
 * `pbkdf2-sha512`: PBKDF2-HMAC-SHA512, 10000 iterations (`-pbkdf2 -iter 10000 -md sha512`).
 */
export type TroveKdf = (typeof TROVE_KDFS)[number];

const KDF_WORDS: Record<TroveKdf, string> = {
  md5: 'EVP_BytesToKey with MD5',
  sha256: 'EVP_BytesToKey with SHA-256',
  'pbkdf2-sha512': 'PBKDF2-HMAC-SHA512 with 10000 iterations',
};

/** For messages: `EVP_BytesToKey with MD5`. */
export function describeKdf(kdf: TroveKdf): string {
  return KDF_WORDS[kdf];
}

/** EncryptionInfo.scheme of such an archive: the cipher, and the derivation once known (`openssl-aes-256-cbc+md5`). */
export const LEGACY_SCHEME = 'openssl-aes-256-cbc';

export function legacyScheme(kdf: TroveKdf): string {
  return `${LEGACY_SCHEME}+${kdf}`;
}

/** The derivation a legacy scheme names, 'auto' for the bare scheme, undefined when it is not a legacy scheme. */
export function kdfOfScheme(scheme: string): TroveKdf | 'auto' | undefined {
  if (scheme === LEGACY_SCHEME) return 'auto';
  const [cipher, kdf] = scheme.split('+');
  return cipher === LEGACY_SCHEME && (TROVE_KDFS as readonly string[]).includes(kdf ?? '') ? (kdf as TroveKdf) : undefined;
}

/** How a gzip stream starts: magic 1f 8b and method 8 (deflate), the only one gzip writes. */
export const GZIP_START = Buffer.from([0x1f, 0x8b, 0x08]);

const SALTED = Buffer.from('Salted__', 'latin1');
const SALT_BYTES = 8;
const BLOCK = 16;
/** `Salted__`, the salt and the first cipher block: what detecting the derivation needs. */
export const LEGACY_HEAD_BYTES = SALTED.length + SALT_BYTES + BLOCK;
const PBKDF2_ITERATIONS = 10_000;
const pbkdf2Async = promisify(pbkdf2);

interface KeyIv {
  key: Buffer;
  iv: Buffer;
}

/** OpenSSL's EVP_BytesToKey with one iteration: D_i = H(D_{i-1} ‖ pass ‖ salt), concatenated into key ‖ IV. */
function bytesToKey(hash: 'md5' | 'sha256', passphrase: Buffer, salt: Buffer): KeyIv {
  const parts: Buffer[] = [];
  let total = 0;
  let previous = Buffer.alloc(0);
  while (total < 48) {
    previous = createHash(hash).update(previous).update(passphrase).update(salt).digest();
    parts.push(previous);
    total += previous.length;
  }
  const material = Buffer.concat(parts);
  return { key: material.subarray(0, 32), iv: material.subarray(32, 48) };
}

export async function deriveKeyIv(kdf: TroveKdf, passphrase: Buffer, salt: Buffer): Promise<KeyIv> {
  if (kdf === 'pbkdf2-sha512') {
    const material = await pbkdf2Async(passphrase, salt, PBKDF2_ITERATIONS, 48, 'sha512');
    return { key: material.subarray(0, 32), iv: material.subarray(32, 48) };
  }
  return bytesToKey(kdf, passphrase, salt);
}

export interface LegacyDecryptOptions {
  /** Trove's backup_aes_cbc_key, as bytes (`-pass pass:KEY` takes the argument's bytes). */
  passphrase: Buffer;
  /** Where the passphrase was configured, for messages (never the passphrase). */
  passphraseName: string;
  /** A derivation, or 'auto' to try each. */
  kdf: TroveKdf | 'auto';
  /** How the plaintext must start (GZIP_START for `.gz.enc`). */
  plaintextStart: Buffer;
  /** Names the archive in errors, e.g. `backup 3f2a: 3f2a.tar.gz.enc`. */
  label: string;
}

/**
 * The derivation (and its key and IV) under which the first block of `head`
 * decrypts to what the plaintext must start with; an ArchiveError saying
 * what was tried when none does.
 */
export async function findLegacyKey(head: Buffer, options: LegacyDecryptOptions): Promise<KeyIv & { kdf: TroveKdf }> {
  if (!head.subarray(0, SALTED.length).equals(SALTED.subarray(0, Math.min(head.length, SALTED.length)))) {
    throw new ArchiveError(
      `${options.label}: not an 'openssl enc -salt' archive (it does not start with 'Salted__'), so not encrypted as Trove encrypts backups; it was damaged or is something else: nothing of it was used`,
    );
  }
  if (head.length < LEGACY_HEAD_BYTES) {
    throw new ArchiveError(`${options.label}: only ${head.length} bytes, too short for an encrypted archive (the 16-byte header and a first block); the stored archive is truncated`);
  }
  const salt = head.subarray(SALTED.length, SALTED.length + SALT_BYTES);
  const firstBlock = head.subarray(SALTED.length + SALT_BYTES, LEGACY_HEAD_BYTES);
  const candidates = options.kdf === 'auto' ? TROVE_KDFS : [options.kdf];
  for (const kdf of candidates) {
    const keyIv = await deriveKeyIv(kdf, options.passphrase, salt);
    const decipher = createDecipheriv('aes-256-cbc', keyIv.key, keyIv.iv).setAutoPadding(false);
    const plain = decipher.update(firstBlock);
    if (plain.subarray(0, options.plaintextStart.length).equals(options.plaintextStart)) return { ...keyIv, kdf };
  }
  const tried = candidates.map((kdf) => KDF_WORDS[kdf]).join(', ');
  throw new ArchiveError(
    options.kdf === 'auto'
      ? `${options.label}: ${options.passphraseName} does not decrypt it (tried ${tried}): the passphrase is wrong; set ${options.passphraseName} to the backup_aes_cbc_key of the Trove that made the backup. Nothing of it was used`
      : `${options.label}: ${options.passphraseName} does not decrypt it with ${tried} (trove_backup_kdf: ${options.kdf}): the passphrase is wrong, or the archive was made with another derivation (trove_backup_kdf: auto tries them all). Nothing of it was used`,
  );
}

/**
 * `openssl enc -aes-256-cbc -salt` output → the plaintext, streaming: the
 * first 32 bytes pick the derivation (findLegacyKey), then one decipher
 * runs over the rest, holding back only the last block to check its PKCS#7
 * padding at the end.
 */
export function createLegacyDecryptStream(options: LegacyDecryptOptions): Transform {
  return new LegacyDecryptStream(options);
}

class LegacyDecryptStream extends Transform {
  readonly #options: LegacyDecryptOptions;
  #head: Buffer[] = [];
  #headBytes = 0;
  #decipher: ReturnType<typeof createDecipheriv> | undefined;

  constructor(options: LegacyDecryptOptions) {
    super();
    this.#options = options;
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#decipher) {
      this.#pushPlain(this.#decipher.update(data));
      return callback();
    }
    this.#head.push(data);
    this.#headBytes += data.length;
    if (this.#headBytes < LEGACY_HEAD_BYTES) return callback();
    this.#start().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    const finish = async (): Promise<void> => {
      if (!this.#decipher) await this.#start(); // a short object: findLegacyKey says it is truncated
      try {
        this.#pushPlain(this.#decipher!.final());
      } catch (err) {
        throw new ArchiveError(
          `${this.#options.label}: the encrypted archive does not end as 'openssl enc' ends one (${errorReason(err)}): it is truncated or was altered; restore from another backup`,
          { cause: err },
        );
      }
    };
    finish().then(() => callback(), callback);
  }

  async #start(): Promise<void> {
    const head = Buffer.concat(this.#head);
    this.#head = [];
    const { key, iv } = await findLegacyKey(head, this.#options);
    this.#decipher = createDecipheriv('aes-256-cbc', key, iv);
    key.fill(0);
    this.#pushPlain(this.#decipher.update(head.subarray(SALTED.length + SALT_BYTES)));
  }

  #pushPlain(plain: Buffer): void {
    if (plain.length > 0) this.push(plain);
  }
}

/** OpenSSL's words for a bad ending, made readable. */
function errorReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/wrong final block length/.test(message)) return 'its length is not a whole number of 16-byte blocks';
  if (/bad decrypt/.test(message)) return 'its last block has no valid padding';
  return message;
}
