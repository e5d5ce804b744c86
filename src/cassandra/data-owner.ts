import { stat } from 'node:fs/promises';
import { execa } from 'execa';
import { ConfigError } from '../errors.js';

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Who must own restored files: `data_owner` when set (`user[:group]`, names
 * or numbers), else the owner of the existing data directory, else nobody in
 * particular (undefined: files keep the agent's own user).
 */
export async function resolveDataOwner(configured: string, dataDir: string): Promise<Owner | undefined> {
  if (configured) {
    const [user = '', group] = configured.split(':');
    const uid = await lookUp(['-u', user], user);
    const gid = group ? await lookUpGroup(group) : await lookUp(['-g', user], user);
    return { uid, gid };
  }
  try {
    const info = await stat(dataDir);
    return { uid: info.uid, gid: info.gid };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function lookUp(args: string[], name: string): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name);
  const result = await execa('id', args, { reject: false, timeout: 10_000 });
  if (result.exitCode !== 0) throw new ConfigError(`data_owner: no user '${name}' on this host`);
  return Number(result.stdout.trim());
}

async function lookUpGroup(name: string): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name);
  const result = await execa('getent', ['group', name], { reject: false, timeout: 10_000 });
  const gid = Number(result.stdout.split(':')[2]);
  if (result.exitCode !== 0 || !Number.isInteger(gid)) throw new ConfigError(`data_owner: no group '${name}' on this host`);
  return gid;
}
