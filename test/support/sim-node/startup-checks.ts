import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import type { SystemLog } from './system-log.js';

/** A fatal start-up problem: the daemon logs it and exits with `exitCode` (StartupException codes). */
export class StartupFailure extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** StartupException.ERR_WRONG_DISK_STATE */
export const ERR_WRONG_DISK_STATE = 3;
/** StartupException.ERR_WRONG_CONFIG, also JVMStabilityInspector's kill code */
export const ERR_WRONG_CONFIG = 100;

const runningAsRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * FileAction.hasPrivilege as used by Directories.verifyFullPermissions. access(2) answers for the
 * daemon's user; root passes access(2) for everything, so for root a missing permission bit also
 * counts as missing (tests run as root and still need read-only directories to be refused).
 */
async function hasPrivilege(dir: string, mode: number, bits: number): Promise<boolean> {
  try {
    await access(dir, mode);
  } catch {
    return false;
  }
  if (!runningAsRoot) return true;
  return ((await stat(dir)).mode & bits) !== 0;
}

export async function isWritableDirectory(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory() && (await hasPrivilege(dir, constants.W_OK, 0o222));
  } catch {
    return false;
  }
}

/** Directories.verifyFullPermissions: logs why and returns false when Cassandra cannot use the directory. */
async function verifyFullPermissions(dir: string, log: SystemLog): Promise<boolean> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    log.error('Directories.java:110', `Not a directory ${dir}`);
    return false;
  }
  if (!(await hasPrivilege(dir, constants.X_OK, 0o111))) {
    log.error('Directories.java:115', `Doesn't have execute permissions for ${dir} directory`);
    return false;
  }
  if (!(await hasPrivilege(dir, constants.R_OK, 0o444))) {
    log.error('Directories.java:120', `Doesn't have read permissions for ${dir} directory`);
    return false;
  }
  if (!(await hasPrivilege(dir, constants.W_OK, 0o222))) {
    log.error('Directories.java:124', `Doesn't have write permissions for ${dir} directory`);
    return false;
  }
  return true;
}

/**
 * StartupChecks.checkDataDirs (4.0): every data directory, the commit log, saved caches and hints
 * directories must exist (missing ones are created) and be fully accessible; otherwise exit 3.
 */
export async function checkDataDirs(dirs: string[], log: SystemLog): Promise<void> {
  for (const dir of dirs) {
    const exists = await stat(dir).then(() => true, () => false);
    if (!exists) {
      log.warn('StartupChecks.java:361', `Directory ${dir} doesn't exist`);
      try {
        await mkdir(dir, { recursive: true });
      } catch {
        log.error('CassandraDaemon.java:909', `Has no permission to create directory ${dir}`);
        throw new StartupFailure(ERR_WRONG_DISK_STATE, `Has no permission to create directory ${dir}`);
      }
    }
    if (!(await verifyFullPermissions(dir, log))) {
      log.error('CassandraDaemon.java:909', `Insufficient permissions on directory ${dir}`);
      throw new StartupFailure(ERR_WRONG_DISK_STATE, `Insufficient permissions on directory ${dir}`);
    }
  }
}
