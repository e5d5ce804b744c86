import { isIPv4, isIPv6 } from 'node:net';
import { invalidRequest } from './errors.js';
import { BodyWriter } from './wire.js';

/**
 * The CQL types the served tables use, their [option] encoding in result metadata
 * (native_protocol_v4.spec 4.2.5.2) and the serialisation of values (section 6).
 */
export type CqlType =
  | { kind: 'native'; name: NativeType }
  | { kind: 'set'; element: CqlType }
  | { kind: 'list'; element: CqlType }
  | { kind: 'map'; key: CqlType; value: CqlType };

type NativeType = 'ascii' | 'bigint' | 'blob' | 'boolean' | 'double' | 'int' | 'timestamp' | 'uuid' | 'text' | 'timeuuid' | 'inet';

const OPTION_IDS: Record<NativeType, number> = {
  ascii: 0x0001,
  bigint: 0x0002,
  blob: 0x0003,
  boolean: 0x0004,
  double: 0x0007,
  int: 0x0009,
  timestamp: 0x000b,
  uuid: 0x000c,
  // varchar and text are the same type; the protocol calls it Varchar.
  text: 0x000d,
  timeuuid: 0x000f,
  inet: 0x0010,
};

/** `text`, `varchar`, `set<text>`, `map<uuid, blob>`, `frozen<...>` (frozenness does not change the encoding). */
export function parseType(spec: string): CqlType {
  const s = spec.replace(/\s+/g, '').toLowerCase();
  const inner = (prefix: string): string | undefined => (s.startsWith(`${prefix}<`) && s.endsWith('>') ? s.slice(prefix.length + 1, -1) : undefined);
  const frozen = inner('frozen');
  if (frozen !== undefined) return parseType(frozen);
  for (const kind of ['set', 'list'] as const) {
    const element = inner(kind);
    if (element !== undefined) return { kind, element: parseType(element) };
  }
  const map = inner('map');
  if (map !== undefined) {
    let depth = 0;
    for (let i = 0; i < map.length; i += 1) {
      const c = map[i];
      if (c === '<') depth += 1;
      else if (c === '>') depth -= 1;
      else if (c === ',' && depth === 0) return { kind: 'map', key: parseType(map.slice(0, i)), value: parseType(map.slice(i + 1)) };
    }
  }
  const name = s === 'varchar' ? 'text' : s;
  if (name in OPTION_IDS) return { kind: 'native', name: name as NativeType };
  throw new Error(`cql-server: type ${spec} is not modelled`);
}

/** The type as CQL prints it in error messages. */
export function typeName(type: CqlType): string {
  if (type.kind === 'native') return type.name;
  if (type.kind === 'map') return `map<${typeName(type.key)}, ${typeName(type.value)}>`;
  return `${type.kind}<${typeName(type.element)}>`;
}

export function writeTypeOption(out: BodyWriter, type: CqlType): void {
  if (type.kind === 'native') {
    out.short(OPTION_IDS[type.name]);
  } else if (type.kind === 'map') {
    out.short(0x0021);
    writeTypeOption(out, type.key);
    writeTypeOption(out, type.value);
  } else {
    out.short(type.kind === 'list' ? 0x0020 : 0x0022);
    writeTypeOption(out, type.element);
  }
}

function uuidBytes(value: string): Buffer {
  const hex = value.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`cql-server: ${value} is not a UUID`);
  return Buffer.from(hex, 'hex');
}

function uuidString(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function inetBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (!isIPv6(address)) throw new Error(`cql-server: ${address} is not an IP address`);
  const [head = '', tail = ''] = address.split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const h = groups(head);
  const t = address.includes('::') ? groups(tail) : [];
  const all = address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function inetString(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

function collectionBytes(items: Buffer[]): Buffer {
  const out = new BodyWriter().int(items.length);
  for (const item of items) out.bytes(item);
  return out.build();
}

/** Serialises a value of the type; null and undefined are the null value. */
export function serialize(type: CqlType, value: unknown): Buffer | null {
  if (value === null || value === undefined) return null;
  if (type.kind === 'set' || type.kind === 'list') {
    return collectionBytes((value as unknown[]).map((v) => serialize(type.element, v) ?? Buffer.alloc(0)));
  }
  if (type.kind === 'map') {
    const entries = value instanceof Map ? [...(value as Map<unknown, unknown>).entries()] : Object.entries(value as Record<string, unknown>);
    const out = new BodyWriter().int(entries.length);
    for (const [k, v] of entries) out.bytes(serialize(type.key, k)).bytes(serialize(type.value, v));
    return out.build();
  }
  switch (type.name) {
    case 'text':
    case 'ascii':
      return Buffer.from(String(value), 'utf8');
    case 'int': {
      const b = Buffer.alloc(4);
      b.writeInt32BE(Number(value), 0);
      return b;
    }
    case 'bigint':
    case 'timestamp': {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(value instanceof Date ? BigInt(value.getTime()) : BigInt(value as number | bigint), 0);
      return b;
    }
    case 'double': {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(Number(value), 0);
      return b;
    }
    case 'boolean':
      return Buffer.from([value ? 1 : 0]);
    case 'uuid':
    case 'timeuuid':
      return uuidBytes(String(value));
    case 'inet':
      return inetBytes(String(value));
    case 'blob':
      return Buffer.from(value as Buffer);
  }
}

function expectLength(bytes: Buffer, lengths: number[], what: string): void {
  if (!lengths.includes(bytes.length)) throw invalidRequest(`Expected ${lengths.join(' or ')} byte ${what} (${bytes.length})`);
}

/** The serialised elements of a collection: `count` [int] then `count * perEntry` [bytes]. */
function readItems(bytes: Buffer, perEntry: number): Buffer[] {
  const short = (): never => {
    throw invalidRequest('Not enough bytes to read a collection');
  };
  if (bytes.length < 4) short();
  const count = bytes.readInt32BE(0) * perEntry;
  const items: Buffer[] = [];
  let offset = 4;
  for (let i = 0; i < count; i += 1) {
    if (offset + 4 > bytes.length) short();
    const length = bytes.readInt32BE(offset);
    offset += 4;
    if (length < 0 || offset + length > bytes.length) short();
    items.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return items;
}

function readCollection(bytes: Buffer): Buffer[] {
  return readItems(bytes, 1);
}

function readEntries(bytes: Buffer): Array<[Buffer, Buffer]> {
  const items = readItems(bytes, 2);
  const entries: Array<[Buffer, Buffer]> = [];
  for (let i = 0; i + 1 < items.length; i += 2) entries.push([items[i] as Buffer, items[i + 1] as Buffer]);
  return entries;
}

/** Reads a bound value sent by a client (TypeSerializer.validate + deserialize). */
export function deserialize(type: CqlType, bytes: Buffer): unknown {
  if (type.kind === 'set' || type.kind === 'list') return readCollection(bytes).map((b) => deserialize(type.element, b));
  if (type.kind === 'map') {
    const map = new Map<unknown, unknown>();
    for (const [k, v] of readEntries(bytes)) map.set(deserialize(type.key, k), deserialize(type.value, v));
    return map;
  }
  switch (type.name) {
    case 'text':
      return bytes.toString('utf8');
    case 'ascii':
      if (bytes.some((b) => b > 0x7f)) throw invalidRequest('Invalid byte for ascii: non-ASCII value');
      return bytes.toString('latin1');
    case 'int':
      expectLength(bytes, [4, 0], 'int');
      return bytes.length === 0 ? null : bytes.readInt32BE(0);
    case 'bigint':
    case 'timestamp':
      expectLength(bytes, [8, 0], type.name === 'bigint' ? 'long' : 'timestamp');
      return bytes.length === 0 ? null : bytes.readBigInt64BE(0);
    case 'double':
      expectLength(bytes, [8, 0], 'double');
      return bytes.length === 0 ? null : bytes.readDoubleBE(0);
    case 'boolean':
      expectLength(bytes, [1, 0], 'boolean');
      return bytes.length === 0 ? null : bytes[0] !== 0;
    case 'uuid':
    case 'timeuuid':
      expectLength(bytes, [16, 0], 'uuid');
      return bytes.length === 0 ? null : uuidString(bytes);
    case 'inet':
      expectLength(bytes, [4, 16], 'inet');
      return inetString(bytes);
    case 'blob':
      return Buffer.from(bytes);
  }
}
