import { ProtocolError } from './errors.js';

/**
 * Frames of the native protocol, versions 3 and 4 (native_protocol_v4.spec section 2): a 9-byte
 * header (version with the direction bit, flags, signed 16-bit stream, opcode, body length) and
 * the body. Protocol v5's segment framing is not implemented.
 */
export const Opcode = {
  ERROR: 0x00,
  STARTUP: 0x01,
  READY: 0x02,
  AUTHENTICATE: 0x03,
  CREDENTIALS: 0x04,
  OPTIONS: 0x05,
  SUPPORTED: 0x06,
  QUERY: 0x07,
  RESULT: 0x08,
  PREPARE: 0x09,
  EXECUTE: 0x0a,
  REGISTER: 0x0b,
  EVENT: 0x0c,
  BATCH: 0x0d,
  AUTH_CHALLENGE: 0x0e,
  AUTH_RESPONSE: 0x0f,
  AUTH_SUCCESS: 0x10,
} as const;

const NAMES = new Map<number, string>(Object.entries(Opcode).map(([name, code]) => [code, name]));
const REQUESTS = new Set<number>([Opcode.STARTUP, Opcode.CREDENTIALS, Opcode.OPTIONS, Opcode.QUERY, Opcode.PREPARE, Opcode.EXECUTE, Opcode.REGISTER, Opcode.BATCH, Opcode.AUTH_RESPONSE]);

export function opcodeName(opcode: number): string {
  return NAMES.get(opcode) ?? `0x${opcode.toString(16)}`;
}

export const FrameFlag = { COMPRESSION: 0x01, TRACING: 0x02, CUSTOM_PAYLOAD: 0x04, WARNING: 0x08, USE_BETA: 0x10 } as const;

/** Versions this server speaks; ProtocolVersion.SUPPORTED of Cassandra 4.0 also has 5 and 6-beta. */
export const SERVED_VERSIONS = [3, 4] as const;
/** ProtocolVersion.supportedVersions() of Cassandra 4.0, as its error messages list them. */
export const CASSANDRA_VERSIONS_TEXT = '3/v3, 4/v4, 5/v5, 6/v6-beta';
/** ProtocolVersion.UNSUPPORTED: answered in their own version; anything else in the highest one (6, beta). */
const OLD_VERSIONS = [1, 2];
const MAX_VERSION = 6;

/** native_transport_max_frame_size_in_mb: 16 in 4.0. */
export const MAX_FRAME_BODY = 16 * 1024 * 1024;
const HEADER_LENGTH = 9;

export interface Frame {
  version: number;
  flags: number;
  stream: number;
  opcode: number;
  body: Buffer;
}

export function encodeFrame(version: number, stream: number, opcode: number, body: Buffer, flags = 0): Buffer {
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt8(0x80 | version, 0);
  header.writeUInt8(flags, 1);
  header.writeInt16BE(stream, 2);
  header.writeUInt8(opcode, 4);
  header.writeUInt32BE(body.length, 5);
  return Buffer.concat([header, body]);
}

/** A request frame as a client writes it (used by tests that speak the protocol by hand). */
export function encodeRequest(version: number, stream: number, opcode: number, body: Buffer): Buffer {
  const frame = encodeFrame(version, stream, opcode, body);
  frame.writeUInt8(version, 0);
  return frame;
}

/** A frame-level problem, with the stream the answer goes to. */
export class FrameError extends Error {
  constructor(
    readonly error: ProtocolError,
    readonly stream: number,
  ) {
    super(error.message);
  }
}

export function invalidVersionMessage(version: number): string {
  return `Invalid or unsupported protocol version (${version}); supported versions are (${CASSANDRA_VERSIONS_TEXT})`;
}

/**
 * Cuts the byte stream of one connection into frames. Checks what Envelope.Decoder checks in the
 * header: the version (the first frame fixes it for the connection), the direction and the opcode.
 */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0);
  private version: number | undefined;

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
  }

  /** The next complete frame, or undefined until more bytes arrive; throws FrameError. */
  next(): Frame | undefined {
    if (this.buffer.length < HEADER_LENGTH) return undefined;
    const first = this.buffer.readUInt8(0);
    const stream = this.buffer.readInt16BE(2);
    const version = first & 0x7f;
    if (!(SERVED_VERSIONS as readonly number[]).includes(version)) {
      const answerIn = OLD_VERSIONS.includes(version) ? version : MAX_VERSION;
      throw new FrameError(new ProtocolError(invalidVersionMessage(version), true, answerIn), stream);
    }
    if (this.version !== undefined && version !== this.version) {
      throw new FrameError(new ProtocolError(`Invalid message version. Got ${version} but previous messages on this connection had version ${this.version}`, true), stream);
    }
    const opcode = this.buffer.readUInt8(4);
    const length = this.buffer.readUInt32BE(5);
    if (length > MAX_FRAME_BODY) {
      throw new FrameError(new ProtocolError(`Request is too big: length ${length} exceeds maximum allowed length ${MAX_FRAME_BODY}.`, true), stream);
    }
    if (this.buffer.length < HEADER_LENGTH + length) return undefined;
    const body = Buffer.from(this.buffer.subarray(HEADER_LENGTH, HEADER_LENGTH + length));
    const flags = this.buffer.readUInt8(1);
    this.buffer = this.buffer.subarray(HEADER_LENGTH + length);
    this.version = version;
    if ((first & 0x80) !== 0) {
      throw new FrameError(new ProtocolError(`Wrong protocol direction (expected REQUEST, got RESPONSE) for opcode ${opcode} (${opcodeName(opcode)})`), stream);
    }
    if (!NAMES.has(opcode)) throw new FrameError(new ProtocolError(`Unknown opcode ${opcode}`), stream);
    if (!REQUESTS.has(opcode)) {
      throw new FrameError(new ProtocolError(`Wrong protocol direction (expected RESPONSE, got REQUEST) for opcode ${opcode} (${opcodeName(opcode)})`), stream);
    }
    if ((flags & FrameFlag.COMPRESSION) !== 0) {
      throw new FrameError(new ProtocolError('Received a compressed frame but no compression was negotiated in STARTUP', true), stream);
    }
    return { version, flags, stream, opcode, body };
  }
}
