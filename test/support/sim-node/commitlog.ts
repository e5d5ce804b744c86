import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoredRow } from './sstable-payload.js';

/**
 * The commit log directory: `CommitLog-7-<id>.log` segments, 32 MiB each, preallocated sparse, one
 * active plus one spare while the node runs. The simulator's encoding: a header line, then one JSON
 * line per mutation; the rest of the segment is zeros. The invariant it keeps is the one that
 * matters to whoever copies or replays the directory: the segments hold exactly the mutations not
 * yet flushed to SSTables.
 */
export interface CommitLogRecord {
  /** Table id with dashes; replay skips records of tables the schema does not know. */
  tableId: string;
  bytes: number;
  rows?: StoredRow[];
}

const SEGMENT_SIZE = 32 * 1024 * 1024;
const HEADER = 'SIMCOMMITLOG1';
/** Commit log descriptor version 7 is what Cassandra 4.0 writes into segment names. */
const SEGMENT_NAME = /^CommitLog-7-(\d+)\.log$/;

function segmentName(id: number): string {
  return `CommitLog-7-${id}.log`;
}

async function listSegments(dir: string): Promise<Array<{ id: number; path: string }>> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names
    .map((name) => ({ name, match: SEGMENT_NAME.exec(name) }))
    .filter((x): x is { name: string; match: RegExpExecArray } => x.match !== null)
    .map((x) => ({ id: Number(x.match[1]), path: join(dir, x.name) }))
    .sort((a, b) => a.id - b.id);
}

/** The mutations of one segment (a foreign segment written by this simulator reads the same way). */
export async function readSegment(path: string): Promise<CommitLogRecord[]> {
  const handle = await open(path, 'r');
  const parts: Buffer[] = [];
  try {
    const chunk = Buffer.alloc(64 * 1024);
    let position = 0;
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      const zero = chunk.subarray(0, bytesRead).indexOf(0);
      parts.push(Buffer.from(chunk.subarray(0, zero === -1 ? bytesRead : zero)));
      if (zero !== -1) break;
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
  const lines = Buffer.concat(parts).toString('utf8').split('\n');
  if (!lines[0]?.startsWith(HEADER)) return [];
  const records: CommitLogRecord[] = [];
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line) as CommitLogRecord);
    } catch {
      // A torn last line (the process died mid-write) is skipped, as Cassandra skips a truncated tail.
      break;
    }
  }
  return records;
}

class Segment {
  constructor(
    readonly id: number,
    readonly path: string,
    private readonly handle: FileHandle,
    private position: number,
  ) {}

  static async create(dir: string, id: number): Promise<Segment> {
    const path = join(dir, segmentName(id));
    const handle = await open(path, 'wx', 0o644);
    await handle.truncate(SEGMENT_SIZE);
    const header = Buffer.from(`${HEADER} ${id}\n`);
    await handle.write(header, 0, header.length, 0);
    return new Segment(id, path, handle, header.length);
  }

  async append(record: CommitLogRecord): Promise<boolean> {
    const line = Buffer.from(`${JSON.stringify(record)}\n`);
    if (this.position + line.length >= SEGMENT_SIZE) return false;
    await this.handle.write(line, 0, line.length, this.position);
    this.position += line.length;
    return true;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

export class CommitLog {
  private segments: Segment[] = [];
  private nextId: number;
  private closed = false;

  private constructor(
    private readonly dir: string,
    firstId: number,
  ) {
    this.nextId = firstId;
  }

  /**
   * Starts the log as CommitLog.start() does: a fresh active segment and a spare, with ids above any
   * existing segment. Returns the segments that were already there (to be replayed).
   */
  static async start(dir: string, nowMillis: number): Promise<{ log: CommitLog; existing: Array<{ id: number; path: string }> }> {
    await mkdir(dir, { recursive: true });
    const existing = await listSegments(dir);
    const firstId = Math.max(nowMillis, (existing.at(-1)?.id ?? 0) + 1);
    const log = new CommitLog(dir, firstId);
    await log.allocate();
    await log.allocate();
    return { log, existing };
  }

  private async allocate(): Promise<Segment> {
    const segment = await Segment.create(this.dir, this.nextId++);
    this.segments.push(segment);
    return segment;
  }

  async append(record: CommitLogRecord): Promise<void> {
    if (this.closed) throw new Error(`commit log ${this.dir} is shut down`);
    for (;;) {
      const active = this.segments[0] ?? (await this.allocate());
      if (await active.append(record)) return;
      // Segment full: switch to the spare and preallocate a new spare.
      this.segments.shift();
      await active.close();
      if (this.segments.length < 2) await this.allocate();
    }
  }

  /**
   * After a flush: drop every segment and re-log what is still unflushed in a new active segment,
   * so replay never applies a flushed mutation twice. Keeps one spare.
   */
  async rewrite(pending: CommitLogRecord[]): Promise<void> {
    if (this.closed) return;
    const old = this.segments;
    this.segments = [];
    await this.allocate();
    for (const record of pending) await this.append(record);
    await this.allocate();
    for (const segment of old) {
      await segment.close();
      await rm(segment.path, { force: true });
    }
  }

  /** Drain/shutdown: everything is flushed; one empty segment stays behind, as on the captured node. */
  async shutdown(pending: CommitLogRecord[]): Promise<void> {
    if (this.closed) return;
    await this.rewrite(pending);
    this.closed = true;
    const spare = this.segments.pop();
    if (spare && pending.length === 0) {
      await spare.close();
      await rm(spare.path, { force: true });
    } else if (spare) {
      this.segments.push(spare);
    }
    for (const segment of this.segments) await segment.close();
    this.segments = [];
  }
}

/** Removes segments that were replayed (Cassandra deletes them once their mutations are flushed). */
export async function deleteSegments(paths: string[]): Promise<void> {
  for (const path of paths) await rm(path, { force: true });
}
