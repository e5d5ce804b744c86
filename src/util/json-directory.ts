import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { AgentError, errorMessage } from '../errors.js';

/**
 * Every `*.json` file of `dir`, in name order, read by `read`: a missing
 * directory is no files, and a file that cannot be read is passed over
 * (told to `onSkipped`), so that one damaged file never hides the others.
 * `what` names the store in the error when the directory cannot be listed.
 */
export async function readJsonFiles<T>(dir: string, what: string, read: (file: string) => Promise<T | undefined>, onSkipped: (reason: string) => void): Promise<T[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new AgentError(`${what}: cannot list ${dir}: ${errorMessage(err)}`, { cause: err });
  }
  const found: T[] = [];
  for (const name of names.sort()) {
    if (name.startsWith('.') || !name.endsWith('.json')) continue;
    try {
      const value = await read(path.join(dir, name));
      if (value !== undefined) found.push(value);
    } catch (err) {
      onSkipped(errorMessage(err));
    }
  }
  return found;
}
