import type { StorageLimits } from '../storage/storage.js';
import { isValidBackupId } from './backup-id.js';
import { BACKUP_STATES, BACKUP_TYPES, type BackupState, type BackupType } from './backup-record.js';
import type { BackupSummary } from './catalog.js';

/**
 * The index of the catalog: one small object per backup whose KEY is its
 * summary, so that one paginated listing of this prefix lists every backup
 * without a GET per record. The object's body (the summary as JSON) is for
 * people looking at the store; nothing reads it.
 *
 *   catalog-index/<id>.1.<record bytes>.s.<created>.<state>.<type>.<instance>.<parent>.<stored bytes>.<strategy>.<checksum>.<location>.<name>.e
 *   catalog-index/<id>.1.<record bytes>.r.e        (a reference: the summary did not fit, read the record)
 *
 * Fields are separated by '.', and within a field every byte but
 * [A-Za-z0-9-] is written `_` + two hex digits (percent-encoding with '_',
 * which is safe in S3 keys, Swift names and file names alike). Numbers are
 * base 36; `created` is `t` + base-36 milliseconds when that gives back
 * the same ISO string, else `s` + the string; the name is `w` (whole),
 * `t` (shortened) or `n` (none) + its text. The id comes first so that
 * `catalog-index/<id>.` lists one backup's entries. The record's size lets a
 * listing notice an entry older than its record (an update whose entry
 * could not be written). The final `e` tells a whole key from a
 * temporary one (Swift's `<key>_00000000` segment during an upload).
 */
export const INDEX_PREFIX = 'catalog-index/';

const FORMAT = '1';
const END = 'e';
/** Longest name kept in a key, in code points; backup-list shows it shortened with '…'. */
export const INDEX_NAME_LIMIT = 64;

/** Longest index key `storage` takes: its driver knows (S3 and Swift ~1,000 bytes, a local file name far fewer). */
export function indexKeyBudget(storage: { readonly limits: StorageLimits }): number {
  return storage.limits.indexKeyBudget;
}

export type IndexEntry =
  | { kind: 'summary'; key: string; id: string; recordBytes: number; summary: BackupSummary }
  | { kind: 'reference'; key: string; id: string; recordBytes: number };

/** The prefix under which every entry of one backup lies. */
export function indexPrefixOf(id: string): string {
  return `${INDEX_PREFIX}${escapeField(id)}.`;
}

/**
 * The key of a backup's entry: its whole summary when that fits in
 * `maxKeyBytes` (the name shortened first), else a reference; undefined
 * when not even a reference fits (an id of many '.' and '_' in a local
 * store): the backup is then listed by reading its record.
 */
export function indexKeyOf(summary: BackupSummary, recordBytes: number, maxKeyBytes: number): string | undefined {
  const head = `${INDEX_PREFIX}${escapeField(summary.id)}.${FORMAT}.${base36(recordBytes)}`;
  const fields = [
    's',
    createdField(summary.created),
    escapeField(summary.state),
    escapeField(summary.type),
    escapeField(summary.instance_id),
    escapeField(summary.parent_id ?? ''),
    base36(summary.stored_bytes),
    escapeField(summary.strategy),
    escapeField(summary.checksum),
    escapeField(summary.location),
  ];
  const withoutName = `${head}.${fields.join('.')}.`;
  // The name's flag character and the end field are always there.
  const room = maxKeyBytes - withoutName.length - 1 - `.${END}`.length;
  if (room >= 0) return `${withoutName}${nameField(summary.name, room)}.${END}`;
  const reference = `${head}.r.${END}`;
  return reference.length <= maxKeyBytes ? reference : undefined;
}

/** The entry a key holds, or undefined for anything that is not a whole entry of this format (ignored by listings). */
export function parseIndexKey(key: string): IndexEntry | undefined {
  if (!key.startsWith(INDEX_PREFIX)) return undefined;
  const fields = key.slice(INDEX_PREFIX.length).split('.');
  if (fields[1] !== FORMAT || fields[fields.length - 1] !== END) return undefined;
  const id = unescapeField(fields[0]!);
  const recordBytes = parseBase36(fields[2]!);
  if (id === undefined || !isValidBackupId(id) || recordBytes === undefined) return undefined;
  if (fields[3] === 'r' && fields.length === 5) return { kind: 'reference', key, id, recordBytes };
  if (fields[3] !== 's' || fields.length !== 15) return undefined;
  const [created, state, type, instanceId, parentId, storedBytes, strategy, checksum, location, name] = [
    parseCreated(fields[4]!),
    unescapeField(fields[5]!),
    unescapeField(fields[6]!),
    unescapeField(fields[7]!),
    unescapeField(fields[8]!),
    parseBase36(fields[9]!),
    unescapeField(fields[10]!),
    unescapeField(fields[11]!),
    unescapeField(fields[12]!),
    parseName(fields[13]!),
  ];
  if (
    created === undefined ||
    !BACKUP_STATES.includes(state as BackupState) ||
    !BACKUP_TYPES.includes(type as BackupType) ||
    !instanceId ||
    parentId === undefined ||
    storedBytes === undefined ||
    strategy === undefined ||
    checksum === undefined ||
    location === undefined ||
    name === undefined
  ) {
    return undefined;
  }
  return {
    kind: 'summary',
    key,
    id,
    recordBytes,
    summary: {
      id,
      instance_id: instanceId,
      name,
      created,
      state: state as BackupState,
      type: type as BackupType,
      parent_id: parentId === '' ? null : parentId,
      stored_bytes: storedBytes,
      strategy,
      location,
      checksum,
    },
  };
}

const SAFE_BYTE = /[0-9A-Za-z-]/;
const ESCAPED = /^(?:[0-9A-Za-z-]|_[0-9a-f]{2})*$/;
const encoder = new TextEncoder();

/** Every byte of the UTF-8 text but [A-Za-z0-9-] as `_` + two lowercase hex digits. */
export function escapeField(text: string): string {
  let out = '';
  for (const byte of encoder.encode(text)) {
    const char = String.fromCharCode(byte);
    out += byte < 0x80 && SAFE_BYTE.test(char) ? char : `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The text of an escaped field; undefined unless it is exactly what escapeField makes (one key per summary). */
export function unescapeField(field: string): string | undefined {
  if (!ESCAPED.test(field)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < field.length; i++) {
    if (field[i] === '_') {
      bytes.push(parseInt(field.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(field.charCodeAt(i));
    }
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
  return escapeField(text) === field ? text : undefined;
}

function base36(value: number): string {
  return value.toString(36);
}

function parseBase36(field: string): number | undefined {
  if (!/^[0-9a-z]{1,11}$/.test(field)) return undefined;
  const value = parseInt(field, 36);
  return Number.isSafeInteger(value) && base36(value) === field ? value : undefined;
}

/** Our records' times are `toISOString()`: 8 characters instead of 30 when escaped. */
function createdField(created: string): string {
  const ms = Date.parse(created);
  if (Number.isSafeInteger(ms) && ms >= 0 && new Date(ms).toISOString() === created) return `t${base36(ms)}`;
  return `s${escapeField(created)}`;
}

function parseCreated(field: string): string | undefined {
  if (field.startsWith('t')) {
    const ms = parseBase36(field.slice(1));
    return ms === undefined ? undefined : new Date(ms).toISOString();
  }
  return field.startsWith('s') ? unescapeField(field.slice(1)) : undefined;
}

/** As much of the name as fits in `room` bytes escaped, and at most INDEX_NAME_LIMIT code points. */
function nameField(name: string | null, room: number): string {
  if (name === null) return 'n';
  let kept = '';
  let count = 0;
  for (const codePoint of name) {
    const escaped = escapeField(codePoint);
    if (count === INDEX_NAME_LIMIT || kept.length + escaped.length > room) return `t${kept}`;
    kept += escaped;
    count += 1;
  }
  return `w${kept}`;
}

function parseName(field: string): string | null | undefined {
  if (field === 'n') return null;
  const text = unescapeField(field.slice(1));
  if (text === undefined) return undefined;
  if (field.startsWith('w')) return text;
  return field.startsWith('t') ? `${text}…` : undefined;
}
