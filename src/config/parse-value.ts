import type { KeyType } from './config-schema.js';

/** Result of parsing one raw value: the typed value, or what was expected. */
export type Parsed = { ok: true; value: unknown } | { ok: false; expected: string };

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kb: 1024, kib: 1024,
  m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
  t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4,
};

/** `65536`, `"64KiB"`, `"2G"` → bytes. Units are binary, as Trove's sizes are. */
export function parseSize(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) ? raw : undefined;
  if (typeof raw !== 'string') return undefined;
  const match = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(raw);
  if (!match) return undefined;
  const unit = SIZE_UNITS[match[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const value = Number(match[1]) * unit;
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * Values from the environment are always strings: numbers are parsed, and a
 * command is a JSON array or whitespace-separated words.
 */
export function coerceEnvValue(type: KeyType, raw: string): unknown {
  if (type.kind === 'int') return /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
  if (type.kind === 'bool') return raw === 'true' ? true : raw === 'false' ? false : raw;
  if (type.kind === 'argv') {
    if (raw.trim().startsWith('[')) {
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        return raw;
      }
    }
    return raw.trim().split(/\s+/).filter(Boolean);
  }
  return raw;
}

export function parseValue(type: KeyType, raw: unknown): Parsed {
  switch (type.kind) {
    case 'string':
      if (typeof raw !== 'string') return { ok: false, expected: 'a string' };
      if (!type.allowEmpty && raw.trim() === '') return { ok: false, expected: 'a non-empty string' };
      return { ok: true, value: raw };
    case 'int':
      if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < type.min || raw > type.max) {
        return { ok: false, expected: `an integer from ${type.min} to ${type.max}` };
      }
      return { ok: true, value: raw };
    case 'size': {
      const bytes = parseSize(raw);
      if (bytes === undefined || bytes < type.min) {
        return { ok: false, expected: `a size in bytes of at least ${type.min} (a number, or like "64KiB", "2GiB")` };
      }
      return { ok: true, value: bytes };
    }
    case 'bool':
      if (typeof raw !== 'boolean') return { ok: false, expected: 'true or false' };
      return { ok: true, value: raw };
    case 'enum':
      if (typeof raw !== 'string' || !type.values.includes(raw)) {
        return { ok: false, expected: `one of ${type.values.join(', ')}` };
      }
      return { ok: true, value: raw };
    case 'argv': {
      const argv = typeof raw === 'string' ? [raw] : raw;
      if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string' && a !== '')) {
        return { ok: false, expected: 'a command: a non-empty list of strings, or one string' };
      }
      return { ok: true, value: argv };
    }
  }
}

export function describeValue(raw: unknown): string {
  if (raw === null || raw === undefined) return 'nothing';
  const text = JSON.stringify(raw);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
