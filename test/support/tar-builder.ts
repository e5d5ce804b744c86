import { Readable } from 'node:stream';
import { pack, type Header } from 'tar-stream';

export type TestEntry = Partial<Header> & { name: string; body?: string };

/** A TAR stream with exactly the given entries, hostile ones included. */
export function tarOf(entries: TestEntry[]): Readable {
  const archive = pack();
  for (const { body, ...header } of entries) {
    if (header.type === undefined || header.type === 'file') archive.entry({ ...header, size: Buffer.byteLength(body ?? '') }, body ?? '');
    else archive.entry(header);
  }
  archive.finalize();
  return archive as unknown as Readable;
}
