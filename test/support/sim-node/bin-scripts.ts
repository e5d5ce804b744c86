import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { ENTRY_POINTS, ROOT_ENV, type NodeLayout } from './layout.js';

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function wrapper(layout: NodeLayout, entry: string, what: string): string {
  return `#!/bin/sh
# ${what} of the simulated Cassandra 4.0 node at ${layout.root}
${ROOT_ENV}=${shellQuote(layout.root)} exec ${shellQuote(process.execPath)} ${shellQuote(entry)} "$@"
`;
}

/** bin/nodetool and bin/cassandra-service: executables the agent runs like the real ones. */
export async function writeBinScripts(layout: NodeLayout): Promise<void> {
  await mkdir(layout.binDir, { recursive: true });
  await writeFile(layout.nodetoolBin, wrapper(layout, ENTRY_POINTS.nodetool, 'nodetool'));
  await writeFile(layout.serviceBin, wrapper(layout, ENTRY_POINTS.service, 'Service control (start|stop|status)'));
  await chmod(layout.nodetoolBin, 0o755);
  await chmod(layout.serviceBin, 0o755);
}
