import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { ArchiveConfig } from '../config/config-schema.js';
import { ConfigError, errorMessage } from '../errors.js';

/** AES-256: the only key length the chunked GCM scheme takes. */
export const KEY_BYTES = 32;

/**
 * A backup encryption key as the agent holds it: the material inside a
 * KeyObject (which prints as `SecretKeyObject { type: 'secret' }`, so a stray
 * log line or error never shows it), an id that names it without revealing
 * it, and where it came from, for messages.
 */
export interface EncryptionKey {
  readonly id: string;
  readonly key: KeyObject;
  /** e.g. `backup_encryption_key_file /etc/cga/backup.key`; never the key itself. */
  readonly source: string;
}

/** The keys the configuration names: the one backups are written with, and every one they may be read with. */
export interface EncryptionKeys {
  /** Absent when no key is configured. */
  current?: EncryptionKey;
  /** `current` first, then the old keys, in the order given. */
  readable: EncryptionKey[];
}

const ENV_KEY = 'GUEST_AGENT_BACKUP_ENCRYPTION_KEY';
const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/**
 * HMAC of a fixed label under the key: it tells keys apart (64 bits is plenty
 * for the few keys an operator keeps) and, being a PRF output, says nothing
 * about the key. A plain hash of the key would do as well for 256 random
 * bits; the HMAC keeps that true for any key.
 */
export function keyIdOf(key: KeyObject): string {
  return createHmac('sha256', key).update('cassandra-guest-agent backup key id v1').digest('hex').slice(0, 16);
}

/** Every key the configuration names, each read and checked; nothing configured gives no keys. */
export async function loadEncryptionKeys(config: ArchiveConfig): Promise<EncryptionKeys> {
  const file = config.backup_encryption_key_file.trim();
  const inline = config.backup_encryption_key;
  if (file !== '' && inline !== '') {
    throw new ConfigError(
      `both backup_encryption_key_file (${file}) and backup_encryption_key (${ENV_KEY}) are set; set only one, so that it is clear which key backups are written with`,
    );
  }
  let current: EncryptionKey | undefined;
  if (file !== '') current = await readKeyFile(file, 'backup_encryption_key_file');
  else if (inline !== '') current = fromText(inline);

  const readable = current ? [current] : [];
  for (const old of splitPaths(config.backup_encryption_old_key_files)) {
    const key = await readKeyFile(old, 'backup_encryption_old_key_files');
    if (!readable.some((k) => k.id === key.id)) readable.push(key);
  }
  return current ? { current, readable } : { readable };
}

/**
 * The key backups are written with; a ConfigError saying how to configure one
 * when there is none. The old keys are read and checked too, so that a
 * broken one shows at the next backup rather than at the restore that needs it.
 */
export async function loadWriteKey(config: ArchiveConfig): Promise<EncryptionKey> {
  const { current } = await loadEncryptionKeys(config);
  if (!current) {
    throw new ConfigError(
      `backup_encryption is ${config.backup_encryption} but no key is configured: set backup_encryption_key_file to a file of mode 0600 holding 32 random bytes ` +
        `(e.g. 'head -c 32 /dev/urandom > FILE; chmod 600 FILE') or 64 hexadecimal characters, or set ${ENV_KEY} to 64 hexadecimal characters`,
    );
  }
  return current;
}

/**
 * A key file: readable by its owner only, and holding 32 raw bytes or 64 hex
 * characters (one trailing newline allowed). The message of a bad one says
 * what was found, never what it holds.
 */
async function readKeyFile(file: string, setting: string): Promise<EncryptionKey> {
  const source = `${setting} ${file}`;
  let content: Buffer;
  try {
    const { mode, isFile } = await stat(file).then((s) => ({ mode: s.mode, isFile: s.isFile() }));
    if (!isFile) throw new ConfigError(`${source}: not a regular file`);
    if ((mode & 0o077) !== 0) {
      throw new ConfigError(`${source}: the key file is readable by others (mode ${(mode & 0o777).toString(8)}); run 'chmod 600 ${file}'`);
    }
    content = await readFile(file);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${source}: cannot read the key file: ${errorMessage(err)}`, { cause: err });
  }
  try {
    return { ...parseKeyBytes(content, source), source };
  } finally {
    content.fill(0);
  }
}

function parseKeyBytes(content: Buffer, source: string): Omit<EncryptionKey, 'source'> {
  const text = content.toString('latin1');
  // 32 hex digits would be a 128-bit key written as text, not 32 random bytes: refuse rather than guess.
  if (content.length === KEY_BYTES && !/^[0-9a-fA-F]+$/.test(text)) return secretKey(content);
  const trimmed = text.replace(/\r?\n$/, '');
  if (HEX_KEY.test(trimmed)) return secretKey(Buffer.from(trimmed, 'hex'));
  const hexOnly = /^[0-9a-fA-F]+$/.test(trimmed);
  throw new ConfigError(
    `${source}: expected a 256-bit key, as 32 raw bytes or 64 hexadecimal characters; found ${
      hexOnly ? `${trimmed.length} hexadecimal characters (${(trimmed.length * 4).toString()} bits)` : `${content.length} bytes that are not hexadecimal`
    }; make one with 'head -c 32 /dev/urandom > FILE' or 'openssl rand -hex 32 > FILE'`,
  );
}

/** The key given as text (backup_encryption_key, usually from the environment): 64 hex characters. */
function fromText(text: string): EncryptionKey {
  const source = `backup_encryption_key (${ENV_KEY})`;
  const trimmed = text.trim();
  if (!HEX_KEY.test(trimmed)) {
    const hexOnly = /^[0-9a-fA-F]+$/.test(trimmed);
    throw new ConfigError(
      `${source}: expected 64 hexadecimal characters (a 256-bit key); found ${trimmed.length} ${hexOnly ? 'hexadecimal characters' : 'characters, not all hexadecimal'}; make one with 'openssl rand -hex 32'`,
    );
  }
  return { ...secretKey(Buffer.from(trimmed, 'hex')), source };
}

function secretKey(bytes: Buffer): Omit<EncryptionKey, 'source'> {
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return { key, id: keyIdOf(key) };
}

/** `a, b` → ['a', 'b']: the old keys are a comma-separated list of files. */
function splitPaths(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}
