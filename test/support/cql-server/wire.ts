import { ProtocolError } from './errors.js';

/**
 * The primitive notations of the native protocol (native_protocol_v4.spec, section 3): [int],
 * [short], [string], [long string], [bytes], [short bytes], [string list], [string map],
 * [string multimap], [value]. Reading past the end of a body is the client's protocol violation.
 */
export class BodyReader {
  private offset = 0;

  constructor(private readonly buffer: Buffer) {}

  get remaining(): number {
    return this.buffer.length - this.offset;
  }

  private take(length: number, what: string): Buffer {
    if (length < 0 || this.offset + length > this.buffer.length) {
      throw new ProtocolError(`Not enough bytes to read ${what}: need ${length}, ${this.remaining} left`);
    }
    const slice = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }

  byte(): number {
    return this.take(1, 'a byte').readUInt8(0);
  }

  short(): number {
    return this.take(2, 'a [short]').readUInt16BE(0);
  }

  int(): number {
    return this.take(4, 'an [int]').readInt32BE(0);
  }

  long(): bigint {
    return this.take(8, 'a [long]').readBigInt64BE(0);
  }

  string(): string {
    return this.take(this.short(), 'a [string]').toString('utf8');
  }

  longString(): string {
    return this.take(this.int(), 'a [long string]').toString('utf8');
  }

  /** [bytes]: null when the length is negative. */
  bytes(): Buffer | null {
    const length = this.int();
    return length < 0 ? null : Buffer.from(this.take(length, '[bytes]'));
  }

  shortBytes(): Buffer {
    return Buffer.from(this.take(this.short(), '[short bytes]'));
  }

  /** [value]: bytes, null (-1) or "not set" (-2, protocol v4). */
  value(): Buffer | null | 'unset' {
    const length = this.int();
    if (length === -1) return null;
    if (length === -2) return 'unset';
    if (length < 0) throw new ProtocolError(`Invalid [value] length ${length}`);
    return Buffer.from(this.take(length, 'a [value]'));
  }

  stringList(): string[] {
    const count = this.short();
    return Array.from({ length: count }, () => this.string());
  }

  stringMap(): Map<string, string> {
    const count = this.short();
    const map = new Map<string, string>();
    for (let i = 0; i < count; i += 1) map.set(this.string(), this.string());
    return map;
  }

  bytesMap(): Map<string, Buffer | null> {
    const count = this.short();
    const map = new Map<string, Buffer | null>();
    for (let i = 0; i < count; i += 1) map.set(this.string(), this.bytes());
    return map;
  }
}

/** Builds a body from the same notations. */
export class BodyWriter {
  private readonly parts: Buffer[] = [];

  private push(buffer: Buffer): this {
    this.parts.push(buffer);
    return this;
  }

  byte(value: number): this {
    const b = Buffer.alloc(1);
    b.writeUInt8(value, 0);
    return this.push(b);
  }

  short(value: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(value, 0);
    return this.push(b);
  }

  int(value: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(value, 0);
    return this.push(b);
  }

  string(value: string): this {
    const bytes = Buffer.from(value, 'utf8');
    return this.short(bytes.length).push(bytes);
  }

  longString(value: string): this {
    const bytes = Buffer.from(value, 'utf8');
    return this.int(bytes.length).push(bytes);
  }

  bytes(value: Buffer | null): this {
    if (value === null) return this.int(-1);
    return this.int(value.length).push(value);
  }

  shortBytes(value: Buffer): this {
    return this.short(value.length).push(value);
  }

  stringList(values: readonly string[]): this {
    this.short(values.length);
    for (const v of values) this.string(v);
    return this;
  }

  stringMap(entries: ReadonlyArray<readonly [string, string]>): this {
    this.short(entries.length);
    for (const [k, v] of entries) this.string(k).string(v);
    return this;
  }

  stringMultimap(entries: ReadonlyArray<readonly [string, readonly string[]]>): this {
    this.short(entries.length);
    for (const [k, v] of entries) this.string(k).stringList(v);
    return this;
  }

  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}
