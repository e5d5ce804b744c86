import { connect, type Socket } from 'node:net';
import { encodeRequest, Opcode } from './frames.js';
import { BodyReader, BodyWriter } from './wire.js';

/**
 * A client that speaks native-protocol frames by hand, for tests that look at what the driver
 * hides: header versions and flags, body lengths, stream ids, malformed input. Its own reading of
 * answers is deliberately separate from the server's frame reader.
 */
export interface ResponseFrame {
  /** The first header byte, direction bit included (0x84 for a v4 response). */
  versionByte: number;
  flags: number;
  stream: number;
  opcode: number;
  body: Buffer;
}

export class RawCqlConnection {
  private buffer = Buffer.alloc(0);
  private readonly waiting: Array<() => void> = [];
  private ended = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static open(host: string, port: number): Promise<RawCqlConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port }, () => {
        socket.off('error', reject);
        resolve(new RawCqlConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiting.splice(0)) w();
  }

  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  send(version: number, stream: number, opcode: number, body: Buffer = Buffer.alloc(0)): void {
    this.writeRaw(encodeRequest(version, stream, opcode, body));
  }

  /** The next response frame; rejects when the server closes first or nothing comes in time. */
  async next(timeoutMs = 5000): Promise<ResponseFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buffer.length >= 9) {
        const length = this.buffer.readUInt32BE(5);
        if (this.buffer.length >= 9 + length) {
          const frame: ResponseFrame = {
            versionByte: this.buffer.readUInt8(0),
            flags: this.buffer.readUInt8(1),
            stream: this.buffer.readInt16BE(2),
            opcode: this.buffer.readUInt8(4),
            body: Buffer.from(this.buffer.subarray(9, 9 + length)),
          };
          this.buffer = this.buffer.subarray(9 + length);
          return frame;
        }
      }
      if (this.ended) throw new Error('the server closed the connection');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no answer within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async request(version: number, stream: number, opcode: number, body: Buffer = Buffer.alloc(0)): Promise<ResponseFrame> {
    this.send(version, stream, opcode, body);
    return this.next();
  }

  /** Resolves once the server has closed the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error(`connection still open after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

export function startupBody(options: Record<string, string> = { CQL_VERSION: '3.0.0' }): Buffer {
  return new BodyWriter().stringMap(Object.entries(options)).build();
}

/** QUERY body: the query, consistency ONE, no values. */
export function queryBody(query: string): Buffer {
  return new BodyWriter().longString(query).short(0x0001).byte(0).build();
}

export function executeBody(id: Buffer, values: Buffer[]): Buffer {
  const out = new BodyWriter().shortBytes(id).short(0x0001).byte(0x01).short(values.length);
  for (const v of values) out.bytes(v);
  return out.build();
}

export function errorOf(frame: ResponseFrame): { code: number; message: string } {
  const reader = new BodyReader(frame.body);
  return { code: reader.int(), message: reader.string() };
}

export interface RawRows {
  columns: Array<{ name: string; type: number }>;
  rows: Array<Array<Buffer | null>>;
}

function skipOption(reader: BodyReader): number {
  const id = reader.short();
  if (id === 0x0000) reader.string();
  if (id === 0x0020 || id === 0x0022) skipOption(reader);
  if (id === 0x0021) {
    skipOption(reader);
    skipOption(reader);
  }
  return id;
}

/** A RESULT Rows body with a global table spec (what every served table answers). */
export function rowsOf(frame: ResponseFrame): RawRows {
  const reader = new BodyReader(frame.body);
  const kind = reader.int();
  if (kind !== 2) throw new Error(`RESULT kind ${kind}, not Rows`);
  const flags = reader.int();
  const count = reader.int();
  if (flags & 0x0001) {
    // The global table spec: keyspace and table.
    reader.string();
    reader.string();
  }
  const columns: RawRows['columns'] = [];
  if (!(flags & 0x0004)) for (let i = 0; i < count; i += 1) columns.push({ name: reader.string(), type: skipOption(reader) });
  const rows: RawRows['rows'] = [];
  const rowCount = reader.int();
  for (let r = 0; r < rowCount; r += 1) rows.push(Array.from({ length: count }, () => reader.bytes()));
  return { columns, rows };
}

/** One login at protocol v4 (STARTUP, AUTH_RESPONSE) as the captured probes made them (rawauth.js). */
export async function rawLogin(host: string, port: number, username: string, password: string): Promise<{ ok: true } | { ok: false; code: number; message: string }> {
  const connection = await RawCqlConnection.open(host, port);
  try {
    const first = await connection.request(4, 0, Opcode.STARTUP, startupBody());
    if (first.opcode !== Opcode.AUTHENTICATE) throw new Error(`expected AUTHENTICATE, got opcode ${first.opcode}`);
    const token = Buffer.concat([Buffer.from([0]), Buffer.from(username), Buffer.from([0]), Buffer.from(password)]);
    const answer = await connection.request(4, 1, Opcode.AUTH_RESPONSE, new BodyWriter().bytes(token).build());
    if (answer.opcode === Opcode.AUTH_SUCCESS) return { ok: true };
    return { ok: false, ...errorOf(answer) };
  } finally {
    connection.close();
  }
}
