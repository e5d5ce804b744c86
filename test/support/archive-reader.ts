import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { execa } from 'execa';
import { extract } from 'tar-stream';

export interface ArchivedFile {
  sha256: string;
  size: number;
  type: string;
  dataDirIndex: number;
}

/** The command-line tool that decompresses an archive with this suffix. */
const DECOMPRESSING_TOOLS: [string, string][] = [
  ['.zst', 'zstd'],
  ['.lz4', 'lz4'],
  ['.lzo', 'lzop'],
];

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
  const tool = DECOMPRESSING_TOOLS.find(([suffix]) => file.endsWith(suffix))?.[1];
  if (tool) {
    const decompressing = execa(tool, ['-d', '-c', '-q', file], { buffer: false, encoding: 'buffer', timeout: 300_000 });
    await Promise.all([pipeline(decompressing.stdout, parser as unknown as NodeJS.WritableStream), decompressing, reading]);
    return files;
  }
  const stages: NodeJS.ReadWriteStream[] = file.endsWith('.gz') ? [zlib.createGunzip()] : [];
  await Promise.all([pipeline([createReadStream(file), ...stages, parser as unknown as NodeJS.WritableStream]), reading]);
  return files;
}
