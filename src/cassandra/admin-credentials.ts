import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, errorMessage } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';

export interface AdminCredentials {
  username: string;
  password: string;
}

/** bcrypt reads 72 bytes of a password; a longer one would be silently cut. */
const MAX_PASSWORD_BYTES = 72;

/**
 * The agent's own superuser credentials, in a file only root can read. Made
 * once (from prepare's root_password, or 32 random characters) and kept: the
 * file is the only place the password exists, it is never logged or reported.
 */
export async function loadOrCreateAdminCredentials(file: string, username: string, requestedPassword: string | null): Promise<AdminCredentials> {
  const existing = await readAdminCredentials(file);
  if (existing && (requestedPassword === null || requestedPassword === existing.password)) return existing;
  const password = requestedPassword ?? randomBytes(24).toString('base64url');
  checkPasswordLength(password);
  const credentials = { username, password };
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${JSON.stringify(credentials)}\n`, 0o600);
  return credentials;
}

/**
 * What loadOrCreateAdminCredentials will need, checked before a restore
 * touches the node: the file, when it exists, is a regular file of mode 0600
 * holding credentials; a requested password fits bcrypt.
 */
export async function checkAdminCredentials(file: string, requestedPassword: string | null): Promise<void> {
  await readAdminCredentials(file);
  if (requestedPassword !== null) checkPasswordLength(requestedPassword);
}

function checkPasswordLength(password: string): void {
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw new ConfigError(`the superuser password is longer than ${MAX_PASSWORD_BYTES} bytes, which bcrypt would cut`);
}

export async function readAdminCredentials(file: string): Promise<AdminCredentials | undefined> {
  let text: string;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new ConfigError(`${file} (admin_credentials_file) is not a regular file; remove it, or point admin_credentials_file at a file`);
    if ((info.mode & 0o077) !== 0) throw new ConfigError(`${file} (admin_credentials_file) is readable by others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read ${file} (admin_credentials_file): ${errorMessage(err)}`, { cause: err });
  }
  try {
    const parsed = JSON.parse(text) as Partial<AdminCredentials>;
    if (typeof parsed.username === 'string' && typeof parsed.password === 'string' && parsed.password !== '') return { username: parsed.username, password: parsed.password };
  } catch {
    // reported below without the content, which holds a password
  }
  throw new ConfigError(`${file} (admin_credentials_file) is not {"username": ..., "password": ...}; remove it to have a new password made at the next restore`);
}
