import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { extract } from 'tar-stream';

export interface ArchivedFile {
  sha256: string;
  size: number;
  type: string;
  dataDirIndex: number;
}

/** Reads a stored archive independently of the agent's own code: name → digest. */
export async function readArchive(file: string): Promise<Map<string, ArchivedFile>> {
  const files = new Map<string, ArchivedFile>();
  const parser = extract();
  const reading = (async () => {
    for await (const entry of parser) {
      const hash = createHash('sha256');
      for await (const chunk of entry) hash.update(chunk as Buffer);
      const pax = (entry.header.pax ?? {}) as Record<string, string>;
      files.set(entry.header.name, {
        sha256: hash.digest('hex'),
        size: entry.header.size ?? 0,
        type: entry.header.type ?? 'file',
        dataDirIndex: Number(pax['CASSANDRA.data_dir_index'] ?? 0),
      });
    }
  })();
  const stages: NodeJS.ReadWriteStream[] = file.endsWith('.gz') ? [zlib.createGunzip()] : [];
  await Promise.all([pipeline([createReadStream(file), ...stages, parser as unknown as NodeJS.WritableStream]), reading]);
  return files;
}
