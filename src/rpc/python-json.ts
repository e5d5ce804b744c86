/**
 * JSON text as Python's `json.dumps` writes it with its defaults (", " and
 * ": " separators, non-ASCII escaped as \uXXXX). Trove encrypts the JSON text
 * of every value, so matching its bytes lets our ciphertexts be checked
 * against Trove's own vectors, and keeps our messages indistinguishable from
 * what a Python peer sends.
 */

/** A number Python must see as a float (`24.0`, not `24`): Trove's sizes and `sent` times are floats. */
export class PythonFloat {
  constructor(readonly value: number) {}
  toJSON(): number {
    return this.value;
  }
}

export function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof PythonFloat) return floatRepr(value.value);
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`cannot encode ${value} as JSON`);
      return Number.isInteger(value) ? String(value) : floatRepr(value);
    case 'string':
      return asciiString(value);
    case 'object':
      if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
      return `{${Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${asciiString(k)}: ${pythonJsonDumps(v)}`)
        .join(', ')}}`;
    default:
      throw new TypeError(`cannot encode a ${typeof value} as JSON`);
  }
}

/** Python's float repr: shortest round-trip digits, like JS, but always a point or an exponent with two digits. */
function floatRepr(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`cannot encode ${n} as JSON`);
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return `${n}.0`;
  const text = String(n);
  return text.replace(/e([+-])(\d)$/, 'e$10$2');
}

/** Python escapes everything outside printable ASCII (DEL included); JSON.stringify leaves non-ASCII as is. */
function asciiString(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
