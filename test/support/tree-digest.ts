import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

/** Every regular file below `root` (relative path → SHA-256), skipping the named directories. */
export async function digestTree(root: string, skipDirectories: string[] = []): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  const walk = async (relative: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(path.join(root, relative), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const entry of entries) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!skipDirectories.includes(entry.name)) await walk(child);
      } else if (entry.isFile()) {
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(path.join(root, child))) hash.update(chunk as Buffer);
        result.set(child, hash.digest('hex'));
      }
    }
  };
  await walk('');
  return result;
}
