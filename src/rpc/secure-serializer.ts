import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { pythonJsonDumps } from './python-json.js';
import { DecryptionError } from './rpc-errors.js';

const IV_BYTES = 16;

/**
 * The AES key Trove derives from an instance's RPC key: the 32 ASCII bytes
 * of the key's lowercase hex MD5. Held in a class so that printing or
 * serialising it never shows the key.
 */
export class RpcKey {
  readonly #aesKey: Buffer;
  constructor(instanceKey: string) {
    if (instanceKey === '') throw new TypeError('an RPC key cannot be empty');
    this.#aesKey = Buffer.from(createHash('md5').update(instanceKey, 'utf8').digest('hex'), 'ascii');
  }
  get aesKey(): Buffer {
    return this.#aesKey;
  }
  toJSON(): string {
    return '[RpcKey]';
  }
  toString(): string {
    return '[RpcKey]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[RpcKey]';
  }
}

/** base64(IV || AES-256-CBC(PKCS#7(UTF-8 of Python's JSON of value))), as trove.common.crypto_utils. */
export function encryptValue(key: RpcKey, value: unknown, iv: Buffer = randomBytes(IV_BYTES)): string {
  const cipher = createCipheriv('aes-256-cbc', key.aesKey, iv);
  const body = Buffer.concat([cipher.update(pythonJsonDumps(value), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body]).toString('base64');
}

/** The inverse; any defect (not base64, wrong key, bad padding, not JSON) is a DecryptionError, never plaintext. */
export function decryptValue(key: RpcKey, encoded: unknown, what: string): unknown {
  if (typeof encoded !== 'string') throw new DecryptionError(`${what} is not an encrypted string`);
  const raw = Buffer.from(encoded, 'base64');
  if (raw.length < IV_BYTES * 2 || (raw.length - IV_BYTES) % 16 !== 0 || raw.toString('base64') !== normaliseBase64(encoded)) {
    throw new DecryptionError(`${what} is not IV + AES-256-CBC ciphertext in base64`);
  }
  let text: string;
  try {
    const decipher = createDecipheriv('aes-256-cbc', key.aesKey, raw.subarray(0, IV_BYTES));
    text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new DecryptionError(`${what} does not decrypt with this instance's key (wrong instance_rpc_encr_key?)`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new DecryptionError(`${what} decrypts to something that is not JSON (wrong instance_rpc_encr_key?)`);
  }
}

/** Python's base64 encoder writes no line breaks; tolerate a missing final padding. */
function normaliseBase64(text: string): string {
  const trimmed = text.trim();
  return trimmed.padEnd(Math.ceil(trimmed.length / 4) * 4, '=');
}
