import { isIPv4 } from 'node:net';
import { notSimulated } from './errors.js';
import { BodyWriter } from './wire.js';

/**
 * The CQL types the served tables use, their [option] encoding in result metadata
 * (native_protocol_v4.spec 4.2.5.2) and the serialisation of values (section 6).
 */
export type CqlType = { kind: 'native'; name: NativeType } | { kind: 'set'; element: CqlType } | { kind: 'map'; key: CqlType; value: CqlType };

type NativeType = 'blob' | 'boolean' | 'int' | 'uuid' | 'text' | 'inet';

const OPTION_IDS: Record<NativeType, number> = {
  blob: 0x0003,
  boolean: 0x0004,
  int: 0x0009,
  uuid: 0x000c,
  // varchar and text are the same type; the protocol calls it Varchar.
  text: 0x000d,
  inet: 0x0010,
};

/** `text`, `set<text>`, `map<uuid, blob>`, `frozen<...>` (frozenness does not change the encoding). */
export function parseType(spec: string): CqlType {
  const s = spec.replace(/\s+/g, '').toLowerCase();
  const inner = (prefix: string): string | undefined => (s.startsWith(`${prefix}<`) && s.endsWith('>') ? s.slice(prefix.length + 1, -1) : undefined);
  const frozen = inner('frozen');
  if (frozen !== undefined) return parseType(frozen);
  const element = inner('set');
  if (element !== undefined) return { kind: 'set', element: parseType(element) };
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
  if (s in OPTION_IDS) return { kind: 'native', name: s as NativeType };
  throw new Error(`cql-server: type ${spec} is not modelled`);
}

/** The type as CQL prints it in error messages. */
export function typeName(type: CqlType): string {
  if (type.kind === 'native') return type.name;
  if (type.kind === 'map') return `map<${typeName(type.key)}, ${typeName(type.value)}>`;
  return `set<${typeName(type.element)}>`;
}

export function writeTypeOption(out: BodyWriter, type: CqlType): void {
  if (type.kind === 'native') {
    out.short(OPTION_IDS[type.name]);
  } else if (type.kind === 'map') {
    out.short(0x0021);
    writeTypeOption(out, type.key);
    writeTypeOption(out, type.value);
  } else {
    out.short(0x0022);
    writeTypeOption(out, type.element);
  }
}

function uuidBytes(value: string): Buffer {
  const hex = value.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`cql-server: ${value} is not a UUID`);
  return Buffer.from(hex, 'hex');
}

/** The node's addresses (rpc_address, listen_address): always IPv4 on a simulated node. */
function inetBytes(address: string): Buffer {
  if (!isIPv4(address)) throw new Error(`cql-server: ${address} is not an IPv4 address`);
  return Buffer.from(address.split('.').map(Number));
}

/** Serialises a value of the type; null and undefined are the null value. Maps are JavaScript Maps. */
export function serialize(type: CqlType, value: unknown): Buffer | null {
  if (value === null || value === undefined) return null;
  if (type.kind === 'set') {
    const items = (value as unknown[]).map((v) => serialize(type.element, v) ?? Buffer.alloc(0));
    const out = new BodyWriter().int(items.length);
    for (const item of items) out.bytes(item);
    return out.build();
  }
  if (type.kind === 'map') {
    const entries = [...(value as Map<unknown, unknown>).entries()];
    const out = new BodyWriter().int(entries.length);
    for (const [k, v] of entries) out.bytes(serialize(type.key, k)).bytes(serialize(type.value, v));
    return out.build();
  }
  switch (type.name) {
    case 'text':
      return Buffer.from(String(value), 'utf8');
    case 'int': {
      const b = Buffer.alloc(4);
      b.writeInt32BE(Number(value), 0);
      return b;
    }
    case 'boolean':
      return Buffer.from([value ? 1 : 0]);
    case 'uuid':
      return uuidBytes(String(value));
    case 'inet':
      return inetBytes(String(value));
    case 'blob':
      return Buffer.from(value as Buffer);
  }
}

/**
 * Reads a bound value sent by a client. The columns a client can bind (the partition keys and
 * writable columns of the served tables, except system.peers' inet key) are all text.
 */
export function deserialize(type: CqlType, bytes: Buffer): unknown {
  if (type.kind === 'native' && type.name === 'text') return bytes.toString('utf8');
  throw notSimulated(`binding a value of type ${typeName(type)}`);
}
